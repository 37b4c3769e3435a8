"""Image files (PNG, JPEG) as one sample of a model input, through Pillow.

The picture is converted to the input's channels (grayscale for 1, RGB for 3), resized
to its height and width (area averages when shrinking, bilinear when enlarging; the
aspect ratio is not kept), and scaled as the training data source scaled its pixels:
MNIST and Fashion-MNIST with ``normalize`` (the default) divide by 255, without it keep
0..255; scikit-learn's digits hold 0..16, so a 0..255 pixel becomes ``p * 16 / 255``
(then divided by 16 with ``normalize``). Any other source, or none, divides by 255.
Colours are taken as they are: MNIST digits are light on a dark ground, and a dark
digit on white paper must be inverted by the user.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from netspec.data._checks import spec_shape
from netspec.errors import NetspecError
from netspec.ir.graph import Input
from netspec.ir.train import TrainSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def pixel_scale(train: TrainSpec | None) -> float:
    """What a 0..255 pixel is multiplied by to match the training data's values."""
    data = train.data if train is not None else None
    if data is None:
        return 1 / 255
    if data.source in ("mnist", "fashion_mnist"):
        return 1 / 255 if data.normalize else 1.0
    if data.source == "digits":
        return 1 / 255 if data.normalize else 16 / 255
    return 1 / 255


def image_layout(spec: Input) -> tuple[int, int, int]:
    """(channels, height, width) of an image for the input, or an error saying which
    input shapes an image can fill."""
    shape = tuple(spec.shape)
    if len(shape) == 3 and shape[0] in (1, 3):
        return shape[0], shape[1], shape[2]
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        side = math.isqrt(shape[0])  # a flattened square grayscale image (MNIST's 784)
        return 1, side, side
    raise NetspecError(
        f"an image cannot fill input '{spec.name}' of shape {spec_shape(shape)}\n"
        "  expected: an input of shape [1, H, W] (grayscale), [3, H, W] (RGB), [H, W], or "
        "[N] for a flattened square grayscale image (N = side * side)"
    )


def read_image(path: Path, spec: Input, train: TrainSpec | None) -> np.ndarray:
    """The image at ``path`` as one float64 sample of ``spec``'s shape."""
    channels, height, width = image_layout(spec)
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as error:
        raise NetspecError(
            f"{path}: reading images needs Pillow, which is not installed\n"
            "  help: pip install 'netspec[train]' (or pip install pillow)"
        ) from error
    try:
        with Image.open(path) as opened:
            opened.load()
            mode = opened.mode
            if mode.startswith("I;16"):
                # 16-bit grayscale: converting to "L" would clip at 255, so the pixels
                # are brought to 0..255 here, kept as floats.
                wide = np.asarray(opened, dtype=np.float64) * (255 / 65535)
                picture = Image.fromarray(wide.astype(np.float32), mode="F")
            elif mode in ("I", "F"):
                kind = "32-bit integer" if mode == "I" else "floating-point"
                raise NetspecError(
                    f"{path}: the image has {kind} pixels, whose range is unknown; "
                    "expected 8- or 16-bit pixels"
                )
            else:
                picture = opened.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise NetspecError(
            f"{path}: cannot read it as an image ({error}); expected a PNG or JPEG file"
        ) from None
    if picture.size != (width, height):
        # Shrinking averages each output pixel's area (what a smaller scan would see);
        # enlarging interpolates.
        shrink = picture.size[0] >= width and picture.size[1] >= height
        method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
        picture = picture.resize((width, height), method)
    pixels = np.asarray(picture, dtype=np.float64) * pixel_scale(train)
    if pixels.ndim == 2 and channels == 3:
        pixels = np.repeat(pixels[None], 3, axis=0)  # a 16-bit gray picture for RGB
    elif channels == 3:
        pixels = pixels.transpose(2, 0, 1)  # height, width, colour -> colour first
    return pixels.reshape(spec.shape)
