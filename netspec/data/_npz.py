"""The npz data source: NumPy archives of sample and target arrays."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from netspec.data._locate import did_you_mean, resolve_path
from netspec.data._raw import Raw, class_count, regression_targets
from netspec.data._values import check_array_values
from netspec.errors import NetspecError
from netspec.ir.train import NpzData

MISSING_ARRAY = (
    '{path}: no array {name!r} (option {option} = "{name}")\n  the file has: {keys}{suggest}'
)


def _array(archive: np.lib.npyio.NpzFile, path: Path, name: str) -> np.ndarray:
    member = f"{name}.npy" if f"{name}.npy" in archive.zip.namelist() else name
    try:
        array = archive[name]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise NetspecError(
                f"{path}: member {member!r} is not a readable .npy array: {exc}\n"
                "  help: write the file again with numpy.savez"
            ) from exc
        raise NetspecError(
            f"{path}: array {name!r} holds Python objects, which netspec does not load "
            "(allow_pickle is off)\n  help: save numeric arrays"
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise NetspecError(
            f"{path}: member {member!r} cannot be read: {exc}\n"
            "  help: the archive is damaged; write it again with numpy.savez"
        ) from exc
    if not isinstance(array, np.ndarray):
        # NumPy hands back the raw bytes of a member without the .npy magic.
        raise NetspecError(
            f"{path}: member {member!r} is not a .npy array ({len(array)} bytes of other "
            "data)\n  expected: arrays written by numpy.savez or numpy.savez_compressed"
        )
    if array.dtype.kind not in "biuf":
        raise NetspecError(f"{path}: array {name!r} has dtype {array.dtype}; expected numbers")
    if array.ndim == 0:
        raise NetspecError(f"{path}: array {name!r} is a scalar; expected one row per sample")
    return array


# The largest label an int64 holds; larger ones (uint64, big floats) would wrap around.
_MAX_LABEL = int(np.iinfo(np.int64).max)


def _labels(path: Path, name: str, y: np.ndarray) -> np.ndarray:
    if y.dtype.kind in "biu":
        if y.dtype.kind == "u" and y.size and int(y.max()) > _MAX_LABEL:
            bad = int(np.argmax(y > _MAX_LABEL))
            raise NetspecError(_LABEL_TOO_LARGE.format(path=path, name=name, bad=bad, value=y[bad]))
        return y.astype(np.int64)
    whole = np.isfinite(y) & (y == np.round(y))
    if not whole.all():
        bad = int(np.flatnonzero(~whole)[0])
        raise NetspecError(
            f"{path}: {name}[{bad}] = {y[bad].item()!r} is not a class label\n"
            "  expected: whole numbers 0..K-1 for a classification loss "
            "(softmax_cross_entropy, binary_cross_entropy)\n"
            "  help: use a regression loss (mse, half_sse, l1) for real-valued targets"
        )
    big = np.abs(y) > _MAX_LABEL
    if big.any():
        bad = int(np.argmax(big))
        raise NetspecError(
            _LABEL_TOO_LARGE.format(path=path, name=name, bad=bad, value=repr(y[bad].item()))
        )
    return y.astype(np.int64)


_LABEL_TOO_LARGE = (
    "{path}: {name}[{bad}] = {value} is too large to be a class label\n"
    "  expected: whole numbers 0..K-1, one per output of the model\n"
    "  help: check the labels (were they written with the wrong dtype?)"
)


def open_npz(path: Path) -> np.lib.npyio.NpzFile:
    """The archive at ``path``, open (close it with ``with``), or a NetspecError."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise NetspecError(f"{path}: not a readable .npz file: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise NetspecError(f"{path}: a single .npy array, expected an .npz archive of arrays")
    return archive


def load_npz(
    spec: NpzData,
    *,
    classification: bool,
    base_dir: str | os.PathLike[str] | None,
    data_dir: str | None,
    dtype: np.dtype,
    indices: bool = False,
) -> Raw:
    """Arrays ``x``/``y`` (the training pool) and, if present, ``x_test``/``y_test``.

    Without a test pair the pool is split by ``test``. ``normalize`` divides uint8
    inputs (images) by 255 and leaves other inputs as they are. For a classification
    loss ``y`` holds whole-number labels [N], or class probabilities [N, K]; for a
    regression loss, any float targets. Integer ``y`` of two or more axes holds class
    labels per step [N, T]. With ``indices`` (an integer model input) integer samples
    stay integer (int64, never normalised).
    """
    path = resolve_path(spec.path, "npz", base_dir=base_dir, data_dir=data_dir)
    with open_npz(path) as archive:
        keys = list(archive.files)
        for option, name in (("x", spec.x), ("y", spec.y)):
            if name not in keys:
                raise NetspecError(
                    MISSING_ARRAY.format(
                        path=path,
                        name=name,
                        option=option,
                        keys=", ".join(keys) or "nothing",
                        suggest=did_you_mean(name, keys),
                    )
                )
        has_x_test, has_y_test = spec.x_test in keys, spec.y_test in keys
        if has_x_test != has_y_test:
            there, missing = (
                (spec.x_test, spec.y_test) if has_x_test else (spec.y_test, spec.x_test)
            )
            raise NetspecError(
                f"{path}: has {there!r} but not {missing!r}\n"
                "  expected: both test arrays, or neither (then `test` splits the data)"
            )
        pairs = [(spec.x, spec.y)] + ([(spec.x_test, spec.y_test)] if has_x_test else [])
        loaded = []
        for x_name, y_name in pairs:
            x, y = _array(archive, path, x_name), _array(archive, path, y_name)
            if x.shape[0] != y.shape[0]:
                raise NetspecError(
                    f"{path}: {x_name} has {x.shape[0]} samples but {y_name} has "
                    f"{y.shape[0]}\n  expected: one target per sample"
                )
            loaded.append((x, y, x_name, y_name))
    xs, ys = [], []
    kind = "targets"
    whole = all(x.dtype.kind in "iu" for x, _, _, _ in loaded)
    for x, y, x_name, y_name in loaded:
        if indices and whole:
            xs.append(x.astype(np.int64))
        else:
            # Checked before the cast, which would turn 1e300 into inf in float32, and
            # while an index still points into the file's array.
            check_array_values(path, x_name, x, dtype)
            scaled = x.astype(dtype)
            if spec.normalize and x.dtype == np.uint8:
                scaled /= 255.0
            xs.append(scaled)
        if classification and y.ndim >= 2 and y.dtype.kind in "iu":
            kind = "steps"
            ys.append(y.astype(np.int64))
            continue
        if classification and y.ndim == 1:
            kind = "labels"
            ys.append(_labels(path, y_name, y))
            continue
        check_array_values(path, y_name, y, dtype)
        if classification:
            kind = "soft"
            ys.append(y.astype(dtype))
        else:
            ys.append(regression_targets(y, dtype))
    num_classes = class_count(kind, ys)
    test = len(xs) > 1
    return Raw(
        x=xs[0],
        y=ys[0],
        x_test=xs[1] if test else None,
        y_test=ys[1] if test else None,
        kind=kind,
        test_fraction=0.0 if test else spec.test,
        num_classes=num_classes,
        feature_hint=f"the npz array {spec.x!r} has samples of shape {tuple(xs[0].shape[1:])}",
        indices=indices and whole,
    )
