"""The batch scheduler's decisions, without starting a child or a video:
when a file is settled or killed, what its outcome says, and what an
interrupted batch reports."""

import signal
from pathlib import Path

from lifelog_compression.batch import interrupted_result, next_step, settled_outcome, time_limit_s
from lifelog_compression.jobs import FileOutcome, FileTask

ITEM = FileTask("/in/a.mp4", "a.mp4", "/out/a", bundle_relpath="a")


def test_time_limit_is_a_floor_plus_a_share_of_the_video():
    assert time_limit_s(60, 1.0, 0) == 60
    assert time_limit_s(60, 2.0, 30) == 120


def test_a_file_that_ended_is_settled_never_killed():
    assert next_step(job_ended=True, died=False, ran_s=500, limit_s=60) == "settle"
    assert next_step(job_ended=True, died=True, ran_s=1, limit_s=60) == "settle"


def test_a_running_file_waits_until_its_limit_then_is_killed():
    assert next_step(job_ended=False, died=False, ran_s=59, limit_s=60) is None
    assert next_step(job_ended=False, died=False, ran_s=61, limit_s=60) == "kill"
    assert next_step(job_ended=False, died=True, ran_s=61, limit_s=60) == "kill"


def test_a_child_that_died_is_settled():
    assert next_step(job_ended=False, died=True, ran_s=1, limit_s=60) == "settle"


def _done(**kw) -> FileOutcome:
    return FileOutcome("a.mp4", "a", "extracted", frame_count=5, **kw)


def test_the_childs_outcome_stands_when_it_ended_well():
    ok = _done()
    assert settled_outcome(ITEM, outcome=ok, code=0, timed_out=False, ran_s=2, said="") is ok


def test_a_time_limit_wins_over_what_the_child_said():
    out = settled_outcome(ITEM, outcome=_done(), code=0, timed_out=True, ran_s=61.4, said="")
    assert (out.status, out.error, out.reason) == (
        "failed",
        "Timeout",
        "stopped after 61 s (time limit for its duration)",
    )
    killed = settled_outcome(ITEM, outcome=None, code=None, timed_out=True, ran_s=61, said="")
    assert killed.exit_code == -signal.SIGKILL


def test_a_signal_is_a_crash():
    out = settled_outcome(ITEM, outcome=None, code=-signal.SIGSEGV, timed_out=False, ran_s=1, said="")
    assert (out.status, out.error, out.exit_code) == ("failed", "Crash", -signal.SIGSEGV)
    assert "SIGSEGV" in out.reason


def test_a_reported_error_keeps_its_class_and_code():
    bad = FileOutcome("a.mp4", "a", "failed", "not a video", error="NotAVideoError", exit_code=6)
    out = settled_outcome(ITEM, outcome=bad, code=6, timed_out=False, ran_s=1, said="")
    assert (out.status, out.error, out.exit_code, out.reason) == ("failed", "NotAVideoError", 6, "not a video")


def test_silence_is_an_internal_error_with_the_last_stderr_line():
    out = settled_outcome(ITEM, outcome=None, code=1, timed_out=False, ran_s=1, said="Traceback\nBoom\n")
    assert (out.error, out.reason, out.exit_code) == ("InternalError", "Boom", 1)
    mute = settled_outcome(ITEM, outcome=None, code=3, timed_out=False, ran_s=1, said="")
    assert mute.reason == "exit code 3"


def test_an_interrupted_batch_reports_finished_and_unfinished_in_input_order():
    items = [FileTask(f"/in/{n}.mp4", f"{n}.mp4", f"/out/{n}", bundle_relpath=n) for n in "abc"]
    outcomes = {"c.mp4": FileOutcome("c.mp4", "c", "extracted"), "a.mp4": FileOutcome("a.mp4", "a", "failed")}
    result = interrupted_result(Path("/out"), items, outcomes, 3.0)
    assert result.interrupted and [f.relpath for f in result.files] == ["a.mp4", "c.mp4"]
    assert result.unfinished == ["b.mp4"]
