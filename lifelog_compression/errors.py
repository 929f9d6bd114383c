"""Exceptions. Each also derives from the matching builtin, so callers can
write ``except FileNotFoundError`` or ``except ExtractError`` alike, and each
carries the exit code the command line uses for it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

__all__ = [
    "ExtractError",
    "SourceNotFoundError",
    "SourceIsDirectoryError",
    "EmptySourceError",
    "NotAVideoError",
    "NoVideoStreamError",
    "MissingIndexError",
    "DamagedSourceError",
    "UnsupportedCodecError",
    "SourceReadError",
    "OutputError",
    "BundleError",
    "SourceMismatchError",
    "NotAFolderError",
    "BatchFailedError",
    "MissingDependencyError",
    "UsageError",
    "ArgumentTypeError",
    "UnsupportedLocationError",
]

# The exit codes the command line returns itself; each error class below
# carries its own. exit_codes() is the whole table.
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug, not bad input
EXIT_USAGE = 2
EXIT_VALIDATION_FAILED = 14  # validate: some frame fails against its source
EXIT_INTERRUPTED = 130
EXIT_READER_GONE = 141  # 128 + SIGPIPE, as a shell reports a writer whose pipe closed


class ExtractError(Exception):
    """Base of every error this package raises about a source or a bundle."""

    exit_code = 1

    def __init__(self, message: str, reason: str | None = None, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or message
        self.path = path

    def __str__(self) -> str:
        return self.message


class SourceNotFoundError(ExtractError, FileNotFoundError):
    """No file at the given path."""

    exit_code = 3


class SourceIsDirectoryError(ExtractError, IsADirectoryError):
    """The path is a folder (use ``batch`` for folders)."""

    exit_code = 4


class EmptySourceError(ExtractError, ValueError):
    """The file has zero bytes."""

    exit_code = 5


class NotAVideoError(ExtractError, ValueError):
    """No known audio/video container (text, images, random bytes)."""

    exit_code = 6


class NoVideoStreamError(ExtractError, ValueError):
    """A media file without a video stream (audio only)."""

    exit_code = 7


class MissingIndexError(ExtractError, ValueError):
    """An MP4/MOV whose index was never written: the recording was cut off."""

    exit_code = 8


class DamagedSourceError(ExtractError, ValueError):
    """Recognised, but nothing in it could be decoded."""

    exit_code = 9


def nothing_decoded(path: object) -> "DamagedSourceError":
    """The error for a source the core read to its end without one frame:
    ``extract_to_dir`` and ``iter_frames`` raise the same one."""
    return DamagedSourceError(f"{path}: no frame could be decoded", "no frame could be decoded", str(path))


class UnsupportedCodecError(ExtractError, ValueError):
    """A video codec no decoder here can read."""

    exit_code = 10


class SourceReadError(ExtractError, OSError):
    """A read failed: the operating system refused it, or a remote server did not answer, sent too slowly or ignored ranges.

    Permissions or a device error locally; for a URL, a server that answers
    no request within 10 s, delivers under 1 KB/s, or sends the object from
    its start when asked for a range (frames are found by seeking)."""

    exit_code = 11


class OutputError(ExtractError, OSError):
    """The bundle folder cannot be written, or exists and may not be replaced."""

    exit_code = 12


@contextmanager
def output_os_errors(where: object, doing: str) -> Iterator[None]:
    """An OS error in the block (a name too long, a parent that is a file, no
    permission) becomes an OutputError "WHERE: DOING: reason"; an OutputError
    raised there (itself an OSError) passes as it is."""
    try:
        yield
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"{where}: {doing}: {e.strerror}") from e


class BundleError(ExtractError, ValueError):
    """A folder that is not a readable Visual Bundle."""

    exit_code = 13


class SourceMismatchError(ExtractError, ValueError):
    """validate: the video is not the source the bundle was made from (size or sha256 differ)."""

    exit_code = 14


class NotAFolderError(ExtractError, NotADirectoryError):
    """A batch input root that is a file, not a folder."""

    exit_code = 16


class BatchFailedError(ExtractError):
    """Some files of a batch failed (the others were extracted)."""

    exit_code = 15


class MissingDependencyError(ExtractError, ImportError):
    """An optional dependency is not installed (the message names the extra)."""

    exit_code = 17


class UsageError(ExtractError, ValueError):
    """Usage error (bad arguments)."""

    exit_code = 2


class ArgumentTypeError(UsageError, TypeError):
    """An argument of the wrong type (a float where a whole number is wanted); a TypeError too."""


class InterruptedAfterCommit(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) arrived while a finished bundle was being moved
    into place: the move was completed first, so the bundle at ``bundle_dir``
    is whole. ``result`` is the ExtractResult once extract_to_dir knows it."""

    def __init__(self, bundle_dir: object) -> None:
        super().__init__(
            f"{bundle_dir}: interrupted while the finished bundle was moved into place; the move was completed"
        )
        self.bundle_dir = bundle_dir
        self.result: Any = None  # an ExtractResult (api.py imports this module)


class UnsupportedLocationError(UsageError):
    """A location this package cannot use (unknown URL scheme, a pipe); nothing was created."""


def exit_codes() -> dict[int, str]:
    """Every exit code of the command line and what it means, in order: the
    error classes' own codes plus those the commands return themselves."""
    import re

    codes = {
        EXIT_OK: "success",
        EXIT_INTERNAL: "unexpected internal error (LIFELOG_DEBUG=1 shows the traceback)",
        EXIT_USAGE: "usage error (bad arguments)",
        EXIT_VALIDATION_FAILED: "validate: some frame fails against its source",
        EXIT_INTERRUPTED: "interrupted (Ctrl-C); no bundle is left behind",
        EXIT_READER_GONE: "stopped: the reader of the output went away; no bundle is left behind",
    }
    for name in __all__:
        cls = globals()[name]
        if cls is not ExtractError and cls.__doc__:
            # Docstrings are reST; help is plain text.
            text = re.sub(r"``([^`]*)``", r"\1", cls.__doc__.strip().splitlines()[0]).rstrip(".")
            # The first meaning of a code stays: a subclass (UnsupportedLocationError
            # of UsageError) names only one way to get it.
            codes.setdefault(cls.exit_code, text if text[1:2].isupper() else text[0].lower() + text[1:])  # not "MP4"
    return dict(sorted(codes.items()))
