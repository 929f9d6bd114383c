"""The FFmpeg core's HDR-to-SDR mapping (csrc/tonemap.h), written a second
time in numpy from the standards' formulas, in double precision and without
tables, so that ``validate`` checks the core's tone mapping instead of
copying it.

Display-referred, ITU-R BT.2408: PQ through its EOTF (SMPTE ST 2084), HLG
through its inverse OETF and BT.2100's OOTF for a 1000 cd/m2 display (gamma
1.2, on luminance); light in units of the HDR reference white (203 cd/m2 =
SDR white); BT.2020 to BT.709 primaries in linear light; kept up to KNEE, a
Mobius roll-off of max(R, G, B) above it up to the content's peak; negative
light clipped; inverse BT.1886 (gamma 2.4) encoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

REFERENCE_WHITE = 203.0
DEFAULT_PEAK = 1000.0
KNEE = 0.8
HLG_A = 0.17883277
HLG_B = 1 - 4 * HLG_A
HLG_GAMMA = 1.2


def _gamut_2020_to_709() -> "np.ndarray":
    import numpy as np

    def to_xyz(primaries: list[tuple[float, float]], white: tuple[float, float]) -> "np.ndarray":
        xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
        w = np.array([white[0] / white[1], 1.0, (1 - white[0] - white[1]) / white[1]])
        scaled: np.ndarray = xyz * np.linalg.solve(xyz, w)
        return scaled

    d65 = (0.3127, 0.3290)
    bt2020 = to_xyz([(0.708, 0.292), (0.170, 0.797), (0.131, 0.046)], d65)
    bt709 = to_xyz([(0.640, 0.330), (0.300, 0.600), (0.150, 0.060)], d65)
    matrix: np.ndarray = np.linalg.inv(bt709) @ bt2020
    return matrix


def _mobius(x: "np.ndarray", j: float, peak: float) -> "np.ndarray":
    import numpy as np

    if peak <= 1.0:
        return x
    a = -j * j * (peak - 1) / (j * j - 2 * j + peak)
    b = (j * j - 2 * j * peak + peak) / (peak - 1)
    scale = (b * b + 2 * b * j + j * j) / (b - a)
    rolled: np.ndarray = np.where(x <= j, x, scale * (x + a) / (x + b))
    return rolled


def hdr_to_sdr(signal: "np.ndarray", transfer: str, bt2020: bool, peak_cd_m2: float | None) -> "np.ndarray":
    """Non-linear HDR R'G'B' (..., 3) in 0..1 -> BT.1886-encoded SDR R'G'B' in 0..1.
    ``transfer`` is FFmpeg's name ("smpte2084" or "arib-std-b67")."""
    import numpy as np

    e = np.clip(np.asarray(signal, dtype=np.float64), 0.0, 1.0)
    if transfer == "arib-std-b67":
        c = 0.5 - HLG_A * np.log(4 * HLG_A)
        scene = np.where(e <= 0.5, e * e / 3, (np.exp((e - c) / HLG_A) + HLG_B) / 12)
        ys = scene @ np.array([0.2627, 0.6780, 0.0593])
        light = DEFAULT_PEAK / REFERENCE_WHITE * scene * (np.maximum(ys, 0.0) ** (HLG_GAMMA - 1))[..., None]
        peak = DEFAULT_PEAK
    elif transfer == "smpte2084":
        m1, m2 = 2610 / 16384, 2523 / 4096 * 128
        c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        p = e ** (1 / m2)
        light = 10000.0 / REFERENCE_WHITE * (np.maximum(p - c1, 0) / (c2 - c3 * p)) ** (1 / m1)
        peak = peak_cd_m2 if peak_cd_m2 and peak_cd_m2 > 0 else DEFAULT_PEAK
    else:
        raise ValueError(f"not an HDR transfer: {transfer}")
    if bt2020:
        light = light @ _gamut_2020_to_709().T
    top = np.maximum(light.max(axis=-1), 1e-12)
    light = light * (_mobius(top, KNEE, peak / REFERENCE_WHITE) / top)[..., None]
    encoded: np.ndarray = np.clip(light, 0.0, 1.0) ** (1 / 2.4)
    return encoded
