"""Random changes to training images, drawn per (seed, epoch, batch) on the host.

Every backend trains on the batches this module returns, so augmentation is the same
on all of them; the draws are a pure function of (seed, epoch, batch index), so a
resumed run makes the same changes as an uninterrupted one without saving RNG state.
Images are ``[N, C, H, W]``; pixels moved in from outside the image are zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from netspec.errors import NetspecError
from netspec.ir.train import HorizontalFlip, RandomCrop, RandomRotate, RandomShift

AugmentSpec = RandomCrop | RandomShift | HorizontalFlip | RandomRotate
# Part of every augmentation stream's seed, so that it never coincides with the batch
# order's stream PCG64([seed, epoch]).
_STREAM = 0x6175676D  # "augm"


def augment_rng(seed: int, epoch: int, batch: int) -> np.random.Generator:
    """The generator of one batch's draws: PCG64([seed, epoch, batch, stream])."""
    return np.random.Generator(np.random.PCG64([seed, epoch, batch, _STREAM]))


def augment(
    x: np.ndarray | dict[str, np.ndarray],
    augmentations: Sequence[AugmentSpec],
    *,
    seed: int,
    epoch: int,
    batch: int,
) -> np.ndarray | dict[str, np.ndarray]:
    """A training batch with ``augmentations`` applied in order (``x`` itself when none).

    Each augmentation draws one value per sample, in the batch's order, from
    :func:`augment_rng`; the result keeps ``x``'s dtype.
    """
    if not augmentations:
        return x
    if isinstance(x, dict) or x.ndim != 4 or x.dtype.kind != "f":
        shape = "inputs by name" if isinstance(x, dict) else f"{x.dtype} {list(x.shape)}"
        raise NetspecError(
            f"augment needs batches of images [N, C, H, W] of floats, found {shape}: "
            "drop augment from the data source"
        )
    rng = augment_rng(seed, epoch, batch)
    n = x.shape[0]
    out = x
    for entry in augmentations:
        if isinstance(entry, RandomCrop | RandomShift):
            pixels = entry.padding if isinstance(entry, RandomCrop) else entry.pixels
            offsets = rng.integers(-pixels, pixels + 1, size=(n, 2))
            out = shift(out, offsets[:, 0], offsets[:, 1])
        elif isinstance(entry, HorizontalFlip):
            out = flip(out, rng.random(n) < entry.p)
        elif isinstance(entry, RandomRotate):
            angles = rng.uniform(-entry.degrees, entry.degrees, size=n)
            out = rotate(out, angles, entry.interpolation)
        else:  # pragma: no cover - the IR union is closed
            raise TypeError(f"unknown augmentation {entry!r}")
    return out


def shift(x: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Each image moved so that ``out[n, :, h, w] = x[n, :, h + dy[n], w + dx[n]]``, zeros
    where that is outside: torchvision's crop at offset (p + dy, p + dx) of the image
    padded by p."""
    n, _, height, width = x.shape
    pad = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    if pad == 0:
        return x.copy()
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = (pad + dy)[:, None] + np.arange(height)[None, :]  # [N, H]
    cols = (pad + dx)[:, None] + np.arange(width)[None, :]  # [N, W]
    samples = np.arange(n)[:, None, None, None]
    channels = np.arange(x.shape[1])[None, :, None, None]
    return padded[samples, channels, rows[:, None, :, None], cols[:, None, None, :]]


def flip(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The images where ``mask`` is set mirrored left to right, the others as they are."""
    out = x.copy()
    out[mask] = x[mask][..., ::-1]
    return out


def rotate(x: np.ndarray, degrees: np.ndarray, interpolation: str = "bilinear") -> np.ndarray:
    """Each image rotated counter-clockwise (as displayed, rows downwards) by its angle in
    degrees about its centre ((H - 1) / 2, (W - 1) / 2); each output pixel samples the
    input at the inversely rotated place, ``bilinear`` or ``nearest``, zeros outside."""
    n, channels, height, width = x.shape
    theta = np.deg2rad(np.asarray(degrees, dtype=np.float64))[:, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    ys = np.arange(height, dtype=np.float64)[None, :, None] - cy
    xs = np.arange(width, dtype=np.float64)[None, None, :] - cx
    # The source of output (y, x): the output place rotated back by the angle.
    src_x = cos * xs - sin * ys + cx  # [N, H, W]
    src_y = sin * xs + cos * ys + cy
    flat = x.reshape(n, channels, height * width)
    if interpolation == "nearest":
        # Half-way points round up, the same on every platform (np.round would go to even).
        return _gather(flat, np.floor(src_y + 0.5), np.floor(src_x + 0.5), height, width).astype(
            x.dtype, copy=False
        )
    y0, x0 = np.floor(src_y), np.floor(src_x)
    wy, wx = (src_y - y0)[:, None], (src_x - x0)[:, None]
    out = (
        _gather(flat, y0, x0, height, width) * (1 - wy) * (1 - wx)
        + _gather(flat, y0, x0 + 1, height, width) * (1 - wy) * wx
        + _gather(flat, y0 + 1, x0, height, width) * wy * (1 - wx)
        + _gather(flat, y0 + 1, x0 + 1, height, width) * wy * wx
    )
    return out.astype(x.dtype, copy=False)


def _gather(
    flat: np.ndarray, rows: np.ndarray, cols: np.ndarray, height: int, width: int
) -> np.ndarray:
    """``flat[n, :, rows[n] * W + cols[n]]`` as float64 ``[N, C, H, W]``, zero outside."""
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    index = (np.clip(rows, 0, height - 1) * width + np.clip(cols, 0, width - 1)).astype(np.intp)
    n, channels = flat.shape[:2]
    picked = np.take_along_axis(flat, index.reshape(n, 1, -1).repeat(channels, axis=1), axis=2)
    picked = picked.reshape(n, channels, *rows.shape[1:]).astype(np.float64)
    return picked * inside[:, None]
