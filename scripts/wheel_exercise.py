"""Runs extract, batch, iter_frames and probe on every file of a folder with
whichever lifelog_compression is installed, and writes what came out to
OUT/results.json (plus the bundles and iter_frames' JPEGs) for
scripts/wheel_compare.py. Standard library only: it runs inside the minimal
root of scripts/test-wheel.sh, where only the wheel is installed.

    python wheel_exercise.py MEDIA_DIR OUT_DIR
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import lifelog_compression as lc
import lifelog_compression._core as core


def _jsonable(value):
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str))


_MEDIA = ""  # the media folder, written as MEDIA in messages: the two runs see it at different paths


def _attempt(results: dict, key: str, fn):
    """Runs one operation; an exception is recorded, not raised, so one bad file
    shows up in the comparison instead of ending the run."""
    try:
        results[key] = fn()
    except Exception as e:  # noqa: BLE001 - recorded and compared
        results[key] = {"error": type(e).__name__, "message": str(e).replace(_MEDIA, "MEDIA")}


def main(media: Path, out: Path) -> int:
    global _MEDIA
    _MEDIA = str(media)
    if out.exists():
        shutil.rmtree(out)
    (out / "bundles").mkdir(parents=True)
    (out / "frames").mkdir()
    results: dict = {
        "core": {"file": core.__file__, "backend_versions": _jsonable(getattr(core, "backend_versions", None))},
        "files": {},
    }
    videos = sorted(p for p in media.iterdir() if p.is_file())
    start = time.monotonic()
    for video in videos:
        entry: dict = {}
        results["files"][video.name] = entry
        _attempt(entry, "probe", lambda: {**_jsonable(lc.probe(video)), "fields": _jsonable(lc.probe(video).fields)})

        def extract():
            result = lc.extract_to_dir(video, out / "bundles" / video.name)
            return {
                "frame_count": result.frame_count,
                "keyframe_hits": result.keyframe_hits,
                "frames_decoded": result.frames_decoded,
                "manifest": _jsonable(lc.load_manifest(out / "bundles" / video.name)),
            }

        _attempt(entry, "extract", extract)

        def frames():
            rows = []
            folder = out / "frames" / video.name
            folder.mkdir()
            for record in lc.iter_frames(video):
                (folder / f"{record.index:06d}.jpg").write_bytes(record.jpeg or b"")
                rows.append(
                    {
                        "requested_ts_ms": record.requested_ts_ms,
                        "actual_ts_ms": record.actual_ts_ms,
                        "content_rect": list(record.content_rect),
                        "obtained": record.obtained,
                    }
                )
            return rows

        _attempt(entry, "iter_frames", frames)
        ok = all(not (isinstance(v, dict) and "error" in v) for v in entry.values())
        print(
            f"{'ok   ' if ok else 'error'} {video.name}: "
            + ", ".join(
                f"{k} {'error ' + v['error'] if isinstance(v, dict) and 'error' in v else 'ok'}"
                for k, v in entry.items()
            ),
            flush=True,
        )

    def batch():
        result = lc.extract_directory_to_dir(media, out / "batch", workers=2)
        return {
            "files": [
                {
                    "relpath": f.relpath,
                    "status": f.status,
                    "frame_count": f.frame_count,
                    "reason": f.reason.replace(_MEDIA, "MEDIA"),
                }
                for f in result.files
            ]
        }

    _attempt(results, "batch", batch)
    batch_result = results["batch"]
    if "error" in batch_result:
        print(f"FAIL batch: {batch_result}")
    else:
        failed = [f for f in batch_result["files"] if f["status"] == "failed"]
        print(
            f"batch: {len(batch_result['files'])} files, {len(failed)} failed, "
            f"{sum(f['frame_count'] for f in batch_result['files'])} frames"
        )
    results["elapsed_s"] = round(time.monotonic() - start, 1)
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    print(f"{len(videos)} files in {results['elapsed_s']} s with {core.__file__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
