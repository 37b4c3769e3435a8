"""netspec: a compiler for neural networks.

Write a network as a .net spec, check it, and compile it to NumPy, PyTorch or JAX::

    import netspec
    program = netspec.load("specs/lenet5.net")   # the checked IR
    model = program.model()                       # a CheckedModel
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from netspec.diagnostics import Diagnostic
from netspec.errors import NetspecError, ShapeError
from netspec.frontend import Analysis, analyze, load
from netspec.ir import CheckedModel, Program


def train(spec: str | os.PathLike[str] | Program, **options: object) -> TrainResult:
    """Train a spec's model as its train section says; returns history and trained model.

    ``spec`` is a path, spec text or a loaded Program. Options: ``backend`` ("numpy",
    "torch", "jax"), ``device``, ``dtype``, ``epochs``, ``batch_size``, ``lr``, ``seed``,
    ``data`` (e.g. "digits"), ``data_dir``, ``out`` (run directory), ``resume``,
    ``progress`` and ``model`` (which model of the file).
    """
    from netspec.training import fit

    path = None
    if isinstance(spec, Program):
        program = spec
    else:
        program = load(spec)
        text_or_path = str(spec)
        if "\n" not in text_or_path and text_or_path.endswith(".net"):
            path = text_or_path
    return fit(program, spec_path=path, **options)  # type: ignore[arg-type]


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
    one of several). Initial values are ``params`` (arrays by IR name, or the path of a
    netspec weight file) or netspec's initializer with ``seed``. Returns:

    - ``"torch"``: a ``torch.nn.Module`` (state_dict keys are the IR names) for a plain
      PyTorch training loop or ``torch.compile``;
    - ``"jax"``: ``(init, apply)``: ``init(seed_or_key)`` gives the arrays by IR name,
      ``apply(params, x, *, train=False, rng=None)`` gives ``(output, new_params)``,
      ``new_params`` holding the moved batchnorm statistics (pure, jit-compiled);
    - ``"numpy"``: the NumPy backend's compiled model (``forward``, ``loss_and_grads``).

    Errors (a bad spec, an unknown backend or model, weights that do not fit, a missing
    framework) raise :class:`NetspecError`.
    """
    from netspec._compile import compile_model

    return compile_model(
        spec, backend, model=model, dtype=dtype, device=device, params=params, seed=seed
    )


if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Literal

    import numpy as np

    from netspec.training import TrainResult

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
    "load",
    "train",
]
