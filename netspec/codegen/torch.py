"""The PyTorch generator: a checked model as a standalone, readable ``nn.Module`` file.

The generated file imports torch only (safetensors lazily, inside its weight loader).
Layers with parameters or state become attributes built in ``__init__``, nested along
the dots of their node names in plain ``nn.Module()`` containers, so that the
``state_dict()`` keys are exactly the IR's names and a netspec weight file loads
strictly. ``forward`` is written out one line per node, each carrying the spec line it
came from. The computation is that of the in-memory backend (``netspec.backends.torch``):
the same torch calls with the same arguments, asymmetric padding through ``F.pad``,
batchnorm through ``F.batch_norm`` without ``num_batches_tracked``, standardize as a
small module whose buffers hold the input statistics.

Nothing from a spec is evaluated or pasted as code: numbers are written with ``repr`` of
an ``int`` or a finite ``float``, names pass through :func:`identifier` (or are written
as string literals with ``repr``), and spec text appears only in comments made inert by
the context.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from netspec._contract import unsupported_op
from netspec.codegen.context import CodegenContext, identifier, inert
from netspec.errors import NetspecError
from netspec.ir import CheckedModel, CheckedNode, explicit_pads
from netspec.ir.ops import (
    AvgPool,
    BatchNorm,
    Concat,
    Conv2d,
    Dense,
    Dropout,
    Elu,
    Gelu,
    LeakyRelu,
    LogSoftmax,
    MaxPool,
    Prelu,
    Reshape,
    Softmax,
    Softplus,
    Standardize,
)

# Attributes every nn.Module has (torch 2.x, and a few device methods newer versions
# may add): a layer under such a name is kept in ``_modules["name"]``, where the
# state_dict still sees it under its own name, instead of shadowing a method.
# fmt: off
MODULE_ATTRIBUTES = frozenset((
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init",
    "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr",
    "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule",
    "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule",
    "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
    "zero_grad", "hpu", "npu", "mps", "xla", "meta",
))
# fmt: on

# Names a local variable of ``forward`` must never take: the module's imports, ``self``
# and the builtins the generated code calls.
RESERVED_LOCALS = frozenset({"self", "torch", "nn", "F", "tuple", "ValueError"})

INDENT = "    "
# A forward line with its comment longer than this gets the comment on a line above.
LINE_LIMIT = 100

BATCHNORM_CLASS = '''
class {name}(nn.Module):
    """Batch normalisation over axis 1, as torch.nn.BatchNorm1d / 2d with a fixed momentum,
    but without the num_batches_tracked counter (unused with a fixed momentum), so that
    state_dict() holds exactly netspec's names: weight, bias, running_mean, running_var."""

    def __init__(self, features: int, momentum: float, eps: float, affine: bool = True):
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(features)) if affine else None
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In training mode the running statistics move in place, with the unbiased
        # batch variance, as in torch.nn.BatchNorm2d.
        return {F}.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )
'''

STANDARDIZE_CLASS = '''
class {name}(nn.Module):
    """(x - mean) / std per input element, with the statistics of the training data as
    buffers: in state_dict() under netspec's names (mean, std), never trained."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
'''

LOADER = '''
def load_netspec_weights(module: nn.Module, path: str) -> nn.Module:
    """Load a netspec weight file (safetensors, keys are the spec's parameter and state
    names) into ``module`` strictly: every key must match and every shape fit. Values
    are converted to the module's dtype and device. Returns ``module``."""
    try:
        from safetensors.torch import load_file
    except ImportError as error:
        raise ImportError(
            "loading netspec weights needs the safetensors package: pip install safetensors"
        ) from error
    module.load_state_dict(load_file(path), strict=True)
    return module
'''

DOC_NOTES = """
Weights: the layers start with PyTorch's default initialisation, not netspec's. The
model of the spec is the class with netspec's weights loaded: a file written by
`netspec train` (runs/<run>/weights.safetensors), or initial weights saved with
netspec.weights.save_weights(path, netspec.initializers.initial_params(model, seed)).
state_dict() keys are the spec's names{names}, so
load_netspec_weights(module, path) loads such a file strictly:

    model = load_netspec_weights({cls}(), "weights.safetensors").eval()
    y = model(x)    # x: a float32 tensor of shape (N, {shape})

For float64 call .double() on the module before loading (values are converted);
.to(device) moves it as any nn.Module.
"""

DROPOUT_NOTE = """
Dropout: masks come from torch's global generator (torch.manual_seed), as in any PyTorch
code. netspec's in-memory torch backend draws them from a generator each model owns, so
masks differ from netspec's (they agree in distribution); in eval mode dropout is the
identity and outputs agree exactly.
"""


def generate(context: CodegenContext) -> str:
    """The source of a standalone PyTorch module for ``context.model``."""
    return _Writer(context).source()


# -- literals -------------------------------------------------------------------------


def _int(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NetspecError(f"expected an integer in the IR, found {value!r}")
    return repr(int(value))


def _float(value: float) -> str:
    number = float(value)
    if not math.isfinite(number):
        raise NetspecError(f"cannot write the non-finite number {number!r} as a literal")
    return repr(number)


def _ints(values: Iterable[int]) -> str:
    items = [_int(v) for v in values]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _inert(text: str) -> str:
    # IR names are grammar-checked identifiers with dots; this is a second line of defence.
    return inert(text)


def _str(value: str) -> str:
    return repr(str(value))


# -- where layers live ------------------------------------------------------------------


@dataclass
class _Holder:
    """A place in the module tree: the root, a block scope container, or a layer."""

    expression: str  # how forward reaches it, e.g. "self.residual_1"
    reserved: frozenset[str]  # child names that would clash with an attribute
    children: dict[str, _Holder] = field(default_factory=dict)


def _attribute_safe(part: str, reserved: frozenset[str]) -> bool:
    return (
        part.isidentifier()
        and part.isascii()
        and not keyword.iskeyword(part)
        and not part.startswith("_")
        and part not in reserved
    )


def _child(parent: str, part: str, reserved: frozenset[str]) -> str:
    if _attribute_safe(part, reserved):
        return f"{parent}.{part}"
    return f"{parent}._modules[{_str(part)}]"


# -- the writer -------------------------------------------------------------------------


class _Writer:
    def __init__(self, context: CodegenContext) -> None:
        self.context = context
        self.model: CheckedModel = context.model
        self.functional = "F" if context.class_name != "F" else "functional"
        self.uses_functional = False
        self.uses_batchnorm = False
        # The helper class's name, unless the model's class took it.
        self.batchnorm = "BatchNorm" if context.class_name != "BatchNorm" else "BatchNormLayer"
        self.uses_standardize = False
        self.standardize = (
            "Standardize" if context.class_name != "Standardize" else "StandardizeLayer"
        )
        self.shapes: dict[str, dict[str, tuple[int, ...]]] = {}
        for spec in self.model.params:
            self.shapes.setdefault(spec.node, {})[spec.attr] = tuple(spec.shape)
        for state in self.model.state:
            self.shapes.setdefault(state.node, {})[state.attr] = tuple(state.shape)
        self.root = _Holder("self", MODULE_ATTRIBUTES)
        self.layers: dict[str, str] = {}  # node name -> expression reaching its layer
        self.init_lines: list[str] = []
        taken = set(RESERVED_LOCALS) | {self.functional}
        self.names: dict[str, str] = {}
        self.names[self.model.input.name] = identifier(self.model.input.name, taken)
        for node in self.model.nodes:
            self.names[node.name] = identifier(node.name, taken)

    # -- assembling the file ----------------------------------------------------------

    def source(self) -> str:
        for node in self.model.nodes:
            if node.params or node.state:
                self._place(node)
        forward = self._forward()
        parts = [self._docstring(), self._imports()]
        if self.uses_batchnorm:
            parts.append(BATCHNORM_CLASS.format(name=self.batchnorm, F=self.functional))
        if self.uses_standardize:
            parts.append(STANDARDIZE_CLASS.format(name=self.standardize))
        parts.append(self._class(self.init_lines, forward))
        parts.append(LOADER)
        return "\n".join(parts).rstrip() + "\n"

    def _docstring(self) -> str:
        header = self.context.header("PyTorch").rstrip()
        if not header.endswith('"""'):
            raise NetspecError("the codegen header is not a docstring")
        shape = ", ".join(str(d) for d in self.model.input.shape)
        keys = [spec.name for spec in self.model.params] + [s.name for s in self.model.state]
        listed = _inert(", ".join(keys[:2]) + (", ..." if len(keys) > 2 else ""))
        names = f" ({listed})" if keys else ""
        notes = DOC_NOTES.format(cls=self.context.class_name, shape=shape, names=names)
        if any(isinstance(node.op, Dropout) for node in self.model.nodes):
            notes += DROPOUT_NOTE
        return header[: -len('"""')] + notes + '"""\n'

    def _imports(self) -> str:
        functional = self.uses_functional or self.uses_batchnorm
        # In the order isort (ruff's I001) wants.
        lines = ["import torch"]
        if functional and self.functional == "F":
            lines.append("import torch.nn.functional as F")
        lines.append("from torch import nn")
        if functional and self.functional != "F":
            lines.append(f"from torch.nn import {self.functional}")
        return "\n".join(lines) + "\n"

    def _class(self, init: list[str], forward: list[str]) -> str:
        model = self.model
        shape = tuple(model.input.shape)
        expected = ", ".join(str(d) for d in shape)
        x = self.names[model.input.name]
        lines = [
            "",
            f"class {self.context.class_name}(nn.Module):",
            f'{INDENT}"""The netspec model `{_inert(model.name)}`: input (N, {expected}), output '
            f'(N, {", ".join(str(d) for d in model.output_type.shape)})."""',
            "",
            f"{INDENT}def __init__(self) -> None:",
            f"{INDENT * 2}super().__init__()",
            *init,
            "",
            f"{INDENT}def forward(self, {x}: torch.Tensor) -> torch.Tensor:",
            f"{INDENT * 2}if tuple({x}.shape[1:]) != {_ints(shape)}:",
            f"{INDENT * 3}raise ValueError(",
            f'{INDENT * 4}f"expected a batch of shape (N, {expected}), got {{tuple({x}.shape)}}"',
            f"{INDENT * 3})",
            *forward,
            "",
        ]
        return "\n".join(lines)

    # -- __init__: the layers -----------------------------------------------------------

    def _place(self, node: CheckedNode) -> None:
        parent = self.root
        *scopes, leaf = node.name.split(".")
        for depth, part in enumerate(scopes):
            child = parent.children.get(part)
            if child is None:
                expression = _child(parent.expression, part, parent.reserved)
                child = _Holder(expression, MODULE_ATTRIBUTES)
                parent.children[part] = child
                self.init_lines.append(
                    f"{INDENT * 2}{expression} = nn.Module()  # block scope "
                    f"{'.'.join(scopes[: depth + 1])}"
                )
            parent = child
        if leaf in parent.children:
            raise NetspecError(
                f"node {node.name!r} cannot be placed in the torch module: "
                f"{leaf!r} is already a block scope there"
            )
        expression = _child(parent.expression, leaf, parent.reserved)
        # A layer may also hold a block scope below it: its own attributes are reserved.
        layer = _Holder(expression, MODULE_ATTRIBUTES | _LAYER_ATTRIBUTES)
        parent.children[leaf] = layer
        self.layers[node.name] = expression
        statement = f"{INDENT * 2}{expression} = {self._layer(node)}"
        self.init_lines.extend(self._with_comment(statement, node.name))

    def _layer(self, node: CheckedNode) -> str:
        op = node.op
        shapes = self.shapes.get(node.name, {})
        if isinstance(op, Dense):
            out_features, in_features = shapes["weight"]
            bias = "" if "bias" in shapes else ", bias=False"
            return f"nn.Linear({_int(in_features)}, {_int(out_features)}{bias})"
        if isinstance(op, Conv2d):
            filters, per_group, kh, kw = shapes["weight"]
            (top, bottom), (left, right) = explicit_pads(op.padding)
            args = [_int(per_group * op.groups), _int(filters), _ints((kh, kw))]
            if tuple(op.stride) != (1, 1):
                args.append(f"stride={_ints(op.stride)}")
            if top == bottom and left == right and (top, left) != (0, 0):
                args.append(f"padding={_ints((top, left))}")
            if tuple(op.dilation) != (1, 1):
                args.append(f"dilation={_ints(op.dilation)}")
            if op.groups != 1:
                args.append(f"groups={_int(op.groups)}")
            if "bias" not in shapes:
                args.append("bias=False")
            return f"nn.Conv2d({', '.join(args)})"
        if isinstance(op, BatchNorm):
            self.uses_batchnorm = True
            (features,) = shapes["running_mean"]
            affine = "" if "weight" in shapes else ", affine=False"
            return (
                f"{self.batchnorm}({_int(features)}, momentum={_float(op.momentum)}, "
                f"eps={_float(op.eps)}{affine})"
            )
        if isinstance(op, Standardize):
            self.uses_standardize = True
            return f"{self.standardize}({_ints(shapes['mean'])})"
        if isinstance(op, Prelu):
            (slopes,) = shapes["weight"]
            return f"nn.PReLU({_int(slopes)}, init={_float(op.init)})"
        raise NetspecError(
            f"node {node.name!r} ({op.kind}) has parameters the torch generator cannot hold"
        )

    # -- forward: one line per node ---------------------------------------------------

    def _forward(self) -> list[str]:
        model = self.model
        needed = self._needed()
        readers = {name for node in model.nodes if node.name in needed for name in node.inputs}
        lines: list[str] = []
        for node in model.nodes:
            if node.name not in needed:
                lines.append(
                    f"{INDENT * 2}{self.context.comment(node.name)} -> {_inert(node.name)}: "
                    "not computed (it reaches no output and no running statistics)"
                )
                continue
            expression = self._expression(node)
            if node.name in readers or node.name == model.output:
                statement = f"{INDENT * 2}{self.names[node.name]} = {expression}"
            else:
                # Unread, but it updates running statistics in training mode.
                statement = f"{INDENT * 2}{expression}"
            lines.extend(self._with_comment(statement, node.name))
        lines.append(f"{INDENT * 2}return {self.names[model.output]}")
        return lines

    def _needed(self) -> set[str]:
        # Nodes whose value reaches the output or a batchnorm (whose running statistics
        # change in training mode, as in the in-memory backend, which runs every node).
        model = self.model
        by_name = {node.name: node for node in model.nodes}
        needed: set[str] = set()
        roots = [model.output] + [n.name for n in model.nodes if isinstance(n.op, BatchNorm)]
        stack = [name for name in roots if name in by_name]
        while stack:
            name = stack.pop()
            if name in needed:
                continue
            needed.add(name)
            stack.extend(i for i in by_name[name].inputs if i in by_name)
        return needed

    def _with_comment(self, statement: str, node: str) -> list[str]:
        comment = self.context.comment(node)
        indent = statement[: len(statement) - len(statement.lstrip())]
        if len(statement) + 2 + len(comment) <= LINE_LIMIT:
            return [f"{statement}  {comment}"]
        return [f"{indent}{comment}", statement]

    def _fn(self, name: str) -> str:
        self.uses_functional = True
        return f"{self.functional}.{name}"

    def _expression(self, node: CheckedNode) -> str:
        op = node.op
        args = [self.names[name] for name in node.inputs]
        a = args[0] if args else ""
        kind = op.kind
        if isinstance(op, Conv2d):
            (top, bottom), (left, right) = explicit_pads(op.padding)
            layer = self.layers[node.name]
            if top == bottom and left == right:
                return f"{layer}({a})"
            return f"{layer}({self._fn('pad')}({a}, {_ints((left, right, top, bottom))}))"
        if isinstance(op, Dense | BatchNorm | Prelu | Standardize):
            return f"{self.layers[node.name]}({a})"
        if isinstance(op, MaxPool | AvgPool):
            return self._pool(op, a)
        if kind == "global_avgpool":
            keep = ", keepdim=True" if len(node.output.shape) > 1 else ""
            return f"{a}.mean(dim=(2, 3){keep})"
        if kind == "flatten":
            return f"torch.flatten({a}, 1)"
        if isinstance(op, Reshape):
            dims = ", ".join(_int(d) for d in node.output.shape)
            return f"{a}.reshape({a}.shape[0], {dims})"
        if kind == "add":
            return " + ".join(args)
        if kind == "multiply":
            return " * ".join(args)
        if isinstance(op, Concat):
            axis = op.axis + 1 if op.axis >= 0 else op.axis
            return f"torch.cat({_tuple_of(args)}, dim={_int(axis)})"
        if isinstance(op, Dropout):
            return f"{self._fn('dropout')}({a}, p={_float(op.p)}, training=self.training)"
        if kind == "identity":
            return a
        if kind == "step":
            return f"({a} > 0).to({a}.dtype)"
        if kind == "sigmoid":
            return f"torch.sigmoid({a})"
        if kind == "tanh":
            return f"torch.tanh({a})"
        if kind == "relu":
            return f"{self._fn('relu')}({a})"
        if isinstance(op, LeakyRelu):
            return f"{self._fn('leaky_relu')}({a}, negative_slope={_float(op.negative_slope)})"
        if isinstance(op, Elu):
            return f"{self._fn('elu')}({a}, alpha={_float(op.alpha)})"
        if isinstance(op, Gelu):
            if op.approximate == "tanh":
                return f'{self._fn("gelu")}({a}, approximate="tanh")'
            return f"{self._fn('gelu')}({a})"
        if isinstance(op, Softplus):
            return (
                f"{self._fn('softplus')}({a}, beta={_float(op.beta)}, "
                f"threshold={_float(op.threshold)})"
            )
        if isinstance(op, Softmax | LogSoftmax):
            axis = op.axis + 1 if op.axis >= 0 else op.axis
            return f"{self._fn(kind)}({a}, dim={_int(axis)})"
        raise unsupported_op("torch generator", kind)

    def _pool(self, op: MaxPool | AvgPool, a: str) -> str:
        (top, bottom), (left, right) = explicit_pads(op.padding)
        kernel, stride = tuple(op.kernel), tuple(op.stride)
        name = "max_pool2d" if isinstance(op, MaxPool) else "avg_pool2d"
        symmetric = (
            top == bottom and left == right and top <= kernel[0] // 2 and left <= kernel[1] // 2
        )
        if symmetric:
            padding = f", padding={_ints((top, left))}" if (top, left) != (0, 0) else ""
            return f"{self._fn(name)}({a}, {_ints(kernel)}, {_ints(stride)}{padding})"
        # Asymmetric (or wide) padding first, then the pool with none: -inf for max
        # (a pad never wins), 0 for average (padded cells count in the divisor).
        fill = ", value=-torch.inf" if isinstance(op, MaxPool) else ""
        padded = f"{self._fn('pad')}({a}, {_ints((left, right, top, bottom))}{fill})"
        return f"{self._fn(name)}({padded}, {_ints(kernel)}, {_ints(stride)})"


# Attributes of the generated layer objects (nn.Linear, nn.Conv2d, BatchNorm, nn.PReLU,
# Standardize):
# a block scope nested under a layer must not take these names.
# fmt: off
_LAYER_ATTRIBUTES = frozenset((
    "weight", "bias", "running_mean", "running_var", "in_features", "out_features",
    "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
    "padding_mode", "output_padding", "transposed", "momentum", "eps", "num_parameters",
    "init", "features", "reset_parameters", "mean", "std",
))
# fmt: on


def _tuple_of(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
