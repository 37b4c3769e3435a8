"""The batch, loss and weights that `netspec gradcheck` and `netspec inspect` work on.

Without ``--data`` the batch is synthetic: standard normal inputs of each input's shape
(uniform valid indices for an integer input) and targets that fit the loss, drawn with
``--seed`` (:func:`netspec.parity.random_batch`), so that the commands need no download
and work on every spec, with or without a train section. ``--data spec`` takes the
samples from the train section's own source and ``--data SOURCE`` from another (as
`netspec train --data` reads it): the source is loaded as training would load it and a
seeded draw of ``--batch`` training samples is used.

The loss is the train section's (penalties come with the model's parameters); a model
without a train section gets :func:`netspec.parity.default_loss`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np

from netspec.ir import CheckedModel, Program
from netspec.ir.train import LossSpec

NO_TRAIN_SECTION = (
    "--data {data} reads a train section's data settings, but model '{model}' has no train section"
)
NO_TRAIN_SECTION_HELP = (
    "leave out --data for a synthetic batch, or add `train {model} {{ data ... }}` to the spec"
)


@dataclass(frozen=True)
class Batch:
    """Every input's batch by name, the targets, the loss and where they came from."""

    x: dict[str, np.ndarray]
    y: np.ndarray
    loss: LossSpec
    source: str
    dataset: Any = None  # the loaded Dataset for --data (its csv statistics), else None


def add_batch_options(parser: argparse.ArgumentParser, batch: int) -> None:
    """``--data``, ``--data-dir``, ``--batch`` and ``--seed``, with their help."""
    parser.add_argument(
        "--data",
        metavar="SOURCE",
        help="where the batch comes from: spec (the train section's source) or a source "
        'as `netspec train --data` takes it, e.g. "mnist(limit = 1000)" (default: a '
        "synthetic batch: standard normal inputs, targets that fit the loss)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where mnist/ is found (default: $NETSPEC_DATA_DIR, then the cache)",
    )
    parser.add_argument("--batch", type=_positive, default=batch, help="samples in the batch")
    parser.add_argument(
        "--seed",
        type=_non_negative,
        default=0,
        help="seed of the initial weights, of the batch and of dropout masks",
    )


def _positive(text: str) -> int:
    from netspec._cli_parser import _positive as positive

    return positive(text)


def _non_negative(text: str) -> int:
    from netspec._cli_parser import _non_negative as non_negative

    return non_negative(text)


def loss_of(program: Program, model: CheckedModel) -> LossSpec:
    """The train section's loss, or the default of `netspec parity` without one."""
    from netspec.parity import default_loss

    section = program.train(model.name)
    return section.loss if section is not None else default_loss(model)


def make_batch(
    program: Program,
    model: CheckedModel,
    *,
    data: str | None,
    batch: int,
    seed: int,
    dtype: str,
    data_dir: str | None = None,
    spec_path: str | None = None,
) -> Batch:
    """The batch the commands run on; see the module's docstring."""
    from netspec.parity import random_batch

    loss = loss_of(program, model)
    if data is None:
        x, y = random_batch(model, loss, batch, seed, dtype)
        inputs = x if isinstance(x, dict) else {model.inputs[0].name: x}
        return Batch(inputs, np.asarray(y), loss, f"synthetic batch of {batch} (seed {seed})")
    from netspec.commands._shared import UsageError
    from netspec.data import load_dataset
    from netspec.data.for_model import model_data_options
    from netspec.training.options import parse_data_source

    section = program.train(model.name)
    if section is None:
        raise UsageError(
            NO_TRAIN_SECTION.format(data=data, model=model.name),
            help=NO_TRAIN_SECTION_HELP.format(model=model.name),
        )
    source = section.data if data == "spec" else parse_data_source(data)
    dataset = load_dataset(
        source,
        **model_data_options(model, section, data_dir=data_dir, dtype=dtype, spec_path=spec_path),
    )
    split = dataset.train
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(split), size=min(batch, len(split)), replace=False))
    x, y = split.rows(rows)
    inputs = x if isinstance(x, dict) else {model.inputs[0].name: x}
    inputs = {name: np.ascontiguousarray(array) for name, array in inputs.items()}
    described = f"{len(rows)} training samples of {dataset.source} (seed {seed})"
    return Batch(inputs, np.ascontiguousarray(y), section.loss, described, dataset)


def batch_from_args(
    program: Program, model: CheckedModel, args: argparse.Namespace, dtype: str
) -> Batch:
    """:func:`make_batch` from the options :func:`add_batch_options` added to a command."""
    return make_batch(
        program,
        model,
        data=args.data,
        batch=args.batch,
        seed=args.seed,
        dtype=dtype,
        data_dir=args.data_dir,
        spec_path=args.file,
    )


def load_params(model: CheckedModel, weights: str | None, dtype: str) -> dict[str, Any] | None:
    """The weights of ``--weights`` (a file or a run directory), checked; None without."""
    if weights is None:
        return None
    from netspec.training.checkpoint import verify_if_checkpoint
    from netspec.weights import load_weights, resolve_weights_path, validate_weights

    path = resolve_weights_path(weights)
    verify_if_checkpoint(path)
    return validate_weights(model, load_weights(path), dtype=dtype, source=str(path), require="all")


def fill_statistics(model: CheckedModel, compiled: Any, batch: Batch) -> None:
    """A standardised csv source's feature statistics into the model's standardize node,
    as training puts them there (nothing for other sources)."""
    if batch.dataset is None:
        return
    from netspec.training.preprocessing import set_input_statistics

    set_input_statistics(model, compiled, batch.dataset)
