"""Progress where it runs: a redrawn line that fits a narrow terminal (a real
pseudo-terminal), plain periodic lines off a terminal."""

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios

from lifelog_compression.progress import ProgressBar, format_duration

COLUMNS = 60
_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run_in_pty(args, columns=COLUMNS, env=None):
    """Runs the CLI with stderr on a pseudo-terminal `columns` wide; returns
    (exit code, stdout, what the terminal received)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifelog_compression", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    os.close(slave)
    received = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            raise AssertionError("no output from the CLI for 120 s")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    stdout = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=60), stdout, received.decode()


def redraws(terminal_text):
    """The status lines as a person sees them: split at carriage returns and
    newlines, escape sequences removed."""
    return [_ESCAPE.sub("", part) for part in re.split(r"[\r\n]", terminal_text) if _ESCAPE.sub("", part)]


def test_extract_redraws_in_place_within_a_narrow_terminal(clip, tmp_path):
    code, stdout, tty = run_in_pty(["extract", clip("h264_bframes_mp4").path, tmp_path / "b"])
    assert code == 0 and stdout.startswith("wrote 6 frames")
    lines = redraws(tty)
    assert lines and all(line.startswith("extract ") for line in lines), lines
    assert all(len(line) < COLUMNS for line in lines), [line for line in lines if len(line) >= COLUMNS]
    assert "\n" not in tty, "redraws use carriage returns, never new lines"
    assert tty.endswith("\r\x1b[K"), "the status line is cleared at the end"
    assert any("6/6 frames" in line for line in lines)


def test_batch_names_running_files_and_fills_by_video_seconds(clip, tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(clip("hevc_mp4").path, root / "first-clip-with-a-long-name.mp4")
    shutil.copy(clip("h264_bframes_mp4").path, root / "second.mp4")
    code, stdout, tty = run_in_pty(["batch", "--workers", "1", root, tmp_path / "out"], columns=COLUMNS)
    assert code == 0, stdout
    lines = redraws(tty)
    assert lines and all(len(line) < COLUMNS for line in lines), [line for line in lines if len(line) >= COLUMNS]
    assert any("first-clip" in line for line in lines), "the running file is named"
    # Once a file has told its duration, the bar counts seconds of video out of a total.
    assert any(re.search(r"\d+/\d+s ", line) for line in lines), lines


def test_off_a_terminal_progress_is_plain_periodic_lines(clip, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "extract", clip("h264_bframes_mp4").path, tmp_path / "b"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LIFELOG_PROGRESS_INTERVAL": "0"},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines and "\r" not in out.stderr and "\x1b" not in out.stderr
    assert all(line.startswith("extract: ") for line in lines)
    assert "6/6 frames" in lines[-1] and "(100%)" in lines[-1], "the last line says where the run got to"


def test_a_short_run_off_a_terminal_prints_no_progress(clip, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "extract", clip("hevc_mp4").path, tmp_path / "b"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stderr == ""


class _Terminal:
    """A stream that says it is a terminal of a given width (COLUMNS)."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_every_redraw_fits_any_width(monkeypatch):
    for columns in (20, 40, 60, 100):
        monkeypatch.setenv("COLUMNS", str(columns))
        stream = _Terminal()
        bar = ProgressBar("batch", stream=stream, unit="files")
        bar.update(
            3,
            17,
            1234.0,
            55.0,
            force=True,
            video_total_s=9999.0,
            running=["DCIM/100GOPRO/GX010046.MP4", "DCIM/100GOPRO/GX020046.MP4"],
        )
        lines = redraws(stream.text)
        assert len(lines) == 1 and len(lines[0]) < columns, (columns, lines)
    assert "GX010046.MP4, GX020046.MP4" in lines[0] and "1234/9999s" in lines[0]


def test_durations_read_shortly():
    assert [format_duration(s) for s in (8, 310, 3720)] == ["8s", "5m10s", "1h02m"]


def test_batch_off_a_terminal_names_files_in_plain_lines(clip, tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(clip("hevc_mp4").path, root / "a.mp4")
    out = subprocess.run(
        [sys.executable, "-m", "lifelog_compression", "batch", "--workers", "1", root, tmp_path / "out"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LIFELOG_PROGRESS_INTERVAL": "0"},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines and "\r" not in out.stderr and all(line.startswith("batch: ") for line in lines)
    assert any("running: a.mp4" in line for line in lines)
    assert "1/1 files" in lines[-1] and "5/5 s of video (100%)" in lines[-1]
