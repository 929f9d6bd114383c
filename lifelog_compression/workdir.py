"""The hidden work folder of a bundle writer: who owns it, how the leftovers
of a writer that was killed are found, and the final swap that a Ctrl-C must
not cut in half.

A writer of ``OUT`` works in ``.OUT.partial-TOKEN`` and, with ``--overwrite``,
moves the old bundle aside to ``.OUT.replaced-TOKEN`` for the moment of the
swap. For its whole life it holds an exclusive ``flock`` on
``.OUT.partial-TOKEN.lock`` (which also names its pid, for people). The kernel
drops that lock when the process ends in any way, SIGKILL and power loss of a
network client included, so a later writer that *can* take the lock has proof
that the owner is gone and may clean up after it; anything without such a
lock file (another program's folder, a writer on a file system without
locks) is never touched.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Iterator

from .errors import InterruptedAfterCommit


def _paths(output_dir: Path, token: str) -> tuple[Path, Path, Path]:
    parent, name = output_dir.parent, output_dir.name
    return (
        parent / f".{name}.partial-{token}",
        parent / f".{name}.replaced-{token}",
        parent / f".{name}.partial-{token}.lock",
    )


class WriterLock:
    """Ownership of one writer's hidden folders, held until ``release``."""

    def __init__(self, output_dir: Path):
        output_dir = Path(output_dir)
        self.token = secrets.token_hex(4)
        self.work_dir, self.replaced_dir, self.path = _paths(output_dir, self.token)
        self._fd: int | None = None
        # Locked before it gets the name cleaners look for, so no cleaner can
        # ever see this lock file unlocked while its writer lives.
        tmp = output_dir.parent / f".{output_dir.name}.lock-{self.token}.tmp"
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            # No locks on this file system: work without a lock file, which
            # only means no later run can prove this writer gone.
            os.close(fd)
            tmp.unlink(missing_ok=True)
            return
        try:
            os.write(fd, f"pid {os.getpid()}\n".encode())
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        self._fd = fd

    def release(self) -> None:
        """Gives up ownership (the folders are gone or in place by now)."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before unlocking: never an unlocked lock file
        os.close(self._fd)
        self._fd = None


def remove_abandoned(output_dir: Path) -> list[Path]:
    """Cleans up after writers of ``output_dir`` that are provably gone: their
    unfinished folder is removed, and an old bundle they had moved aside is put
    back if nothing replaced it, or removed if their new bundle is in place.
    Returns what was removed or restored."""
    output_dir = Path(output_dir)
    prefix = f".{output_dir.name}.partial-"
    done: list[Path] = []
    try:
        locks = [p for p in output_dir.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".lock")]
    except OSError:
        return done
    for lock in locks:
        token = lock.name[len(prefix) : -len(".lock")]
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its writer is alive (or locks do not work here)
            try:
                if os.stat(lock).st_ino != os.fstat(fd).st_ino:
                    continue  # another cleaner finished with it meanwhile
            except FileNotFoundError:
                continue
            work, replaced, _ = _paths(output_dir, token)
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
                done.append(work)
            if replaced.exists():
                if not output_dir.exists():
                    os.rename(replaced, output_dir)  # killed mid-swap: the old bundle comes back
                else:
                    shutil.rmtree(replaced, ignore_errors=True)  # its successor is in place
                done.append(replaced)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return done


class _Deferred:
    def __init__(self) -> None:
        self.caught: list[int] = []
        self.previous: dict[int, Any] = {}  # signal.signal's previous handlers

    def deliver(self, bundle_dir: Path | str) -> None:
        """Acts on a signal that arrived during the swap, now that it is done."""
        if not self.caught:
            return
        signum = self.caught[0]
        handler = self.previous.get(signum)
        if handler is signal.default_int_handler:
            raise InterruptedAfterCommit(bundle_dir)
        if callable(handler):
            handler(signum, None)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(signum)


@contextmanager
def signals_deferred() -> Iterator[_Deferred]:
    """Ctrl-C and SIGTERM wait until the block is done, then take effect
    (``_Deferred.deliver``). Signals reach Python code only in the main
    thread, so elsewhere this does nothing."""
    deferred = _Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield deferred
        return

    def record(signum: int, frame: FrameType | None) -> None:
        deferred.caught.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        deferred.previous[signum] = signal.signal(signum, record)
    try:
        yield deferred
    finally:
        for number, handler in deferred.previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
