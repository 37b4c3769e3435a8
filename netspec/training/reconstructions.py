"""reconstructions.png: a row of inputs above the model's outputs, for autoencoders.

A run whose train section says ``target input`` trains the model to reproduce its
input; a look at a few reconstructed test images says more about such a model than its
loss does. The picture is drawn only for image-like inputs and only with matplotlib
installed; otherwise the run notes why it was skipped.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from netspec.backend import CompiledModel
from netspec.data import Dataset
from netspec.weights import atomic_write_bytes

FILE = "reconstructions.png"
COUNT = 8  # images per row
CELL = 1.0  # inches per image (square)
TITLE = 0.4  # inches above the rows, for the title
DPI = 100  # so each image is CELL * DPI pixels wide: the file is COUNT * 100 x 240


def write_reconstructions(
    run_dir: Path, model: CompiledModel, data: Dataset, title: str
) -> str | None:
    """Write ``run_dir``/reconstructions.png from the first test samples (validation ones
    when there is no test split) and the model's outputs for them, in evaluation mode.

    Returns None when written, else the note saying why not (no matplotlib, inputs that
    are not images, no held-out split): a missing picture never fails a run.
    """
    split = next((s for s in (data.test, data.validation) if s is not None and len(s)), None)
    if split is None:
        return f"{FILE} skipped: the run has no test or validation split to reconstruct"
    sample = tuple(int(d) for d in split.x.shape[1:])
    shape = image_shape(sample)
    if shape is None:
        return not_image_note(sample)
    inputs = split.x[:COUNT]
    outputs = np.asarray(model.forward(inputs, train=False))
    if not plot_reconstructions(run_dir / FILE, inputs, outputs, shape=shape, title=title):
        return f"{FILE} skipped: matplotlib is not installed (pip install 'netspec[train]')"
    return None


def image_shape(sample: tuple[int, ...]) -> tuple[int, int] | None:
    """The (height, width) a sample of shape ``sample`` is drawn as, None when it is not
    an image: [1, H, W] and [H, W] are images, and so is a vector whose length is a
    square number (a flattened square image, e.g. 64 or 784 values)."""
    if len(sample) == 3 and sample[0] == 1 and min(sample[1:]) > 1:
        return sample[1], sample[2]
    if len(sample) == 2 and min(sample) > 1:
        return sample[0], sample[1]
    if len(sample) == 1:
        side = math.isqrt(sample[0])
        if side > 1 and side * side == sample[0]:
            return side, side
    return None


def not_image_note(sample: tuple[int, ...]) -> str:
    """Why a run with inputs of shape ``sample`` has no reconstructions.png."""
    shape = "[" + ", ".join(str(d) for d in sample) + "]"
    return (
        f"{FILE} skipped: the input {shape} is not image-like "
        "(expected [1, H, W], [H, W] or a square number of values)"
    )


def pixel_size(count: int) -> tuple[int, int]:
    """The (width, height) in pixels of a picture of ``count`` pairs."""
    return round(count * CELL * DPI), round((2 * CELL + TITLE) * DPI)


def plot_reconstructions(
    path: Path,
    inputs: np.ndarray,
    outputs: np.ndarray,
    *,
    shape: tuple[int, int],
    title: str,
) -> bool:
    """Draw ``inputs`` (top row) and ``outputs`` (bottom row), each sample reshaped to
    ``shape``, and write the PNG atomically; False when matplotlib is not installed.

    Both rows share the inputs' grey scale, so an output that overshoots the input range
    shows as saturated rather than silently rescaled.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    count = len(inputs)
    above = np.asarray(inputs, dtype=np.float64).reshape(count, *shape)
    below = np.asarray(outputs, dtype=np.float64).reshape(count, *shape)
    low, high = float(above.min()), float(above.max())
    if high <= low:  # a constant input: any range that contains it
        low, high = low - 0.5, high + 0.5
    width, height = pixel_size(count)
    figure = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    # Axes placed by hand (no tight_layout), so the file's pixel size is fixed.
    cell_w, cell_h = 1.0 / count, CELL / (2 * CELL + TITLE)
    for row, images in enumerate((above, below)):
        for column, image in enumerate(images):
            # A 4% margin on each side of every image.
            left, bottom = (column + 0.04) * cell_w, (1 - row + 0.04) * cell_h
            axis = figure.add_axes((left, bottom, 0.92 * cell_w, 0.92 * cell_h))
            axis.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(f"{title}: inputs (top), reconstructions (bottom)", fontsize=9)
    image_bytes = io.BytesIO()
    figure.savefig(image_bytes, format="png", dpi=DPI)
    plt.close(figure)
    atomic_write_bytes(path, image_bytes.getvalue())
    return True
