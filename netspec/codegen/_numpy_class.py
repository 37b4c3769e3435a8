"""The class of a generated NumPy module: construction, input checks and the methods."""

from __future__ import annotations

from netspec._contract import index_ranges
from netspec.codegen._source import INDENT, text
from netspec.codegen.context import CodegenContext, inert
from netspec.ir import CheckedModel
from netspec.ir.graph import INDEX_DTYPES, Input


def indent(lines: list[str], levels: int = 1) -> list[str]:
    """``lines`` indented by ``levels``; blank lines stay empty."""
    pad = INDENT * levels
    return [f"{pad}{line}" if line else "" for line in lines]


def class_source(
    context: CodegenContext, forward: list[str], backward: list[str], dropout: bool
) -> str:
    """The model's class: construction and input checks around the ``forward`` and
    ``backward`` methods written node by node; ``dropout`` gives it a mask generator."""
    model = context.model
    shape = (
        ", ".join(["N", *(str(d) for d in model.input.shape)])
        if len(model.inputs) == 1
        else "; ".join(
            f"{spec.name}: {', '.join(['N', *(str(d) for d in spec.shape)])}"
            for spec in model.inputs
        )
    )
    out_shape = ", ".join(["N", *(str(d) for d in model.output_type.shape)])
    lines = [
        f"class {context.class_name}:",
        f'    """The model ``{_inert(model.name)}`` in NumPy: ``forward`` and a hand-written',
        "    ``backward``.",
        "",
        f'    ``{context.class_name}(weights=None, *, seed=0, dtype="float32")`` takes the',
        "    parameters and state by IR name (from ``load_netspec_weights(path)`` or",
        "    ``init(seed)``); without them it draws netspec's initial weights for ``seed``.",
        "    All arithmetic happens in ``dtype`` (float32 or float64).",
    ]
    lines += [
        f"    ``forward(x, train=False)`` maps a batch [{shape}] to [{out_shape}];",
        "    ``backward(grad_output)`` then returns the parameter gradients by IR name and",
        "    the input gradient. ``params`` and ``state`` hold the arrays by IR name.",
    ] if len(model.inputs) == 1 else [
        "    ``forward(*, <each input>, train=False)`` takes a batch of each input by keyword",
        f"    ([{shape}]) to [{out_shape}]; ``backward(grad_output)`` then returns the",
        "    parameter gradients by IR name and each input's gradient by input name.",
        "    ``params`` and ``state`` hold the arrays by IR name.",
    ]  # fmt: skip
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
    ] if len(model.inputs) == 1 else [
        "    def _batch(self, x, name):",
        "        x = np.asarray(x)",
        "        expected = INPUT_SHAPES[name]",
        "        if x.ndim != len(expected) + 1 or x.shape[1:] != expected or not len(x):",
        "            raise ValueError(",
        '                f"{MODEL} expects a batch of shape (N, *{expected}), N >= 1, "',
        '                f"for input {name}, got {x.shape}"',
        "            )",
    ]  # fmt: skip
    lines += [
        *_batch_dtype(model),
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
        *indent(forward),
        "",
        *indent(backward),
    ]
    return "\n".join(lines) + "\n"


def _batch_dtype(model: CheckedModel) -> list[str]:
    """The batch's dtype check: real numbers cast to the model's dtype or, for an integer
    input, integer indices each a row of every embedding they reach (for a model of
    several inputs, each integer input by name)."""
    real = [
        "        real = np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)",
        "        if not real:",
        '            raise ValueError(f"{MODEL} expects real numbers, got dtype {x.dtype}")',
        "        return x.astype(self.dtype, copy=False)",
    ]
    if len(model.inputs) == 1:
        integer = model.input.dtype in INDEX_DTYPES
        return _indices(model, model.input, 0, "") if integer else real
    lines: list[str] = []
    for spec in model.inputs:
        if spec.dtype in INDEX_DTYPES:
            check = _indices(model, spec, 1, " for input {name}")
            lines += [f"        if name == {text(spec.name)}:", *check]
    return [*lines, *real]


def _indices(model: CheckedModel, spec: Input, levels: int, which: str) -> list[str]:
    """The check of an integer input's batch: integer indices, each a row of every
    embedding the input reaches, kept in the input's integer dtype; ``which`` names the
    input in the messages of a model of several."""
    rows = min((num for _, num in index_ranges(model, spec.name)), default=None)
    lines = [
        "        if not np.issubdtype(x.dtype, np.integer):",
        "            raise ValueError(",
        f'                f"{{MODEL}} expects integer indices{which}, got dtype {{x.dtype}}"',
        "            )",
    ]
    if rows is not None:
        lines += [
            f"        if x.min() < 0 or x.max() >= {rows}:",
            "            raise ValueError(",
            f'                f"{{MODEL}} takes indices 0..{rows - 1}{which}, "',
            '                f"got {x.min()}..{x.max()}"',
            "            )",
        ]
    lines.append(f"        return x.astype(np.{spec.dtype}, copy=False)")
    return [INDENT * levels + line for line in lines]


def _inert(value: str) -> str:
    """Spec text made safe inside a docstring: one line, no quotes or backslashes."""
    return inert(value).replace('"', "'")
