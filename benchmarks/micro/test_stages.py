"""Per-stage costs of one frame, under pytest-benchmark:

    .venv/bin/python -m pytest benchmarks/micro -q --benchmark-timer=time.process_time
    (CPU time: on a shared machine wall time measures the scheduler; report.py makes the docs table)

What each measures (one frame, one thread, the camera's full size in):
- test_decode_keyframe: a fresh decoder decodes one keyframe (FFmpeg via
  PyAV, the same libavcodec build family the core uses) -- the work the
  floor counts;
- test_scale_to_canvas[filter]: swscale from the source size to the fitted
  canvas size, same pixel format and matrix (yuv420p -> yuv420p), for
  Lanczos (the recipe's) and bilinear;
- test_colour_convert_canvas: the matrix/range conversion alone on the
  1920x1080 result (BT.709 limited -> BT.601 full), what is left to do after
  scaling in the source's own matrix;
- test_scale_and_convert_at_source: both at once from the full-size source
  (swscale's slow path: conversion at the larger size);
- test_jpeg_encode_yuv / test_jpeg_encode_rgb: libjpeg-turbo (simplejpeg) on
  the 1920x1080 canvas from 4:2:0 planes (no colour conversion) and from RGB
  (libjpeg-turbo's own RGB -> YCbCr);
- test_core_one_request: the package's native core end to end for one
  keyframe request (open, decode, scale, convert, JPEG) -- what the stages
  above add up to, plus opening the file.
Each asserts on its output (sizes, a JPEG that decodes) so a broken stage
cannot pass as fast.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import decode_one
from PIL import Image

simplejpeg = pytest.importorskip("simplejpeg", reason="pip install -e .[bench]")

CANVAS = (1920, 1080)


def fitted(frame) -> tuple[int, int]:
    scale = min(CANVAS[0] / frame.width, CANVAS[1] / frame.height)
    return round(frame.width * scale / 2) * 2, round(frame.height * scale / 2) * 2


def planes(frame):
    return [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes]


def canvas_yuv(picture):
    w, h = fitted(picture)
    small = picture.reformat(w, h, "yuv420p", dst_colorspace="ITU601", dst_color_range="JPEG", interpolation="BILINEAR")
    y = np.zeros(CANVAS[::-1], np.uint8)
    u = np.full((CANVAS[1] // 2, CANVAS[0] // 2), 128, np.uint8)
    v = u.copy()
    x0, y0 = (CANVAS[0] - w) // 4 * 2, (CANVAS[1] - h) // 4 * 2
    py, pu, pv = planes(small)
    y[y0 : y0 + h, x0 : x0 + w] = py
    u[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2] = pu
    v[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2] = pv
    return y, u, v


def test_decode_keyframe(benchmark, clip, keyframe):
    frames = benchmark(decode_one, *keyframe)
    assert len(frames) == 1 and frames[0].width >= 1920


@pytest.mark.parametrize("interpolation", ["LANCZOS", "BILINEAR"])
def test_scale_to_canvas(benchmark, clip, picture, interpolation):
    w, h = fitted(picture)
    if (w, h) == (picture.width, picture.height):
        pytest.skip("the source is canvas-sized: nothing to scale (the core does not scale it either)")
    out = benchmark(picture.reformat, w, h, "yuv420p", interpolation=interpolation)
    assert (out.width, out.height) == (w, h)


def test_colour_convert_canvas(benchmark, clip, picture):
    w, h = fitted(picture)
    small = picture.reformat(w, h, "yuv420p", interpolation="LANCZOS")
    out = benchmark(
        small.reformat,
        format="yuv420p",
        src_colorspace="ITU709",
        dst_colorspace="ITU601",
        src_color_range="MPEG",
        dst_color_range="JPEG",
    )
    assert out is not small and (out.width, out.height) == (w, h)


def test_scale_and_convert_at_source(benchmark, clip, picture):
    w, h = fitted(picture)
    out = benchmark(
        picture.reformat,
        w,
        h,
        "yuv420p",
        src_colorspace="ITU709",
        dst_colorspace="ITU601",
        src_color_range="MPEG",
        dst_color_range="JPEG",
        interpolation="LANCZOS",
    )
    assert (out.width, out.height) == (w, h)


def test_jpeg_encode_yuv(benchmark, clip, picture):
    y, u, v = canvas_yuv(picture)
    jpeg = benchmark(simplejpeg.encode_jpeg_yuv_planes, y, u, v, quality=80)
    assert Image.open(io.BytesIO(jpeg)).size == CANVAS


def test_jpeg_encode_rgb(benchmark, clip, picture):
    rgb = np.ascontiguousarray(np.stack([canvas_yuv(picture)[0]] * 3, axis=-1))
    jpeg = benchmark(simplejpeg.encode_jpeg, rgb, quality=80, colorspace="RGB", colorsubsampling="420")
    assert Image.open(io.BytesIO(jpeg)).size == CANVAS


def test_core_one_request(benchmark, clip):
    from lifelog_compression import _core

    _, path = clip

    def one():
        got = []
        with _core.Source(str(path)) as src:
            src.extract([0], got.append, workers=1)
        return got

    got = benchmark(one)
    assert len(got) == 1 and got[0]["jpeg"][:2] == b"\xff\xd8"
