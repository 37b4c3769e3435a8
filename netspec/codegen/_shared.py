"""What every generator that writes NumPy-drawn weights shares: the module's layout,
constants, the weight loader, ``init`` (netspec's initial weights, bit for bit), the
variables of nodes and names they must not take, and the source tidying (imports,
wrapping, blank lines).

Used by :mod:`netspec.codegen.numpy` and :mod:`netspec.codegen.jax`.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netspec import initializers
from netspec.codegen._source import (
    WIDTH,
    function_source,
    literal,
    number,
    packed,
    sequence,
    shape_literal,
    text,
)
from netspec.codegen.context import CodegenContext, identifier
from netspec.initializers import drawer, fans
from netspec.ir import CheckedModel

# imports and module constants, the locals, builtins (a node called `dict` must not
# shadow it), `_` (the value of nodes nothing reads) and l / O / I, which E741 rejects.
# fmt: off
_RESERVED_BASE = frozenset({
    "np", "math", "jax", "jnp", "lax", "erf", "sliding_window_view", "HIGHEST", "MODEL",
    "INPUT_SHAPE", "INPUT_SHAPES", "OUTPUT_SHAPE", "PARAM_SHAPES", "STATE_SHAPES", "init", "apply",
    "load_netspec_weights", "self", "params", "state", "saved", "new_params", "grads",
    "grad_output", "train", "rng", "seed", "dtype", "x", "dx", "parts", "key", "real", "_",
    "expected",
    "l", "O", "I",
}) | frozenset(dir(builtins))
# fmt: on

# The helpers every such module defines; a generator adds the names of its own functions.
RESERVED = (
    _RESERVED_BASE
    | {"_check_weights", "fans"}
    | {name for name in dir(initializers) if name.startswith("draw_")}
)


def local_names(model: CheckedModel, taken: set[str]) -> dict[str, str]:
    """The variable of each input (``x`` for a model of one input; of several, the
    input's name as an identifier, which is also its keyword argument) and of each node:
    a node whose value nothing reads still runs (dropout draws, running statistics move)
    and assigns ``_``."""
    read = {name for node in model.nodes for name in node.inputs} | {model.output}
    if len(model.inputs) == 1:
        names = {model.inputs[0].name: "x"}
    else:
        names = {spec.name: identifier(spec.name, taken) for spec in model.inputs}
    for node in model.nodes:
        names[node.name] = identifier(node.name, taken) if node.name in read else "_"
    return names


def module_source(
    context: CodegenContext, framework: str, returns: str, code: str, usage: list[str]
) -> str:
    """A whole generated module: docstring, imports, the ``usage`` comment, constants,
    the weight loader, ``init`` (which returns ``returns``) and the target's ``code``."""
    initializer = init_source(context, returns)
    body = "".join(
        [
            constants_source(context.model),
            "\n",
            weights_source(),
            *("\n\n" + helper for helper in initializer.helpers),
            "\n\n",
            initializer.function,
            code,
        ]
    )
    comment = "\n".join(usage)
    return tidy(f"{context.header(framework)}\n{imports_for(body)}\n{comment}\n\n{body}")


# -- shared: constants, the weight loader and the initialiser ------------------------------


def constants_source(model: CheckedModel) -> str:
    """Module constants: the model's name, shapes and every array's name and shape."""
    lines = [
        f"MODEL = {text(model.name)}",
        "# Shapes are per sample; a batch adds a leading axis N.",
        *(
            [f"INPUT_SHAPE = {shape_literal(model.input.shape)}"]
            if len(model.inputs) == 1
            else [
                "INPUT_SHAPES = {",
                *(f"    {text(s.name)}: {shape_literal(s.shape)}," for s in model.inputs),
                "}",
            ]
        ),
        f"OUTPUT_SHAPE = {shape_literal(model.output_type.shape)}",
        "# The arrays of the model by IR name, the keys of netspec weight files, in IR order.",
    ]
    for title, specs in (("PARAM_SHAPES", model.params), ("STATE_SHAPES", model.state)):
        if not specs:
            lines.append(f"{title} = {{}}")
            continue
        lines.append(f"{title} = {{")
        lines += [f"    {text(spec.name)}: {shape_literal(spec.shape)}," for spec in specs]
        lines.append("}")
    return "\n".join(lines) + "\n"


def weights_source() -> str:
    """``_check_weights`` and ``load_netspec_weights``; safetensors is imported lazily."""
    return '''
def _check_weights(arrays, source):
    """Raise ValueError naming every missing, unexpected or misshapen array."""
    expected = {**PARAM_SHAPES, **STATE_SHAPES}
    problems = [f"missing {name}" for name in expected if name not in arrays]
    problems += [f"unexpected {name}" for name in arrays if name not in expected]
    problems += [
        f"{name} has shape {tuple(arrays[name].shape)}, expected {shape}"
        for name, shape in expected.items()
        if name in arrays and tuple(arrays[name].shape) != shape
    ]
    if problems:
        raise ValueError(
            f"{source} do not fit model {MODEL!r}: " + "; ".join(problems)
        )


def load_netspec_weights(path):
    """The parameters and state of a netspec weight file, by IR name, as NumPy arrays.

    netspec writes weights as safetensors (``netspec train``, ``netspec.weights``); reading
    them needs the safetensors package, which is imported here only.
    """
    try:
        from safetensors.numpy import load_file
    except ImportError as error:
        raise ImportError(
            "load_netspec_weights reads safetensors files and needs the safetensors "
            "package: pip install safetensors"
        ) from error
    arrays = load_file(str(path))
    _check_weights(arrays, f"the weights in {path}")
    return {name: arrays[name] for name in (*PARAM_SHAPES, *STATE_SHAPES)}
'''


@dataclass
class InitSource:
    """The generated ``init`` function and the module-level code it needs."""

    function: str
    needs_math: bool = False
    helpers: list[str] = field(default_factory=list)


def _draw(init: Any, shape: tuple[int, ...]) -> tuple[list[str], str, Callable[..., Any]]:
    """Lines before, the call drawing one parameter (float64), and the function called:
    the one :func:`netspec.initializers.draw` calls, so the same generator state gives
    the same bits. A long argument (literal values) gets a line of its own."""
    fn, fields = drawer(init)
    before: list[str] = []
    args = [shape_literal(shape), "rng"]
    for name, value in fields.items():
        source = literal(value)
        if len(source) > 40 and isinstance(value, tuple):
            before += sequence(f"{name} = ", [literal(item) for item in value], 4)
            source = name
        args.append(f"{name}={source}")
    return before, f"{fn.__name__}({', '.join(args)})", fn


def init_source(context: CodegenContext, returns: str = "NumPy arrays") -> InitSource:
    """``init(seed=0, dtype="float32")``: netspec's initial weights, bit for bit. The
    draws are calls to :mod:`netspec.initializers`' own functions, carried as helpers."""
    model = context.model
    body: list[str] = []
    used: list[Callable[..., Any]] = []
    last_node = None
    for spec in model.params:
        if spec.node != last_node:
            body.append(context.comment(spec.node))
            last_node = spec.node
        before, call, fn = _draw(spec.init, spec.shape)
        if "fans" in fn.__code__.co_names:
            fan_in, fan_out = fans(spec.shape)
            body.append(f"# {spec.init.scheme}: fan_in = {fan_in}, fan_out = {fan_out}")
        if fn not in used:
            used.append(fn)
        body += before
        if spec.zero_rows:
            # The padding row of an embedding is zeroed after the draw, as netspec does.
            body.append(f"value = {call}")
            body.append(f"value[{list(spec.zero_rows)}] = 0.0")
            body.append(f"arrays[{text(spec.name)}] = value.astype(dtype)")
        else:
            body.append(f"arrays[{text(spec.name)}] = {call}.astype(dtype)")
    for state in model.state:
        body.append(
            f"arrays[{text(state.name)}] = np.full({shape_literal(state.shape)}, "
            f"{number(state.fill)}, dtype=dtype)"
        )
    setup = ["rng = np.random.Generator(np.random.PCG64(seed))"] if used else []
    lines = [
        'def init(seed=0, dtype="float32"):',
        '    """netspec\'s initial parameters and state for ``seed``, by IR name.',
        "",
        "    netspec draws initial weights once, with NumPy (netspec.initializers): one",
        "    numpy.random.Generator(PCG64(seed)) consumed parameter by parameter in IR order,",
        "    values drawn in float64, then cast to ``dtype``. This function makes the same",
        "    draws in the same order with the same functions, so its arrays are bit-identical",
        "    to netspec's for the same seed and dtype; state starts at its fill.",
        f"    Returns {returns}.",
        '    """',
        *(f"    {line}" for line in setup),
        "    arrays = {}",
        *(f"    {line}" for line in wrap(body, 4)),
        "    return arrays",
    ]
    needs_fans = any("fans" in fn.__code__.co_names for fn in used)
    helpers = [function_source(fn) for fn in ([fans] if needs_fans else []) + used]
    needs_math = any("math" in fn.__code__.co_names for fn in (*used, fans))
    return InitSource("\n".join(lines) + "\n", needs_math=needs_math, helpers=helpers)


# -- tidying the source ------------------------------------------------------------------


def wrap(lines: list[str], indent: int) -> list[str]:
    """Lines of the form ``target = f(args)`` longer than the width, with their arguments
    packed onto continuation lines; other lines as they are."""
    out: list[str] = []
    for line in lines:
        split = _split_call(line) if indent + len(line) > WIDTH else None
        if split is None:
            out.append(line)
            continue
        head, args = split
        out += [f"{head}(", *(f"    {row}" for row in packed(args, indent + 4)), ")"]
    return out


def _split_call(line: str) -> tuple[str, list[str]] | None:
    """(``target = f``, [arguments]) when ``line`` is one call ending the line."""
    start = line.find("(", line.find(" = ") + 1 if " = " in line else 0)
    if start <= 0 or not line.endswith(")") or line.lstrip().startswith("#"):
        return None
    depth, args, begin, quote = 0, [], start + 1, ""
    for index in range(start, len(line)):
        char = line[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0 and index != len(line) - 1:
                return None
        elif char == "," and depth == 1:
            args.append(line[begin:index].strip())
            begin = index + 1
    tail = line[begin:-1].strip()
    if tail:
        args.append(tail)
    return line[:start], args


# name -> (import line, section: 0 standard library, 1 third party), in isort's order.
_IMPORTS = {
    "math": ("import math", 0),
    "jax": ("import jax", 1),
    "jnp": ("import jax.numpy as jnp", 1),
    "np": ("import numpy as np", 1),
    "lax": ("from jax import lax", 1),
    "erf": ("from jax.scipy.special import erf", 1),
    "sliding_window_view": ("from numpy.lib.stride_tricks import sliding_window_view", 1),
}


def imports_for(code: str) -> str:
    """The import block for the modules ``code`` reads and does not define itself."""
    tree = ast.parse(code)
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    read = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    sections: tuple[list[str], list[str]] = ([], [])
    for name, (line, section) in _IMPORTS.items():
        if name in read and name not in defined:
            sections[section].append(line)
    return "\n\n".join("\n".join(block) for block in sections if block) + "\n"


def tidy(source: str) -> str:
    """Trailing spaces stripped, at most two blank lines in a row, exactly two before a
    top-level def or class (unless a comment sits right above it), one final newline."""
    out: list[str] = []
    blanks = 0
    for raw in source.splitlines():
        line = raw.rstrip()
        if not line:
            blanks += 1
            continue
        if out:
            count = min(blanks, 2)
            top_level = not line.startswith((" ", ")", "]", "}"))
            definition = line.startswith(("def ", "class ")) and not out[-1].startswith("#")
            if definition or (top_level and out[-1].startswith(" ") and blanks):
                count = 2
            out.extend([""] * count)
        blanks = 0
        out.append(line)
    return "\n".join(out) + "\n"
