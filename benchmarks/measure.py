"""Running one command as its own process tree: wall time, CPU time, peak memory."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass

import psutil

SAMPLE_S = 0.02


@dataclass(frozen=True)
class Run:
    """One measured run."""

    seconds: float  # wall time, start to exit
    cpu_seconds: float  # user + system of the whole tree (waited-for descendants included)
    peak_mb: int  # the larger of: sampled sum of the tree's RSS, the kernel's largest single RSS
    stdout: str


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def run(cmd: list[str], timeout: float | None = None, env: dict | None = None) -> Run:
    """Runs ``cmd`` (stdout captured, stderr kept for the error message); raises on failure or timeout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        ps = psutil.Process(proc.pid)
        while not stop.wait(SAMPLE_S):
            peak = max(peak, _tree_rss(ps))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    readers = [
        threading.Thread(target=lambda s=s, c=c: c.append(s.read()), daemon=True)
        for s, c in ((proc.stdout, out_chunks), (proc.stderr, err_chunks))
    ]
    for r in readers:
        r.start()
    timer = threading.Timer(timeout, proc.kill) if timeout else None
    if timer:
        timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if timer:
        timer.cancel()
    stop.set()
    sampler.join()
    for r in readers:
        r.join()
    if proc.returncode != 0:
        err = b"".join(err_chunks).decode(errors="replace").strip()
        what = "timed out" if timer and not timer.is_alive() and proc.returncode < 0 else f"exit {proc.returncode}"
        raise RuntimeError(f"{os.path.basename(cmd[0])} {what}: {err[-400:]}")
    return Run(
        seconds=elapsed,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_mb=max(peak, usage.ru_maxrss * 1024) // (1 << 20),
        stdout=b"".join(out_chunks).decode(errors="replace"),
    )
