"""Manifests as Parquet: every row of one bundle or of a whole tree of bundles
(a batch's output root) in one typed table, so millions of frames can be
queried (DuckDB, pandas, Spark, pyarrow) without parsing JSON lines.

Needs pyarrow (``pip install 'lifelog-compression[parquet]'``). Bundles are
written one row group each, so memory stays at one bundle's manifest. The
file is written aside and renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Iterator

from .bundle import find_bundles, load_bundle_metadata, load_manifest
from .errors import BundleError, OutputError
from .manifest import ManifestRow
from .optional import require
from .telemetry.model import parse_time

# Columns after bundle_id and bundle_path, in manifest order: (field, type).
# Type names are pyarrow's, resolved when needed so that importing this module
# does not need pyarrow.
_COLUMNS = (
    ("frame_id", "string!"),
    ("frame_relpath", "string!"),
    ("source_relpath", "string!"),
    ("requested_ts_ms", "int64!"),
    ("actual_ts_ms", "int64!"),
    ("width", "int32!"),
    ("height", "int32!"),
    ("content_hash", "string!"),
    ("source_content_hash", "string"),
    ("extractor", "string"),
    ("extractor_version", "string"),
    ("content_rect_x", "int32"),
    ("content_rect_y", "int32"),
    ("content_rect_width", "int32"),
    ("content_rect_height", "int32"),
    ("source_width", "int32"),
    ("source_height", "int32"),
    ("obtained", "string"),
    ("frames_decoded", "int32"),
    ("decoded_relpath", "string"),
    ("phash", "string"),
    ("sharpness", "float64"),
    ("luma_mean", "float64"),
    ("luma_clipped", "float64"),
    ("duplicate_of", "string"),
)
_LOCATION = (
    ("lat", "float64"),
    ("lon", "float64"),
    ("alt_m", "float64"),
    ("speed_mps", "float64"),
    ("fix", "string"),
    ("source", "string"),
    ("sample_gap_ms", "int64"),
)


def schema() -> Any:
    """The table's pyarrow schema: the bundle each row belongs to, then one
    column per manifest field ("!" above: never null)."""
    pa = require("pyarrow", "parquet", "Parquet export")
    return pa.schema(
        [
            pa.field("bundle_id", pa.string(), nullable=False),
            pa.field("bundle_path", pa.string(), nullable=False),  # relative to the folder exported
            *(
                pa.field(name, getattr(pa, kind.rstrip("!"))(), nullable=not kind.endswith("!"))
                for name, kind in _COLUMNS
            ),
            pa.field("captured_at", pa.timestamp("ms", tz="UTC")),
            pa.field("captured_local", pa.string()),  # wall clock without a zone, as written
            pa.field("location", pa.struct([pa.field(n, getattr(pa, t)()) for n, t in _LOCATION])),
            pa.field("notes", pa.list_(pa.string())),
            pa.field("other_fields_json", pa.string()),  # fields this version does not know, as JSON
        ]
    )


def _record(row: ManifestRow, bundle_id: str, bundle_path: str) -> dict[str, Any]:
    record = row.to_json()
    for key in row.other_fields:
        record.pop(key)
    location = row.location if isinstance(row.location, dict) else None
    record.update(
        bundle_id=bundle_id,
        bundle_path=bundle_path,
        captured_at=parse_time(row.captured_at),
        location={n: location.get(n) for n, _ in _LOCATION} if location else None,
        other_fields_json=json.dumps(row.other_fields, ensure_ascii=False) if row.other_fields else None,
    )
    return record


def _tables(bundles: list[Path], root: Path) -> Iterator[Any]:
    pa = require("pyarrow", "parquet", "Parquet export")
    table_schema = schema()
    for bundle in bundles:
        meta = load_bundle_metadata(bundle)
        rel = bundle.relative_to(root).as_posix() if bundle != root else "."
        records = [_record(row, meta.bundle_id, rel) for row in load_manifest(bundle)]
        yield pa.Table.from_pylist(records, schema=table_schema)


def export_parquet(root: str | os.PathLike[str], out: str | os.PathLike[str], *, overwrite: bool = False) -> int:
    """Writes the manifest rows of the bundle at ``root``, or of every bundle
    below it, to the Parquet file ``out``; returns the number of rows.

    An existing ``out`` is replaced only with ``overwrite=True``, and only
    once the new file is complete."""
    pq = require("pyarrow.parquet", "parquet", "Parquet export")
    root, out = Path(root), Path(out)
    bundles = find_bundles(root)
    if not bundles:
        raise BundleError(f"{root}: no Visual Bundle in it")
    try:
        exists = out.exists()
    except OSError as e:  # a name too long
        raise OutputError(f"{out}: cannot write: {e.strerror}", "write", str(out)) from e
    if exists and (not overwrite or out.is_dir()):
        raise OutputError(f"{out}: exists (overwrite=True replaces a file)", "exists", str(out))
    partial = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    rows = 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(partial, schema(), compression="zstd") as writer:
            for table in _tables(bundles, root):
                writer.write_table(table)
                rows += table.num_rows
        os.replace(partial, out)
    except OSError as e:
        raise OutputError(f"{out}: cannot write: {e.strerror or e}", "write", str(out)) from e
    finally:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass  # its folder cannot hold it (not a folder, a name too long): it was never made
    return rows


def register(sub: Any) -> None:
    """Adds ``parquet INPUT OUT [--overwrite]`` to the CLI."""
    p = sub.add_parser(
        "parquet",
        help="manifests of a bundle or a tree of bundles -> one Parquet file",
        description="Write every manifest row of a bundle, or of every bundle below a folder "
        "(a batch's output root), into one typed Parquet table with the bundle's id and path. "
        "Needs pyarrow: pip install 'lifelog-compression[parquet]'.",
    )
    p.add_argument("input", metavar="INPUT", help="a bundle folder, or a folder with bundles below it")
    p.add_argument("out", metavar="OUT", help="the Parquet file to write (e.g. manifests.parquet)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=_cmd_parquet)


def _cmd_parquet(args: Any) -> int:
    rows = export_parquet(args.input, args.out, overwrite=args.overwrite)
    print(f"wrote {rows} rows to {args.out}")
    return 0
