"""The NumPy generator: a checked model as a standalone NumPy module.

The module holds one class, named after the model, with ``forward(x, train=False)`` and
a hand-written ``backward(grad_output)``, plus ``init(seed)`` (netspec's initial weights)
and ``load_netspec_weights(path)``. Every node is written out in IR order, forward and
in reverse for the backward, each under a comment pointing at its spec line. The
kernels are those of the in-memory NumPy backend (``netspec.backends.numpy``): the
self-contained functions (erf, the chunked weight gradient, sigmoid, log_softmax) are
copied with ``inspect.getsource``, the rest are the same formulas written as plain
functions; only the kernels the model uses are emitted. The module imports NumPy only.

The parts every generator that draws NumPy weights needs (constants, the weight loader,
``init``, reserved names, tidying) live in :mod:`netspec.codegen._shared`.
"""

from __future__ import annotations

from dataclasses import dataclass

from netspec._contract import unsupported_op
from netspec.codegen._numpy_kernels import KERNELS
from netspec.codegen._shared import (
    RESERVED as _SHARED_RESERVED,
)
from netspec.codegen._shared import (
    constants_source,
    defined_names,
    imports_for,
    init_source,
    tidy,
    weights_source,
    wrap,
)
from netspec.codegen._source import INDENT, number, text
from netspec.codegen.context import CodegenContext, identifier, inert
from netspec.ir import CheckedNode, explicit_pads
from netspec.ir import ops as ir

RESERVED = _SHARED_RESERVED | {
    name for source, _ in KERNELS.values() for name in defined_names(source())
}


def _conv_geometry(op: ir.Conv2d) -> str:
    return (
        f"stride={op.stride}, pads={explicit_pads(op.padding)}, dilation={op.dilation}, "
        f"groups={op.groups}"
    )


def _pool_geometry(op: ir.MaxPool | ir.AvgPool) -> str:
    return f"kernel={op.kernel}, stride={op.stride}, pads={explicit_pads(op.padding)}"


def _batch_axis(axis: int) -> int:
    return axis + 1 if axis >= 0 else axis


# -- the model: forward and backward, node by node ------------------------------------------


@dataclass
class _Backward:
    """One node's backward: lines, then one gradient expression per input.

    An expression may be the placeholder ``DX``, meaning the lines assign the gradient
    of the (single) input to whatever name replaces it.
    """

    lines: list[str]
    grads: list[str]


_DX = "\x00dx\x00"


class _Writer:
    """Writes one model's forward and backward; collects the kernels they call."""

    def __init__(self, context: CodegenContext) -> None:
        self.context = context
        self.model = context.model
        self.kernels: set[str] = set()
        taken = set(RESERVED)
        self.var = {self.model.input.name: "x"}
        # A node whose value nothing reads still runs (it may draw dropout masks or move
        # running statistics); its value goes to `_`.
        read = {name for node in self.model.nodes for name in node.inputs} | {self.model.output}
        for node in self.model.nodes:
            self.var[node.name] = identifier(node.name, taken) if node.name in read else "_"
        self.grad = {name: identifier(f"g_{var}", taken) for name, var in self.var.items()}
        self.shapes: dict[str, tuple[int, ...]] = {self.model.input.name: self.model.input.shape}
        for node in self.model.nodes:
            self.shapes[node.name] = node.output.shape
        self.param_names = {(s.node, s.attr): s.name for s in self.model.params}
        self.state_names = {(s.node, s.attr): s.name for s in self.model.state}
        self.reaches = self._reaching_output()

    def _reaching_output(self) -> set[str]:
        """The nodes (and input) whose value the output depends on."""
        reach = {self.model.output}
        for node in reversed(self.model.nodes):
            if node.name in reach:
                reach.update(node.inputs)
        return reach

    def p(self, node: CheckedNode, attr: str) -> str:
        return f"params[{text(self.param_names[(node.name, attr)])}]"

    def has(self, node: CheckedNode, attr: str) -> bool:
        return (node.name, attr) in self.param_names

    # -- forward --

    def forward(self, node: CheckedNode) -> list[str]:
        op = node.op
        y = self.var[node.name]
        xs = [self.var[name] for name in node.inputs]
        x = xs[0]
        keep = node.name in self.reaches
        saved = f"saved[{text(node.name)}]"
        if isinstance(op, ir.Dense):
            lines = [f"{y} = {x} @ {self.p(node, 'weight')}.T"]
            if op.bias:
                lines.append(f"{y} += {self.p(node, 'bias')}")
            return lines + ([f"{saved} = {x}"] if keep else [])
        if isinstance(op, ir.Conv2d):
            self.kernels.add("conv2d_forward")
            bias = self.p(node, "bias") if op.bias else "None"
            target = f"{y}, {saved}" if keep else f"{y}, _"
            return [
                f"{target} = _conv2d_forward({x}, {self.p(node, 'weight')}, {bias}, "
                f"{_conv_geometry(op)})"
            ]
        if isinstance(op, ir.MaxPool):
            self.kernels.add("maxpool_forward")
            target = f"{y}, {saved}" if keep else f"{y}, _"
            return [f"{target} = _maxpool_forward({x}, {_pool_geometry(op)})"]
        if isinstance(op, ir.AvgPool):
            self.kernels.add("avgpool_forward")
            return [f"{y} = _avgpool_forward({x}, {_pool_geometry(op)})"]
        if isinstance(op, ir.GlobalAvgPool):
            size = ", ".join(str(d) for d in node.output.shape)
            return [f"{y} = {x}.mean(axis=(2, 3)).reshape({x}.shape[0], {size})"]
        if isinstance(op, ir.BatchNorm):
            self.kernels.add("batchnorm_forward")
            weight = self.p(node, "weight") if op.affine else "None"
            bias = self.p(node, "bias") if op.affine else "None"
            mean = f"state[{text(self.state_names[(node.name, 'running_mean')])}]"
            var = f"state[{text(self.state_names[(node.name, 'running_var')])}]"
            target = f"{y}, {saved}" if keep else f"{y}, _"
            return [
                f"{target} = _batchnorm_forward({x}, {weight}, {bias}, {mean}, {var}, train, "
                f"momentum={number(op.momentum)}, eps={number(op.eps)})"
            ]
        if isinstance(op, ir.Standardize):
            mean = f"state[{text(self.state_names[(node.name, 'mean')])}]"
            std = f"state[{text(self.state_names[(node.name, 'std')])}]"
            return [f"{y} = ({x} - {mean}) / {std}"]
        if isinstance(op, ir.Dropout):
            if op.p == 0.0:
                return [f"{y} = {x}  # p = 0: the identity"]
            self.kernels.add("dropout")
            target = f"{y}, {saved}" if keep else f"{y}, _"
            return [f"{target} = _dropout({x}, {number(op.p)}, self._rng, train)"]
        if isinstance(op, ir.Flatten | ir.Reshape):
            size = ", ".join(str(d) for d in node.output.shape)
            return [f"{y} = {x}.reshape({x}.shape[0], {size})"]
        if isinstance(op, ir.Add | ir.Multiply):
            sign = "+" if isinstance(op, ir.Add) else "*"
            lines = [f"{y} = {xs[0]} {sign} {xs[1]}"]
            lines += [f"{y} {sign}= {other}" for other in xs[2:]]
            if keep and isinstance(op, ir.Multiply):
                lines.append(f"{saved} = ({', '.join(xs)})")
            return lines
        if isinstance(op, ir.Concat):
            return [f"{y} = np.concatenate(({', '.join(xs)}), axis={_batch_axis(op.axis)})"]
        return self._activation_forward(node, y, x, saved if keep else None)

    def _activation_forward(
        self, node: CheckedNode, y: str, x: str, saved: str | None
    ) -> list[str]:
        op = node.op
        save_y = [f"{saved} = {y}"] if saved else []
        target = f"{y}, {saved}" if saved else f"{y}, _"
        if isinstance(op, ir.Identity):
            return [f"{y} = {x}"]
        if isinstance(op, ir.Step):
            return [f"{y} = ({x} > 0).astype({x}.dtype)"]
        if isinstance(op, ir.Sigmoid):
            self.kernels.add("sigmoid")
            return [f"{y} = sigmoid({x})", *save_y]
        if isinstance(op, ir.Tanh):
            return [f"{y} = np.tanh({x})", *save_y]
        if isinstance(op, ir.Relu):
            return [f"{y} = np.maximum({x}, 0)", *save_y]
        if isinstance(op, ir.LeakyRelu):
            slope = number(op.negative_slope)
            lines = [f"{y} = np.maximum({x}, 0) + {slope} * np.minimum({x}, 0)"]
            return lines + ([f"{saved} = {x} > 0"] if saved else [])
        if isinstance(op, ir.Elu):
            self.kernels.add("elu")
            return [f"{target} = _elu_forward({x}, {number(op.alpha)})"]
        if isinstance(op, ir.Gelu):
            name = "gelu_tanh" if op.approximate == "tanh" else "gelu"
            self.kernels.add(name)
            return [f"{target} = _{name}_forward({x})"]
        if isinstance(op, ir.Softplus):
            self.kernels.add("softplus")
            return [f"{target} = _softplus_forward({x}, {number(op.beta)}, {number(op.threshold)})"]
        if isinstance(op, ir.Softmax):
            self.kernels.add("softmax")
            return [f"{y} = _softmax({x}, axis={_batch_axis(op.axis)})", *save_y]
        if isinstance(op, ir.LogSoftmax):
            self.kernels.add("log_softmax")
            return [f"{y} = log_softmax({x}, {_batch_axis(op.axis)})", *save_y]
        if isinstance(op, ir.Prelu):
            self.kernels.add("prelu")
            shape = self._prelu_shape(node, op)
            return [f"{target} = _prelu_forward({x}, {self.p(node, 'weight')}, {shape})"]
        raise unsupported_op("numpy generator", op.kind)

    def _prelu_shape(self, node: CheckedNode, op: ir.Prelu) -> tuple[int, ...]:
        rank = len(self.shapes[node.inputs[0]])
        if op.per_channel:
            return (1, -1) + (1,) * (rank - 1)
        return (1,) * (rank + 1)

    # -- backward --

    def backward(self, node: CheckedNode) -> _Backward:
        op = node.op
        g = self.grad[node.name]
        s = f"saved[{text(node.name)}]"
        in_shape = self.shapes[node.inputs[0]]
        if isinstance(op, ir.Dense):
            weight = self.param_names[(node.name, "weight")]
            lines = [f"grads[{text(weight)}] = {g}.T @ {s}"]
            if op.bias:
                bias = self.param_names[(node.name, "bias")]
                lines.append(f"grads[{text(bias)}] = {g}.sum(axis=0)")
            return _Backward(lines, [f"{g} @ {self.p(node, 'weight')}"])
        if isinstance(op, ir.Conv2d):
            self.kernels.add("conv2d_backward")
            weight = self.param_names[(node.name, "weight")]
            lines = [
                f"{_DX}, grads[{text(weight)}] = _conv2d_backward({g}, {s}, "
                f"{self.p(node, 'weight')}, {in_shape}, {_conv_geometry(op)})"
            ]
            if op.bias:
                bias = self.param_names[(node.name, "bias")]
                lines.append(f"grads[{text(bias)}] = {g}.sum(axis=(0, 2, 3))")
            return _Backward(lines, [_DX])
        if isinstance(op, ir.MaxPool):
            self.kernels.add("maxpool_backward")
            line = f"{_DX} = _maxpool_backward({g}, {s}, {in_shape}, {_pool_geometry(op)})"
            return _Backward([line], [_DX])
        if isinstance(op, ir.AvgPool):
            self.kernels.add("avgpool_backward")
            line = f"{_DX} = _avgpool_backward({g}, {in_shape}, {_pool_geometry(op)})"
            return _Backward([line], [_DX])
        if isinstance(op, ir.GlobalAvgPool):
            self.kernels.add("global_avgpool_backward")
            return _Backward([], [f"_global_avgpool_backward({g}, {in_shape})"])
        if isinstance(op, ir.BatchNorm):
            self.kernels.add("batchnorm_backward")
            if not op.affine:
                return _Backward([f"{_DX} = _batchnorm_backward({g}, {s}, None)[0]"], [_DX])
            weight = self.param_names[(node.name, "weight")]
            bias = self.param_names[(node.name, "bias")]
            line = (
                f"{_DX}, grads[{text(weight)}], grads[{text(bias)}] = "
                f"_batchnorm_backward({g}, {s}, {self.p(node, 'weight')})"
            )
            return _Backward([line], [_DX])
        if isinstance(op, ir.Standardize):
            std = text(self.state_names[(node.name, "std")])
            return _Backward([], [f"{g} / self.state[{std}]"])
        if isinstance(op, ir.Dropout):
            if op.p == 0.0:
                return _Backward([], [g])
            return _Backward([], [f"_dropout_backward({g}, {s})"])
        if isinstance(op, ir.Flatten | ir.Reshape):
            size = ", ".join(str(d) for d in in_shape)
            return _Backward([], [f"{g}.reshape({g}.shape[0], {size})"])
        if isinstance(op, ir.Add):
            return _Backward([], [g] * len(node.inputs))
        if isinstance(op, ir.Multiply):
            count = len(node.inputs)
            grads = [
                " * ".join([g, *(f"{s}[{j}]" for j in range(count) if j != i)])
                for i in range(count)
            ]
            return _Backward([], grads)
        if isinstance(op, ir.Concat):
            axis = op.axis if op.axis >= 0 else len(in_shape) + op.axis
            sizes = [self.shapes[name][axis] for name in node.inputs]
            splits = [sum(sizes[: i + 1]) for i in range(len(sizes) - 1)]
            line = f"parts = np.split({g}, {splits}, axis={_batch_axis(op.axis)})"
            return _Backward([line], [f"parts[{i}]" for i in range(len(sizes))])
        return self._activation_backward(node, g, s)

    def _activation_backward(self, node: CheckedNode, g: str, s: str) -> _Backward:
        op = node.op
        if isinstance(op, ir.Identity):
            return _Backward([], [g])
        if isinstance(op, ir.Step):
            return _Backward([], [f"np.zeros_like({g})"])
        if isinstance(op, ir.Sigmoid):
            return _Backward([], [f"{g} * {s} * (1.0 - {s})"])
        if isinstance(op, ir.Tanh):
            return _Backward([], [f"{g} * (1.0 - {s} * {s})"])
        if isinstance(op, ir.Relu):
            # As PyTorch: the gradient passes where the output is > 0, so relu'(0) = 0.
            return _Backward([], [f"{g} * ({s} > 0)"])
        if isinstance(op, ir.LeakyRelu):
            slope = number(op.negative_slope)
            return _Backward([], [f"{g} * {s} + ({g} * {slope}) * ~{s}"])
        if isinstance(op, ir.Elu):
            return _Backward([], [f"_elu_backward({g}, {s}, {number(op.alpha)})"])
        if isinstance(op, ir.Gelu):
            name = "gelu_tanh" if op.approximate == "tanh" else "gelu"
            return _Backward([], [f"_{name}_backward({g}, {s})"])
        if isinstance(op, ir.Softplus):
            return _Backward([], [f"_softplus_backward({g}, {s})"])
        if isinstance(op, ir.Softmax):
            axis = _batch_axis(op.axis)
            return _Backward([], [f"_softmax_backward({g}, {s}, axis={axis})"])
        if isinstance(op, ir.LogSoftmax):
            axis = _batch_axis(op.axis)
            return _Backward([], [f"_log_softmax_backward({g}, {s}, axis={axis})"])
        if isinstance(op, ir.Prelu):
            shape = self._prelu_shape(node, op)
            rank = len(self.shapes[node.inputs[0]])
            axes = (0, *range(2, rank + 1)) if op.per_channel else None
            weight = self.param_names[(node.name, "weight")]
            line = (
                f"{_DX}, grads[{text(weight)}] = _prelu_backward("
                f"{g}, {s}, {self.p(node, 'weight')}, {shape}, {axes})"
            )
            return _Backward([line], [_DX])
        raise unsupported_op("numpy generator", op.kind)

    # -- the methods --

    def forward_method(self) -> list[str]:
        body: list[str] = []
        for node in self.model.nodes:
            body.append(self.context.comment(node.name))
            body += self.forward(node)
        body.append("self._saved = saved")
        body.append(f"return {self.var[self.model.output]}")
        uses = "\n".join(body)
        setup = ["x = self._batch(x)"]
        for name, value in (("params", "self.params"), ("state", "self.state")):
            if f"{name}[" in uses:
                setup.append(f"{name} = {value}")
        setup.append("saved = {}")
        shape = ", ".join(["N", *(str(d) for d in self.model.input.shape)])
        doc = [
            '"""Run a batch [' + shape + "]; ``train`` enables dropout and batch statistics.",
            "",
            "Keeps what ``backward`` needs. In training, batchnorm running statistics move",
            "in place (one update per call).",
            '"""',
        ]
        body = wrap(body, 8)
        return ["def forward(self, x, train=False):", *_indent(doc + setup + body)]

    def backward_method(self) -> list[str]:
        body: list[str] = []
        output = self.model.output
        pending: dict[str, int] = {}
        body.append(f"{self.grad[output]} = self._grad_output(grad_output)")
        pending[output] = 1
        for node in reversed(self.model.nodes):
            if node.name not in self.reaches or node.name not in pending:
                continue
            step = self.backward(node)
            body.append(self.context.comment(node.name))
            single = len(node.inputs) == 1 and node.inputs[0] not in pending
            lines = [
                line.replace(_DX, self.grad[node.inputs[0]] if single else "dx")
                for line in step.lines
            ]
            body += lines
            for name, expr in zip(node.inputs, step.grads, strict=True):
                target = self.grad[name]
                if expr == _DX:
                    if single:
                        pending[name] = 1
                        continue
                    expr = "dx"
                if name in pending:
                    body.append(f"{target} = {target} + {expr}")
                else:
                    body.append(f"{target} = {expr}")
                pending[name] = pending.get(name, 0) + 1
        for spec in self.model.params:
            if spec.node not in pending:
                body.append(f"grads[{text(spec.name)}] = np.zeros_like(params[{text(spec.name)}])")
        g_x = self.grad[self.model.input.name]
        if self.model.input.name not in pending:
            body.append(f"{g_x} = np.zeros((grad_output.shape[0], *INPUT_SHAPE), dtype=self.dtype)")
        body += [
            "grads = {",
            "    name: np.ascontiguousarray(grads[name], dtype=self.dtype)",
            "    for name in PARAM_SHAPES",
            "}",
            f"return grads, np.ascontiguousarray({g_x})",
        ]
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
            "Returns (parameter gradients by IR name in IR order, dL/dx). Penalties the spec",
            "declares (l2, l1) are not included: add l2 * w + l1 * sign(w) for those.",
            '"""',
        ]
        return ["def backward(self, grad_output):", *_indent(doc + setup + body)]


def _indent(lines: list[str], levels: int = 1) -> list[str]:
    pad = INDENT * levels
    return [f"{pad}{line}" if line else "" for line in lines]


def _class_source(context: CodegenContext, writer: _Writer) -> str:
    model = context.model
    dropout = any(isinstance(n.op, ir.Dropout) and n.op.p > 0.0 for n in model.nodes)
    shape = ", ".join(["N", *(str(d) for d in model.input.shape)])
    out_shape = ", ".join(["N", *(str(d) for d in model.output_type.shape)])
    forward = writer.forward_method()
    backward = writer.backward_method()
    lines = [
        f"class {context.class_name}:",
        f'    """The model ``{_inert(model.name)}`` in NumPy: ``forward`` and a hand-written',
        "    ``backward``.",
        "",
        f'    ``{context.class_name}(weights=None, *, seed=0, dtype="float32")`` takes the',
        "    parameters and state by IR name (from ``load_netspec_weights(path)`` or",
        "    ``init(seed)``); without them it draws netspec's initial weights for ``seed``.",
        "    All arithmetic happens in ``dtype`` (float32 or float64).",
        f"    ``forward(x, train=False)`` maps a batch [{shape}] to [{out_shape}];",
        "    ``backward(grad_output)`` then returns the parameter gradients by IR name and",
        "    the input gradient. ``params`` and ``state`` hold the arrays by IR name.",
    ]
    if dropout:
        lines += [
            "    Dropout masks come from the model's own generator, seeded by ``seed`` (as",
            "    netspec's NumPy backend: the same seed gives the same masks).",
        ]
    lines += [
        '    """',
        "",
        '    def __init__(self, weights=None, *, seed=0, dtype="float32"):',
        "        self.dtype = np.dtype(dtype)",
        "        if self.dtype not in (np.float32, np.float64):",
        '            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")',
        "        if weights is None:",
        "            weights = init(seed, self.dtype)",
        '        _check_weights(weights, "the weights given")',
        "        self.params = {",
        "            name: np.array(weights[name], dtype=self.dtype) for name in PARAM_SHAPES",
        "        }",
        "        self.state = {",
        "            name: np.array(weights[name], dtype=self.dtype) for name in STATE_SHAPES",
        "        }",
    ]
    if dropout:
        lines.append("        self.seed(seed)")
    lines += [
        "        self._saved = None",
        "",
    ]
    if dropout:
        lines += [
            "    def seed(self, seed):",
            '        """Restart the dropout stream (a stream distinct from init\'s)."""',
            f"        self._rng = np.random.Generator(np.random.PCG64([seed, {0x64726F70:#x}]))",
            "",
        ]
    lines += [
        "    def _batch(self, x):",
        "        x = np.asarray(x)",
        "        if x.ndim != len(INPUT_SHAPE) + 1 or x.shape[1:] != INPUT_SHAPE or not len(x):",
        "            raise ValueError(",
        '                f"{MODEL} expects a batch of shape (N, *{INPUT_SHAPE}), N >= 1, "',
        '                f"got {x.shape}"',
        "            )",
        "        real = np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)",
        "        if not real:",
        '            raise ValueError(f"{MODEL} expects real numbers, got dtype {x.dtype}")',
        "        return x.astype(self.dtype, copy=False)",
        "",
        "    def _grad_output(self, grad_output):",
        "        grad_output = np.asarray(grad_output, dtype=self.dtype)",
        "        if grad_output.shape[1:] != OUTPUT_SHAPE:",
        "            raise ValueError(",
        '                f"grad_output must have the output\'s shape (N, *{OUTPUT_SHAPE}), "',
        '                f"got {grad_output.shape}"',
        "            )",
        "        return grad_output",
        "",
        *_indent(forward),
        "",
        *_indent(backward),
    ]
    return "\n".join(lines) + "\n"


def _inert(value: str) -> str:
    """Spec text made safe inside a docstring: one line, no quotes or backslashes."""
    return inert(value).replace('"', "'")


def _kernel_sources(used: set[str]) -> list[str]:
    order = list(KERNELS)
    needed: set[str] = set()
    stack = list(used)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(KERNELS[name][1])
    return [KERNELS[name][0]() for name in order if name in needed]


def generate(context: CodegenContext) -> str:
    """The source of a standalone NumPy module for ``context.model``."""
    model = context.model
    writer = _Writer(context)
    # Writing the class first collects the kernels it calls.
    cls = _class_source(context, writer)
    initializer = init_source(context)
    body = "".join(
        [
            constants_source(model),
            "\n",
            weights_source(),
            *("\n\n" + helper for helper in initializer.helpers),
            "\n\n",
            initializer.function,
            *_kernel_sources(writer.kernels),
            "\n\n",
            cls,
        ]
    )
    name = context.class_name
    usage = [
        "# Use:",
        f'#     model = {name}(load_netspec_weights(path), dtype="float64")  # or {name}(seed=0)',
        "#     y = model.forward(x)                   # x: [N, *INPUT_SHAPE]; train=True to train",
        "#     grads, dx = model.backward(dloss_dy)   # by IR name, and dL/dx",
    ]
    return tidy(
        context.header("NumPy") + "\n" + imports_for(body) + "\n" + "\n".join(usage) + "\n\n" + body
    )
