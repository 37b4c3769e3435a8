"""The NumPy generator: a checked model as a standalone NumPy module.

The module holds one class, named after the model, with ``forward(x, train=False)`` and
a hand-written ``backward(grad_output)``, plus ``init(seed)`` (netspec's initial weights)
and ``load_netspec_weights(path)``. Every node is one call, forward and in reverse for the
backward, each under a comment pointing at its spec line: a call to the function the
in-memory NumPy backend runs for that op (``netspec.backends.numpy.nn.LOWERINGS``), with
its static arguments written as literals. The module carries the source of exactly the
functions it calls (``_numpy_carry``), so its arithmetic is the backend's own. It imports
NumPy only (safetensors lazily).

The parts every generator that draws NumPy weights needs (constants, the weight loader,
``init``, reserved names, tidying) live in :mod:`netspec.codegen._shared`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netspec._contract import lowering_of
from netspec.backends.numpy.nn import LOWERINGS, arguments
from netspec.codegen._numpy_carry import carried_source, every_name
from netspec.codegen._numpy_class import class_source, indent
from netspec.codegen._shared import RESERVED as _SHARED_RESERVED
from netspec.codegen._shared import local_names, module_source, wrap
from netspec.codegen._source import literal, text
from netspec.codegen.context import CodegenContext, identifier
from netspec.ir import CheckedNode
from netspec.ir.graph import INDEX_DTYPES

RESERVED = _SHARED_RESERVED | every_name()


def _call(fn: Callable[..., Any], positional: list[str], keywords: dict[str, str]) -> str:
    args = [*positional, *(f"{name}={value}" for name, value in keywords.items())]
    return f"{fn.__name__}({', '.join(args)})"


class _Writer:
    """Writes one model's forward and backward; collects the functions they call."""

    def __init__(self, context: CodegenContext) -> None:
        self.context = context
        self.model = context.model
        self.used: list[Callable[..., Any]] = []
        for node in self.model.nodes:
            lowering_of(LOWERINGS, node.op.kind, "numpy generator")
        taken = set(RESERVED)
        self.var = local_names(self.model, taken)
        self.grad = {name: identifier(f"g_{var}", taken) for name, var in self.var.items()}
        self.reaches = self._reaching_output()
        # Tensors of integer indices (an integer input, the shape ops on it): no gradient.
        model = self.model
        self.indices = {i.name for i in model.inputs if i.dtype in INDEX_DTYPES}
        self.indices |= {n.name for n in self.model.nodes if n.output.dtype in INDEX_DTYPES}

    def _reaching_output(self) -> set[str]:
        """The nodes (and input) whose value the output depends on."""
        reach = {self.model.output}
        for node in reversed(self.model.nodes):
            if node.name in reach:
                reach.update(node.inputs)
        return reach

    def _use(self, fn: Callable[..., Any]) -> None:
        if fn not in self.used:
            self.used.append(fn)

    def _available(self, node: CheckedNode, forward: bool) -> dict[str, str]:
        """Every argument a node's forward (or backward) may name, as source: the state
        and the pass's mode go to the forward only, as in the backend."""
        static = LOWERINGS[node.op.kind].static(node)
        out = {name: literal(value) for name, value in static.items()}
        out |= {s.attr: f"params[{text(s.name)}]" for s in self.model.params if s.node == node.name}
        if not forward:
            return out
        out |= {s.attr: f"state[{text(s.name)}]" for s in self.model.state if s.node == node.name}
        return out | {"train": "train", "rng": "self._rng"}

    def forward(self, node: CheckedNode) -> str:
        fn = LOWERINGS[node.op.kind].fn
        self._use(fn)
        xs = [self.var[name] for name in node.inputs]
        keep = node.name in self.reaches
        target = f"{self.var[node.name]}, {f'saved[{text(node.name)}]' if keep else '_'}"
        keywords = arguments(fn, self._available(node, forward=True), self._arrays(node))
        return f"{target} = {_call(fn, xs, keywords)}"

    def _arrays(self, node: CheckedNode) -> list[str]:
        """The attributes of the node's parameters and state, in the IR's order."""
        specs = (*self.model.params, *self.model.state)
        return [spec.attr for spec in specs if spec.node == node.name]

    def backward(self, node: CheckedNode, assigned: set[str]) -> list[str]:
        """The node's backward call; gradients of inputs already ``assigned`` add up."""
        backward = LOWERINGS[node.op.kind].backward
        assert backward is not None
        self._use(backward)
        keywords = arguments(backward, self._available(node, forward=False), self._arrays(node))
        call = _call(backward, [self.grad[node.name], f"saved[{text(node.name)}]"], keywords)
        params = {s.attr: s.name for s in self.model.params if s.node == node.name}
        param_targets = [f"grads[{text(params[name])}]" for name in keywords if name in params]
        inputs = list(node.inputs)
        # An index tensor gets no gradient: its place in the result is dropped.
        grads = ["_" if name in self.indices else self.grad[name] for name in inputs]
        fresh = len(set(inputs)) == len(inputs) and assigned.isdisjoint(inputs)
        if fresh:
            assigned.update(inputs)
            return [f"{', '.join([*grads, *param_targets])} = {call}"]
        if len(inputs) == 1 and not param_targets:
            return [f"{grads[0]} = {grads[0]} + {call}"]
        # Some input already has a gradient (or is read twice): this one adds to it.
        lines = [f"parts = {call}"]
        for i, (name, grad) in enumerate(zip(inputs, grads, strict=True)):
            lines.append(
                f"{grad} = {grad} + parts[{i}]" if name in assigned else f"{grad} = parts[{i}]"
            )
            assigned.add(name)
        lines += [f"{t} = parts[{len(inputs) + k}]" for k, t in enumerate(param_targets)]
        return lines

    # -- the methods --

    def forward_method(self) -> list[str]:
        body: list[str] = []
        for node in self.model.nodes:
            body.append(self.context.comment(node.name))
            body.append(self.forward(node))
        body.append("self._saved = saved")
        body.append(f"return {self.var[self.model.output]}")
        uses = "\n".join(body)
        several = len(self.model.inputs) > 1
        names = [(spec.name, self.var[spec.name]) for spec in self.model.inputs]
        setup = (
            [f"{var} = self._batch({var}, {text(name)})" for name, var in names]
            + [
                f"if len({{{', '.join(f'{var}.shape[0]' for _, var in names)}}}) != 1:",
                '    raise ValueError(f"{MODEL} expects one batch size for every input")',
            ]
            if several
            else ["x = self._batch(x)"]
        )
        for name, value in (("params", "self.params"), ("state", "self.state")):
            if f"{name}[" in uses:
                setup.append(f"{name} = {value}")
        setup.append("saved = {}")
        if several:
            shape = "; ".join(
                f"{var} [{', '.join(['N', *map(str, spec.shape)])}]"
                for spec, (_, var) in zip(self.model.inputs, names, strict=True)
            )
            first = f'"""Run a batch of each input ({shape}); ``train``'
            doc = [first, "enables dropout and batch statistics."]
        else:
            shape = ", ".join(["N", *(str(d) for d in self.model.input.shape)])
            doc = [
                '"""Run a batch [' + shape + "]; ``train`` enables dropout and batch statistics.",
            ]
        doc += [
            "",
            "Keeps what ``backward`` needs. In training, batchnorm running statistics move",
            "in place (one update per call).",
            '"""',
        ]
        body = wrap(body, 8)
        signature = (
            f"self, *, {', '.join(var for _, var in names)}, train=False"
            if several
            else "self, x, train=False"
        )
        return [f"def forward({signature}):", *indent(doc + setup + body)]

    def backward_method(self) -> list[str]:
        body: list[str] = []
        output = self.model.output
        assigned = {output}
        body.append(f"{self.grad[output]} = self._grad_output(grad_output)")
        for node in reversed(self.model.nodes):
            if node.name not in self.reaches or node.name not in assigned:
                continue
            if node.name in self.indices:
                continue  # a shape op on indices: nothing flows back
            body.append(self.context.comment(node.name))
            body += self.backward(node, assigned)
        for spec in self.model.params:
            if spec.node not in assigned:
                body.append(f"grads[{text(spec.name)}] = np.zeros_like(params[{text(spec.name)}])")
        several = len(self.model.inputs) > 1
        for spec in self.model.inputs:
            g_x = self.grad[spec.name]
            shape = f"INPUT_SHAPES[{text(spec.name)}]" if several else "INPUT_SHAPE"
            if spec.name not in assigned and spec.name not in self.indices:
                body.append(f"{g_x} = np.zeros((grad_output.shape[0], *{shape}), dtype=self.dtype)")
        body += [
            "grads = {",
            "    name: np.ascontiguousarray(grads[name], dtype=self.dtype)",
            "    for name in PARAM_SHAPES",
            "}",
        ]
        # Indices have no gradient: None in their place.
        input_grads = {
            spec.name: "None"
            if spec.name in self.indices
            else f"np.ascontiguousarray({self.grad[spec.name]})"
            for spec in self.model.inputs
        }
        if several:
            body.append("return grads, {")
            body += [f"    {text(name)}: {grad}," for name, grad in input_grads.items()]
            body.append("}")
        else:
            body.append(f"return grads, {input_grads[self.model.input.name]}")
        body = wrap(body, 8)
        uses = "\n".join(body)
        setup = [
            "if self._saved is None:",
            '    raise RuntimeError("backward needs a forward pass first: call forward(x)")',
        ]
        if "params[" in uses:
            setup.append("params = self.params")
        if "saved[" in uses:
            setup.append("saved = self._saved")
        setup.append("grads = {}")
        doc = [
            '"""Gradients through the last ``forward``, given ``grad_output`` = dL/doutput.',
            "",
            "Returns (parameter gradients by IR name in IR order, dL/dx; None for integer",
            "indices, which have no gradient). Penalties the spec",
            "declares (l2, l1) are not included: add l2 * w + l1 * sign(w) for those.",
            '"""',
        ]
        return ["def backward(self, grad_output):", *indent(doc + setup + body)]


def generate(context: CodegenContext) -> str:
    """The source of a standalone NumPy module for ``context.model``."""
    model = context.model
    writer = _Writer(context)
    # Writing the methods first collects the functions they call.
    forward, backward = writer.forward_method(), writer.backward_method()
    # The class owns a mask generator when some node's function draws from one.
    dropout = any("rng" in arguments(LOWERINGS[n.op.kind].fn, {"rng": 0}) for n in model.nodes)
    name = context.class_name
    usage = [
        "# Use:",
        f'#     model = {name}(load_netspec_weights(path), dtype="float64")  # or {name}(seed=0)',
        "#     y = model.forward(x)                   # x: [N, *INPUT_SHAPE]; train=True to train",
        "#     grads, dx = model.backward(dloss_dy)   # by IR name, and dL/dx",
    ]
    if len(model.inputs) > 1:
        keywords = ", ".join(f"{writer.var[n]}={writer.var[n]}" for n in model.input_names)
        usage[2:] = [
            f"#     y = model.forward({keywords})",
            "#     # each input: [N, *INPUT_SHAPES[name]]; train=True to train",
            "#     grads, dxs = model.backward(dloss_dy)  # by IR name, and dL/dx by input",
        ]
    code = carried_source(writer.used) + "\n\n" + class_source(context, forward, backward, dropout)
    return module_source(context, "NumPy", "NumPy arrays", code, usage)
