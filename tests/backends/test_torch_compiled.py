"""What only the torch backend's CompiledModel does: its torch module, torch's global
random state and grad fields, CUDA device names, in-place weights and TF32.

The compiled model's contract (dtypes, parameters, state, trace, losses, gradients,
dropout, errors) is tested on every backend in test_contract*.py.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")

import netspec  # noqa: E402
from netspec.backends.torch import BACKEND, TorchModel, ieee_float32, resolve_device  # noqa: E402
from netspec.errors import NetspecError  # noqa: E402
from netspec.ir import CheckedModel  # noqa: E402
from netspec.ir.train import SoftmaxCrossEntropy  # noqa: E402

RNG = np.random.default_rng(99)


def model_of(shape: tuple[int, ...], body: str) -> CheckedModel:
    """The checked model ``m`` with input ``x`` of per-sample ``shape`` and ``body``."""
    return netspec.load(f"netspec 1\nmodel m(x: {list(shape)}) {{\n{body}\n}}\n").model()


# A small net touching every layer with parameters or state, and both penalties.
SMALL_CNN = """conv2d(3, 3, padding = same, regularize = l2(0.3)) -> batchnorm
    prelu(per_channel = true) -> maxpool(2, padding = same) -> flatten
    dense(4, regularize = [l1(0.05), l2(0.1)]) -> tanh
    dense(3, init = xavier_uniform)"""


@pytest.fixture(scope="module")
def small_cnn() -> CheckedModel:
    return model_of((2, 5, 5), SMALL_CNN)


def test_the_compiled_model_holds_a_torch_module(small_cnn: CheckedModel) -> None:
    assert isinstance(BACKEND.compile(small_cnn).module, torch.nn.Module)


def test_compiling_leaves_torch_global_random_state_alone(small_cnn: CheckedModel) -> None:
    before = torch.get_rng_state()
    model = model_of((6,), "dense(5) -> dropout(0.5)")
    compiled = BACKEND.compile(model, seed=1)
    compiled.forward(np.ones((3, 6)), train=True)
    BACKEND.compile(small_cnn)
    assert torch.equal(torch.get_rng_state(), before)


def test_gradients_do_not_touch_the_modules_grad_fields(small_cnn: CheckedModel) -> None:
    compiled = BACKEND.compile(small_cnn)
    loss, grads = compiled.loss_and_grads(
        RNG.normal(size=(3, 2, 5, 5)), np.array([0, 1, 2]), SoftmaxCrossEntropy()
    )
    assert np.isfinite(loss)
    assert list(grads) == [spec.name for spec in small_cnn.params]
    assert all(p.grad is None for p in compiled.module.parameters())


def test_cuda_device_strings_resolve_to_an_index(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend two GPUs are present, the second current: only the resolution is tested.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("CUDA:0") == torch.device("cuda", 0)
    with pytest.raises(NetspecError, match=r"names GPU 2, but the torch backend sees 2 GPUs"):
        resolve_device("cuda:2")


# --- weights -----------------------------------------------------------------------------


def test_set_parameters_writes_into_the_modules_own_tensors(small_cnn: CheckedModel) -> None:
    compiled = BACKEND.compile(small_cnn)
    held = list(compiled.module.parameters())
    names = [spec.name for spec in small_cnn.params]
    before = compiled.parameters()
    compiled.set_parameters({names[0]: np.ones_like(before[names[0]])})
    assert all(a is b for a, b in zip(held, compiled.module.parameters(), strict=True))
    assert torch.all(held[0] == 1)
    # parameters() hands out copies.
    compiled.parameters()[names[0]][...] = 5
    assert torch.all(held[0] == 1)


# --- TF32 ----------------------------------------------------------------------------------


def test_ieee_float32_turns_tf32_off_and_restores_the_users_settings() -> None:
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    try:
        matmul.allow_tf32, cudnn.allow_tf32 = True, True
        with ieee_float32():
            assert (matmul.allow_tf32, cudnn.allow_tf32) == (False, False)
        assert (matmul.allow_tf32, cudnn.allow_tf32) == (True, True)
        # A user who mixed the two TF32 APIs: the new one is used and restored.
        cudnn.conv.fp32_precision = "ieee"
        with ieee_float32():
            assert (matmul.fp32_precision, cudnn.conv.fp32_precision) == ("ieee", "ieee")
        assert (matmul.fp32_precision, cudnn.conv.fp32_precision) == ("tf32", "ieee")
    finally:
        cudnn.conv.fp32_precision = "tf32"
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_compiled_model_type_is_exported() -> None:
    assert isinstance(BACKEND.compile(model_of((2,), "relu")), TorchModel)
