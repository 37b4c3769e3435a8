"""LeNet-5 and the residual MNIST CNN from specs/, against the same networks written by
hand with torch.nn, weights copied across: outputs, losses and gradients agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")
F = torch.nn.functional
nn = torch.nn

import netspec  # noqa: E402
from benchmarks.references.torch_nets import LeNet5  # noqa: E402
from netspec.backends.torch import BACKEND  # noqa: E402
from netspec.ir import CheckedModel  # noqa: E402
from netspec.ir.train import SoftmaxCrossEntropy  # noqa: E402

SPECS = Path(__file__).resolve().parents[2] / "specs"


class Residual(nn.Module):
    """relu(x + conv(relu(conv(x)))), both convolutions 3 x 3 with "same" padding."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_b = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv_b(F.relu(self.conv_a(x))))


class ResidualNet(nn.Module):
    """conv -> maxpool -> relu -> residual block, twice, then dense: mnist_residual.net."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.res1 = Residual(16)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.res2 = Residual(32)
        self.fc = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.res1(F.relu(F.max_pool2d(self.conv1(x), 2)))
        x = self.res2(F.relu(F.max_pool2d(self.conv2(x), 2)))
        return self.fc(x.flatten(1))


NETS = {"lenet5": LeNet5, "mnist_residual": ResidualNet}
# The residual spec's train section asks for l2(1e-4) on every weight.
L2 = {"lenet5": 0.0, "mnist_residual": 1e-4}


def load(name: str) -> CheckedModel:
    return netspec.load(SPECS / f"{name}.net").model()


def reference_with_weights_of(name: str, params: dict[str, np.ndarray]) -> nn.Module:
    """The hand-written net in float64 holding the netspec model's weights, in IR order."""
    reference = NETS[name]().double()
    theirs = list(reference.parameters())
    assert len(theirs) == len(params)
    with torch.no_grad():
        for (key, value), tensor in zip(params.items(), theirs, strict=True):
            assert tuple(tensor.shape) == value.shape, key
            tensor.copy_(torch.from_numpy(value))
    return reference


@pytest.mark.parametrize("name", list(NETS))
def test_forward_equals_handwritten_torch_nn(name: str) -> None:
    compiled = BACKEND.compile(load(name), dtype="float64", seed=2)
    reference = reference_with_weights_of(name, compiled.parameters())
    x = np.random.default_rng(0).normal(size=(8, 1, 28, 28))
    with torch.no_grad():
        want = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(compiled.forward(x), want, rtol=0, atol=1e-10)
    # The module itself, as a user would call it, agrees too.
    with torch.no_grad():
        got = compiled.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", list(NETS))
def test_loss_and_gradients_equal_handwritten_torch_nn(name: str) -> None:
    compiled = BACKEND.compile(load(name), dtype="float64", seed=3)
    params = compiled.parameters()
    reference = reference_with_weights_of(name, params)
    rng = np.random.default_rng(1)
    x, labels = rng.normal(size=(6, 1, 28, 28)), rng.integers(0, 10, size=6)

    inputs = torch.from_numpy(x).requires_grad_(True)
    loss = F.cross_entropy(reference(inputs), torch.from_numpy(labels))
    weights = [p for key, p in reference.named_parameters() if key.endswith("weight")]
    loss = loss + 0.5 * L2[name] * sum(torch.sum(w * w) for w in weights)
    loss.backward()

    got_loss, grads = compiled.loss_and_grads(x, labels, SoftmaxCrossEntropy(), input_grad=True)
    assert got_loss == pytest.approx(loss.item(), rel=1e-12)
    assert list(grads) == [*params, "x"]
    for (key, grad), tensor in zip(grads.items(), [*reference.parameters(), inputs], strict=True):
        assert tensor.grad is not None
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=0, atol=1e-10, err_msg=key)


def test_float32_forward_stays_close_to_float64() -> None:
    model = load("mnist_residual")
    x = np.random.default_rng(2).normal(size=(4, 1, 28, 28))
    single = BACKEND.compile(model, dtype="float32", seed=0).forward(x)
    double = BACKEND.compile(model, dtype="float64", seed=0).forward(x)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, double, rtol=1e-4, atol=1e-4)
