"""The NumPy backend's fused training step against torch.optim: weights and buffers.

The other backends are held to this one, and the step's statistics and saved state are
tested on every backend, in test_contract.py and test_contract_training.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_numpy_support import assert_close, build

from netspec.backends.numpy import BACKEND
from netspec.ir import CheckedModel, Regularize
from netspec.ir import ops as ir
from netspec.ir.train import (
    Adagrad,
    Adam,
    AdamW,
    ClipSpec,
    OptimizerSpec,
    Rmsprop,
    Sgd,
    SoftmaxCrossEntropy,
)

STEPS = 20
LR = 0.05


def _model() -> CheckedModel:
    return build(
        (4,),
        ir.Dense(units=6, regularize=Regularize(l2=0.01, max_norm=0.9)),
        ir.Tanh(),
        ir.Dense(units=3, regularize=Regularize(l1=0.002)),
    )


def _batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((8, 4)), rng.integers(0, 3, 8)) for _ in range(STEPS)]


def _torch_optimizer(spec: OptimizerSpec, params: list, lr: float):  # type: ignore[no-untyped-def]
    import torch

    if isinstance(spec, Sgd):
        return torch.optim.SGD(
            params, lr=lr, momentum=spec.momentum, dampening=spec.dampening, nesterov=spec.nesterov
        )
    if isinstance(spec, Adagrad):
        return torch.optim.Adagrad(
            params,
            lr=lr,
            lr_decay=spec.lr_decay,
            eps=spec.eps,
            initial_accumulator_value=spec.initial_accumulator_value,
        )
    if isinstance(spec, Rmsprop):
        return torch.optim.RMSprop(
            params,
            lr=lr,
            alpha=spec.alpha,
            eps=spec.eps,
            momentum=spec.momentum,
            centered=spec.centered,
        )
    if isinstance(spec, AdamW):
        return torch.optim.AdamW(
            params,
            lr=lr,
            betas=(spec.beta1, spec.beta2),
            eps=spec.eps,
            weight_decay=spec.weight_decay,
            amsgrad=spec.amsgrad,
        )
    assert isinstance(spec, Adam)
    return torch.optim.Adam(
        params, lr=lr, betas=(spec.beta1, spec.beta2), eps=spec.eps, amsgrad=spec.amsgrad
    )


OPTIMIZERS: list[tuple[str, OptimizerSpec, ClipSpec | None]] = [
    ("sgd", Sgd(lr=LR), None),
    ("momentum_dampening", Sgd(lr=LR, momentum=0.9, dampening=0.3), None),
    ("nesterov", Sgd(lr=LR, momentum=0.9, nesterov=True), ClipSpec(by="norm", threshold=0.5)),
    ("adagrad", Adagrad(lr=LR, lr_decay=0.01, initial_accumulator_value=0.1), None),
    ("rmsprop", Rmsprop(lr=0.01), ClipSpec(by="value", threshold=0.05)),
    ("rmsprop_centered_momentum", Rmsprop(lr=0.01, momentum=0.5, centered=True), None),
    ("adam", Adam(lr=0.01), None),
    ("adam_amsgrad", Adam(lr=0.01, amsgrad=True), ClipSpec(by="norm", threshold=0.2)),
    ("adamw", AdamW(lr=0.01, weight_decay=0.1), None),
]


@pytest.mark.parametrize(("label", "spec", "clip"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_twenty_steps_match_torch_optim(
    label: str, spec: OptimizerSpec, clip: ClipSpec | None
) -> None:
    torch = pytest.importorskip("torch")
    from test_numpy_vs_torch import _torch_loss, _torch_op

    model = _model()
    compiled = BACKEND.compile(model, dtype="float64", seed=2)
    step = compiled.train_step(SoftmaxCrossEntropy(), spec, clip)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in compiled.parameters().items()}
    optimizer = _torch_optimizer(spec, list(params.values()), spec.lr)
    for x, t in _batches():
        step.step(x, t, spec.lr)
        optimizer.zero_grad()
        h = torch.from_numpy(x)
        for node in model.nodes:
            own = {s.attr: params[s.name] for s in model.params if s.node == node.name}
            h = _torch_op(node.op, [h], own, {}, True)
        total = _torch_loss(h, t, SoftmaxCrossEntropy())
        for s in model.params:
            total = total + 0.5 * s.regularize.l2 * (params[s.name] ** 2).sum()
            total = total + s.regularize.l1 * params[s.name].abs().sum()
        total.backward()
        if clip is not None and clip.by == "norm":
            torch.nn.utils.clip_grad_norm_(list(params.values()), clip.threshold)
        elif clip is not None:
            torch.nn.utils.clip_grad_value_(list(params.values()), clip.threshold)
        optimizer.step()
        with torch.no_grad():
            for s in model.params:
                if s.regularize.max_norm is not None:
                    w = params[s.name]
                    w.copy_(torch.renorm(w, 2, 0, s.regularize.max_norm))
    got = compiled.parameters()
    for name, want in params.items():
        assert_close(
            f"{label}: {name} after {STEPS} steps", got[name], want.detach().numpy(), 1e-8, 1e-10
        )
    # The saved buffers are torch.optim's, under "<parameter>.<torch's buffer name>".
    state = step.optimizer_state()
    assert int(state.pop("step")) == STEPS
    expected = {
        f"{name}.{buffer}": value.numpy()
        for name, tensor in params.items()
        for buffer, value in optimizer.state[tensor].items()
        if buffer != "step"
    }
    assert sorted(state) == sorted(expected)
    for key, value in state.items():
        assert_close(f"{label}: {key} after {STEPS} steps", value, expected[key], 1e-8, 1e-10)
