"""Image sources: MNIST and Fashion-MNIST from IDX files, scikit-learn's 8 x 8 digits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from netspec.data._download import download
from netspec.data._idx import read_idx
from netspec.data._locate import locate
from netspec.data._raw import Raw
from netspec.errors import NetspecError
from netspec.ir.train import DigitsData, FashionMnistData, MnistData

SIDE = 28
CLASSES = 10
IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension

WRONG_IDX_CONTENT = (
    "{path}: expected {expected}, found {found}\n"
    "  help: check that the file is the {source} file of that name (were two files "
    "swapped or renamed?)"
)


def _images(path: Path, source: str) -> np.ndarray:
    # The magic fixes the dtype (uint8) and the rank (3); only the sides remain to check.
    array = read_idx(path, magic=IMAGES_MAGIC, what=f"{source} images")
    if array.shape[1:] != (SIDE, SIDE):
        raise NetspecError(
            WRONG_IDX_CONTENT.format(
                path=path,
                expected=f"images of shape [N, {SIDE}, {SIDE}]",
                found=f"shape {array.shape}",
                source=source,
            )
        )
    return array


def _labels(path: Path, source: str, count: int) -> np.ndarray:
    array = read_idx(path, magic=LABELS_MAGIC, what=f"{source} labels")
    if array.shape[0] != count:
        raise NetspecError(
            WRONG_IDX_CONTENT.format(
                path=path,
                expected=f"{count} labels, one per image",
                found=f"{array.shape[0]}",
                source=source,
            )
        )
    if array.size and int(array.max()) >= CLASSES:
        bad = int(np.argmax(array >= CLASSES))
        raise NetspecError(
            WRONG_IDX_CONTENT.format(
                path=path,
                expected=f"labels 0..{CLASSES - 1}",
                found=f"label {int(array[bad])} at index {bad}",
                source=source,
            )
        )
    return array.astype(np.int64)


def load_idx_source(
    spec: MnistData | FashionMnistData,
    *,
    data_dir: str | os.PathLike[str] | None,
) -> Raw:
    """MNIST or Fashion-MNIST: 60000 training and 10000 test images, [N, 1, 28, 28].

    ``normalize`` divides the pixels by 255 (values in [0, 1]; no mean/std scaling). The
    pixels stay bytes here: each split becomes ``dtype`` once it is taken (Raw.pixels).
    The files are looked for as :func:`netspec.data._locate.locate` describes and
    downloaded into the cache when absent everywhere.
    """
    source = spec.source
    located = locate(source, data_dir) or download(source, data_dir=data_dir)
    files = located.files
    train = _images(files["train_images"], source)
    test = _images(files["test_images"], source)
    return Raw(
        x=train[:, None],
        y=_labels(files["train_labels"], source, train.shape[0]),
        x_test=test[:, None],
        y_test=_labels(files["test_labels"], source, test.shape[0]),
        kind="labels",
        num_classes=CLASSES,
        feature_hint=f"{source} images are (1, {SIDE}, {SIDE}), or ({SIDE * SIDE},) "
        "with flatten = true",
        pixels=255.0 if spec.normalize else 1.0,
    )


def load_digits_source(spec: DigitsData, *, dtype: np.dtype) -> Raw:
    """scikit-learn's bundled 1797 8 x 8 digits, [N, 1, 8, 8]; ``normalize`` divides by 16."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise NetspecError(
            "data digits needs scikit-learn, which is not installed\n"
            "  help: pip install 'netspec[train]' (or pip install scikit-learn)"
        ) from exc
    bunch = load_digits()
    images = np.asarray(bunch.images)
    x = images.astype(dtype)
    if spec.normalize:
        x /= 16.0
    return Raw(
        x=x[:, None],
        y=np.asarray(bunch.target, dtype=np.int64),
        kind="labels",
        test_fraction=spec.test,
        num_classes=CLASSES,
        feature_hint="digits images are (1, 8, 8), or (64,) with flatten = true",
    )
