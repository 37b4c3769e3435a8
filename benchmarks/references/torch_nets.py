"""LeNet-5, the MLP 784-256-10 and a one-layer attention net written by hand with
``torch.nn`` and ``torch.optim.SGD``.

The modules come from the torch backend's own comparison script (formerly
``backends/torch/_speed.py``). Their parameters are listed in the same order as
netspec's IR, so :func:`load_netspec_params` copies netspec's initial weights in by
position and checks every shape on the way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


class LearnedPositions(nn.Module):
    """x plus a learned [T, D] table; a module of its own so that the parameter order
    stays netspec's (a module lists its own parameters before its submodules')."""

    def __init__(self, steps: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(steps, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class AttentionNet(nn.Module):
    """benchmarks/attention.net by hand: a row embedding with learned positions, one
    pre-norm encoder layer around ``nn.MultiheadAttention`` (called with need_weights
    False, its fused path), the mean over the steps and a linear head. Submodules are set
    in netspec's parameter order."""

    def __init__(self, steps: int = 28, features: int = 28, width: int = 64) -> None:
        super().__init__()
        self.embed = nn.Linear(features, width)
        self.pos = LearnedPositions(steps, width)
        self.norm1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, 4, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.linear1 = nn.Linear(width, 2 * width)
        self.linear2 = nn.Linear(2 * width, width)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pos(self.embed(x))
        n = self.norm1(h)
        h = h + self.attn(n, n, n, need_weights=False)[0]
        h = h + self.linear2(F.gelu(self.linear1(self.norm2(h))))
        return self.head(h.mean(1))


BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "lenet5": LeNet5,
    "mlp": mlp,
    "attention": AttentionNet,
}


def load_netspec_params(module: nn.Module, params: dict[str, np.ndarray]) -> None:
    """Copy netspec's parameters (IR order) into ``module`` (same order), shapes checked."""
    mine = list(module.parameters())
    if len(mine) != len(params):
        raise ValueError(f"{len(mine)} parameters by hand, {len(params)} in netspec")
    with torch.no_grad():
        for tensor, (name, value) in zip(mine, params.items(), strict=True):
            if tuple(tensor.shape) != value.shape:
                raise ValueError(f"{name}: {tuple(tensor.shape)} by hand, {value.shape} netspec")
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))


class TrainStep:
    """The usual loop body: zero_grad, forward, cross_entropy, backward, optimizer.step.

    Batches arrive as NumPy arrays (as from a NumPy data pipeline) and are wrapped with
    ``torch.from_numpy`` and moved to the device, as the netspec step does.
    """

    def __init__(self, module: nn.Module, lr: float, device: str = "cpu") -> None:
        self.module = module.to(device).train()
        self.device = torch.device(device)
        self.optimizer = torch.optim.SGD(module.parameters(), lr=lr)

    def step(self, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
        xt = torch.from_numpy(x).to(self.device)
        yt = torch.from_numpy(y).to(self.device)
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.module(xt), yt)
        loss.backward()
        self.optimizer.step()
        return loss


def predict(module: nn.Module, x: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Inference: eval mode, no_grad, NumPy in and out."""
    module.eval()
    with torch.no_grad():
        return module(torch.from_numpy(x).to(device)).cpu().numpy()
