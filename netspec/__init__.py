"""netspec: a compiler for neural networks.

Write a network as a .net spec, check it, and compile it to NumPy, PyTorch or JAX::

    import netspec
    program = netspec.load("specs/lenet5.net")   # the checked IR
    model = program.model()                       # a CheckedModel
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from netspec._validate import check_int, check_str, found
from netspec.check.checker import DEFAULT_MAX_PARAMS
from netspec.diagnostics import Diagnostic
from netspec.errors import NetspecError, ShapeError
from netspec.frontend import Analysis
from netspec.ir import CheckedModel, Program


def load(
    path_or_text: str | os.PathLike[str],
    *,
    max_params: int = DEFAULT_MAX_PARAMS,
    overrides: Overrides | None = None,
) -> Program:
    """Read a .net file (a path) or spec text and return the checked program.

    ``overrides`` replace values the spec writes, as ``netspec ... --set`` does: a
    mapping such as ``{"epochs": 3, "dense_1.units": 512, "optimizer": "adam(lr = 1e-3)"}``
    (numbers and booleans as themselves, anything else as spec text) or a list of
    ``"KEY=VALUE"`` strings; the program records them (``program.overrides``).

    Raises :class:`NetspecError` carrying every diagnostic when the spec has errors (an
    override's included), naming its search spaces when it leaves some open (see
    :func:`substitute`), or when the arguments are not a path or text and a positive
    ``max_params``; warnings do not stop loading.
    """
    from netspec import frontend

    if not isinstance(path_or_text, str | os.PathLike):
        raise NetspecError(f"netspec.load takes a path or spec text, found {found(path_or_text)}")
    return frontend.load(
        path_or_text,
        max_params=check_int(max_params, "max_params"),
        overrides=_check_overrides(overrides),
    )


def analyze(
    source: str,
    file: str = "<string>",
    *,
    max_params: int = DEFAULT_MAX_PARAMS,
    overrides: Overrides | None = None,
) -> Analysis:
    """Read spec text ``source`` completely and report every problem found; raises only
    for arguments of the wrong kind (:class:`NetspecError`), never for a bad spec.
    ``overrides`` as for :func:`load`; ``analysis.spaces`` lists the spec's search
    spaces."""
    from netspec import frontend

    check_str(source, "source")
    check_str(file, "file")
    return frontend.analyze(
        source,
        file,
        max_params=check_int(max_params, "max_params"),
        overrides=_check_overrides(overrides),
    )


def _check_overrides(overrides: object) -> Overrides | None:
    """``overrides`` when it is None, a mapping with str keys or a list of str."""
    from collections.abc import Mapping, Sequence

    if overrides is None:
        return None
    if isinstance(overrides, Mapping) and all(isinstance(k, str) for k in overrides):
        return overrides
    if (
        isinstance(overrides, Sequence)
        and not isinstance(overrides, str)
        and all(isinstance(item, str) for item in overrides)
    ):
        return overrides
    raise NetspecError(
        "overrides are a mapping of keys to values or a list of 'KEY=VALUE' strings, "
        f"found {found(overrides)}"
    )


def search_spaces(
    spec: str | os.PathLike[str], *, overrides: Overrides | None = None
) -> tuple[SpaceSite, ...]:
    """The search spaces a spec (a path or text) leaves open, each with its path, kind,
    bounds or options and location; see :func:`netspec.search_space.search_spaces`."""
    from netspec.search_space import search_spaces as listed

    return listed(spec, overrides=_check_overrides(overrides))


def substitute(
    spec: str | os.PathLike[str],
    values: Mapping[str, Any],
    *,
    overrides: Overrides | None = None,
) -> Substitution:
    """The spec with each search space fixed at the value ``values`` gives for its path:
    the checked program and the spec text with the values written in; see
    :func:`netspec.search_space.substitute`."""
    from netspec.search_space import substitute as fixed

    return fixed(spec, values, overrides=_check_overrides(overrides))


TRAIN_OPTIONS = (
    "backend", "device", "dtype", "epochs", "batch_size", "lr", "seed", "data", "data_dir",
    "out", "resume", "progress", "model", "devices", "tensorboard", "nproc", "sync_batchnorm",
    "master_port", "compile", "threads", "precision", "eval_every", "test_at_end",
)  # fmt: skip


def train(
    spec: str | os.PathLike[str] | Program,
    *,
    overrides: Overrides | None = None,
    **options: object,
) -> TrainResult:
    """Train a spec's model as its train section says; returns history and trained model.

    ``spec`` is a path, spec text or a loaded Program. Options: ``backend`` ("numpy",
    "torch", "jax"), ``device``, ``devices`` (jax: train data-parallel over that many
    devices, docs/distributed.md), ``dtype``, ``epochs``, ``batch_size``, ``lr``, ``seed``,
    ``data`` (a source such as "digits", or NumPy arrays: ``(x, y)`` or
    ``{"train": (x, y), "test": (x, y)}``), ``data_dir``, ``out`` (run directory),
    ``resume``, ``progress``, ``model`` (which model of the file) and ``tensorboard``
    (also write the metrics as TensorBoard event files). ``overrides``
    (for a path or text) as for :func:`load`. ``nproc`` (torch only) trains
    data-parallel in that many processes started by torch's elastic agent, ``batch_size``
    staying the global batch; ``sync_batchnorm`` and ``master_port`` go with it
    (docs/distributed.md). ``compile`` (torch only) compiles the training step with
    torch.compile (docs/training.md). ``threads`` sizes the CPU thread pools (0 or "auto": one
    per physical core the load leaves free; docs/training.md). ``precision`` ("fp32",
    "bf16", "fp16"; default the spec's) computes each step in that format with float32
    master weights (torch and jax; docs/training.md). ``eval_every`` (evaluate every N
    epochs and the last) and ``test_at_end`` (the test split only after the last epoch)
    set which epochs evaluate (docs/training.md). Every option is checked before any
    data is loaded; a bad one raises :class:`NetspecError`.
    """
    from netspec._train_options import check_train_options
    from netspec.training import fit

    checked = check_train_options(options, TRAIN_OPTIONS)
    path = None
    if isinstance(spec, Program):
        if overrides is not None:
            raise NetspecError("overrides apply to a spec's text: pass a path or spec text")
        program = spec
    elif isinstance(spec, str | os.PathLike):
        program = load(spec, overrides=overrides)
        text_or_path = os.fsdecode(spec)
        if "\n" not in text_or_path and text_or_path.endswith(".net"):
            path = text_or_path
    else:
        raise NetspecError(
            f"netspec.train takes a path, spec text or a Program, found {type(spec).__name__}"
        )
    try:
        return fit(program, spec_path=path, **checked)  # type: ignore[arg-type]
    except MemoryError:
        raise NetspecError(OUT_OF_MEMORY) from None


def cross_validate(
    spec: str | os.PathLike[str] | Program,
    *,
    folds: int,
    overrides: Overrides | None = None,
    **options: object,
) -> CrossValidation:
    """K-fold cross-validation: train ``folds`` runs, fold k of the training split as run
    k's validation split, and return each fold's result with the mean and standard
    deviation of their final metrics (``result.metrics["val_accuracy"].mean``).

    ``spec``, ``overrides`` and ``options`` are those of :func:`train` but ``resume``;
    ``out`` is the parent directory of the folds' runs (``out/fold-1`` ...), which also
    gets ``folds.json``. The folds are dealt from the train section's seed, stratified by class
    for classification; every training sample is held out in exactly one fold.
    """
    from netspec._train_options import check_train_options
    from netspec.training.folds import check_folds
    from netspec.training.folds import cross_validate as run_folds

    check_folds(folds)
    accepted = tuple(name for name in TRAIN_OPTIONS if name != "resume")
    checked = check_train_options(options, accepted)
    program, path = _program_of(spec, "netspec.cross_validate", overrides)
    try:
        return run_folds(program, folds=folds, spec_path=path, **checked)
    except MemoryError:
        raise NetspecError(OUT_OF_MEMORY) from None


def _program_of(
    spec: object, caller: str, overrides: Overrides | None = None
) -> tuple[Program, str | None]:
    """The Program of a path, spec text or Program, and the .net path it was read from."""
    if isinstance(spec, Program):
        if overrides is not None:
            raise NetspecError("overrides apply to a spec's text: pass a path or spec text")
        return spec, None
    if isinstance(spec, str | os.PathLike):
        text_or_path = os.fsdecode(spec)
        path = text_or_path if "\n" not in text_or_path and text_or_path.endswith(".net") else None
        return load(spec, overrides=overrides), path
    raise NetspecError(
        f"{caller} takes a path, spec text or a Program, found {type(spec).__name__}"
    )


def compile(
    spec: str | os.PathLike[str] | Program | CheckedModel,
    backend: str = "torch",
    *,
    model: str | None = None,
    dtype: Literal["float32", "float64"] = "float32",
    device: str = "cpu",
    params: Mapping[str, np.ndarray] | str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> Any:
    """A spec's model as a native object of ``backend``, for use in one's own code.

    ``spec`` is a path, spec text, a loaded Program or a CheckedModel (``model`` picks
    one of several). Initial values are ``params`` (float arrays by IR name, the path of
    a netspec weight file, or a run directory holding ``weights.safetensors``) or
    netspec's initializer with ``seed`` (an integer in [0, 2**64)). Returns:

    - ``"torch"``: a ``torch.nn.Module`` (state_dict keys are the IR names) for a plain
      PyTorch training loop or ``torch.compile``;
    - ``"jax"``: ``(init, apply)``: ``init(seed_or_key)`` gives the arrays by IR name,
      ``apply(params, x, *, train=False, rng=None)`` gives ``(output, new_params)``,
      ``new_params`` holding the moved batchnorm statistics (pure, jit-compiled);
    - ``"numpy"``: the NumPy backend's compiled model (``forward``, ``loss_and_grads``).

    Errors (a bad spec, a bad argument, an unknown backend or model, weights that do not
    fit, a missing framework) raise :class:`NetspecError`.
    """
    from netspec._compile import compile_model

    try:
        return compile_model(
            spec, backend, model=model, dtype=dtype, device=device, params=params, seed=seed
        )
    except MemoryError:
        raise NetspecError(OUT_OF_MEMORY) from None


def load_run(
    run_dir: str | os.PathLike[str],
    *,
    backend: str = "numpy",
    dtype: Literal["float32", "float64"] = "float32",
    device: str = "cpu",
) -> Run:
    """The trained model of a run directory written by ``netspec train``: its checked
    model and program, weights, preprocessing (train settings, csv encoding) and the
    model compiled on ``backend`` (NumPy by default, importing no framework).

    ``run.predict(x)`` answers for new inputs (arrays, or paths of .npy, .npz, .csv and
    image files) with a :class:`netspec.predict.Prediction`. A path that is not a
    finished run raises :class:`NetspecError` saying what it expected and found.
    """
    from netspec.runs import load_run as _load_run

    return _load_run(run_dir, backend=backend, dtype=dtype, device=device)


OUT_OF_MEMORY = (
    "out of memory: the model's arrays do not fit in this machine's memory\n"
    "  help: netspec summary SPEC shows the parameter count; use a smaller model"
)


def sample(
    run: str | os.PathLike[str],
    *,
    length: int,
    prompt: str = "",
    temperature: float = 1.0,
    seed: int = 0,
    backend: str = "numpy",
) -> str:
    """Text generated by the character language model of a training run: ``prompt``
    followed by ``length`` sampled characters (``netspec sample``; see
    :func:`netspec.sampling.sample`)."""
    from netspec.sampling import sample as generate

    return generate(
        run, length=length, prompt=prompt, temperature=temperature, seed=seed, backend=backend
    )


if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Literal

    import numpy as np

    from netspec.elaborate.overrides import OverrideInput as Overrides
    from netspec.ir.space import SpaceSite
    from netspec.runs import Run
    from netspec.search_space import Substitution
    from netspec.training import TrainResult
    from netspec.training.folds import CrossValidation

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "CheckedModel",
    "Diagnostic",
    "NetspecError",
    "Program",
    "ShapeError",
    "__version__",
    "analyze",
    "compile",
    "cross_validate",
    "load",
    "load_run",
    "sample",
    "search_spaces",
    "substitute",
    "train",
]
