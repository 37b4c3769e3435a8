"""``NetspecModule``: a checked IR as a plain, picklable ``torch.nn.Module``.

Layers with parameters or state are registered as submodules nested along the dots of
their node names ("res1.conv2d_1" lives at ``module.res1.conv2d_1``), so ``state_dict()``
keys are exactly the IR's parameter and state names. ``forward`` walks the nodes in
order over a dict of live tensors and drops each tensor after its last reader.

Each node runs through the torch lowering table (``nn.LOWERINGS``), the same functions
generated files carry. Once built, the module needs no IR object: the walk is a tuple of
``Step`` tuples holding node names, functions with their static arguments bound, and
the ``Tensors`` holders of parameters and state.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from netspec._contract import bad_shape, bind_inputs, check_batch_sizes, lowering_of
from netspec.backends.torch.nn import LOWERINGS, Tensors
from netspec.initializers import initial_params
from netspec.ir import CheckedModel

NAME_CLASH = (
    "node {node!r} cannot be placed in the torch module: {reason}\n"
    "  help: rename the node so that no node name is a prefix of another's parameters"
)


class Step(NamedTuple):
    """One node of the walk: ``out = fn(*inputs, **tensors of holder, ...)``.

    ``fn`` is the node's lowering with its static arguments bound; ``holder`` keeps the
    node's parameters and state (``tensors`` names them), None for a node without;
    ``training`` and ``generator`` say whether ``fn`` takes the module's mode and its
    dropout generator; ``free`` are dead after this node.
    """

    name: str
    fn: Callable[..., torch.Tensor]
    inputs: tuple[str, ...]
    free: tuple[str, ...]
    holder: nn.Module | None
    tensors: tuple[tuple[str, nn.Module, str], ...]  # (keyword, owning module, its name)
    training: bool
    generator: bool


# Keyword arguments the module itself supplies to functions that name them.
RUNTIME = ("training", "generator")


def _keywords(fn: Callable[..., torch.Tensor]) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(fn).parameters)
    except ValueError:  # a builtin without a signature takes none of ours
        return frozenset()


class Scope(nn.Module):
    """A container for the layers of one block scope ("res1" in "res1.conv2d_1")."""

    def extra_repr(self) -> str:
        return "scope"


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
        self.model_name = model.name
        self.input_shapes = {spec.name: tuple(spec.shape) for spec in model.inputs}
        self.input_names = tuple(self.input_shapes)
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

    def forward(self, *args: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        """The model's output for a batch of shape [N, *input shape] of each input: the
        one input's batch as the positional argument, or every input's by name
        (``module(image=x, extra=e)``)."""
        return self.walk(self.bind(args, inputs), keep=False)[self.output_name]

    def trace(self, *args: torch.Tensor, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every node's output (and the inputs) by name, in node order."""
        return self.walk(self.bind(args, inputs), keep=True)

    def bind(
        self, args: tuple[object, ...], inputs: Mapping[str, object]
    ) -> dict[str, torch.Tensor]:
        """The batch of each input by name, from a call's arguments (see :meth:`forward`)."""
        one = len(self.input_names) == 1
        if one and len(args) == 1 and isinstance(args[0], torch.Tensor) and not inputs:
            return {self.input_names[0]: args[0]}
        return bind_inputs(self.model_name, self.input_names, args, inputs)  # type: ignore[return-value]

    def walk(
        self, x: torch.Tensor | Mapping[str, torch.Tensor], keep: bool
    ) -> dict[str, torch.Tensor]:
        """Run the nodes in order from each input's batch (by name, or the one input's);
        with ``keep`` no tensor is dropped."""
        if not isinstance(x, Mapping):
            x = self.bind((x,), {})
        for name, shape in self.input_shapes.items():
            found = tuple(x[name].shape)
            if found[1:] != shape or len(found) != len(shape) + 1:
                raise bad_shape(name, found, shape)
        if len(x) > 1:  # a single input's path stays as torch.compile has always traced it
            check_batch_sizes({name: int(tensor.shape[0]) for name, tensor in x.items()})
        device = next(iter(x.values())).device
        live = dict(x)
        for step in self.steps:
            args = [live[name] for name in step.inputs]
            kwargs: dict[str, object] = {}
            if step.holder is not None:
                kwargs = {key: getattr(owner, attr) for key, owner, attr in step.tensors}
            if step.training:
                kwargs["training"] = self.training
            if step.generator:
                kwargs["generator"] = self._generator(device)
            live[step.name] = step.fn(*args, **kwargs)
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

    def _generator(self, device: torch.device) -> torch.Generator | None:
        # Dropout masks from this module's own generator, so that they depend on the
        # model's seed and not on torch's global random state; None means the global one.
        if not self.own_dropout_stream or not self.training:
            return None
        generator = self.generator
        if generator is None or generator.device != device:
            # Made lazily on the tensors' device: a generator only serves its own device.
            generator = torch.Generator(device=device)
            generator.manual_seed(self.dropout_seed)
            self.generator = generator
        return generator

    def extra_repr(self) -> str:
        inputs = ", ".join(f"{name}{list(shape)}" for name, shape in self.input_shapes.items())
        return f"input={inputs}, nodes={len(self.steps)}"


def _tensor(value: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    # A copy: the arrays may be read-only or shared, and load_state_dict copies anyway.
    return torch.from_numpy(np.array(value))


def _build_layers(model: CheckedModel, dtype: torch.dtype) -> dict[str, nn.Module]:
    # One holder per node with parameters or state, its tensors in the IR's order; the
    # caller loads their values, so nothing is drawn here (torch's global random state
    # stays untouched).
    params: dict[str, dict[str, tuple[tuple[int, ...], float | None]]] = {}
    state: dict[str, dict[str, tuple[tuple[int, ...], float]]] = {}
    for spec in model.params:
        params.setdefault(spec.node, {})[spec.path] = (tuple(spec.shape), 0.0)
    for item in model.state:
        state.setdefault(item.node, {})[item.attr] = (tuple(item.shape), item.fill)
    return {
        node.name: Tensors(params.get(node.name, {}), state.get(node.name, {}), dtype=dtype)
        for node in model.nodes
        if node.params or node.state
    }


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
                child = place(prefix) if prefix in layers else Scope()
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
        lowering = lowering_of(LOWERINGS, node.op.kind, "torch backend")
        wants = _keywords(lowering.fn)
        holder = layers.get(node.name)
        tensors: tuple[tuple[str, nn.Module, str], ...] = ()
        if holder is not None:
            # A submodule's tensor ("out_proj.weight") goes by its keyword (ParamSpec.attr).
            paths = [(p.attr, p.path) for p in model.params if p.node == node.name]
            paths += [(s.attr, s.attr) for s in model.state if s.node == node.name]
            tensors = tuple(
                (attr, holder.get_submodule(path.rpartition(".")[0]), path.rpartition(".")[2])
                for attr, path in paths
            )
        fn = functools.partial(lowering.fn, **lowering.static(node))
        steps.append(
            Step(node.name, fn, node.inputs, free, holder, tensors, *(w in wants for w in RUNTIME))
        )
    return tuple(steps)
