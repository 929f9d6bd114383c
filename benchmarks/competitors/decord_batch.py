"""decord, used as its documentation suggests for sampling: one VideoReader, get_batch.

    python benchmarks/competitors/decord_batch.py VIDEO OUT

decord scales while decoding (width/height given to the reader), knows the
keyframes (get_key_indices), so the best a script can do is pick, per request,
the keyframe nearest the request inside its +/-0.5 s window, else the frame
nearest the request, and fetch them in batches of 8 (bounded memory). Frames
are padded onto the canvas in numpy and encoded by OpenCV (libjpeg-turbo).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from decord import VideoReader, cpu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import JPEG_QUALITY, TOLERANCE_S, Output, canvas_bgr, fit, request_times  # noqa: E402

BATCH = 8


def pick(times: np.ndarray, keys: np.ndarray, requests: list[float]) -> list[int]:
    """Frame index per request: nearest keyframe in the window, else nearest frame."""
    chosen = []
    for r in requests:
        in_window = keys[np.abs(times[keys] - r) <= TOLERANCE_S]
        if len(in_window):
            chosen.append(int(in_window[np.argmin(np.abs(times[in_window] - r))]))
        else:
            chosen.append(int(np.argmin(np.abs(times - r))))
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video")
    parser.add_argument("out")
    args = parser.parse_args()
    probe = VideoReader(args.video, ctx=cpu(0))
    height, width = probe[0].shape[:2]
    del probe
    rect = fit(width, height)
    reader = VideoReader(args.video, ctx=cpu(0), width=rect[2], height=rect[3], num_threads=0)
    stamps = reader.get_frame_timestamp(np.arange(len(reader)))
    times = stamps[:, 0] - stamps[0, 0]
    requests = request_times(float(stamps[-1, 1] - stamps[0, 0]))
    chosen = pick(times, np.asarray(reader.get_key_indices(), dtype=np.int64), requests)
    output = Output(args.out, requests)
    for start in range(0, len(chosen), BATCH):
        batch = reader.get_batch(chosen[start : start + BATCH]).asnumpy()
        for offset, rgb in enumerate(batch):
            ok, jpeg = cv2.imencode(".jpg", canvas_bgr(rgb[:, :, ::-1], rect), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            index = start + offset
            output.write(index, float(times[chosen[index]]), jpeg.tobytes())
    output.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
