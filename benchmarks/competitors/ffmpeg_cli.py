"""The ffmpeg command line's best recipes for 1 fps frames on the canvas.

    python benchmarks/competitors/ffmpeg_cli.py RECIPE VIDEO OUT   # check run: also writes times.json

Recipes (the panel times the bare ffmpeg command, without this wrapper):
- ``nokey``: ``-skip_frame nokey`` (only keyframes are decoded) and select
  the first keyframe at least 1 s after the last one selected. Valid when
  every 1 s window holds a keyframe (keyframes at most 1 s apart).
- ``noref``: ``-skip_frame noref`` (non-reference pictures are not decoded)
  and select the first decoded frame at or after each second. Valid for any
  GOP: a reference picture is at most a few frames from every request.
- ``all``: the same selection with every frame decoded (what ``fps=1`` costs;
  ``fps=1`` itself is not used because it relabels frames with the tick
  times, so its frames cannot be checked against their true times).
The check run adds ``showinfo`` to read the times of the frames written (the
CLI counts them from the file's start, as the bundle counts from the first frame).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

CANVAS = "scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:(ow-iw)/2:(oh-ih)/2"
RECIPES = {
    "nokey": (["-skip_frame", "nokey"], "select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,1)'"),
    "noref": (["-skip_frame", "noref"], "setpts=PTS-STARTPTS,select='gte(t\\,selected_n)'"),
    "all": ([], "setpts=PTS-STARTPTS,select='gte(t\\,selected_n)'"),
}


def command(recipe: str, video: str, out: Path, showinfo: bool = False) -> list[str]:
    """The ffmpeg command writing OUT/frames/%08d.jpg (quality close to libjpeg's 80)."""
    decoder, select = RECIPES[recipe]
    chain = f"{select},{CANVAS}" + (",showinfo" if showinfo else "")
    return [
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "info" if showinfo else "error",
        *decoder,
        "-i",
        video,
        "-an",
        "-vf",
        chain,
        "-fps_mode",
        "vfr",
        "-q:v",
        "4",
        str(out / "frames" / "%08d.jpg"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", choices=RECIPES)
    parser.add_argument("video")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    (args.out / "frames").mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command(args.recipe, args.video, args.out, showinfo=True), capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-500:], file=sys.stderr)
        return done.returncode
    stamps = [float(t) for t in re.findall(r"\bpts_time:\s*(-?[\d.]+)", done.stderr)]
    # The CLI shifts input times by the file's start time: they count from the first frame already.
    actual = [round(t, 6) for t in stamps]
    requested = [float(i) for i in range(len(actual))]
    (args.out / "times.json").write_text(json.dumps({"requested_s": requested, "actual_s": actual}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
