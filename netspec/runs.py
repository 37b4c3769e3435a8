"""A finished training run read back: its model, weights and preprocessing.

``netspec.load_run(RUN_DIR)`` needs nothing but the run directory: the checked IR comes
from ``ir.json``, the model's name and resolved train settings from ``run.json``, the
weights (with any standardisation statistics, which live in the model's state) from
``weights.safetensors`` and the csv encoding (feature columns, categories, class names)
from the weight file's metadata or ``run.json``. ``netspec predict`` reads the same
facts for a spec given with ``--weights``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from netspec.data._encoding import CsvEncoding, read_encoding
from netspec.errors import NetspecError
from netspec.ir import CheckedModel, Program
from netspec.ir.train import TrainSpec
from netspec.weights import load_weights, resolve_weights_path, validate_weights

if TYPE_CHECKING:
    from netspec.backend import CompiledModel
    from netspec.predict.output import Prediction

# Initialisations that give the same values every time: a spec whose parameters all
# have one (the worked examples) can predict without a weight file.
FIXED_SCHEMES = frozenset({"literal", "zeros", "ones", "constant"})

NOT_A_RUN = (
    "{path} is not a run directory: it has no {missing}\n"
    "  expected: a directory written by `netspec train` (run.json, ir.json and "
    "weights.safetensors)\n"
    "  found: {found}"
)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NetspecError(f"{path}: cannot read it as JSON ({error})") from None


def run_directory_of(weights: Path) -> Path | None:
    """The run directory a weight file belongs to (its folder, or one up for a
    checkpoint), found by its run.json; None for a file outside any run."""
    for folder in (weights.parent, weights.parent.parent):
        if (folder / "run.json").is_file():
            return folder
    return None


def recorded_train(run_dir: Path) -> TrainSpec | None:
    """The resolved train settings a run recorded in run.json (None when absent)."""
    record = _json(run_dir / "run.json")
    data = record.get("train") if isinstance(record, dict) else None
    if data is None:
        return None
    try:
        return TrainSpec.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise NetspecError(
            f"{run_dir / 'run.json'} does not record valid train settings ({where}: {first['msg']})"
        ) from None


@dataclass(frozen=True)
class Preprocessing:
    """What turns raw inputs into the model's: the train section's data source (how
    images were scaled, which columns a csv had) and the csv encoding a run fitted.
    Standardisation statistics are not here: the model's standardize node holds them."""

    train: TrainSpec | None = None
    encoding: CsvEncoding | None = None
    # The characters of a text source, in index order (the run's vocab.json).
    vocabulary: tuple[str, ...] | None = None

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """The name of each class 0..K-1, where the data source has them."""
        if self.vocabulary is not None:
            return tuple(repr(ch)[1:-1] if not ch.isprintable() else ch for ch in self.vocabulary)
        if self.encoding is not None and self.encoding.class_names is not None:
            return self.encoding.class_names
        if self.train is not None and self.train.data.source == "fashion_mnist":
            return FASHION_MNIST_CLASSES
        return None


FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def preprocessing_for(
    weights: Path | None, train: TrainSpec | None
) -> tuple[Preprocessing, Path | None]:
    """The preprocessing that goes with a weight file (already resolved): the run's
    recorded train settings when the file belongs to a run, else ``train`` (the spec's
    section); and the run directory, if any."""
    if weights is None:
        return Preprocessing(train=train), None
    from netspec.sampling import VOCABULARY_FILE, read_vocabulary

    run_dir = run_directory_of(weights)
    vocabulary = None
    if run_dir is not None:
        train = recorded_train(run_dir) or train
        if (run_dir / VOCABULARY_FILE).is_file():
            vocabulary = read_vocabulary(run_dir)
    encoding = read_encoding(weights)
    return Preprocessing(train=train, encoding=encoding, vocabulary=vocabulary), run_dir


@dataclass
class Run:
    """A trained model ready to predict: the checked model, its train section, the
    weights by IR name, the preprocessing and the compiled model of one backend."""

    model: CheckedModel
    program: Program
    weights: dict[str, np.ndarray]
    preprocessing: Preprocessing
    compiled: CompiledModel
    path: Path | None = None
    backend: str = "numpy"
    dtype: str = "float32"

    @property
    def train(self) -> TrainSpec | None:
        """The train settings the weights were trained with (None without any)."""
        return self.preprocessing.train

    def predict(self, *inputs: object, **named: object) -> Prediction:
        """The model's answer for some inputs, as :class:`netspec.predict.Prediction`.

        Each positional input is an array (one sample or a batch of the model's input),
        a list of numbers, or the path of a ``.npy``, ``.npz``, ``.csv`` or image
        file, read with the run's preprocessing; keywords give arrays by input name for
        a model of several inputs. Samples of every input are stacked in order.
        """
        from netspec.predict.inputs import read_inputs
        from netspec.predict.output import predict_batch

        samples = read_inputs(self.model, inputs, named, self.preprocessing, dtype=self.dtype)
        return predict_batch(self.compiled, self.model, samples, self.preprocessing)


def build_run(
    program: Program,
    model: CheckedModel,
    weights: Path | None,
    *,
    train: TrainSpec | None,
    backend: str,
    dtype: str,
    device: str,
) -> Run:
    """A Run of ``model`` with the weights of a resolved weight file, or its literal
    weights when ``weights`` is None (an error naming the parameters that have none)."""
    from netspec.backend import get_backend

    preprocessing, run_dir = preprocessing_for(weights, train)
    if weights is None:
        drawn = [p.name for p in model.params if p.init.scheme not in FIXED_SCHEMES]
        if drawn:
            listed = ", ".join(drawn[:6]) + (" ..." if len(drawn) > 6 else "")
            raise NetspecError(
                f"model '{model.name}' has {len(drawn)} parameters whose values the spec does "
                f"not fix ({listed}): they are drawn at random; predicting needs trained "
                "weights\n"
                "  help: give --weights FILE.safetensors or a run directory of `netspec train`"
            )
        values: dict[str, np.ndarray] | None = None
    else:
        values = validate_weights(
            model, load_weights(weights), dtype=dtype, source=str(weights), require="all"
        )
    compiled = get_backend(backend).compile(model, dtype=dtype, device=device, params=values)
    return Run(
        model=model,
        program=program,
        weights=values if values is not None else {**compiled.parameters(), **compiled.state()},
        preprocessing=preprocessing,
        compiled=compiled,
        path=run_dir,
        backend=backend,
        dtype=dtype,
    )


def load_run(
    run_dir: str | os.PathLike[str],
    *,
    backend: str = "numpy",
    dtype: str = "float32",
    device: str = "cpu",
) -> Run:
    """The trained model of a run directory written by ``netspec train``.

    Reads the checked IR (``ir.json``), the model and train settings (``run.json``), the
    final weights and the csv encoding; compiles the model on ``backend`` (NumPy by
    default: no framework is imported). ``run.predict(...)`` then answers for new
    inputs. A path that is not a finished run is a NetspecError saying what it holds.
    """
    path = Path(run_dir)
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        raise NetspecError(f"{path} {what}; expected a run directory written by `netspec train`")
    found = ", ".join(sorted(entry.name for entry in path.iterdir())) or "nothing"
    for name in ("run.json", "ir.json"):
        if not (path / name).is_file():
            raise NetspecError(NOT_A_RUN.format(path=path, missing=name, found=found))
    weights = resolve_weights_path(path)  # says what to do with an unfinished run
    record = _json(path / "run.json")
    try:
        program = Program.model_validate(_json(path / "ir.json"))
    except ValidationError as error:
        why = error.errors()[0]["msg"]
        raise NetspecError(f"{path / 'ir.json'} is not a netspec IR ({why})") from None
    name = record.get("model") if isinstance(record, dict) else None
    model = program.model(name if isinstance(name, str) else None)
    return build_run(
        program,
        model,
        weights,
        train=program.train(model.name),
        backend=backend,
        dtype=dtype,
        device=device,
    )
