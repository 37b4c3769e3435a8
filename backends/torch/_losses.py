"""The training losses and per-parameter penalties, in torch.

Targets arrive already checked by :func:`netspec._contract.check_targets`: class indices are int64,
everything else has the output's shape and dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from netspec.ir.train import (
    BinaryCrossEntropy,
    HalfSumSquaredError,
    LossSpec,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)


def data_loss(output: torch.Tensor, target: torch.Tensor, loss: LossSpec) -> torch.Tensor:
    """The mean loss of a batch, as a 0-d tensor."""
    if isinstance(loss, SoftmaxCrossEntropy):
        weight = None
        if loss.class_weights is not None:
            weight = torch.tensor(loss.class_weights, dtype=output.dtype, device=output.device)
        # Stable log-sum-exp inside; integer targets average with the class weights of
        # the labels as divisor, probability targets over the batch, as PyTorch does.
        return F.cross_entropy(output, target, weight=weight)
    if isinstance(loss, BinaryCrossEntropy):
        return F.binary_cross_entropy_with_logits(output, target)
    if isinstance(loss, MeanSquaredError):
        return F.mse_loss(output, target)
    if isinstance(loss, HalfSumSquaredError):
        return 0.5 * torch.sum((output - target) ** 2) / output.shape[0]
    if isinstance(loss, MeanAbsoluteError):
        return F.l1_loss(output, target)
    raise NotImplementedError(f"the torch backend has no loss {loss.kind!r}")


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
