"""OpenCV's VideoCapture (its FFmpeg backend), the way most scripts sample a video.

    python benchmarks/competitors/opencv_seek.py VIDEO OUT [--mode seek|grab]

``seek``: per request, set CAP_PROP_POS_MSEC and read one frame (OpenCV seeks
to the keyframe before and decodes forward to the exact time). ``grab``: read
the whole video with grab() and retrieve() only the frame nearest each
request (better when keyframes are far apart). Frames are resized with
cv2.resize (bilinear), padded in numpy and encoded by OpenCV (libjpeg-turbo).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import JPEG_QUALITY, Output, canvas_bgr, fit, request_times  # noqa: E402


def _encode(frame, rect) -> bytes:
    small = cv2.resize(frame, (rect[2], rect[3]), interpolation=cv2.INTER_LINEAR)
    ok, jpeg = cv2.imencode(".jpg", canvas_bgr(small, rect), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return jpeg.tobytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video")
    parser.add_argument("out")
    parser.add_argument("--mode", choices=("seek", "grab"), default="seek")
    args = parser.parse_args()
    cap = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        print(f"{args.video}: OpenCV cannot open it", file=sys.stderr)
        return 1
    rect = fit(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = cap.get(cv2.CAP_PROP_FPS)
    requests = request_times(cap.get(cv2.CAP_PROP_FRAME_COUNT) / fps)
    output = Output(args.out, requests)
    if args.mode == "seek":
        for index, r in enumerate(requests):
            cap.set(cv2.CAP_PROP_POS_MSEC, r * 1000)
            ok, frame = cap.read()
            if ok:
                output.write(index, cap.get(cv2.CAP_PROP_POS_MSEC) / 1000, _encode(frame, rect))
    else:
        index, half = 0, 0.5 / fps
        while index < len(requests) and cap.grab():
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000
            if t >= requests[index] - half:
                ok, frame = cap.retrieve()
                if ok:
                    output.write(index, t, _encode(frame, rect))
                index += 1
    output.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
