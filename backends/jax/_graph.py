"""A checked model as pure JAX functions over flat dicts of params and state.

``params`` and ``state`` map the IR's names (``"conv1.weight"``, ``"bn.running_mean"``)
to arrays: a flat pytree whose keys are exactly those of weight files. The walk over the
nodes happens at trace time; under ``jax.jit`` it leaves one fused XLA program.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jax

from netspec._contract import lowering_of
from netspec.backends.jax.lowerings import CALLS, conventions, moved_state
from netspec.backends.jax.nn import LOWERINGS
from netspec.ir import CheckedModel, CheckedNode

Array = jax.Array
Tree = Mapping[str, Array]


@dataclass(frozen=True)
class _Step:
    """One node ready to run: its function, static arguments and where its arrays live."""

    name: str
    inputs: tuple[str, ...]
    fn: Callable[..., Any]
    static: dict[str, Any]
    params: tuple[tuple[str, str], ...]  # (attribute, full name)
    state: tuple[tuple[str, str], ...]
    train: bool  # the function takes the training flag
    random: bool  # the function takes the model's key and the node's index
    moves: tuple[str, ...]  # the state attributes it returns after its output


@dataclass(frozen=True)
class Lowered:
    """Every node of a model with its lowering from ``nn.LOWERINGS``, in topological order."""

    inputs: tuple[str, ...]
    output: str
    steps: tuple[_Step, ...]

    @property
    def random(self) -> bool:
        """Whether training needs a random key (the model has dropout)."""
        return any(step.random for step in self.steps)

    def run(
        self,
        params: Tree,
        state: Tree,
        x: Array | Mapping[str, Array],
        *,
        train: bool,
        rng: Array | None,
        keep: bool = False,
    ) -> tuple[dict[str, Array], dict[str, Array]]:
        """Node outputs (all with ``keep``, else only the output) and the new state.

        Each node is ``fn(*inputs, **params, **state, **static)`` plus the extra
        arguments of the calling convention in ``lowerings``' docstring. ``x`` is the
        batch of every input by name, or the one input's batch.
        """
        values: dict[str, Array] = dict(x) if isinstance(x, Mapping) else {self.inputs[0]: x}
        new_state = dict(state)
        for index, step in enumerate(self.steps):
            kwargs = {attr: params[name] for attr, name in step.params}
            kwargs.update({attr: state[name] for attr, name in step.state})
            kwargs.update(step.static)
            if step.train:
                kwargs["train"] = train
            if step.random:
                kwargs.update(rng=rng, index=index)
            out = step.fn(*(values[name] for name in step.inputs), **kwargs)
            if step.moves:
                out, *moved = out
                for (_, name), value in zip(step.state, moved, strict=True):
                    new_state[name] = value
            values[step.name] = out
        if keep:
            for name in self.inputs:
                del values[name]
            return values, new_state
        return {self.output: values[self.output]}, new_state


def _step(
    node: CheckedNode, params: tuple[tuple[str, str], ...], state: tuple[tuple[str, str], ...]
) -> _Step:
    name, _ = lowering_of(CALLS, node.op.kind, "jax backend")
    lowering = LOWERINGS[node.op.kind]
    extra = conventions(name)
    return _Step(
        name=node.name,
        inputs=node.inputs,
        fn=lowering.fn,
        static=lowering.static(node),
        params=params,
        state=state,
        train="train" in extra,
        random="rng" in extra,
        moves=moved_state(name, node),
    )


def lower_model(model: CheckedModel) -> Lowered:
    """Look up every node of ``model`` once; the result only holds static op data."""
    params: dict[str, list[tuple[str, str]]] = {}
    for spec in model.params:
        params.setdefault(spec.node, []).append((spec.attr, spec.name))
    state: dict[str, list[tuple[str, str]]] = {}
    for spec in model.state:
        state.setdefault(spec.node, []).append((spec.attr, spec.name))
    steps = tuple(
        _step(node, tuple(params.get(node.name, ())), tuple(state.get(node.name, ())))
        for node in model.nodes
    )
    return Lowered(inputs=model.input_names, output=model.output, steps=steps)


class ApplyFn(Protocol):
    """``apply(params, state, x, *, train, rng) -> (output, new_state)``."""

    def __call__(
        self, params: Tree, state: Tree, x: Array, *, train: bool, rng: Array | None = None
    ) -> tuple[Array, dict[str, Array]]: ...


class TraceFn(Protocol):
    """``trace(params, state, x, *, train, rng) -> (outputs by node name, new_state)``."""

    def __call__(
        self, params: Tree, state: Tree, x: Array, *, train: bool, rng: Array | None = None
    ) -> tuple[dict[str, Array], dict[str, Array]]: ...


def build_apply(model: CheckedModel) -> ApplyFn:
    """The model as a jit-compiled pure function of its params, state and a batch.

    ``train`` is static (two traces at most per input shape); ``rng`` is a JAX key, needed
    in training mode when the model has dropout. Running statistics come back updated in
    ``new_state`` in training mode, unchanged otherwise.
    """
    return _jitted(lower_model(model), keep=False)  # type: ignore[return-value]


def build_trace(model: CheckedModel) -> TraceFn:
    """Like :func:`build_apply`, returning every node's output by node name."""
    return _jitted(lower_model(model), keep=True)  # type: ignore[return-value]


def _jitted(lowered: Lowered, keep: bool) -> Callable[..., Any]:
    def run(params: Tree, state: Tree, x: Array, *, train: bool, rng: Array | None = None) -> Any:
        outputs, new_state = lowered.run(params, state, x, train=train, rng=rng, keep=keep)
        return (outputs if keep else outputs[lowered.output]), new_state

    return jax.jit(run, static_argnames="train")
