"""``NetspecModule``: a checked IR as a plain, picklable ``torch.nn.Module``.

Layers with parameters or state are registered as submodules nested along the dots of
their node names ("res1.conv2d_1" lives at ``module.res1.conv2d_1``), so ``state_dict()``
keys are exactly the IR's parameter and state names. ``forward`` walks the nodes in
order over a dict of live tensors and drops each tensor after its last reader.

Once built, the module needs no netspec object: the walk is a tuple of ``Step`` tuples
holding node names, functions or submodules, and plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from netspec.backends.torch import _layers, _ops
from netspec.errors import ShapeError
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.ir.ops import Dropout

BAD_INPUT = (
    "input {name!r} got a batch of shape {got}, expected (N, {expected})\n"
    "  help: the model takes samples of shape {sample}; the batch axis comes first"
)
NAME_CLASH = (
    "node {node!r} cannot be placed in the torch module: {reason}\n"
    "  help: rename the node so that no node name is a prefix of another's parameters"
)


class Step(NamedTuple):
    """One node of the walk: ``out = fn(*inputs)``; ``free`` are dead after it.

    Dropout nodes carry their rate in ``dropout`` and no function, since they draw from
    the module's own generator and follow its training flag.
    """

    name: str
    fn: Callable[..., torch.Tensor] | None
    inputs: tuple[str, ...]
    free: tuple[str, ...]
    dropout: float


class NetspecModule(nn.Module):
    """A checked netspec model as a ``torch.nn.Module``.

    ``values`` (parameter and state arrays keyed by IR name) default to
    :func:`netspec.initializers.initial_params` with ``seed``; ``seed`` also seeds the
    module's own dropout generator. ``state_dict()`` holds exactly the IR's names.
    """

    def __init__(
        self,
        model: CheckedModel,
        values: Mapping[str, np.ndarray | torch.Tensor] | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.input_name = model.input.name
        self.input_shape = tuple(model.input.shape)
        self.output_name = model.output
        layers = _build_layers(model, dtype)
        _register_nested(self, layers)
        self.steps: tuple[Step, ...] = _plan(model, layers)
        self.dropout_seed = seed
        # False: dropout masks come from torch's global RNG (F.dropout), which
        # torch.compile(fullgraph=True) can trace; an explicit generator it cannot.
        self.own_dropout_stream = True
        self.generator: torch.Generator | None = None
        self.seed_dropout(seed)
        if values is None:
            dtype_name = "float64" if dtype == torch.float64 else "float32"
            values = initial_params(model, seed, dtype_name)
        self.load_state_dict({name: _tensor(value) for name, value in values.items()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's output for a batch ``x`` of shape [N, *input shape]."""
        return self.walk(x, keep=False)[self.output_name]

    def trace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every node's output (and the input) by name, in node order."""
        return self.walk(x, keep=True)

    def walk(self, x: torch.Tensor, keep: bool) -> dict[str, torch.Tensor]:
        """Run the nodes in order; with ``keep`` no tensor is dropped."""
        if x.shape[1:] != self.input_shape:
            raise ShapeError(
                BAD_INPUT.format(
                    name=self.input_name,
                    got=tuple(x.shape),
                    expected=", ".join(map(str, self.input_shape)),
                    sample=self.input_shape,
                )
            )
        live = {self.input_name: x}
        for step in self.steps:
            args = [live[name] for name in step.inputs]
            if step.fn is None:
                live[step.name] = self._dropout(args[0], step.dropout)
            else:
                live[step.name] = step.fn(*args)
            if not keep:
                for name in step.free:
                    del live[name]
        return live

    def seed_dropout(self, seed: int) -> None:
        """Restart the dropout stream: the same seed gives the same masks again.

        The generator is made on the device of the module's tensors; call this after
        moving the module, or the first dropout on the new device makes one itself
        (which ``torch.compile(fullgraph=True)`` cannot trace).
        """
        self.dropout_seed = seed
        tensor = next(iter(self.state_dict().values()), None)
        device = tensor.device if tensor is not None else torch.device("cpu")
        if self.generator is None or self.generator.device != device:
            self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    def _dropout(self, x: torch.Tensor, p: float) -> torch.Tensor:
        # Inverted dropout with masks from this module's own generator, so that masks
        # depend on the model's seed and not on torch's global random state.
        if not self.training or p == 0.0:
            return x
        if p >= 1.0:
            return x * 0.0
        if not self.own_dropout_stream:
            return F.dropout(x, p, training=True)
        generator = self.generator
        if generator is None or generator.device != x.device:
            # Made lazily on the tensors' device: a generator only serves its own device.
            generator = torch.Generator(device=x.device)
            generator.manual_seed(self.dropout_seed)
            self.generator = generator
        keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator)
        return x * keep * (1.0 / (1.0 - p))

    def extra_repr(self) -> str:
        return f"input={self.input_name}{list(self.input_shape)}, nodes={len(self.steps)}"


def _tensor(value: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    # A copy: the arrays may be read-only or shared, and load_state_dict copies anyway.
    return torch.from_numpy(np.array(value))


def _build_layers(model: CheckedModel, dtype: torch.dtype) -> dict[str, nn.Module]:
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    for spec in model.params:
        shapes.setdefault(spec.node, {})[spec.attr] = tuple(spec.shape)
    for state in model.state:
        shapes.setdefault(state.node, {})[state.attr] = tuple(state.shape)
    layers: dict[str, nn.Module] = {}
    for node in model.nodes:
        if node.params or node.state:
            layer = _ops.build_layer(node, shapes.get(node.name, {}), dtype)
            if layer is None:
                raise NotImplementedError(
                    f"node {node.name!r} ({node.op.kind}) has parameters the torch backend "
                    "does not know how to hold"
                )
            layers[node.name] = layer
    return layers


def _register_nested(root: nn.Module, layers: dict[str, nn.Module]) -> None:
    # In node order, so that state_dict() lists names as the IR does. A scope that is
    # itself a layer ("a" with params, and "a.b" below it) is placed when first needed.
    placed: set[str] = set()

    def place(name: str) -> nn.Module:
        *scopes, leaf = name.split(".")
        parent = root
        for depth, part in enumerate(scopes):
            prefix = ".".join(scopes[: depth + 1])
            child = parent._modules.get(part)
            if child is None:
                child = place(prefix) if prefix in layers else _layers.Scope()
                if prefix not in layers:
                    _attach(parent, part, child, name)
            parent = child
        if name in placed:
            return layers[name]
        if leaf in parent._modules:
            raise ValueError(NAME_CLASH.format(node=name, reason=f"{leaf!r} is taken"))
        _attach(parent, leaf, layers[name], name)
        placed.add(name)
        return layers[name]

    for name in layers:
        if name not in placed:
            place(name)


def _attach(parent: nn.Module, part: str, child: nn.Module, node: str) -> None:
    if not part:
        raise ValueError(NAME_CLASH.format(node=node, reason="it has an empty name part"))
    if part in parent._parameters or part in parent._buffers:
        raise ValueError(NAME_CLASH.format(node=node, reason=f"{part!r} is a tensor there"))
    if hasattr(parent, part):
        # A name such as "train" or "forward" is a method of nn.Module; it still belongs
        # in the state_dict, so it goes into _modules directly (the walk holds the layer
        # itself and never looks it up by attribute).
        parent._modules[part] = child
    else:
        parent.add_module(part, child)


def _plan(model: CheckedModel, layers: dict[str, nn.Module]) -> tuple[Step, ...]:
    last_use: dict[str, int] = {}
    for index, node in enumerate(model.nodes):
        for name in node.inputs:
            last_use[name] = index
    steps: list[Step] = []
    for index, node in enumerate(model.nodes):
        free = tuple(
            sorted(
                {name for name in node.inputs if last_use[name] == index and name != model.output}
            )
        )
        if node.name != model.output and node.name not in last_use:
            # Nobody reads this node (a dead branch); drop it at once.
            free = (*free, node.name)
        if isinstance(node.op, Dropout):
            steps.append(Step(node.name, None, node.inputs, free, float(node.op.p)))
            continue
        layer = layers.get(node.name)
        fn = layer if layer is not None else _ops.build_function(node)
        steps.append(Step(node.name, fn, node.inputs, free, math.nan))
    return tuple(steps)
