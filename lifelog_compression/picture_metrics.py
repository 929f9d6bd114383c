"""How alike two pictures are: PSNR, SSIM and a colour error, in numpy.

``validate`` measures every checked row with these, on 1080p pictures, so
they are written for speed as well as for the definitions: float32 where the
result does not need more (a luma plane, a difference), sums done as
reshapes over contiguous memory, and SSIM at the viewing scale its authors'
reference code uses. numpy is optional for the package: callers import this
module only once a validation runs.
"""

from __future__ import annotations

import math

import numpy as np

# Identical images have infinite PSNR; a finite cap keeps reports JSON-clean.
PSNR_CAP_DB = 100.0
# BT.601 luma weights, as JPEG stores Y.
BT601 = (0.299, 0.587, 0.114)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an H x W x 3 RGB array (the Y a JPEG stores): float32
    for float32 or integer input, float64 for float64."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.float64:
        rgb = rgb.astype(np.float32, copy=False)
    out: np.ndarray = rgb @ np.array(BT601, dtype=rgb.dtype)
    return out


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over all samples of ``a`` and ``b``
    (same shape); identical inputs give ``PSNR_CAP_DB``."""
    a, b = np.asarray(a), np.asarray(b)
    kind = np.float64 if np.float64 in (a.dtype, b.dtype) else np.float32
    diff = (a.astype(kind, copy=False) - b.astype(kind, copy=False)).ravel()
    mse = float(np.dot(diff, diff)) / max(1, diff.size)
    if mse <= peak * peak * 10 ** (-PSNR_CAP_DB / 10):
        return PSNR_CAP_DB
    return 10.0 * math.log10(peak * peak / mse)


def block_means(x: np.ndarray, block: int) -> np.ndarray:
    """Means of the whole ``block`` x ``block`` tiles of an H x W (x C)
    image (a partial row or column of tiles at the edge is left out)."""
    x = np.asarray(x)
    h, w = (x.shape[0] // block) * block, (x.shape[1] // block) * block
    tail = x.shape[2:]
    width = int(np.prod(tail, dtype=np.int64)) if tail else 1
    # Sum each band of rows first (contiguous), then the columns within it.
    # float32 sums are exact to well under a thousandth of a level here.
    kind = np.float64 if x.dtype == np.float64 else np.float32
    rows = x[:h, :w].reshape(h // block, block, w * width).sum(axis=1, dtype=kind)
    tiles: np.ndarray = rows.reshape(h // block, w // block, block, *tail).sum(axis=2) / (block * block)
    return tiles.astype(np.float64)


def colour_error(a: np.ndarray, b: np.ndarray, block: int = 16) -> float:
    """Mean absolute difference, in levels, between the ``block`` x ``block``
    means of two RGB images of one shape (all channels): how far apart their
    colours are once detail and coding noise are averaged away."""
    if a.shape[0] < block or a.shape[1] < block:
        return float(np.abs(np.asarray(a, np.float64).mean((0, 1)) - np.asarray(b, np.float64).mean((0, 1))).mean())
    return float(np.abs(block_means(a, block) - block_means(b, block)).mean())


def _gaussian_taps(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    taps = np.exp(-(x * x) / (2 * sigma * sigma))
    normalised: np.ndarray = taps / taps.sum()
    return normalised


def _filter_valid(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    # Separable and 'valid' (no border handling), as Wang et al.'s reference
    # code does with filter2(..., 'valid'): a tap loop over shifted views costs
    # 2 x 11 multiply-adds per pixel and needs no scipy.
    n = len(taps)
    h, w = img.shape
    rows = taps[0] * img[:, : w - n + 1]
    for k in range(1, n):
        rows = rows + taps[k] * img[:, k : w - n + 1 + k]
    out: np.ndarray = taps[0] * rows[: h - n + 1]
    for k in range(1, n):
        out = out + taps[k] * rows[k : h - n + 1 + k]
    return out


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Mean structural similarity of two greyscale images (Wang, Bovik, Sheikh,
    Simoncelli 2004): 11 x 11 Gaussian window with sigma 1.5, K1 = 0.01,
    K2 = 0.03, statistics over the 'valid' region only (no padding), the mean
    of the SSIM map. Images smaller than the window fall back to one window
    over the whole image."""
    # float32 in, float32 arithmetic (SSIM to ~1e-5, twice as fast); else float64.
    kind = np.float32 if np.asarray(a).dtype == np.float32 and np.asarray(b).dtype == np.float32 else np.float64
    x = np.asarray(a, kind)
    y = np.asarray(b, kind)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"ssim needs two greyscale images of one shape, got {x.shape} and {y.shape}")
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    taps = _gaussian_taps().astype(kind)
    if min(x.shape) < len(taps):
        x, y = x.reshape(1, -1), y.reshape(1, -1)
        mx, my = x.mean(), y.mean()
        vx, vy, cxy = x.var(), y.var(), ((x - mx) * (y - my)).mean()
        return float(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    # Centring first keeps E[x^2] - E[x]^2 accurate (no cancellation near 255^2).
    offset = 0.5 * (x.mean() + y.mean())
    x, y = x - offset, y - offset
    mx, my = _filter_valid(x, taps), _filter_valid(y, taps)
    vx = _filter_valid(x * x, taps) - mx * mx
    vy = _filter_valid(y * y, taps) - my * my
    cxy = _filter_valid(x * y, taps) - mx * my
    mx, my = mx + offset, my + offset
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(smap.mean())


def viewing_scale(shape: tuple[int, ...]) -> int:
    """The factor Wang et al.'s reference implementation (ssim.m, 2009)
    averages a picture down by before SSIM: max(1, round(min(H, W) / 256)),
    so that the 11 x 11 window sees detail at the scale a viewer does."""
    return max(1, round(min(shape[0], shape[1]) / 256))


def ssim_viewed(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """``ssim`` after both pictures are averaged down by ``viewing_scale``
    (box filter): the figure ssim.m reports, and 16 times less work on 1080p."""
    f = viewing_scale(np.shape(a))
    if f == 1:
        return ssim(a, b, peak)
    return ssim(block_means(a, f).astype(np.float32), block_means(b, f).astype(np.float32), peak)
