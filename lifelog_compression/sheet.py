"""``sheet``: a contact sheet of a bundle, one thumbnail per frame with its time.

The sheet is written beside the bundle, never into it: a bundle's files are
exactly what its manifest lists, and a consumer hashing the folder must not
find an extra picture there. Needs Pillow (``pip install
'lifelog-compression[sheet]'``), imported only when a sheet is drawn.
"""

from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .bundle import frame_file, load_bundle_metadata, load_manifest
from .errors import OutputError, UsageError
from .optional import require
from .telemetry.labels import time_label

MARGIN = 8  # around the sheet and between thumbnails, px
LABEL_HEIGHT = 16  # the time line under each thumbnail, px
HEADER_HEIGHT = 24  # the bundle's name and span, px
BACKGROUND = (40, 40, 40)  # dark grey, so a thumbnail's black bars stay visible
TEXT = (230, 230, 230)
# JPEG cannot be taller than 65535 px; a longer bundle shows every n-th frame.
MAX_SHEET_HEIGHT = 65000
# The sheet is drawn whole in memory (3 bytes a pixel): at most 300 MB, also
# by showing every n-th frame. --thumb-width 100000 asked for 24 GB.
MAX_SHEET_PIXELS = 100_000_000
# Thumbnails no larger than the frames, rows no wider than a JPEG may be.
MAX_COLUMNS = 64
MAX_THUMB_WIDTH = 1920


def _pillow() -> tuple[Any, Any, Any]:
    image, draw, font = (require(f"PIL.{name}", "sheet", "sheet") for name in ("Image", "ImageDraw", "ImageFont"))
    return image, draw, font


@dataclass(frozen=True)
class SheetLayout:
    """Where everything goes on a contact sheet of ``count`` thumbnails."""

    count: int
    columns: int
    thumb_width: int
    thumb_height: int

    @property
    def rows(self) -> int:
        return max(1, math.ceil(self.count / self.columns))

    @property
    def cell_height(self) -> int:
        return self.thumb_height + LABEL_HEIGHT + MARGIN

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole sheet."""
        width = MARGIN + self.columns * (self.thumb_width + MARGIN)
        return width, HEADER_HEIGHT + MARGIN + self.rows * self.cell_height

    def thumb_box(self, i: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of thumbnail ``i``, row-major."""
        row, col = divmod(i, self.columns)
        left = MARGIN + col * (self.thumb_width + MARGIN)
        top = HEADER_HEIGHT + MARGIN + row * self.cell_height
        return left, top, left + self.thumb_width, top + self.thumb_height


def sheet_layout(
    count: int, *, columns: int = 6, thumb_width: int = 320, canvas: tuple[int, int] = (1920, 1080)
) -> SheetLayout:
    """The layout of a sheet of ``count`` thumbnails of ``canvas``-sized frames:
    ``columns`` per row, each ``thumb_width`` wide with the canvas's aspect ratio."""
    if not 1 <= columns <= MAX_COLUMNS or not 16 <= thumb_width <= MAX_THUMB_WIDTH:
        raise UsageError(
            f"columns must be 1..{MAX_COLUMNS} and the thumbnail width 16..{MAX_THUMB_WIDTH} px, "
            f"not {columns} and {thumb_width}"
        )
    thumb_height = max(1, round(thumb_width * canvas[1] / canvas[0]))
    return SheetLayout(count, columns, thumb_width, thumb_height)


def format_ms(ms: int) -> str:
    """12345 -> '0:12.345'; hours appear only when there are any."""
    sign = "-" if ms < 0 else ""
    s, milli = divmod(abs(int(ms)), 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}.{milli:03d}" if h else f"{sign}{m}:{s:02d}.{milli:03d}"


def default_sheet_path(bundle_dir: str | os.PathLike[str]) -> Path:
    """``<bundle_dir>-contact-sheet.jpg`` beside the bundle (never inside it)."""
    bundle = Path(bundle_dir).resolve()
    return bundle.parent / f"{bundle.name}-contact-sheet.jpg"


def make_contact_sheet(
    bundle_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str] | None = None,
    *,
    columns: int = 6,
    thumb_width: int = 320,
    overwrite: bool = False,
) -> Path:
    """Draws every frame of a bundle as a thumbnail, in manifest order, with its
    actual time and frame number underneath, and writes the sheet to
    ``out_path`` (default: ``default_sheet_path(bundle_dir)``; the format
    follows the suffix, JPEG for .jpg). An existing file is refused unless
    ``overwrite``; the sheet is written aside and renamed into place. A frame
    that is missing or does not decode is drawn as a labelled grey box. A
    bundle too long for one image (65535 px) shows every n-th frame, as the
    header says. Returns the path written."""
    Image, ImageDraw, ImageFont = _pillow()
    bundle = Path(bundle_dir)
    meta = load_bundle_metadata(bundle)
    rows = load_manifest(bundle)
    out = Path(out_path) if out_path is not None else default_sheet_path(bundle)
    if out.resolve().is_relative_to(bundle.resolve()):
        raise OutputError(
            f"{out}: inside the bundle, which holds only what extraction wrote: write the sheet beside it",
            "inside the bundle",
            str(out),
        )
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: exists (overwrite=True replaces it)", "exists", str(out))
    canvas = (int(meta.image.get("canvas_width", 1920)), int(meta.image.get("canvas_height", 1080)))

    step = 1
    layout = sheet_layout(len(rows), columns=columns, thumb_width=thumb_width, canvas=canvas)
    while (layout.size[1] > MAX_SHEET_HEIGHT or layout.size[0] * layout.size[1] > MAX_SHEET_PIXELS) and step < len(
        rows
    ):
        step += 1
        layout = sheet_layout(len(rows[::step]), columns=columns, thumb_width=thumb_width, canvas=canvas)
    shown = rows[::step]

    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    source = meta.source_video.get("file_name") or (rows[0].source_relpath if rows else "")
    span = f"{format_ms(rows[0].actual_ts_ms)} - {format_ms(rows[-1].actual_ts_ms)}" if rows else "empty"
    header = f"{bundle.resolve().name}   {source}   {len(rows)} frames, {span}"
    clock = meta.raw.get("capture_clock")
    first = rows[0] if rows else None
    recorded = (
        time_label(first.captured_at, clock, with_date=True, captured_local=first.captured_local) if first else ""
    )
    if recorded:
        header += f"   recorded {recorded}"
    if step > 1:
        header += f"   (one frame in {step} shown)"
    draw.text((MARGIN, (HEADER_HEIGHT + MARGIN) // 2), header, fill=TEXT, font=font, anchor="lm")

    size = (layout.thumb_width, layout.thumb_height)
    for i, row in enumerate(shown):
        left, top, right, bottom = layout.thumb_box(i)
        try:
            with Image.open(frame_file(bundle, row)) as im:
                # DCT scaling in the decoder: a 1/4 or 1/8 size decode is many
                # times cheaper than decoding 1080p and shrinking it.
                im.draft("RGB", size)
                thumb = im.convert("RGB").resize(size, Image.Resampling.LANCZOS)
            sheet.paste(thumb, (left, top))
        except Exception:  # a damaged frame must not stop the sheet: show it as such
            draw.rectangle((left, top, right - 1, bottom - 1), fill=(90, 90, 90), outline=(200, 60, 60))
            draw.text(((left + right) // 2, (top + bottom) // 2), "unreadable", fill=TEXT, font=font, anchor="mm")
        number = row.frame_id.rsplit("_", 1)[-1].lstrip("0") or "0"
        when = time_label(row.captured_at, clock, captured_local=row.captured_local)  # local time, where known
        label = f"{format_ms(row.actual_ts_ms)}  {when + '  ' if when else ''}#{number}"
        draw.text((left, bottom + LABEL_HEIGHT // 2), label, fill=TEXT, font=font, anchor="lm")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}{out.suffix}"
    try:
        try:
            sheet.save(tmp, quality=88) if out.suffix.lower() in (".jpg", ".jpeg") else sheet.save(tmp)
        except ValueError as e:  # Pillow: unknown extension
            raise OutputError(f"{out}: cannot tell the image format from the suffix ({e})", "format", str(out)) from e
        if overwrite:
            os.replace(tmp, out)
        else:
            # link() fails if the name appeared meanwhile: never clobber.
            try:
                os.link(tmp, out)
            except FileExistsError as e:
                raise OutputError(f"{out}: exists (overwrite=True replaces it)", "exists", str(out)) from e
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(f"{out}: cannot write the sheet: {e.strerror or e}", "write", str(out)) from e
    finally:
        tmp.unlink(missing_ok=True)
    return out


def register(sub: Any) -> None:
    """Adds ``sheet BUNDLE_DIR [OUT] [--columns N] [--thumb-width PX] [--overwrite]`` to the CLI."""
    p = sub.add_parser(
        "sheet",
        help="a contact sheet of a bundle (thumbnails with times)",
        description="Draw every frame of a bundle as a thumbnail with its time. The sheet is "
        "written beside the bundle (BUNDLE_DIR-contact-sheet.jpg), never into it.",
        epilog="exit codes: 0 written; 12 OUT exists (without --overwrite) or cannot be written; 13 not a bundle.",
    )
    p.add_argument("bundle_dir", metavar="BUNDLE_DIR", help="the bundle folder")
    p.add_argument("out", metavar="OUT", nargs="?", help="the image to write (default: beside the bundle)")
    p.add_argument(
        "--columns",
        type=_between(1, MAX_COLUMNS),
        default=6,
        help=f"thumbnails per row (default 6, at most {MAX_COLUMNS})",
    )
    p.add_argument(
        "--thumb-width",
        type=_between(16, MAX_THUMB_WIDTH),
        default=320,
        help=f"thumbnail width in px (default 320, 16..{MAX_THUMB_WIDTH})",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=_cmd_sheet)


def _between(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(text)
        return value

    parse.__name__ = f"integer {low}..{high}"  # argparse names the type in its message
    return parse


def _cmd_sheet(args: Any) -> int:
    path = make_contact_sheet(
        args.bundle_dir, args.out, columns=args.columns, thumb_width=args.thumb_width, overwrite=args.overwrite
    )
    print(path)
    return 0
