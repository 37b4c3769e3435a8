"""The NumPy kernels a generated NumPy module may carry, as source templates.

Each is the in-memory NumPy backend's formula (netspec.backends.numpy) written as a plain
function, or that function's own source copied with inspect.getsource; ``KERNELS`` maps a
kernel's name to its source and the kernels it calls, so a module carries only what it uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from netspec.backends.numpy import _activations, _conv, _erf
from netspec.codegen._source import constants, function_source

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
        constants(_erf, _ERF_CONSTANTS),
    ]
    parts += ["\n\n" + function_source(fn) for fn in (*functions, _erf.erf)]
    return "".join(parts)


def _weight_grad_source() -> str:
    return (
        "\n# Bytes of per-sample weight gradients held at once before they are summed.\n"
        + constants(_conv, ("_WEIGHT_GRAD_BUDGET",))
        + "\n\n"
        + function_source(_conv._weight_grad)
    )


# name -> (source, kernels it calls)
KERNELS: dict[str, tuple[Callable[[], str], tuple[str, ...]]] = {
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
    "sigmoid": (lambda: "\n\n" + function_source(_activations.sigmoid), ()),
    "softmax": (lambda: _SOFTMAX, ()),
    "log_softmax": (lambda: "\n\n" + function_source(_activations.log_softmax) + _LOG_SOFTMAX, ()),
    "elu": (lambda: _ELU, ()),
    "erf": (_erf_source, ()),
    "gelu": (lambda: _GELU, ("erf",)),
    "gelu_tanh": (lambda: _GELU_TANH, ()),
    "softplus": (lambda: _SOFTPLUS, ()),
    "prelu": (lambda: _PRELU, ()),
}
