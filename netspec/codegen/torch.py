"""The PyTorch generator: a checked model as a standalone, readable ``nn.Module`` file.

The generated file imports torch only (safetensors lazily, inside its weight loader).
It computes what the in-memory backend computes by construction: both read the same
table, ``netspec.backends.torch.lowerings`` (torch-free, so generating code imports no
framework), and call the same functions. Each ``forward`` line is one call, ``y = fn(x,
weight=self.conv.weight, stride=(1, 1), ...)``, carrying the node's spec line as a comment;
``fn`` is torch's own callable (``F.relu``) or a function of ``backends/torch/nn.py``
whose source the file carries, as it carries ``Tensors``, the holder of each node's
parameters and state. Holders are nested along the dots of node names in plain
``nn.Module()`` containers, so that ``state_dict()`` keys are exactly the IR's names
and a netspec weight file loads strictly.

Nothing from a spec is evaluated or pasted as code: numbers are written with ``repr`` of
an ``int`` or a finite ``float``, names pass through :func:`identifier` (or are written
as string literals with ``repr``), and spec text appears only in comments made inert by
the context.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netspec._contract import lowering_of
from netspec.backends.torch import lowerings
from netspec.codegen._source import literal
from netspec.codegen.context import CodegenContext, identifier, inert
from netspec.errors import NetspecError
from netspec.ir import CheckedModel, CheckedNode
from netspec.lowering import definitions

# The functions every op's arithmetic is written in, read as text: importing the module
# would import torch.
NN_SOURCE = Path(lowerings.__file__).with_name("nn.py")
HOLDER = "Tensors"
FUNCTIONAL = "torch.nn.functional."
# Keyword arguments the generated module supplies itself, to functions that name them.
RUNTIME = {"training": "self.training"}
# Constant initialisers: such a parameter starts at its value; others are drawn.
CONSTANT_INITS = {"zeros": 0.0, "ones": 1.0}

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
Weights: parameters start at their constant initial value where the spec gives one,
else uniform within +-1/sqrt(fan-in) (PyTorch's default for a layer), not netspec's
draws. The model of the spec is the class with netspec's weights loaded: a file written by
`netspec train` (runs/<run>/weights.safetensors), or initial weights saved with
netspec.weights.save_weights(path, netspec.initializers.initial_params(model, seed)).
state_dict() keys are the spec's names{names}, so
load_netspec_weights(module, path) loads such a file strictly:

    model = load_netspec_weights({cls}(), "weights.safetensors").eval()
    y = {call}

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


# -- the functions the file carries ---------------------------------------------------------


def _carried(names: set[str]) -> list[str]:
    """``names`` and every definition they use, in nn.py's order."""
    found = definitions(NN_SOURCE)
    closed: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in closed:
            closed.add(name)
            stack.extend(found[name].uses)
    return sorted(closed, key=lambda name: found[name].line)


def _parameters(name: str) -> frozenset[str]:
    # torch's own callables take none of the runtime keywords.
    return definitions(NN_SOURCE)[name].parameters if "." not in name else frozenset()


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
    return f"{parent}._modules[{literal(part)}]"


# -- the writer -------------------------------------------------------------------------


class _Writer:
    def __init__(self, context: CodegenContext) -> None:
        self.context = context
        self.model: CheckedModel = context.model
        self.functional = "F" if context.class_name != "F" else "functional"
        self.uses_functional = False
        # The holder class's name, unless the model's class took it.
        self.holder = HOLDER if context.class_name != HOLDER else f"{HOLDER}Layer"
        self.calls = {
            node.name: lowering_of(lowerings.CALLS, node.op.kind, "torch generator")
            for node in self.model.nodes
        }
        self.own = {name for name, _ in self.calls.values() if "." not in name}
        self.root = _Holder("self", MODULE_ATTRIBUTES)
        self.layers: dict[str, str] = {}  # node name -> expression reaching its holder
        self.init_lines: list[str] = []
        # Locals must not shadow the module's imports or the functions the file carries.
        taken = set(RESERVED_LOCALS) | {self.functional} | set(_carried(self.own))
        self.names: dict[str, str] = {}
        for spec in self.model.inputs:
            self.names[spec.name] = identifier(spec.name, taken)
        for node in self.model.nodes:
            self.names[node.name] = identifier(node.name, taken)

    # -- assembling the file ----------------------------------------------------------

    def source(self) -> str:
        for node in self.model.nodes:
            if node.params or node.state:
                self._place(node)
        forward = self._forward()
        carried = [definitions(NN_SOURCE)[name].source for name in _carried(self.own)]
        if self.layers:
            holder = definitions(NN_SOURCE)[HOLDER].source
            carried.insert(0, holder.replace(f"class {HOLDER}(", f"class {self.holder}(", 1))
        parts = [self._docstring(), self._imports("\n".join(carried))]
        parts.extend(f"\n{text}\n" for text in carried)
        parts.append(self._class(self.init_lines, forward))
        parts.append(LOADER)
        return "\n".join(parts).rstrip() + "\n"

    def _docstring(self) -> str:
        header = self.context.header("PyTorch").rstrip()
        if not header.endswith('"""'):
            raise NetspecError("the codegen header is not a docstring")
        keys = [spec.name for spec in self.model.params] + [s.name for s in self.model.state]
        listed = inert(", ".join(keys[:2]) + (", ..." if len(keys) > 2 else ""))
        names = f" ({listed})" if keys else ""
        if len(self.model.inputs) == 1:
            shape = ", ".join(str(d) for d in self.model.input.shape)
            call = f"model(x)    # x: a float32 tensor of shape (N, {shape})"
        else:
            keywords = ", ".join(f"{self.names[n]}={self.names[n]}" for n in self.model.input_names)
            shapes = ", ".join(
                f"{self.names[spec.name]} (N, {', '.join(str(d) for d in spec.shape)})"
                for spec in self.model.inputs
            )
            call = f"model({keywords})\n    # float32 tensors: {shapes}"
        notes = DOC_NOTES.format(cls=self.context.class_name, call=call, names=names)
        if any("generator" in _parameters(name) for name in self.own):
            notes += DROPOUT_NOTE
        return header[: -len('"""')] + notes + '"""\n'

    def _imports(self, carried: str) -> str:
        # In the order isort (ruff's I001) wants.
        lines = ["import math"] if "math." in carried else []
        lines.append("")
        lines.append("import torch")
        if self.uses_functional and self.functional == "F":
            lines.append("import torch.nn.functional as F")
        lines.append("from torch import nn")
        if self.uses_functional and self.functional != "F":
            lines.append(f"from torch.nn import {self.functional}")
        return "\n".join(lines).lstrip("\n") + "\n"

    def _class(self, init: list[str], forward: list[str]) -> str:
        model = self.model
        several = len(model.inputs) > 1
        inputs = ", ".join(
            f"{spec.name} (N, {', '.join(str(d) for d in spec.shape)})" for spec in model.inputs
        )
        described = f"inputs {inputs}" if several else f"input {inputs.split(' ', 1)[1]}"
        arguments = ", ".join(f"{self.names[n]}: torch.Tensor" for n in model.input_names)
        checks: list[str] = []
        for spec in model.inputs:
            shape = tuple(spec.shape)
            expected = ", ".join(str(d) for d in shape)
            x = self.names[spec.name]
            which = f" for input {spec.name}" if several else ""
            checks += [
                f"{INDENT * 2}if tuple({x}.shape[1:]) != {literal(shape)}:",
                f"{INDENT * 3}raise ValueError(",
                f'{INDENT * 4}f"expected a batch of shape (N, {expected}){which}, '
                f'got {{tuple({x}.shape)}}"',
                f"{INDENT * 3})",
            ]
        lines = [
            "",
            f"class {self.context.class_name}(nn.Module):",
            f'{INDENT}"""The netspec model `{inert(model.name)}`: {described}, output '
            f'(N, {", ".join(str(d) for d in model.output_type.shape)})."""',
            "",
            f"{INDENT}def __init__(self) -> None:",
            f"{INDENT * 2}super().__init__()",
            *init,
            "",
            f"{INDENT}def forward(self, {'*, ' if several else ''}{arguments}) -> torch.Tensor:",
            *checks,
            *forward,
            "",
        ]
        return "\n".join(lines)

    # -- __init__: the holders of parameters and state ------------------------------------

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
        # A holder may also hold a block scope below it: its tensors' names are reserved
        # (the usual ones, and a recurrent layer's, named per layer and direction).
        own = {
            spec.attr for spec in (*self.model.params, *self.model.state) if spec.node == node.name
        }
        layer = _Holder(expression, MODULE_ATTRIBUTES | _LAYER_ATTRIBUTES | own)
        parent.children[leaf] = layer
        self.layers[node.name] = expression
        statement = f"{INDENT * 2}{expression} = {self._holder(node)}"
        self.init_lines.extend(self._with_comment(statement, node.name))

    def _holder(self, node: CheckedNode) -> str:
        params = [
            f"{literal(spec.path)}: ({literal(tuple(spec.shape))}, {literal(_fill(spec.init))})"
            for spec in self.model.params
            if spec.node == node.name
        ]
        state = [
            f"{literal(item.attr)}: ({literal(tuple(item.shape))}, {literal(float(item.fill))})"
            for item in self.model.state
            if item.node == node.name
        ]
        text = f"{self.holder}({{{', '.join(params)}}}"
        return text + (f", {{{', '.join(state)}}})" if state else ")")

    # -- forward: one line per node ---------------------------------------------------

    def _forward(self) -> list[str]:
        model = self.model
        needed = self._needed()
        readers = {name for node in model.nodes if node.name in needed for name in node.inputs}
        lines: list[str] = []
        for node in model.nodes:
            if node.name not in needed:
                lines.append(
                    f"{INDENT * 2}{self.context.comment(node.name)} -> {inert(node.name)}: "
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
        # Nodes whose value reaches the output or a node whose state moves in training
        # mode (running statistics), as in the in-memory backend, which runs every node.
        model = self.model
        by_name = {node.name: node for node in model.nodes}
        needed: set[str] = set()
        moving = [
            node.name
            for node in model.nodes
            if node.state and "training" in _parameters(self.calls[node.name][0])
        ]
        stack = [name for name in [model.output, *moving] if name in by_name]
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

    def _callable(self, name: str) -> str:
        if name.startswith(FUNCTIONAL):
            self.uses_functional = True
            return f"{self.functional}.{name.removeprefix(FUNCTIONAL)}"
        return name

    def _expression(self, node: CheckedNode) -> str:
        """The node's call: inputs, its tensors, runtime keywords, static arguments."""
        name, static = self.calls[node.name]
        args = [self.names[i] for i in node.inputs]
        layer = self.layers.get(node.name)
        if layer is not None:
            # A submodule's tensor (out_proj.weight) goes by its keyword (out_proj_weight).
            paths = [(p.attr, p.path) for p in self.model.params if p.node == node.name]
            paths += [(s.attr, s.attr) for s in self.model.state if s.node == node.name]
            args += [f"{attr}={layer}.{path}" for attr, path in paths]
        parameters = _parameters(name)
        args += [f"{key}={value}" for key, value in RUNTIME.items() if key in parameters]
        # Arguments equal to the function's own defaults are left out, as a person would.
        defaults = definitions(NN_SOURCE)[name].defaults if "." not in name else {}
        args += [
            f"{key}={literal(value)}"
            for key, value in static(node).items()
            if key not in defaults or defaults[key] != value
        ]
        return f"{self._callable(name)}({', '.join(args)})"


def _fill(init: Any) -> float | None:
    """A parameter's starting value in the generated file: its constant, or None (drawn)."""
    if init.scheme in CONSTANT_INITS:
        return CONSTANT_INITS[init.scheme]
    return float(init.value) if init.scheme == "constant" else None


# Attributes of the generated holders: a block scope nested under one must not take
# these names.
_LAYER_ATTRIBUTES = frozenset(
    (
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "mean",
        "std",
        "slope",
        "in_proj_weight",
        "in_proj_bias",
        "out_proj",
    )
)
