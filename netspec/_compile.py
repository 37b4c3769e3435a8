"""``netspec.compile``: a spec's model as a framework-native object for one's own code.

- ``"torch"``: the in-memory backend's ``torch.nn.Module`` (state_dict keys are the IR's
  names), for a hand-written training loop, ``torch.compile`` or export.
- ``"jax"``: ``(init, apply)``, two pure functions over a flat dict of arrays keyed by IR
  name (parameters and batchnorm running statistics, as in weight files);
  ``apply(params, x, *, train=False, rng=None) -> (output, new_params)``, as the
  ``apply`` of a generated JAX module; a model of several inputs takes them by keyword,
  ``apply(params, image=x, extra=e)``.
- ``"numpy"``: the NumPy backend's compiled model (``forward``, ``loss_and_grads``...).

The torch module and the numpy model take a model's one input positionally, as
``module(x)``, and several inputs by keyword, ``module(image=x, extra=e)``.

Frameworks are imported only for the backend asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

from netspec._contract import (
    BAD_INDEX_DTYPE,
    bad_shape,
    bind_inputs,
    check_batch_sizes,
    check_indices,
    unknown_name,
)
from netspec._validate import SEED_LIMIT, check_choice, check_seed, check_str, found
from netspec.backend import BACKENDS as BACKEND_NAMES
from netspec.errors import NetspecError, ShapeError
from netspec.ir import CheckedModel, Input, Program
from netspec.ir.graph import INDEX_DTYPES
from netspec.memory import check_memory

BACKENDS = ("torch", "jax", "numpy")

UNKNOWN_BACKEND_HELP = 'netspec.compile(spec, backend="torch")'
MISSING_FRAMEWORK = (
    "backend {backend!r} needs {module}, which is not installed\n"
    "  help: pip install netspec[{backend}]"
)
MISSING_VALUES = (
    "apply() got arrays that do not fit model '{model}': {problems}\n"
    "  help: pass the dict init() returned (or one loaded from a netspec weight file)"
)
BAD_SEED = (
    "init() takes an integer seed in [0, 2**64) or a JAX key, got {got}\n"
    "  help: init(0) or init(jax.random.key(0))"
)


def compile_model(
    spec: str | os.PathLike[str] | Program | CheckedModel,
    backend: str = "torch",
    *,
    model: str | None = None,
    dtype: Literal["float32", "float64"] = "float32",
    device: str = "cpu",
    params: Mapping[str, np.ndarray] | str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> Any:
    """See :func:`netspec.compile`."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise unknown_name("backend", backend, BACKEND_NAMES, help=UNKNOWN_BACKEND_HELP)
    check_choice(dtype, "dtype", ("float32", "float64"))
    check_str(device, "device")
    check_str(model, "model", optional=True)
    seed = check_seed(seed)
    checked = _checked_model(spec, model)
    check_memory(checked, dtype=dtype, device=device, backend=backend, spec=spec)
    values = _values(checked, params, dtype)
    if backend == "torch":
        _require("torch", backend)
        from netspec.backend import get_backend

        return (
            get_backend("torch")
            .compile(checked, dtype=dtype, device=device, seed=seed, params=values)
            .module
        )
    if backend == "jax":
        _require("jax", backend)
        return _jax_functions(checked, dtype, device, values)
    from netspec.backend import get_backend

    return get_backend("numpy").compile(
        checked, dtype=dtype, device=device, seed=seed, params=values
    )


def _checked_model(
    spec: str | os.PathLike[str] | Program | CheckedModel, model: str | None
) -> CheckedModel:
    if isinstance(spec, CheckedModel):
        if model is not None and model != spec.name:
            raise NetspecError(
                f"model={model!r} was asked for, but the model given is {spec.name!r}"
            )
        return spec
    if not isinstance(spec, Program):
        if not isinstance(spec, str | os.PathLike):
            raise NetspecError(
                "netspec.compile takes a path, spec text, a Program or a CheckedModel, "
                f"got {type(spec).__name__}"
            )
        from netspec.frontend import load

        spec = load(spec)
    return spec.model(model)


def _values(
    model: CheckedModel,
    params: Mapping[str, np.ndarray] | str | os.PathLike[str] | None,
    dtype: str,
) -> dict[str, np.ndarray] | None:
    """``params`` checked by :func:`netspec.weights.validate_weights`: every parameter
    (state may be left out: it starts at its fill), float arrays of the IR's shapes."""
    if params is None:
        return None
    from netspec.weights import load_weights, resolve_weights_path, validate_weights

    if isinstance(params, str | os.PathLike):
        path = resolve_weights_path(params)
        return validate_weights(
            model, load_weights(path), dtype=dtype, source=str(path), require="params"
        )
    if not isinstance(params, Mapping):
        raise NetspecError(
            "params must be a dict of arrays by IR name, the path of a weight file or a "
            f"run directory, or None; found {found(params)}"
        )
    return validate_weights(model, params, dtype=dtype, source="params", require="params")


def _require(module: str, backend: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise NetspecError(MISSING_FRAMEWORK.format(backend=backend, module=module))


def _jax_functions(
    model: CheckedModel,
    dtype: Literal["float32", "float64"],
    device: str,
    given: dict[str, np.ndarray] | None,
) -> tuple[Callable[..., dict[str, Any]], Callable[..., Any]]:
    import jax
    import jax.numpy as jnp

    from netspec.backends.jax import build_apply, precision_scope, resolve_device
    from netspec.initializers import initial_params

    target = resolve_device(device)
    forward = build_apply(model)
    names = model.input_names
    param_names = [spec.name for spec in model.params]
    state_names = [spec.name for spec in model.state]
    shapes = {spec.name: tuple(spec.shape) for spec in model.params}
    shapes.update({spec.name: tuple(spec.shape) for spec in model.state})

    def init(seed: Any = 0) -> dict[str, Any]:
        """Initial arrays by IR name: netspec's initializer with ``seed`` (an int, or a
        JAX key: ``key(n)`` gives the same arrays as ``n``), or the ``params`` given to
        ``netspec.compile``. Parameters and running statistics, as in weight files."""
        if given is not None:
            values = dict(given)  # checked and cast by netspec.compile
            for state in model.state:
                values.setdefault(state.name, np.full(state.shape, state.fill, dtype=dtype))
        else:
            values = initial_params(model, _seed_of(seed), dtype)
        with precision_scope(dtype):
            return {name: jax.device_put(jnp.asarray(values[name]), target) for name in shapes}

    def apply(
        params: Mapping[str, Any],
        x: Any = None,
        /,
        *,
        train: bool = False,
        rng: Any = None,
        **inputs: Any,
    ) -> tuple[Any, dict[str, Any]]:
        """``(output, new_params)`` for a batch ``x`` of shape (N, *input shape), or for a
        batch of every input by keyword, ``apply(params, image=x, extra=e)`` (or a dict
        of them as ``x``).

        ``train`` turns on dropout (``rng``, a JAX key or an int seed, is then needed if
        the model has dropout) and batch statistics; ``new_params`` is ``params`` with the
        batchnorm running statistics moved (one update per call), and equals ``params``
        in eval mode. The same convention as ``apply`` in a generated JAX module.
        """
        problems = [name for name in shapes if name not in params]
        if problems:
            raise NetspecError(
                MISSING_VALUES.format(model=model.name, problems="missing " + ", ".join(problems))
            )
        if isinstance(rng, int):
            rng = jax.random.key(rng)
        given = bind_inputs(model.name, names, () if x is None else (x,), inputs)
        with precision_scope(dtype):
            arrays = {
                spec.name: _index_batch(model, spec, given[spec.name])
                if spec.dtype in INDEX_DTYPES
                else jnp.asarray(given[spec.name], dtype=dtype)
                for spec in model.inputs
            }
            for spec in model.inputs:
                found = tuple(arrays[spec.name].shape)
                if found[1:] != tuple(spec.shape) or len(found) != len(spec.shape) + 1:
                    raise bad_shape(spec.name, found, tuple(spec.shape))
            check_batch_sizes({name: int(array.shape[0]) for name, array in arrays.items()})
            batch = arrays if len(arrays) > 1 else arrays[names[0]]
            output, new_state = forward(
                {name: params[name] for name in param_names},
                {name: params[name] for name in state_names},
                batch,
                train=train,
                rng=rng,
            )
        return output, {**params, **new_state}

    return init, apply


def _index_batch(model: CheckedModel, spec: Input, x: Any) -> Any:
    """An integer input's batch for ``apply``: integers (JAX's integer width indexes as
    well as the declared one) and, when concrete (not traced inside jit or grad), each a
    row of its embeddings, checked as every backend checks them."""
    import jax
    import jax.numpy as jnp

    array = x if isinstance(x, jax.core.Tracer) else np.asarray(x)
    if not jnp.issubdtype(array.dtype, jnp.integer):
        raise ShapeError(
            BAD_INDEX_DTYPE.format(name=spec.name, got=array.dtype, dtype=spec.dtype),
            help=f"convert it first, e.g. x.astype(np.{spec.dtype})",
        )
    if isinstance(array, np.ndarray):
        found = tuple(array.shape)
        if found[1:] != tuple(spec.shape) or len(found) != len(spec.shape) + 1:
            raise bad_shape(spec.name, found, tuple(spec.shape))
        check_indices(model, array, name=spec.name)
    return jnp.asarray(array)


def _seed_of(seed: Any) -> int:
    if isinstance(seed, bool):
        raise NetspecError(BAD_SEED.format(got=repr(seed)))
    if isinstance(seed, int | np.integer):
        if not 0 <= seed < SEED_LIMIT:
            raise NetspecError(BAD_SEED.format(got=seed))
        return int(seed)
    import jax

    try:
        data = np.asarray(
            jax.random.key_data(seed)
            if jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key)
            else seed
        )
    except (AttributeError, TypeError):
        raise NetspecError(BAD_SEED.format(got=type(seed).__name__)) from None
    if data.shape != (2,) or not np.issubdtype(data.dtype, np.unsignedinteger):
        raise NetspecError(BAD_SEED.format(got=f"an array of shape {data.shape}"))
    return (int(data[0]) << 32) | int(data[1])
