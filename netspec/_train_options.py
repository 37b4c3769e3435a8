"""The options of ``netspec.train``, checked before anything is loaded."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from netspec._validate import (
    check_choice,
    check_int,
    check_path,
    check_seed,
    check_str,
    found,
    unknown_keywords,
)
from netspec.errors import NetspecError
from netspec.precision import PRECISIONS


def check_train_options(options: Mapping[str, object], accepted: Iterable[str]) -> dict[str, Any]:
    """``options`` checked one by one, with data given as text parsed and arrays wrapped;
    the first bad one raises a NetspecError that names it and what it takes."""
    unknown_keywords("netspec.train", options, accepted)
    checked: dict[str, Any] = dict(options)
    if "backend" in options:
        checked["backend"] = check_choice(options["backend"], "backend", ("numpy", "torch", "jax"))
    if "dtype" in options:
        checked["dtype"] = check_choice(options["dtype"], "dtype", ("float32", "float64"))
    if options.get("precision") is not None:
        checked["precision"] = check_choice(options["precision"], "precision", PRECISIONS)
    if "device" in options:
        checked["device"] = check_str(options["device"], "device")
    if "model" in options:
        checked["model"] = check_str(options["model"], "model", optional=True)
    for name in ("epochs", "batch_size", "devices"):
        if options.get(name) is not None:
            checked[name] = check_int(options[name], name)
    if options.get("seed") is not None:
        checked["seed"] = check_seed(options["seed"])
    if options.get("lr") is not None:
        lr = options["lr"]
        if (
            isinstance(lr, bool)
            or not isinstance(lr, int | float | np.integer | np.floating)
            or not math.isfinite(lr)
            or lr <= 0
        ):
            raise NetspecError(f"lr must be a finite number > 0, found {found(lr)}")
        checked["lr"] = float(lr)
    for name in ("data_dir", "out", "resume"):
        if name in options:
            checked[name] = check_path(options[name], name, optional=True)
    for name in ("progress", "tensorboard", "sync_batchnorm", "compile", "test_at_end"):
        if name in options and not isinstance(options[name], bool):
            raise NetspecError(f"{name} must be True or False, found {found(options[name])}")
    for name in ("nproc", "master_port", "eval_every"):
        if options.get(name) is not None:
            checked[name] = check_int(options[name], name)
    if "threads" in options:
        from netspec.training.threads import check_threads

        checked["threads"] = check_threads(options["threads"])
    if options.get("data") is not None:
        checked["data"] = _data(options["data"])
    return checked


def _data(data: object) -> Any:
    from netspec.ir.train import _DataBase

    if isinstance(data, str):
        from netspec.training.options import parse_data_source

        return parse_data_source(data, "data=")
    if isinstance(data, _DataBase):
        return data
    from netspec.data._arrays import ArrayData

    return ArrayData.parse(data)
