"""Command line: ``python -m lifelog_compression COMMAND`` (or the
``lifelog-compression`` console script)."""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from . import __version__
from . import errors as _errors
from .errors import (  # noqa: F401  (exit_codes and the EXIT_ names: the command line's table, kept importable here)
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_READER_GONE,
    EXIT_USAGE,
    ExtractError,
    exit_codes,
)
from .limits import MAX_FILES_AT_ONCE, MAX_WORKERS
from .names import recorded_json, shown
from .progress import ProgressBar
from .recipe import spec

if TYPE_CHECKING:  # what each command's register(sub) receives
    Subparsers = argparse._SubParsersAction[Any]
    from .api import Progress


def _exit_code_table() -> str:
    return "\n".join(f"  {code:>3}  {meaning}" for code, meaning in exit_codes().items())


def _prog() -> str:
    """How the user ran us: the console script or ``python -m``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return (
        name
        if name and name not in ("__main__.py", "-c") and not name.endswith(".py")
        else "python -m lifelog_compression"
    )


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line on stderr and exit 2, like every other error
    (argparse would print the whole usage first). Sub-parsers are made of the
    same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"lifelog_compression: error: {message} (see {self.prog} --help for usage)\n")


def _count(minimum: int, meaning: str, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from ``minimum`` (to ``maximum``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {meaning}, not {value}")
        return value

    return parse


WORKERS = _count(0, f"0 (one per usable CPU) to {MAX_WORKERS}", MAX_WORKERS)
FILES_AT_ONCE = _count(0, f"0 (one per usable CPU) to {MAX_FILES_AT_ONCE}", MAX_FILES_AT_ONCE)
SHARD_MB = _count(1, "at least 1")


class _TopParser(_Parser):
    """The top-level parser: its exit-code table is made only when help is shown
    (it imports every command's module; an `extract` run should not)."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = "exit codes:\n" + _exit_code_table()
        return super().format_help()


@functools.lru_cache(maxsize=None)  # built once per process
def _parser(only_extract: bool = False) -> argparse.ArgumentParser:
    """The parser; ``only_extract``: with the `extract` command alone (an `extract` run loads no other command)."""
    parser = _TopParser(
        prog=_prog(),
        description="Turn lifelog video into Visual Bundles: 1 fps JPEG frames on a fixed "
        "1920x1080 canvas, with a manifest of requested and actual times and the source's metadata.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action=_VersionAction, nargs=0, help="show the version and the libraries, then exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    for register in [_register_extract] if only_extract else COMMANDS:
        register(sub)
    return parser


class _VersionAction(argparse.Action):
    """--version: names the native core's libraries, which load only when asked."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> NoReturn:
        from . import _core

        print(f"lifelog_compression {__version__} ({_core.backend}: {_core.backend_versions})")
        parser.exit()


def _register_extract(sub: Subparsers) -> None:
    p = sub.add_parser(
        "extract",
        help="one video file -> one bundle folder",
        description="Extract a Visual Bundle from one video file. The bundle is written "
        "aside and appears at BUNDLE_DIR only when complete.",
    )
    p.add_argument("video", metavar="VIDEO", help="the video file")
    p.add_argument("bundle_dir", metavar="BUNDLE_DIR", help="the bundle folder to create (must not exist or be empty)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing bundle at BUNDLE_DIR, once the new one is complete (refused if "
        "it holds files of yours)",
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no summary line")
    p.add_argument(
        "--workers",
        type=WORKERS,
        default=0,
        help=f"decoding threads (default: one per CPU this process may use; at most {MAX_WORKERS})",
    )
    p.add_argument(
        "--shards",
        action="store_true",
        help="write upload shards (BUNDLE_DIR/shard-0001.tar, ...) instead of a bundle folder",
    )
    p.add_argument("--shard-mb", type=SHARD_MB, default=192, help="largest shard in MiB with --shards (default 192)")
    p.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="write no JPEG for a row that repeats the last kept frame (duplicate_of): it names that "
        "frame's file (docs/signals.md)",
    )
    p.set_defaults(func=_cmd_extract)


def _register_spec(sub: Subparsers) -> None:
    p = sub.add_parser(
        "spec",
        help="print the recipe and bundle layout as JSON",
        description="Print the extraction recipe and the bundle layout as JSON.",
    )
    p.set_defaults(func=_cmd_spec)


def _cmd_spec(args: argparse.Namespace) -> int:
    print(json.dumps(spec(), indent=2))
    return EXIT_OK


def _register_batch(sub: Subparsers) -> None:
    p = sub.add_parser(
        "batch",
        help="a folder of videos -> a folder of bundles",
        description="Extract every video below INPUT_DIR into OUTPUT_ROOT, mirroring the folder "
        "tree (DCIM/100GOPRO/GX010046.MP4 -> OUTPUT_ROOT/DCIM/100GOPRO/GX010046/). Files run in "
        "parallel in child processes (a crash or hang costs only its file); complete bundles are skipped on a rerun; proxies "
        "(.LRV/.LRF) are not extracted beside their originals; GoPro chapters are linked in "
        "bundle.json. Where two inputs would share a bundle folder (a.mp4, a.mov), each uses "
        "its whole file name (a.mp4/, a.mov/). Nothing in OUTPUT_ROOT is deleted but "
        "the hidden leftovers of runs that were killed.",
    )
    p.add_argument(
        "input_dir", metavar="INPUT_DIR", help="the folder to search for videos (a camera card, a folder tree)"
    )
    p.add_argument(
        "output_root",
        metavar="OUTPUT_ROOT",
        help="where the bundles go, mirroring INPUT_DIR's tree (outside INPUT_DIR)",
    )
    p.add_argument(
        "--workers",
        type=FILES_AT_ONCE,
        default=0,
        help=f"files at once (default: one per CPU this process may use; at most {MAX_FILES_AT_ONCE})",
    )
    p.add_argument("--overwrite", action="store_true", help="redo files whose bundle is complete already")
    p.add_argument(
        "--prefer-proxy",
        action="store_true",
        help="decode a camera's low-resolution proxy (LRV/LRF) when its duration matches the original",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON object on stdout (also after Ctrl-C: what was done)",
    )
    out.add_argument(
        "--jsonl",
        action="store_true",
        help="print one JSON object per event on stdout as it happens: started, done, failed, "
        "skipped, and summary last",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no summary")
    # Beyond one machine (distributed.py, docs/distributed.md).
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="one Ray task per file on the cluster at ADDRESS (default: RAY_ADDRESS or a local "
        "one); INPUT_DIR may then be an s3:// or gs:// prefix and OUTPUT_ROOT an s3:// or gs:// "
        "prefix; needs lifelog-compression[ray]",
    )
    p.add_argument("--cpus-per-file", type=float, default=1, help="with --ray: CPUs each file's task asks for")
    p.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="write no JPEG for a row that repeats the last kept frame (duplicate_of): it names that "
        "frame's file (docs/signals.md)",
    )
    p.set_defaults(func=_cmd_batch)


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import BatchInterrupted, BatchProgress, extract_directory_to_dir
    from .storage import require_local

    if args.ray is None:
        require_local(args.input_dir, args.output_root, hint="URLs need --ray")
        if args.cpus_per_file != 1:
            raise _errors.UsageError("--cpus-per-file needs --ray (without it, --workers sets the files at once)")
    bar = ProgressBar("batch", enabled=None if not args.quiet else False, unit="files")

    shown_done = -1

    def on_progress(p: BatchProgress) -> None:
        nonlocal shown_done
        # Each finished file is drawn at once: short clips finish between redraws.
        bar.update(
            p.files_done,
            p.files_total,
            p.video_s_done,
            p.elapsed_s,
            eta_s=p.eta_s,
            video_total_s=p.video_s_total,
            running=p.running,
            force=p.files_done != shown_done,
        )
        shown_done = p.files_done

    def on_event(event: dict[str, Any]) -> None:
        print(json.dumps(recorded_json(event)), flush=True)

    try:
        if args.ray is not None:  # one Ray task per file (distributed.py)
            from .distributed import run_batch

            result = run_batch(
                args.input_dir,
                args.output_root,
                address=args.ray,
                cpus_per_file=args.cpus_per_file,
                overwrite=args.overwrite,
                drop_duplicates=args.drop_duplicates,
                progress=on_progress,
                on_event=on_event if args.jsonl else None,
            )
        else:
            result = extract_directory_to_dir(
                args.input_dir,
                args.output_root,
                workers=args.workers or None,
                overwrite=args.overwrite,
                progress=on_progress,
                prefer_proxy=args.prefer_proxy,
                drop_duplicates=args.drop_duplicates,
                on_event=on_event if args.jsonl else None,
            )
    except BatchInterrupted as e:
        bar.close()
        if args.json:  # a script still learns what was done before the interruption
            print(json.dumps(recorded_json(e.result.to_json())), flush=True)
        elif not args.jsonl:  # a person learns it too: what finished, failed and was left
            done = e.result.to_json()
            print(
                shown(
                    f"batch: interrupted: {done['extracted']} extracted, {done['skipped']} complete already, "
                    f"{done['failed']} failed, {len(done.get('unfinished', []))} not finished"
                ),
                file=sys.stderr,
                flush=True,
            )
        raise
    finally:
        bar.close()
    summary = result.to_json()
    if args.json:
        print(json.dumps(recorded_json(summary)))
    elif not args.quiet and not args.jsonl:
        print(
            f"batch: {len(result.files)} files: {summary['extracted']} extracted, {summary['skipped']} "
            f"complete already, {summary['failed']} failed; {result.frame_count} frames, "
            f"{result.bytes_written / 1e6:.1f} MB; {result.video_s:.0f} s of video in {result.elapsed_s:.1f} s "
            f"({summary['realtime_factor']}x realtime)"
        )
        for f in result.failed:
            print(shown(f"failed: {f.relpath}: {f.reason}"))
    elif not args.jsonl:  # --quiet drops progress and summary, never a failure
        for f in result.failed:
            print(shown(f"failed: {f.relpath}: {f.reason}"), file=sys.stderr)
    return _errors.BatchFailedError.exit_code if result.failed else EXIT_OK


def _register_pack(sub: Subparsers) -> None:
    p = sub.add_parser(
        "pack",
        help="a bundle folder -> upload shards (tar)",
        description="Pack a bundle into uncompressed tar shards of at most --shard-mb MiB, each "
        "with bundle.json, its own manifest.jsonl and its frames. OUT_DIR must be new or empty.",
    )
    p.add_argument("bundle_dir", metavar="BUNDLE_DIR", help="the bundle folder to pack")
    p.add_argument("out_dir", metavar="OUT_DIR", help="the folder for shard-0001.tar, ... (new or empty)")
    p.add_argument("--shard-mb", type=SHARD_MB, default=192, help="largest shard in MiB (default 192)")
    p.set_defaults(func=_cmd_pack)
    u = sub.add_parser(
        "unpack",
        help="upload shards -> a bundle folder",
        description="Rebuild a bundle folder from its shards, checking member names and hashes.",
    )
    u.add_argument("shard_dir", metavar="SHARD_DIR", help="the folder holding shard-0001.tar, ...")
    u.add_argument("bundle_dir", metavar="BUNDLE_DIR", help="the bundle folder to create (must not exist or be empty)")
    u.set_defaults(func=_cmd_unpack)


def _cmd_pack(args: argparse.Namespace) -> int:
    from .shards import pack

    paths = pack(args.bundle_dir, args.out_dir, shard_bytes=args.shard_mb * 1024 * 1024)
    print(f"wrote {len(paths)} shard(s) to {args.out_dir}")
    return EXIT_OK


def _cmd_unpack(args: argparse.Namespace) -> int:
    from .shards import unpack

    unpack(args.shard_dir, args.bundle_dir)
    print(f"unpacked into {args.bundle_dir}")
    return EXIT_OK


def _cmd_extract(args: argparse.Namespace) -> int:
    from . import metadata

    # The source's hash starts before the extraction's modules (FFmpeg's
    # libraries among them) are imported: one core imports, the other hashes.
    metadata.hash_early(args.video)
    try:
        return _extract(args)
    finally:
        metadata.cancel_early()


def _extract(args: argparse.Namespace) -> int:
    from .api import extract_to_dir

    bar = ProgressBar("extract", enabled=None if not args.quiet else False, unit="frames")

    def on_progress(p: Progress) -> None:
        bar.update(
            p.requests_done,
            p.requests_total,
            p.source_ms_done / 1000,
            p.elapsed_s,
            force=p.requests_done == p.requests_total,
            video_total_s=p.duration_ms / 1000,
        )

    if args.shards and args.overwrite:
        raise _errors.UsageError(
            "--overwrite cannot be combined with --shards: shards are only written into a new or empty folder"
        )
    interrupted = None
    try:
        result = extract_to_dir(
            args.video,
            args.bundle_dir,
            overwrite=args.overwrite,
            progress=on_progress,
            workers=args.workers,
            shards=args.shards,
            shard_bytes=args.shard_mb * 1024 * 1024,
            drop_duplicates=args.drop_duplicates,
        )
    except _errors.InterruptedAfterCommit as e:
        # The bundle is whole and in place: report it as made, and say why
        # the interrupt did not stop it.
        interrupted, result = e, e.result
    except _errors.SourceIsDirectoryError as e:
        hint = f"; for a folder of videos use: {_prog()} batch {args.video} OUTPUT_ROOT"
        raise _errors.SourceIsDirectoryError(str(e) + hint, e.reason, e.path) from e
    finally:
        bar.close()
    if interrupted is not None:
        print(f"lifelog_compression: {shown(interrupted)}", file=sys.stderr)
    if args.json:
        print(json.dumps(recorded_json(result.to_json())))
    elif not args.quiet:
        print(
            f"wrote {result.frame_count} frames to {shown(result.bundle_dir)} "
            f"({result.duration_ms / 1000:.1f} s of video in {result.elapsed_s:.2f} s, "
            f"{result.realtime_factor:.1f}x realtime)"
        )
        for note in result.notes:
            print(f"note: {shown(note)}")
    return EXIT_OK


# Each command registers its own sub-parser and sets ``func``; a command that
# lives in its own module is registered through a function that imports it
# (an `extract` run, once per file in `batch`, imports none of them).
def _register_sheet(sub: Subparsers) -> None:
    from .sheet import register  # numpy/Pillow load only when run

    register(sub)


def _register_validate(sub: Subparsers) -> None:
    from .validate import register

    register(sub)


def _register_probe(sub: Subparsers) -> None:
    from .telemetry.cli import register

    register(sub)


def _register_parquet(sub: Subparsers) -> None:
    from .parquet import register  # pyarrow loads only when run

    register(sub)


def _register_info(sub: Subparsers) -> None:
    from .info import register

    register(sub)


def _register_view(sub: Subparsers) -> None:
    from .view import register

    register(sub)


COMMANDS = [
    _register_extract,
    _register_batch,
    _register_pack,
    _register_spec,
    _register_validate,
    _register_sheet,
    _register_parquet,
    _register_probe,
    _register_info,
    _register_view,
]


def _did_you_mean(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """A mistyped command gets a suggestion (argparse only lists the choices)."""
    words = [a for a in argv if not a.startswith("-")]
    commands = [
        name for action in parser._actions if isinstance(action, argparse._SubParsersAction) for name in action.choices
    ]
    if words and argv and argv[0] == words[0] and words[0] not in commands:
        close = difflib.get_close_matches(words[0], commands, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else f" (commands: {', '.join(commands)})"
        parser.error(f"unknown command '{words[0]}'{hint}")


def _cli_message(e: ExtractError) -> str:
    """The library's message, with Python's spelling of an option turned into
    the command line's (errors are raised for Python callers first)."""
    return str(e).replace("overwrite=True", "--overwrite")


def _error_line(text: object) -> str:
    """One line on stderr, whatever a file name in it holds (names.py)."""
    return f"lifelog_compression: {shown(text)}"


# What a command that was stopped did not leave half-written: only these write
# bundles or shards (aside, renamed when complete); `spec | head` wrote nothing.
_WRITES = {"extract": "bundle", "batch": "bundle", "unpack": "bundle", "pack": "shard"}


def _left_behind(command: str | None) -> str:
    what = _WRITES.get(command or "")
    return f"; no {what} was left behind" if what else ""


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser(only_extract=argv[:1] == ["extract"])
    _did_you_mean(parser, argv)
    args = parser.parse_args(argv)
    # A batch parent stops its children with SIGTERM: clean up as for Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        code: int = args.func(args)
        return code
    except ExtractError as e:
        print(_error_line(f"error: {_cli_message(e)}"), file=sys.stderr)
        if getattr(args, "json", False):
            print(
                json.dumps(
                    recorded_json({"error": type(e).__name__, "message": _cli_message(e), "exit_code": e.exit_code})
                )
            )
        return e.exit_code
    except KeyboardInterrupt:
        print(f"lifelog_compression: interrupted{_left_behind(args.command)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`batch --jsonl | head`): stop as a
        # Unix tool stops on SIGPIPE, after the same cleanup as Ctrl-C.
        sys.stdout = open(os.devnull, "w")  # nothing more to flush into the closed pipe
        print(
            f"lifelog_compression: stopped: the reader of the output went away{_left_behind(args.command)}",
            file=sys.stderr,
        )
        return EXIT_READER_GONE
    except Exception as e:  # a bug, not bad input: say so in one line, keep the details on request
        if os.environ.get("LIFELOG_DEBUG"):
            raise
        print(
            _error_line(f"internal error: {type(e).__name__}: {e} (set LIFELOG_DEBUG=1 for the traceback)"),
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def run() -> NoReturn:
    """The process entry point (``python -m lifelog_compression``, the
    ``lifelog-compression`` command): runs :func:`main` and exits with its code."""
    argv = sys.argv[1:]
    code = main(argv)
    if argv[:1] == ["extract"]:
        # An extraction has written, closed and renamed everything by now;
        # tearing down the interpreter (its modules, FFmpeg's libraries) would
        # add about 30 ms to every file for nothing.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:  # a reader that went away (a closed pipe): nothing more to tell it
                pass
        os._exit(code)
    sys.exit(code)
