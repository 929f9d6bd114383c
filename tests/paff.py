"""Field-coded H.264 (PAFF), as interlaced AVCHD camcorders write it: every
frame two field pictures, each its own access unit. No encoder the ffmpeg CLI
carries writes field pictures (x264 codes interlace as MBAFF), so this writes
them itself, as the simplest stream the standard allows: Main profile, CAVLC,
every macroblock I_PCM (its samples stored raw), picture order from
frame_num (POC type 2). Only the first field is an IDR (its second field may
not be one); the stream's one keyframe is its first, with the only SPS and
PPS, as in a short clip.

The fields of frame i are draw_frame(i)'s even rows (top field) and odd
rows (bottom field), so a frame pictured whole or from either field shows i.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from fixtures import Clip, draw_frame


class _Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def u(self, bits: int, value: int) -> None:
        for i in range(bits - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                self.acc = self.n = 0

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() * 2 - 1, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while self.n:
            self.u(1, 0)

    def raw(self, data: bytes) -> None:
        assert self.n == 0
        self.out += data

    def trailing(self) -> bytes:
        self.u(1, 1)
        self.align_zero()
        return bytes(self.out)


def _nal(ref_idc: int, kind: int, rbsp: bytes) -> bytes:
    """Start code, header, and the payload with emulation prevention bytes."""
    out, zeros = bytearray(), 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return b"\x00\x00\x00\x01" + bytes([(ref_idc << 5) | kind]) + bytes(out)


def _sps(width: int, height: int) -> bytes:
    b = _Bits()
    b.u(8, 77)  # Main profile: field coding allowed
    b.u(8, 0)
    b.u(8, 40)  # level 4.0
    b.ue(0)  # seq_parameter_set_id
    b.ue(0)  # log2_max_frame_num - 4: frame_num in 4 bits
    b.ue(2)  # pic_order_cnt_type 2: output order is decoding order
    b.ue(1)  # max_num_ref_frames
    b.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    b.ue(width // 16 - 1)
    b.ue(height // 32 - 1)  # map units are field macroblock rows
    b.u(1, 0)  # frame_mbs_only_flag: fields may be coded
    b.u(1, 0)  # mb_adaptive_frame_field_flag: no MBAFF
    b.u(1, 1)  # direct_8x8_inference_flag
    b.u(1, 0)  # frame_cropping_flag
    b.u(1, 0)  # vui_parameters_present_flag
    return _nal(3, 7, b.trailing())


def _pps() -> bytes:
    b = _Bits()
    b.ue(0)
    b.ue(0)
    b.u(1, 0)  # CAVLC
    b.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    b.ue(0)  # one slice group
    b.ue(0)
    b.ue(0)
    b.u(1, 0)
    b.u(2, 0)
    b.se(0)
    b.se(0)
    b.se(0)
    b.u(1, 1)  # deblocking_filter_control_present_flag
    b.u(1, 0)
    b.u(1, 0)
    return _nal(3, 8, b.trailing())


def _field(yuv: tuple[np.ndarray, np.ndarray, np.ndarray], frame_num: int, bottom: bool, idr: bool) -> bytes:
    """One field picture: a single I slice of I_PCM macroblocks."""
    y, cb, cr = yuv
    b = _Bits()
    b.ue(0)  # first_mb_in_slice
    b.ue(7)  # slice_type: I (every slice of the picture)
    b.ue(0)  # pic_parameter_set_id
    b.u(4, frame_num % 16)
    b.u(1, 1)  # field_pic_flag
    b.u(1, int(bottom))  # bottom_field_flag
    if idr:
        b.ue(0)  # idr_pic_id
        b.u(1, 0)  # no_output_of_prior_pics_flag
        b.u(1, 0)  # long_term_reference_flag
    else:
        b.u(1, 0)  # adaptive_ref_pic_marking_mode_flag
    b.se(0)  # slice_qp_delta
    b.ue(1)  # disable_deblocking_filter_idc: off
    rows, cols = y.shape[0] // 16, y.shape[1] // 16
    for r in range(rows):
        for c in range(cols):
            b.ue(25)  # mb_type I_PCM
            b.align_zero()
            b.raw(y[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16].tobytes())
            b.raw(cb[r * 8 : (r + 1) * 8, c * 8 : (c + 1) * 8].tobytes())
            b.raw(cr[r * 8 : (r + 1) * 8, c * 8 : (c + 1) * 8].tobytes())
    return _nal(3, 5 if idr else 1, b.trailing())


def _planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range 4:2:0 planes (untagged SD video is read as BT.601)."""
    f = rgb.astype(np.float64)
    y = 16 + (65.481 * f[..., 0] + 128.553 * f[..., 1] + 24.966 * f[..., 2]) / 255
    cb = 128 + (-37.797 * f[..., 0] - 74.203 * f[..., 1] + 112.0 * f[..., 2]) / 255
    cr = 128 + (112.0 * f[..., 0] - 93.786 * f[..., 1] - 18.214 * f[..., 2]) / 255
    sub = lambda p: p.reshape(p.shape[0] // 2, 2, p.shape[1] // 2, 2).mean(axis=(1, 3))
    # PCM samples of 0 were not allowed by the first edition of the standard.
    clip = lambda p: np.clip(np.rint(p), 1, 255).astype(np.uint8)
    return clip(y), clip(sub(cb)), clip(sub(cr))


def make_paff_clip(
    path: Path,
    *,
    frames: int = 25,
    fps: int = 25,
    width: int = 320,
    height: int = 224,
    bottom_first: bool = False,
    container: str = "mpegts",
) -> Clip:
    """A field-coded H.264 stream of `frames` frames in `container`
    (`-c copy`), the fields of frame i drawn from draw_frame(i)."""
    assert width % 16 == 0 and height % 32 == 0
    stream = bytearray(_sps(width, height) + _pps())
    for i in range(frames):
        picture = draw_frame(i, width, height)
        for n, bottom in enumerate((True, False) if bottom_first else (False, True)):
            field = picture[int(bottom) :: 2]
            stream += _field(_planes(field), i, bottom, idr=i == 0 and n == 0)
    raw = path.with_suffix(".h264")
    raw.write_bytes(bytes(stream))
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-framerate",
            str(fps),
            "-i",
            str(raw),
            "-c",
            "copy",
            "-f",
            container,
            str(path),
        ],
        check=True,
    )
    raw.unlink()
    times = [i * 1000 / fps for i in range(frames)]
    return Clip(
        path=path,
        frame_times_ms=times,
        times_by_index=dict(enumerate(times)),
        display_width=width,
        display_height=height,
        fps=fps,
        duration_s=frames / fps,
        codec="h264 (PAFF)",
        args=[],
        width=width,
        height=height,
        container=container,
    )
