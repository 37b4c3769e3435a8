"""The JAX generator: a checked model as a standalone module of pure JAX functions.

The module defines ``apply(params, x, train=False, rng=None) -> (output, new_params)``,
written out op by op in IR order (each line under a comment pointing at its spec line),
``init(seed)`` and ``load_netspec_weights(path)``. ``params`` is one flat dict keyed by
the IR's names, parameters and batchnorm running statistics together, exactly as in a
netspec weight file; ``new_params`` is that dict with the running statistics a training
call moved. Each node is one call, the call the in-memory JAX backend makes: the op's
function named in ``netspec.backends.jax.lowerings`` with its static arguments written out,
either one of JAX's own callables (``jax.nn.relu``) or a function of ``nn`` whose source
the module carries, so both run the same arithmetic and the same dropout keys. ``init``
repeats netspec's NumPy draws (``netspec.initializers``), so its weights are netspec's
bit for bit. The module imports JAX and NumPy only (safetensors lazily).
"""

from __future__ import annotations

import textwrap

from netspec._contract import lowering_of
from netspec.backends.jax.lowerings import CALLS, conventions, definitions, moved_state
from netspec.codegen._shared import RESERVED, local_names, module_source, wrap
from netspec.codegen._source import literal, text
from netspec.codegen.context import CodegenContext
from netspec.ir import CheckedModel, CheckedNode
from netspec.ir.graph import INDEX_DTYPES

# The functions of ``nn`` a module may carry: their names are not for nodes either.
_RESERVED = RESERVED | {name for name, _ in CALLS.values() if "." not in name}

# JAX's own callables under the names the generated module imports.
_ALIASES = (("jax.numpy.", "jnp."), ("jax.lax.", "lax."))


def _callee(name: str) -> str:
    for prefix, alias in _ALIASES:
        if name.startswith(prefix):
            return alias + name[len(prefix) :]
    return name


class _Writer:
    """Writes ``apply`` node by node, one call of the node's lowering per node."""

    def __init__(self, context: CodegenContext) -> None:
        self.context = context
        self.model = context.model
        self.carried: dict[str, str] = {}  # function name -> source, in order of first use
        self.moved: list[str] = []  # the names of the state arrays training moves
        self.random = False  # some node draws random numbers in training
        self.var = local_names(self.model, set(_RESERVED))
        self.names = {(s.node, s.attr): s.name for s in (*self.model.params, *self.model.state)}

    def node(self, index: int, node: CheckedNode) -> str:
        """``y = fn(*inputs, weight=params[...], <static>=..., train=train)``: the same
        call as the in-memory backend makes (the convention of ``jax.lowerings``)."""
        name, static = lowering_of(CALLS, node.op.kind, "jax generator")
        if "." not in name:
            self._carry(name)
        args = [self.var[source] for source in node.inputs]
        arrays = [s for s in self.model.params if s.node == node.name]
        arrays += [s for s in self.model.state if s.node == node.name]
        args += [f"{spec.attr}=params[{text(spec.name)}]" for spec in arrays]
        args += [f"{key}={literal(value)}" for key, value in static(node).items()]
        extra = conventions(name)
        if "train" in extra:
            args.append("train=train")
        if "rng" in extra:
            self.random = True
            args += ["rng=rng", f"index={index}"]
        targets = [self.var[node.name]]
        for attr in moved_state(name, node):
            moved = self.names[(node.name, attr)]
            self.moved.append(moved)
            targets.append(f"new_params[{text(moved)}]")
        return f"{', '.join(targets)} = {_callee(name)}({', '.join(args)})"

    def _carry(self, name: str) -> None:
        """Carry the function ``name`` of nn.py (or of a module it takes in) and every one
        it calls (conv1d calls conv2d), each once."""
        if name not in self.carried:
            found = definitions()[name]
            self.carried[name] = found.source
            for used in found.uses:
                self._carry(used)

    def apply(self) -> str:
        model = self.model
        body: list[str] = []
        for index, node in enumerate(model.nodes):
            body.append(self.context.comment(node.name))
            body.append(self.node(index, node))
        stateful = bool(self.moved)
        out = self.var[model.output]
        body.append(f"return {out}, {'new_params' if stateful else 'params'}")
        first = next((spec.name for spec in (*model.params, *model.state)), None)
        # As netspec: a batch of real numbers is cast to the model's dtype (here that of
        # its arrays); anything else is refused.
        dtype = f"params[{text(first)}].dtype" if first else "jnp.result_type(float)"
        several = len(model.inputs) > 1
        setup = _input_checks(self.var, model, dtype) if several else [
            "x = jnp.asarray(x)",
            "if x.ndim != len(INPUT_SHAPE) + 1 or x.shape[1:] != INPUT_SHAPE:",
            "    raise ValueError(",
            '        f"{MODEL} expects a batch of shape (N, *{INPUT_SHAPE}), got {x.shape}"',
            "    )",
        ]  # fmt: skip
        indices = not several and model.input.dtype in INDEX_DTYPES
        if indices:
            # Indices stay integers (a traced batch cannot be range-checked here: jnp.take
            # would clamp an index past the table, so the caller keeps them in range).
            setup += [
                "if not jnp.issubdtype(x.dtype, jnp.integer):",
                '    raise ValueError(f"{MODEL} expects integer indices, got dtype {x.dtype}")',
            ]
        elif not several:
            setup += [
                "real = jnp.issubdtype(x.dtype, jnp.floating) or "
                "jnp.issubdtype(x.dtype, jnp.integer)",
                "if not real:",
                '    raise ValueError(f"{MODEL} expects real numbers, got dtype {x.dtype}")',
                f"x = x.astype({dtype})",
            ]
        if stateful:
            setup.append("new_params = dict(params)")
        out_shape = ", ".join(["N", *(str(d) for d in model.output_type.shape)])
        params_doc = [
            "``params`` holds the arrays by IR name (``init(seed)``, ``load_netspec_weights``),",
            "all in one dtype, float32 or float64; float64 needs 64-bit JAX, e.g. inside",
        ]
        if several:
            batches = ", ".join(
                f"{self.var[spec.name]} [{', '.join(['N', *map(str, spec.shape)])}]"
                for spec in model.inputs
            )
            doc = [
                f'"""The model on a batch of each input, by keyword: {batches}.',
                f"Returns (output [{out_shape}], new_params).",
                "",
                *params_doc,
                "``with jax.enable_x64(True):``. Each batch of real numbers is cast to that "
                "dtype; a batch of indices stays integer.",
            ]
        else:
            shape = ", ".join(["N", *(str(d) for d in model.input.shape)])
            doc = [
                f'"""The model on a batch x [{shape}]: returns (output [{out_shape}], new_params).',
                "",
                *params_doc,
                "``with jax.enable_x64(True):``. "
                + (
                    "``x`` holds integer indices, each a row of its embedding's table."
                    if indices
                    else "``x`` (real numbers) is cast to that dtype."
                ),
            ]
        if stateful:
            doc += [
                "``train=True``: batchnorm normalises with batch statistics, and ``new_params``",
                "is ``params`` with the running statistics moved (one update per call);",
                "``train=False`` uses the running statistics and ``new_params`` equals ``params``.",
            ]
        elif not model.state:
            doc.append("The model has no state: ``new_params`` is ``params`` itself.")
        else:
            doc.append("No state moves: ``new_params`` is ``params`` itself.")
        # State that no call moves (a standardize node's statistics).
        moved = set(self.moved)
        fixed = [f"``params[{text(spec.name)}]``" for spec in model.state if spec.name not in moved]
        if fixed:
            sentence = (
                f"{', '.join(fixed)}: statistics of the training data, which no call moves "
                "and no gradient reaches."
            )
            doc += textwrap.wrap(sentence, 88, break_long_words=False, break_on_hyphens=False)
        if self.random:
            doc += [
                "In training, dropout draws its masks from ``rng``, a JAX key",
                "(``jax.random.key(seed)``), which training mode then requires.",
            ]
        doc += [
            "",
            'Pure and jit-able: ``jax.jit(apply, static_argnames="train")``; differentiate',
            "with ``jax.grad`` over ``params``.",
            '"""',
        ]
        signature = (
            f"params, *, {', '.join(self.var[n] for n in model.input_names)}, train=False, rng=None"
            if several
            else "params, x, train=False, rng=None"
        )
        lines = [
            f"def apply({signature}):",
            *(f"    {line}" if line else "" for line in doc + setup + wrap(body, 4)),
        ]
        return "\n".join(lines) + "\n"


def _input_checks(var: dict[str, str], model: CheckedModel, dtype: str) -> list[str]:
    """For a model of several inputs: each batch as a JAX array of the params' dtype
    (integer indices stay integer), checked against its input's shape; the batch sizes
    must agree."""
    lines: list[str] = []
    for spec in model.inputs:
        v, key = var[spec.name], text(spec.name)
        lines += [
            f"{v} = jnp.asarray({v})",
            f"expected = INPUT_SHAPES[{key}]",
            f"if {v}.ndim != len(expected) + 1 or {v}.shape[1:] != expected:",
            "    raise ValueError(",
            '        f"{MODEL} expects a batch of shape (N, *{expected}) for "',
            f'        f"input {spec.name}, got {{{v}.shape}}"',
            "    )",
        ]  # fmt: skip
        if spec.dtype in INDEX_DTYPES:
            lines += [
                f"if not jnp.issubdtype({v}.dtype, jnp.integer):",
                "    raise ValueError(",
                f'        f"{{MODEL}} expects integer indices, got dtype {{{v}.dtype}}"',
                "    )",
            ]  # fmt: skip
            continue
        lines += [
            f"real = jnp.issubdtype({v}.dtype, jnp.floating) or "
            f"jnp.issubdtype({v}.dtype, jnp.integer)",
            "if not real:",
            f'    raise ValueError(f"{{MODEL}} expects real numbers, got dtype {{{v}.dtype}}")',
            f"{v} = {v}.astype({dtype})",
        ]  # fmt: skip
    sizes = ", ".join(f"{var[name]}.shape[0]" for name in model.input_names)
    lines += [
        f"if len({{{sizes}}}) != 1:",
        '    raise ValueError(f"{MODEL} expects one batch size for every input")',
    ]
    return lines


def generate(context: CodegenContext) -> str:
    """The source of a standalone JAX module for ``context.model``."""
    writer = _Writer(context)
    apply = writer.apply()  # which also collects the functions the module carries
    model = context.model
    loading = (
        "#     params = load_netspec_weights(path)   # or init(seed=0): netspec's initial weights"
    )
    if len(model.inputs) > 1:
        keywords = ", ".join(f"{writer.var[name]}={writer.var[name]}" for name in model.input_names)
        usage = [
            "# Use:",
            loading,
            f"#     y, _ = apply(params, {keywords})",
            "#     # each input: [N, *INPUT_SHAPES[name]]",
            '#     fast = jax.jit(apply, static_argnames="train")',
        ]
    else:
        usage = [
            "# Use:",
            loading,
            "#     y, _ = apply(params, x)               # x: [N, *INPUT_SHAPE]",
            "#     y, params = apply(params, x, train=True, rng=jax.random.key(0))",
            '#     fast = jax.jit(apply, static_argnames="train")',
        ]
    returns = "NumPy arrays, which JAX takes as they are"
    code = "".join(f"\n\n{source}" for source in [*writer.carried.values(), apply])
    return module_source(context, "JAX", returns, code, usage)
