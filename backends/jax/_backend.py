"""The JAX backend object: compiles a checked model to a :class:`JaxModel`."""

from __future__ import annotations

from typing import Literal

import numpy as np

from netspec.backends.jax._model import JaxModel
from netspec.ir import CheckedModel


class JaxBackend:
    """:class:`netspec.backend.Backend` for JAX."""

    name: Literal["jax"] = "jax"

    def compile(
        self,
        model: CheckedModel,
        *,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
        seed: int = 0,
        params: dict[str, np.ndarray] | None = None,
    ) -> JaxModel:
        """Compile ``model`` for ``device`` ('cpu', 'cuda', 'gpu', 'auto' or 'kind:index').

        Initial weights come from ``params`` or are drawn by
        :func:`netspec.initializers.initial_params` with ``seed``, which also seeds the
        dropout stream. Asking for a GPU when JAX has none raises NetspecError.
        """
        return JaxModel(model, dtype=dtype, device=device, seed=seed, params=params)


BACKEND = JaxBackend()
