"""The NumPy generator: a checked model as a standalone NumPy module.

The module holds one class, named after the model, with ``forward(x, train=False)`` and
a hand-written ``backward(grad_output)``, plus ``init(seed)`` (netspec's initial weights)
and ``load_netspec_weights(path)``. Every node is written out in IR order, forward and
in reverse for the backward, each under a comment pointing at its spec line. The
kernels are those of the in-memory NumPy backend (``netspec.backends.numpy``): the
self-contained functions (erf, the chunked weight gradient, sigmoid, log_softmax) are
copied with ``inspect.getsource``, the rest are the same formulas written as plain
functions; only the kernels the model uses are emitted. The module imports NumPy only.

The parts every generator that draws NumPy weights needs (``number``, ``init_source``,
``weights_source``, ``RESERVED``) are shared with :mod:`netspec.codegen.jax`.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from netspec.backends.numpy import _activations, _conv, _erf
from netspec.codegen.context import CodegenContext, identifier
from netspec.initializers import _orthogonal, fans
from netspec.ir import CheckedModel, CheckedNode, explicit_pads
from netspec.ir import init as schemes
from netspec.ir import ops as ir

# Names the generated functions read or bind themselves, so never given to a node: the
# imports and module constants, the locals, builtins (a node called `dict` must not
# shadow it), `_` (the value of nodes nothing reads) and l / O / I, which E741 rejects.
# The names of the helper functions are added below, where they are defined.
# fmt: off
_RESERVED_BASE = frozenset({
    "np", "math", "jax", "jnp", "lax", "erf", "sliding_window_view", "HIGHEST", "MODEL",
    "INPUT_SHAPE", "OUTPUT_SHAPE", "PARAM_SHAPES", "STATE_SHAPES", "init", "apply",
    "load_netspec_weights", "self", "params", "state", "saved", "new_params", "grads",
    "grad_output", "train", "rng", "seed", "dtype", "x", "dx", "parts", "key", "real", "_",
    "l", "O", "I",
}) | frozenset(dir(builtins))
# fmt: on

_INDENT = "    "
# Generated lines are kept to this width where a line can be split.
_WIDTH = 99


def number(value: float | int | bool) -> str:
    """A Python literal for a number from the IR: repr, with inf and nan spelt out."""
    if isinstance(value, bool | int):
        return repr(value)
    value = float(value)
    if math.isnan(value):
        return 'float("nan")'
    if math.isinf(value):
        return 'float("inf")' if value > 0 else '-float("inf")'
    return repr(value)


def text(value: str) -> str:
    """A string literal for a name from the IR, double-quoted where that is plain."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return repr(value)


def shape_literal(shape: tuple[int, ...]) -> str:
    """``(3,)``, ``(2, 3)``: a tuple literal of ints."""
    items = ", ".join(str(int(d)) for d in shape)
    return f"({items},)" if len(shape) == 1 else f"({items})"


def _packed(items: list[str], indent: int) -> list[str]:
    """Comma-terminated items packed onto lines that fit the width after ``indent``."""
    rows: list[str] = []
    row = ""
    for item in items:
        piece = f"{item},"
        if row and indent + len(row) + 1 + len(piece) > _WIDTH:
            rows.append(row)
            row = piece
        else:
            row = f"{row} {piece}" if row else piece
    return [*rows, row] if row else rows


def _sequence(head: str, items: list[str], indent: int, brackets: str = "[]") -> list[str]:
    """``head[a, b, ...]`` on one line, or wrapped over several when it is too long."""
    flat = f"{head}{brackets[0]}{', '.join(items)}{brackets[1]}"
    if indent + len(flat) <= _WIDTH:
        return [flat]
    rows = [f"    {row}" for row in _packed(items, indent + 4)]
    return [f"{head}{brackets[0]}", *rows, brackets[1]]


def _function_source(fn: Callable[..., object]) -> str:
    """The source of a top-level function of netspec, to copy into a generated module."""
    return inspect.getsource(fn).rstrip() + "\n"


def _constants(module: object, names: tuple[str, ...]) -> str:
    """``NAME = value`` for module constants (numbers, tuples of floats), wrapped."""
    out = []
    for name in names:
        value = getattr(module, name)
        if isinstance(value, tuple):
            out += _sequence(f"{name} = ", [repr(v) for v in value], 0, "()")
        else:
            out.append(f"{name} = {value!r}")
    return "\n".join(out) + "\n"


# -- shared: constants, the weight loader and the initialiser ------------------------------


def constants_source(model: CheckedModel) -> str:
    """Module constants: the model's name, shapes and every array's name and shape."""
    lines = [
        f"MODEL = {text(model.name)}",
        "# Shapes are per sample; a batch adds a leading axis N.",
        f"INPUT_SHAPE = {shape_literal(model.input.shape)}",
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


def _draw(init: object, shape: tuple[int, ...]) -> tuple[list[str], str, bool]:
    """Lines before, the expression drawing one parameter (float64), whether math is used.

    Every expression is the one netspec.initializers.draw evaluates, with the fans filled
    in, so that the same generator state gives the same bits.
    """
    size = shape_literal(shape)
    fan_in, fan_out = fans(shape)
    if isinstance(init, schemes.Zeros):
        return [], f"np.zeros({size})", False
    if isinstance(init, schemes.Ones):
        return [], f"np.ones({size})", False
    if isinstance(init, schemes.Constant):
        return [], f"np.full({size}, {number(init.value)}, dtype=np.float64)", False
    if isinstance(init, schemes.Normal):
        return [], f"rng.normal({number(init.mean)}, {number(init.std)}, size={size})", False
    if isinstance(init, schemes.Uniform):
        return [], f"rng.uniform({number(init.low)}, {number(init.high)}, size={size})", False
    if isinstance(init, schemes.XavierNormal):
        std = f"std = {number(init.gain)} * math.sqrt(2.0 / ({fan_in} + {fan_out}))"
        return [std], f"rng.normal(0.0, std, size={size})", True
    if isinstance(init, schemes.XavierUniform):
        bound = f"bound = {number(init.gain)} * math.sqrt(6.0 / ({fan_in} + {fan_out}))"
        return [bound], f"rng.uniform(-bound, bound, size={size})", True
    if isinstance(init, schemes.HeNormal):
        fan = fan_in if init.mode == "fan_in" else fan_out
        return [f"std = math.sqrt(2.0 / {fan})"], f"rng.normal(0.0, std, size={size})", True
    if isinstance(init, schemes.HeUniform):
        fan = fan_in if init.mode == "fan_in" else fan_out
        return [f"bound = math.sqrt(6.0 / {fan})"], f"rng.uniform(-bound, bound, size={size})", True
    if isinstance(init, schemes.LecunNormal):
        return [f"std = math.sqrt(1.0 / {fan_in})"], f"rng.normal(0.0, std, size={size})", True
    if isinstance(init, schemes.Orthogonal):
        return [], f"{number(init.gain)} * _orthogonal({size}, rng)", False
    if isinstance(init, schemes.LiteralValues):
        values = _sequence("values = ", [number(v) for v in init.values], 4)
        return values, f"np.asarray(values, dtype=np.float64).reshape({size})", False
    raise NotImplementedError(f"no code for the init scheme {init!r}")


def _describe(init: object, shape: tuple[int, ...]) -> str:
    """The fans a scheme reads, for a comment; empty for schemes that read none."""
    if not isinstance(
        init,
        schemes.XavierNormal
        | schemes.XavierUniform
        | schemes.HeNormal
        | schemes.HeUniform
        | schemes.LecunNormal,
    ):
        return ""
    fan_in, fan_out = fans(shape)
    return f"{init.scheme}: fan_in = {fan_in}, fan_out = {fan_out}"


def init_source(context: CodegenContext, returns: str = "NumPy arrays") -> InitSource:
    """``init(seed=0, dtype="float32")``: netspec's initial weights, bit for bit."""
    model = context.model
    body: list[str] = []
    uses_rng = needs_math = orthogonal = False
    last_node = None
    for spec in model.params:
        if spec.node != last_node:
            body.append(context.comment(spec.node))
            last_node = spec.node
        before, expr, uses_math = _draw(spec.init, spec.shape)
        needs_math |= uses_math
        uses_rng |= "rng" in expr
        orthogonal |= isinstance(spec.init, schemes.Orthogonal)
        described = _describe(spec.init, spec.shape)
        if described:
            body.append(f"# {described}")
        body += before
        if " * " in expr:
            expr = f"({expr})"
        body.append(f"arrays[{text(spec.name)}] = {expr}.astype(dtype)")
    for state in model.state:
        body.append(
            f"arrays[{text(state.name)}] = np.full({shape_literal(state.shape)}, "
            f"{number(state.fill)}, dtype=dtype)"
        )
    setup = ["rng = np.random.Generator(np.random.PCG64(seed))"] if uses_rng else []
    lines = [
        'def init(seed=0, dtype="float32"):',
        '    """netspec\'s initial parameters and state for ``seed``, by IR name.',
        "",
        "    netspec draws initial weights once, with NumPy (netspec.initializers): one",
        "    numpy.random.Generator(PCG64(seed)) consumed parameter by parameter in IR order,",
        "    values drawn in float64, then cast to ``dtype``. This function makes the same",
        "    draws in the same order with the same formulas, so its arrays are bit-identical",
        "    to netspec's for the same seed and dtype; state starts at its fill.",
        f"    Returns {returns}.",
        '    """',
        *(f"    {line}" for line in setup),
        "    arrays = {}",
        *(f"    {line}" for line in wrap(body, 4)),
        "    return arrays",
    ]
    helpers = [_function_source(_orthogonal)] if orthogonal else []
    return InitSource("\n".join(lines) + "\n", needs_math=needs_math, helpers=helpers)


# -- the kernels, as source ----------------------------------------------------------------

_GEOMETRY = '''
def _pad(x, pads, fill):
    """``x`` [N, C, H, W] padded with ``fill``; ``pads`` is ((top, bottom), (left, right))."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, channels, height, width = x.shape
    xp = np.full((n, channels, height + top + bottom, width + left + right), fill, dtype=x.dtype)
    xp[:, :, top : top + height, left : left + width] = x
    return xp


def _offset(i, j, stride, dilation, out_h, out_w):
    """The strided slices of the padded input that kernel offset (i, j) reads."""
    h0, w0 = i * dilation[0], j * dilation[1]
    return (
        slice(h0, h0 + stride[0] * (out_h - 1) + 1, stride[0]),
        slice(w0, w0 + stride[1] * (out_w - 1) + 1, stride[1]),
    )


def _padded_zeros(in_shape, n, pads, dtype):
    """A zero gradient for the padded input of a batch of ``n`` samples [C, H, W]."""
    (top, bottom), (left, right) = pads
    channels, height, width = in_shape
    return np.zeros((n, channels, height + top + bottom, width + left + right), dtype=dtype)


def _unpad(dxp, in_shape, pads):
    """The gradient of the input, given that of the padded input (padding's is dropped)."""
    (top, _), (left, _) = pads
    return dxp[:, :, top : top + in_shape[1], left : left + in_shape[2]]
'''

_CONV_FORWARD = '''
def _conv2d_forward(x, weight, bias, stride, pads, dilation, groups):
    """Grouped, strided, dilated cross-correlation (as PyTorch) through im2col.

    The columns are [N, G, C/G * KH * KW, OH * OW], so one broadcast matmul with the
    weight [G, F/G, C/G * KH * KW] gives the output in NCHW. Returns (y, columns).
    """
    n = x.shape[0]
    filters, _, kh, kw = weight.shape
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    xp = _pad(x, pads, 0.0)
    out_h = (xp.shape[2] - span_h) // stride[0] + 1
    out_w = (xp.shape[3] - span_w) // stride[1] + 1
    k = weight[0].size
    if (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and xp is x:
        # A 1x1, stride 1, unpadded convolution is a matmul over channels: no columns.
        cols = x.reshape(n, groups, k, out_h * out_w)
    else:
        windows = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
        windows = windows[:, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]
        cols = np.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3))
        cols = cols.reshape(n, groups, k, out_h * out_w)
    y = np.matmul(weight.reshape(groups, filters // groups, k), cols)
    y = y.reshape(n, filters, out_h, out_w)
    if bias is not None:
        y += bias[:, None, None]
    return y, cols
'''

_CONV_BACKWARD = '''
def _conv2d_backward(dy, cols, weight, in_shape, stride, pads, dilation, groups):
    """Gradients of conv2d: (dx, dweight). dx is the transposed convolution (col2im)."""
    n, filters, out_h, out_w = dy.shape
    _, _, kh, kw = weight.shape
    k = weight[0].size
    dy4 = dy.reshape(n, groups, filters // groups, out_h * out_w)
    dweight = _weight_grad(dy4, cols).reshape(weight.shape)
    dcols = np.matmul(weight.reshape(groups, filters // groups, k).swapaxes(-1, -2), dy4)
    if (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and not any(pads[0] + pads[1]):
        return dcols.reshape(n, *in_shape), dweight
    dcols6 = dcols.reshape(n, in_shape[0], kh, kw, out_h, out_w)
    dxp = _padded_zeros(in_shape, n, pads, dy.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _offset(i, j, stride, dilation, out_h, out_w)
            dxp[:, :, rows, columns] += dcols6[:, :, i, j]
    return _unpad(dxp, in_shape, pads), dweight
'''

_MAXPOOL_FORWARD = '''
def _maxpool_forward(x, kernel, stride, pads):
    """Max pooling over the -inf padded input; returns (y, index of each window's max).

    The index moves only on a strictly greater value, so ties go to the first maximum in
    row-major window order; a window holding NaN outputs NaN and points at its last NaN
    (PyTorch's CPU kernel).
    """
    xp = _pad(x, pads, -np.inf)
    out_h = (xp.shape[2] - kernel[0]) // stride[0] + 1
    out_w = (xp.shape[3] - kernel[1]) // stride[1] + 1
    offsets = [
        (slice(None), slice(None), *_offset(i, j, stride, (1, 1), out_h, out_w))
        for i in range(kernel[0])
        for j in range(kernel[1])
    ]
    best = xp[offsets[0]].copy()
    arg = np.zeros(best.shape, dtype=np.int16)
    for k, offset in enumerate(offsets[1:], start=1):
        v = xp[offset]
        greater = v > best
        np.maximum(best, v, out=best)  # NaN propagates
        arg += greater * (k - arg)
    if np.isnan(best).any():
        for k, offset in enumerate(offsets):
            arg[np.isnan(xp[offset])] = k
    return best, arg
'''

_MAXPOOL_BACKWARD = '''
def _maxpool_backward(dy, arg, in_shape, kernel, stride, pads):
    """Each window's gradient goes to the cell ``arg`` points at; overlaps add."""
    n, _, out_h, out_w = dy.shape
    dxp = _padded_zeros(in_shape, n, pads, dy.dtype)
    disjoint = stride[0] >= kernel[0] and stride[1] >= kernel[1]
    for k in range(kernel[0] * kernel[1]):
        i, j = divmod(k, kernel[1])
        offset = (slice(None), slice(None), *_offset(i, j, stride, (1, 1), out_h, out_w))
        share = arg == k
        if disjoint:
            np.multiply(dy, share, out=dxp[offset])
        else:
            dxp[offset] += dy * share
    return _unpad(dxp, in_shape, pads)
'''

_AVGPOOL_FORWARD = '''
def _avgpool_forward(x, kernel, stride, pads):
    """Average pooling with zero padding; the divisor is always KH * KW (padded cells
    count, PyTorch's count_include_pad=True)."""
    xp = _pad(x, pads, 0.0)
    out_h = (xp.shape[2] - kernel[0]) // stride[0] + 1
    out_w = (xp.shape[3] - kernel[1]) // stride[1] + 1
    total = xp[(slice(None), slice(None), *_offset(0, 0, stride, (1, 1), out_h, out_w))].copy()
    for k in range(1, kernel[0] * kernel[1]):
        i, j = divmod(k, kernel[1])
        total += xp[(slice(None), slice(None), *_offset(i, j, stride, (1, 1), out_h, out_w))]
    total *= 1.0 / (kernel[0] * kernel[1])
    return total
'''

_AVGPOOL_BACKWARD = '''
def _avgpool_backward(dy, in_shape, kernel, stride, pads):
    """Each window adds dy / (KH * KW) to each of its cells; padding's share is dropped."""
    n, _, out_h, out_w = dy.shape
    share = dy * (1.0 / (kernel[0] * kernel[1]))
    dxp = _padded_zeros(in_shape, n, pads, dy.dtype)
    for k in range(kernel[0] * kernel[1]):
        i, j = divmod(k, kernel[1])
        dxp[(slice(None), slice(None), *_offset(i, j, stride, (1, 1), out_h, out_w))] += share
    return _unpad(dxp, in_shape, pads)
'''

_BATCHNORM_FORWARD = '''
def _batchnorm_forward(x, weight, bias, running_mean, running_var, train, momentum, eps):
    """Batch normalisation per feature ([N, F]) or per channel ([N, C, H, W]).

    Training normalises with the batch mean and biased variance and moves the running
    statistics in place, towards the mean and the unbiased variance (PyTorch's rule);
    evaluation uses the running statistics. Returns (y, cache for the backward).
    """
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if not train:
        invstd = 1.0 / np.sqrt(running_var + eps)
        xhat = (x - running_mean.reshape(shape)) * invstd.reshape(shape)
    else:
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(
                "batchnorm in training needs more than one value per channel, got input "
                f"shape {x.shape}; use a batch of 2 or more, or train=False"
            )
        mean = x.mean(axis=axes)
        centred = x - mean.reshape(shape)
        var = np.mean(centred * centred, axis=axes)
        invstd = 1.0 / np.sqrt(var + eps)
        xhat = centred * invstd.reshape(shape)
        running_mean *= 1.0 - momentum
        running_mean += momentum * mean
        running_var *= 1.0 - momentum
        running_var += (momentum * count / (count - 1)) * var
    y = xhat if weight is None else xhat * weight.reshape(shape) + bias.reshape(shape)
    return y, (xhat, invstd, train)
'''

_BATCHNORM_BACKWARD = '''
def _batchnorm_backward(dy, cache, weight):
    """Gradients of batchnorm: (dx, dweight, dbias); the last two are None without affine."""
    xhat, invstd, batch_stats = cache
    axes = (0, *range(2, dy.ndim))
    shape = (1, -1) + (1,) * (dy.ndim - 2)
    dweight = dbias = None
    dxhat = dy
    if weight is not None:
        dweight = np.sum(dy * xhat, axis=axes)
        dbias = dy.sum(axis=axes)
        dxhat = dy * weight.reshape(shape)
    if not batch_stats:
        return dxhat * invstd.reshape(shape), dweight, dbias
    # The batch mean and variance depend on x too: project out their two directions.
    count = dy.size // dy.shape[1]
    mean_d = dxhat.sum(axis=axes).reshape(shape) * (1.0 / count)
    mean_dx = np.sum(dxhat * xhat, axis=axes).reshape(shape) * (1.0 / count)
    return (dxhat - mean_d - xhat * mean_dx) * invstd.reshape(shape), dweight, dbias
'''

_DROPOUT = '''
def _dropout(x, p, rng, train):
    """Inverted dropout: (y, scale), scale None in evaluation (the identity).

    A unit is kept when a float32 uniform draw u in [0, 1) has u >= p; kept units are
    scaled by 1 / (1 - p). The masks use the model's own generator.
    """
    if not train:
        return x, None
    if p >= 1.0:
        scale = np.zeros_like(x)
    else:
        keep = rng.random(x.shape, dtype=np.float32) >= np.float32(p)
        scale = keep.astype(x.dtype)
        scale *= 1.0 / (1.0 - p)
    return x * scale, scale


def _dropout_backward(dy, scale):
    """dy through the kept units, scaled as they were; the identity in evaluation."""
    return dy if scale is None else dy * scale
'''

_SOFTMAX = '''
def _softmax(x, axis):
    """exp(x - max) / sum(exp(x - max)) along ``axis``."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _softmax_backward(dy, y, axis):
    """y * (dy - sum(dy * y)) along ``axis``."""
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))
'''

_LOG_SOFTMAX = '''

def _log_softmax_backward(dy, y, axis):
    """dy - exp(y) * sum(dy) along ``axis``."""
    return dy - np.exp(y) * dy.sum(axis=axis, keepdims=True)
'''

_GLOBAL_AVGPOOL_BACKWARD = '''
def _global_avgpool_backward(dy, in_shape):
    """dy / (H * W) broadcast over H and W."""
    channels, height, width = in_shape
    share = dy.reshape(-1, channels, 1, 1) * (1.0 / (height * width))
    return np.broadcast_to(share, (dy.shape[0], *in_shape)).copy()
'''

_ELU = '''
def _elu_forward(x, alpha):
    """x where x > 0, else alpha (e^x - 1); returns (y, cache)."""
    negative = np.expm1(np.minimum(x, 0)) * alpha
    return np.where(x > 0, x, negative), (x, negative)


def _elu_backward(dy, cache, alpha):
    """d/dx alpha (e^x - 1) = alpha e^x = negative + alpha; alpha at 0, as PyTorch."""
    x, negative = cache
    return np.where(x > 0, dy, dy * (negative + alpha))
'''

_GELU = f'''
def _gelu_forward(x):
    """x * Phi(x), Phi(x) = (1 + erf(x / sqrt(2))) / 2, with erf in float64 rounded once
    to the dtype of x; returns (y, cache)."""
    cdf = (0.5 * (1.0 + erf(x.astype(np.float64) * {1.0 / math.sqrt(2.0)!r}))).astype(x.dtype)
    return x * cdf, (x, cdf)


def _gelu_backward(dy, cache):
    """Phi(x) + x phi(x), phi the standard normal density."""
    x, cdf = cache
    pdf = np.exp(-0.5 * x * x) * {1.0 / math.sqrt(2.0 * math.pi)!r}
    return dy * (cdf + x * pdf)
'''

_GELU_TANH = f'''
def _gelu_tanh_forward(x):
    """PyTorch's tanh approximation: x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2."""
    t = np.tanh({math.sqrt(2.0 / math.pi)!r} * (x + 0.044715 * x * x * x))
    return 0.5 * x * (1.0 + t), (x, t)


def _gelu_tanh_backward(dy, cache):
    x, t = cache
    du = {math.sqrt(2.0 / math.pi)!r} * (1.0 + 3.0 * 0.044715 * x * x)
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
'''

_SOFTPLUS = '''
def _softplus_forward(x, beta, threshold):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch)."""
    bx = x * beta
    linear = bx > threshold
    # exp only sees clipped values, so the linear region cannot overflow.
    z = np.exp(np.minimum(bx, threshold))
    return np.where(linear, x, np.log1p(z) * (1.0 / beta)), (linear, z)


def _softplus_backward(dy, cache):
    linear, z = cache
    return np.where(linear, dy, dy * z / (z + 1.0))
'''

_PRELU = '''
def _prelu_forward(x, slope, shape):
    """max(0, x) + a min(0, x), the slope ``a`` broadcast to ``shape``; returns (y, cache)."""
    negative = np.minimum(x, 0)
    return np.maximum(x, 0) + slope.reshape(shape) * negative, (negative, x > 0)


def _prelu_backward(dy, cache, slope, shape, axes):
    """Gradients of prelu: (dx, dslope); x = 0 takes the slope branch, as PyTorch."""
    negative, positive = cache
    dslope = np.sum(negative * dy, axis=axes).reshape(slope.shape)
    return dy * positive + (dy * slope.reshape(shape)) * ~positive, dslope
'''

_ERF_CONSTANTS = (
    "_THRESHOLD",
    "_SQRT_PI_INV",
    "_XSMALL",
    "_XBIG",
    "_A",
    "_B",
    "_C",
    "_D",
    "_P",
    "_Q",
)


def _erf_source() -> str:
    functions = (_erf._erf_small, _erf._exp_minus_square, _erf._erfc_middle, _erf._erfc_large)
    parts = [
        "\n# erf in float64 after W. J. Cody's rational approximations (Math. Comp. 23, 1969),"
        "\n# as in netspec's NumPy backend: NumPy has no erf.\n",
        _constants(_erf, _ERF_CONSTANTS),
    ]
    parts += ["\n\n" + _function_source(fn) for fn in (*functions, _erf.erf)]
    return "".join(parts)


def _weight_grad_source() -> str:
    return (
        "\n# Bytes of per-sample weight gradients held at once before they are summed.\n"
        + _constants(_conv, ("_WEIGHT_GRAD_BUDGET",))
        + "\n\n"
        + _function_source(_conv._weight_grad)
    )


# name -> (source, kernels it calls)
_KERNELS: dict[str, tuple[Callable[[], str], tuple[str, ...]]] = {
    "geometry": (lambda: _GEOMETRY, ()),
    "weight_grad": (_weight_grad_source, ()),
    "conv2d_forward": (lambda: _CONV_FORWARD, ("geometry",)),
    "conv2d_backward": (lambda: _CONV_BACKWARD, ("geometry", "weight_grad")),
    "maxpool_forward": (lambda: _MAXPOOL_FORWARD, ("geometry",)),
    "maxpool_backward": (lambda: _MAXPOOL_BACKWARD, ("geometry",)),
    "avgpool_forward": (lambda: _AVGPOOL_FORWARD, ("geometry",)),
    "avgpool_backward": (lambda: _AVGPOOL_BACKWARD, ("geometry",)),
    "global_avgpool_backward": (lambda: _GLOBAL_AVGPOOL_BACKWARD, ()),
    "batchnorm_forward": (lambda: _BATCHNORM_FORWARD, ()),
    "batchnorm_backward": (lambda: _BATCHNORM_BACKWARD, ()),
    "dropout": (lambda: _DROPOUT, ()),
    "sigmoid": (lambda: "\n\n" + _function_source(_activations.sigmoid), ()),
    "softmax": (lambda: _SOFTMAX, ()),
    "log_softmax": (lambda: "\n\n" + _function_source(_activations.log_softmax) + _LOG_SOFTMAX, ()),
    "elu": (lambda: _ELU, ()),
    "erf": (_erf_source, ()),
    "gelu": (lambda: _GELU, ("erf",)),
    "gelu_tanh": (lambda: _GELU_TANH, ()),
    "softplus": (lambda: _SOFTPLUS, ()),
    "prelu": (lambda: _PRELU, ()),
}


def defined_names(source: str) -> set[str]:
    """The names of the functions a piece of generated source defines."""
    return set(re.findall(r"^def (\w+)\(", source, flags=re.MULTILINE))


RESERVED = (
    _RESERVED_BASE
    | {name for source, _ in _KERNELS.values() for name in defined_names(source())}
    | {"_check_weights", "_orthogonal"}
)


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
        raise NotImplementedError(f"the numpy generator has no code for op {op.kind!r}")

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
        raise NotImplementedError(f"the numpy generator has no code for op {op.kind!r}")

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


def wrap(lines: list[str], indent: int) -> list[str]:
    """Lines of the form ``target = f(args)`` longer than the width, with their arguments
    packed onto continuation lines; other lines as they are."""
    out: list[str] = []
    for line in lines:
        split = _split_call(line) if indent + len(line) > _WIDTH else None
        if split is None:
            out.append(line)
            continue
        head, args = split
        out += [f"{head}(", *(f"    {row}" for row in _packed(args, indent + 4)), ")"]
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


def _indent(lines: list[str], levels: int = 1) -> list[str]:
    pad = _INDENT * levels
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
    return " ".join(value.split()).replace("\\", "/").replace('"', "'")


def _kernel_sources(used: set[str]) -> list[str]:
    order = list(_KERNELS)
    needed: set[str] = set()
    stack = list(used)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(_KERNELS[name][1])
    return [_KERNELS[name][0]() for name in order if name in needed]


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
