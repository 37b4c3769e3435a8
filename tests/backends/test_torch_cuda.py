"""The torch backend on a CUDA device agrees with the CPU (TF32 off), and leaves the
user's TF32 settings as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")

import netspec  # noqa: E402
from netspec.backends.torch import BACKEND  # noqa: E402
from netspec.errors import NetspecError  # noqa: E402
from netspec.ir import CheckedModel  # noqa: E402
from netspec.ir.train import Adam, SoftmaxCrossEntropy  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device: none is present"
    ),
]

SPECS = Path(__file__).resolve().parents[2] / "specs"
# A net with batchnorm, prelu, asymmetric "same" padding (stride 2) and average pooling.
BN_NET = """netspec 1
model bn_net(x: [3, 16, 16]) {
    conv2d(8, 3, stride = 2, padding = same) -> batchnorm -> prelu(per_channel = true)
    avgpool(3, stride = 1, padding = 1) -> maxpool(2, padding = same)
    flatten
    dense(10)
}
"""
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}


def models() -> dict[str, CheckedModel]:
    return {
        "lenet5": netspec.load(SPECS / "lenet5.net").model(),
        "mnist_residual": netspec.load(SPECS / "mnist_residual.net").model(),
        "bn_net": netspec.load(BN_NET).model(),
    }


def batch(model: CheckedModel, n: int = 8) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, *model.input.shape))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["lenet5", "mnist_residual", "bn_net"])
def test_cuda_forward_equals_cpu(name: str, dtype: str) -> None:
    model = models()[name]
    cpu = BACKEND.compile(model, dtype=dtype, device="cpu", seed=1)
    gpu = BACKEND.compile(model, dtype=dtype, device="cuda", seed=1)
    assert gpu.device.startswith("cuda:")
    assert all(p.is_cuda for p in gpu.module.parameters())
    x = batch(model)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(gpu.forward(x), cpu.forward(x), rtol=tol, atol=tol)
    # Training mode: batch statistics, and the running statistics they update.
    np.testing.assert_allclose(
        gpu.forward(x, train=True), cpu.forward(x, train=True), rtol=tol, atol=tol
    )
    for key, value in cpu.state().items():
        np.testing.assert_allclose(gpu.state()[key], value, rtol=tol, atol=tol, err_msg=key)


@pytest.mark.parametrize("name", ["mnist_residual", "bn_net"])
def test_cuda_gradients_equal_cpu_in_float64(name: str) -> None:
    model = models()[name]
    cpu = BACKEND.compile(model, dtype="float64", device="cpu", seed=2)
    gpu = BACKEND.compile(model, dtype="float64", device="cuda:0", seed=2)
    x, labels = batch(model), np.arange(8) % 10
    loss_cpu, grads_cpu = cpu.loss_and_grads(x, labels, SoftmaxCrossEntropy(), input_grad=True)
    loss_gpu, grads_gpu = gpu.loss_and_grads(x, labels, SoftmaxCrossEntropy(), input_grad=True)
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-10)
    for key, grad in grads_cpu.items():
        assert isinstance(grads_gpu[key], np.ndarray)
        np.testing.assert_allclose(grads_gpu[key], grad, rtol=1e-10, atol=1e-10, err_msg=key)


def test_tf32_is_off_inside_calls_and_the_users_setting_survives() -> None:
    model = models()["lenet5"]
    cpu = BACKEND.compile(model, device="cpu", seed=3)
    gpu = BACKEND.compile(model, device="auto", seed=3)
    assert gpu.device.startswith("cuda:")
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    try:
        # The user asks for TF32; the compiled model still computes in IEEE float32.
        matmul.allow_tf32, cudnn.allow_tf32 = True, True
        x = batch(model, 64)
        np.testing.assert_allclose(gpu.forward(x), cpu.forward(x), rtol=1e-5, atol=1e-5)
        assert (matmul.allow_tf32, cudnn.allow_tf32) == (True, True)
        fast = BACKEND.compile(model, device="cuda", seed=3, allow_tf32=True)
        assert fast.forward(x).shape == (64, 10)
        assert (matmul.allow_tf32, cudnn.allow_tf32) == (True, True)
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_cuda_dropout_follows_the_seed() -> None:
    model = netspec.load("netspec 1\nmodel m(x: [500]) { dropout(0.5) }").model()
    x = np.ones((4, 500))
    first = BACKEND.compile(model, device="cuda", seed=9).forward(x, train=True)
    again = BACKEND.compile(model, device="cuda", seed=9).forward(x, train=True)
    np.testing.assert_array_equal(first, again)
    assert 0.3 < np.mean(first == 0) < 0.7


def test_a_gpu_index_out_of_range_is_named() -> None:
    count = torch.cuda.device_count()
    with pytest.raises(NetspecError, match=rf"only {count} CUDA device"):
        BACKEND.compile(models()["lenet5"], device=f"cuda:{count}")


def test_cuda_train_steps_equal_cpu_in_float64() -> None:
    model = models()["bn_net"]
    compiled = {
        device: BACKEND.compile(model, dtype="float64", device=device, seed=4)
        for device in ("cpu", "cuda")
    }
    steps = {
        device: c.train_step(SoftmaxCrossEntropy(), Adam(lr=0.01)) for device, c in compiled.items()
    }
    rng = np.random.default_rng(5)
    for _ in range(10):
        x, labels = rng.normal(size=(8, 3, 16, 16)), rng.integers(0, 10, 8)
        for step in steps.values():
            step.step(x, labels, 0.01)
    stats = {device: step.drain() for device, step in steps.items()}
    assert stats["cuda"].loss_sum == pytest.approx(stats["cpu"].loss_sum, rel=1e-10)
    assert stats["cuda"].correct == stats["cpu"].correct
    want = {**compiled["cpu"].parameters(), **compiled["cpu"].state()}
    got = {**compiled["cuda"].parameters(), **compiled["cuda"].state()}
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-10, err_msg=name)
