"""The training losses and per-parameter penalties, in torch.

Targets arrive already checked by :func:`netspec._contract.check_targets`: class indices are int64,
everything else has the output's shape and dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from netspec.ir.train import LossSpec

LossFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def _cross_entropy(output: torch.Tensor, target: torch.Tensor, loss: Any) -> torch.Tensor:
    weight = None
    if loss.class_weights is not None:
        weight = torch.tensor(loss.class_weights, dtype=output.dtype, device=output.device)
    # Stable log-sum-exp inside; integer targets average with the class weights of the
    # labels as divisor, probability targets over the batch, as PyTorch does. Classes are
    # on the last axis: an output [N, T, V] is read as N * T rows of V classes.
    classes = output.shape[-1]
    rows = target.reshape(-1) if target.dim() == output.dim() - 1 else target.reshape(-1, classes)
    return F.cross_entropy(output.reshape(-1, classes), rows, weight=weight)


# The mean loss of a batch, as a 0-d tensor, by loss kind.
LOSSES: dict[str, LossFn] = {
    "softmax_cross_entropy": _cross_entropy,
    "binary_cross_entropy": lambda y, t, _: F.binary_cross_entropy_with_logits(y, t),
    "mse": lambda y, t, _: F.mse_loss(y, t),
    "half_sse": lambda y, t, _: 0.5 * torch.sum((y - t) ** 2) / y.shape[0],
    "l1": lambda y, t, _: F.l1_loss(y, t),
}


def data_loss(output: torch.Tensor, target: torch.Tensor, loss: LossSpec) -> torch.Tensor:
    """The mean loss of a batch, as a 0-d tensor."""
    return LOSSES[loss.kind](output, target, loss)


def penalty(terms: list[tuple[torch.Tensor, float, float]]) -> torch.Tensor | None:
    """``sum 0.5 * l2 * sum(W^2) + l1 * sum(|W|)`` over ``(W, l2, l1)``; None when empty."""
    total: torch.Tensor | None = None
    for weight, l2, l1 in terms:
        if l2:
            term = 0.5 * l2 * torch.sum(weight * weight)
            total = term if total is None else total + term
        if l1:
            term = l1 * torch.sum(torch.abs(weight))
            total = term if total is None else total + term
    return total
