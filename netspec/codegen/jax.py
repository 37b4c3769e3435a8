"""The JAX generator: a checked model as a standalone module of pure JAX functions.

The module defines ``apply(params, x, train=False, rng=None) -> (output, new_params)``,
written out op by op in IR order (each line under a comment pointing at its spec line),
``init(seed)`` and ``load_netspec_weights(path)``. ``params`` is one flat dict keyed by
the IR's names, parameters and batchnorm running statistics together, exactly as in a
netspec weight file; ``new_params`` is that dict with the running statistics a training
call moved. The lowering of every op is that of the in-memory JAX backend
(``netspec.backends.jax._ops``): ``lax.conv_general_dilated`` with explicit asymmetric
pads, ``lax.reduce_window`` for pools, the erf GELU, the same dropout keys. ``init``
repeats netspec's NumPy draws (``netspec.initializers``), so its weights are netspec's
bit for bit. The module imports JAX and NumPy only (safetensors lazily).
"""

from __future__ import annotations

from netspec._contract import unsupported_op
from netspec.codegen._shared import (
    RESERVED,
    constants_source,
    defined_names,
    imports_for,
    init_source,
    tidy,
    weights_source,
    wrap,
)
from netspec.codegen._source import number, text
from netspec.codegen.context import CodegenContext, identifier
from netspec.ir import CheckedNode, explicit_pads
from netspec.ir import ops as ir

_BATCHNORM = '''
def _batchnorm(x, weight, bias, running_mean, running_var, train, momentum, eps):
    """Batch normalisation per feature ([N, F]) or per channel ([N, C, H, W]).

    Training normalises with the batch mean and biased variance and returns the running
    statistics moved towards the mean and the unbiased variance (PyTorch's rule);
    evaluation uses the running statistics and returns them unchanged.
    Returns (y, running_mean, running_var).
    """
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if train:
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(
                "batchnorm in training needs more than one value per channel, got input "
                f"shape {x.shape}; use a batch of 2 or more, or train=False"
            )
        mean = jnp.mean(x, axis=axes)
        centred = x - mean.reshape(shape)
        var = jnp.mean(centred * centred, axis=axes)  # biased: used to normalise
        unbiased = lax.stop_gradient(var) * (count / (count - 1))
        running_mean = (1 - momentum) * running_mean + momentum * lax.stop_gradient(mean)
        running_var = (1 - momentum) * running_var + momentum * unbiased
    else:
        mean, var = running_mean, running_var
        centred = x - mean.reshape(shape)
    y = centred * lax.rsqrt(var + eps).reshape(shape)
    if weight is not None:
        y = y * weight.reshape(shape) + bias.reshape(shape)
    return y, running_mean, running_var
'''

_DROPOUT = '''
def _dropout(x, p, rng, index):
    """Inverted dropout in training: keep where a float32 uniform u >= p, scale by
    1 / (1 - p). Each dropout node folds its position in the model into ``rng``, so its
    masks do not depend on the other nodes (as netspec's JAX backend)."""
    if rng is None:
        raise ValueError(
            "dropout in training mode needs a random key: apply(..., rng=jax.random.key(0))"
        )
    key = jax.random.fold_in(rng, index)
    keep = jax.random.uniform(key, x.shape, dtype=jnp.float32) >= p
    return x * (keep.astype(x.dtype) / (1.0 - p))
'''

_SOFTPLUS = '''
def _softplus(x, beta, threshold):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch).

    exp only sees the other side, so neither branch can overflow and put a NaN into the
    gradient through jnp.where.
    """
    scaled = x * beta
    above = scaled > threshold
    safe = jnp.where(above, 0.0, scaled)
    return jnp.where(above, x, jnp.log1p(jnp.exp(safe)) / beta)
'''


# The generated helpers' names are not for nodes either.
_RESERVED = (
    RESERVED | defined_names(_BATCHNORM) | defined_names(_DROPOUT) | defined_names(_SOFTPLUS)
)


def _batch_axis(axis: int) -> int:
    return axis + 1 if axis >= 0 else axis


def _window(op: ir.MaxPool | ir.AvgPool) -> str:
    (top, bottom), (left, right) = explicit_pads(op.padding)
    dims = (1, 1, *op.kernel)
    strides = (1, 1, *op.stride)
    pads = ((0, 0), (0, 0), (top, bottom), (left, right))
    return f"{dims}, {strides}, {pads}"


class _Writer:
    """Writes ``apply`` node by node; collects the helpers it calls."""

    def __init__(self, context: CodegenContext) -> None:
        self.context = context
        self.model = context.model
        self.helpers: set[str] = set()
        taken = set(_RESERVED)
        read = {name for node in self.model.nodes for name in node.inputs} | {self.model.output}
        self.var = {self.model.input.name: "x"}
        for node in self.model.nodes:
            # A node whose value nothing reads still runs (dropout keys, batchnorm state).
            self.var[node.name] = identifier(node.name, taken) if node.name in read else "_"
        self.shapes: dict[str, tuple[int, ...]] = {self.model.input.name: self.model.input.shape}
        for node in self.model.nodes:
            self.shapes[node.name] = node.output.shape
        self.names = {(s.node, s.attr): s.name for s in (*self.model.params, *self.model.state)}

    def p(self, node: CheckedNode, attr: str) -> str:
        return f"params[{text(self.names[(node.name, attr)])}]"

    def node(self, index: int, node: CheckedNode) -> list[str]:
        op = node.op
        y = self.var[node.name]
        xs = [self.var[name] for name in node.inputs]
        x = xs[0]
        if isinstance(op, ir.Dense):
            lines = [f"{y} = jnp.matmul({x}, {self.p(node, 'weight')}.T, precision=HIGHEST)"]
            if op.bias:
                lines.append(f"{y} = {y} + {self.p(node, 'bias')}")
            return lines
        if isinstance(op, ir.Conv2d):
            lines = [
                f"{y} = lax.conv_general_dilated(",
                f"    {x},",
                f"    {self.p(node, 'weight')},",
                f"    window_strides={op.stride},",
                f"    padding={explicit_pads(op.padding)},",
                f"    rhs_dilation={op.dilation},",
                '    dimension_numbers=("NCHW", "OIHW", "NCHW"),',
                f"    feature_group_count={op.groups},",
                "    precision=HIGHEST,",
                ")",
            ]
            if op.bias:
                lines.append(f"{y} = {y} + {self.p(node, 'bias')}[None, :, None, None]")
            return lines
        if isinstance(op, ir.MaxPool):
            # -inf padding: a padded cell never wins, as in PyTorch.
            return [f"{y} = lax.reduce_window({x}, -jnp.inf, lax.max, {_window(op)})"]
        if isinstance(op, ir.AvgPool):
            # Zero padding summed and divided by the whole window: count_include_pad=True.
            cells = op.kernel[0] * op.kernel[1]
            return [
                f"{y} = lax.reduce_window({x}, 0.0, lax.add, {_window(op)})",
                f"{y} = {y} / {cells}",
            ]
        if isinstance(op, ir.GlobalAvgPool):
            axes = tuple(range(2, len(self.shapes[node.inputs[0]]) + 1))
            return [f"{y} = jnp.mean({x}, axis={axes})"]
        if isinstance(op, ir.BatchNorm):
            self.helpers.add("batchnorm")
            mean = text(self.names[(node.name, "running_mean")])
            var = text(self.names[(node.name, "running_var")])
            weight = self.p(node, "weight") if op.affine else "None"
            bias = self.p(node, "bias") if op.affine else "None"
            return [
                f"{y}, new_params[{mean}], new_params[{var}] = _batchnorm("
                f"{x}, {weight}, {bias}, params[{mean}], params[{var}], train, "
                f"momentum={number(op.momentum)}, eps={number(op.eps)})"
            ]
        if isinstance(op, ir.Standardize):
            # Fixed statistics: no gradient reaches them, so jax.grad leaves them alone.
            mean, std = self.p(node, "mean"), self.p(node, "std")
            return [f"{y} = ({x} - lax.stop_gradient({mean})) / lax.stop_gradient({std})"]
        if isinstance(op, ir.Dropout):
            if op.p == 0.0:
                return [f"{y} = {x}  # p = 0: the identity"]
            if op.p >= 1.0:
                return [f"{y} = jnp.zeros_like({x}) if train else {x}  # p = 1: all dropped"]
            self.helpers.add("dropout")
            return [f"{y} = _dropout({x}, {number(op.p)}, rng, {index}) if train else {x}"]
        if isinstance(op, ir.Flatten | ir.Reshape):
            size = ", ".join(str(d) for d in node.output.shape)
            return [f"{y} = {x}.reshape(({x}.shape[0], {size}))"]
        if isinstance(op, ir.Add):
            return [f"{y} = {' + '.join(xs)}"]
        if isinstance(op, ir.Multiply):
            return [f"{y} = {' * '.join(xs)}"]
        if isinstance(op, ir.Concat):
            return [f"{y} = jnp.concatenate(({', '.join(xs)}), axis={_batch_axis(op.axis)})"]
        return [f"{y} = {self.activation(node, x)}"]

    def activation(self, node: CheckedNode, x: str) -> str:
        op = node.op
        if isinstance(op, ir.Identity):
            return x
        if isinstance(op, ir.Step):
            # A comparison has no derivative path: the gradient is zero everywhere.
            return f"({x} > 0).astype({x}.dtype)"
        if isinstance(op, ir.Sigmoid):
            return f"jax.nn.sigmoid({x})"
        if isinstance(op, ir.Tanh):
            return f"jnp.tanh({x})"
        if isinstance(op, ir.Relu):
            # jax.nn.relu has PyTorch's gradient 0 at 0 (jnp.maximum would give 0.5).
            return f"jax.nn.relu({x})"
        if isinstance(op, ir.LeakyRelu):
            return f"jnp.where({x} > 0, {x}, {x} * {number(op.negative_slope)})"
        if isinstance(op, ir.Prelu):
            slope = self.p(node, "weight")
            if op.per_channel:
                rank = len(self.shapes[node.inputs[0]])
                slope = f"{slope}.reshape({(-1, *(1,) * (rank - 1))})"
            return f"jnp.where({x} > 0, {x}, {slope} * {x})"
        if isinstance(op, ir.Elu):
            return f"jax.nn.elu({x}, alpha={number(op.alpha)})"
        if isinstance(op, ir.Gelu):
            if op.approximate == "tanh":
                return f"jax.nn.gelu({x}, approximate=True)"
            # The erf form, as PyTorch writes it; 0.7071... is sqrt(0.5).
            return f"0.5 * {x} * (1.0 + erf({x} * {number(0.5**0.5)}))"
        if isinstance(op, ir.Softplus):
            self.helpers.add("softplus")
            return f"_softplus({x}, {number(op.beta)}, {number(op.threshold)})"
        if isinstance(op, ir.Softmax):
            return f"jax.nn.softmax({x}, axis={_batch_axis(op.axis)})"
        if isinstance(op, ir.LogSoftmax):
            return f"jax.nn.log_softmax({x}, axis={_batch_axis(op.axis)})"
        raise unsupported_op("jax generator", op.kind)

    def apply(self) -> str:
        model = self.model
        body: list[str] = []
        for index, node in enumerate(model.nodes):
            body.append(self.context.comment(node.name))
            body += self.node(index, node)
        # Only batchnorm moves state; a standardize node's statistics stay as they are.
        stateful = any(isinstance(node.op, ir.BatchNorm) for node in model.nodes)
        out = self.var[model.output]
        body.append(f"return {out}, {'new_params' if stateful else 'params'}")
        first = next((spec.name for spec in (*model.params, *model.state)), None)
        # As netspec: a batch of real numbers is cast to the model's dtype (here that of
        # its arrays); anything else is refused.
        dtype = f"params[{text(first)}].dtype" if first else "jnp.result_type(float)"
        setup = [
            "x = jnp.asarray(x)",
            "if x.ndim != len(INPUT_SHAPE) + 1 or x.shape[1:] != INPUT_SHAPE:",
            "    raise ValueError(",
            '        f"{MODEL} expects a batch of shape (N, *{INPUT_SHAPE}), got {x.shape}"',
            "    )",
            "real = jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)",
            "if not real:",
            '    raise ValueError(f"{MODEL} expects real numbers, got dtype {x.dtype}")',
            f"x = x.astype({dtype})",
        ]
        if stateful:
            setup.append("new_params = dict(params)")
        shape = ", ".join(["N", *(str(d) for d in model.input.shape)])
        out_shape = ", ".join(["N", *(str(d) for d in model.output_type.shape)])
        doc = [
            f'"""The model on a batch x [{shape}]: returns (output [{out_shape}], new_params).',
            "",
            "``params`` holds the arrays by IR name (``init(seed)``, ``load_netspec_weights``),",
            "all in one dtype, float32 or float64; float64 needs 64-bit JAX, e.g. inside",
            "``with jax.enable_x64(True):``. ``x`` (real numbers) is cast to that dtype.",
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
        standardize = next((n for n in model.nodes if isinstance(n.op, ir.Standardize)), None)
        if standardize is not None:
            mean, std = (self.names[(standardize.name, a)] for a in ("mean", "std"))
            doc += [
                f"``params[{text(mean)}]`` and ``params[{text(std)}]`` hold the training",
                "data's input statistics: x is raw data, standardised first, and no gradient",
                "reaches them.",
            ]
        if "dropout" in self.helpers:
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
        lines = [
            "def apply(params, x, train=False, rng=None):",
            *(f"    {line}" if line else "" for line in doc + setup + wrap(body, 4)),
        ]
        return "\n".join(lines) + "\n"


def generate(context: CodegenContext) -> str:
    """The source of a standalone JAX module for ``context.model``."""
    model = context.model
    writer = _Writer(context)
    apply = writer.apply()
    initializer = init_source(context, "NumPy arrays, which JAX takes as they are")
    uses_matmul = any(isinstance(n.op, ir.Dense | ir.Conv2d) for n in model.nodes)
    precision = (
        "\n# Full precision for matmuls and convolutions: on GPUs JAX may otherwise use TF32\n"
        "# for float32; netspec computes everything in the model's dtype.\n"
        "HIGHEST = lax.Precision.HIGHEST\n"
        if uses_matmul
        else ""
    )
    helpers = [
        source
        for name, source in (
            ("batchnorm", _BATCHNORM),
            ("dropout", _DROPOUT),
            ("softplus", _SOFTPLUS),
        )
        if name in writer.helpers
    ]
    body = "".join(
        [
            constants_source(model),
            precision,
            "\n",
            weights_source(),
            *("\n\n" + helper for helper in initializer.helpers),
            "\n\n",
            initializer.function,
            *helpers,
            "\n\n",
            apply,
        ]
    )
    usage = [
        "# Use:",
        "#     params = load_netspec_weights(path)   # or init(seed=0): netspec's initial weights",
        "#     y, _ = apply(params, x)               # x: [N, *INPUT_SHAPE]",
        "#     y, params = apply(params, x, train=True, rng=jax.random.key(0))",
        '#     fast = jax.jit(apply, static_argnames="train")',
    ]
    return tidy(
        context.header("JAX") + "\n" + imports_for(body) + "\n" + "\n".join(usage) + "\n\n" + body
    )
