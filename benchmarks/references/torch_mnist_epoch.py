"""One epoch of the MNIST MLP (specs/mlp.net) written by hand with PyTorch, as a script.

What a user would write to do what ``netspec train specs/mlp.net --backend torch
--epochs 1`` does: read the MNIST files (gzip IDX), scale the pixels to [0, 1], hold
out the same share for validation (10%: 54,000 training images, so 422 steps of 128),
shuffle every epoch, train the 784-256-10 MLP with SGD (lr 0.1, momentum 0.9; the cosine
schedule's first epoch is lr 0.1 throughout), evaluate on the test set at the end and
save the weights. Plain tensors and ``randperm`` rather than a ``DataLoader``, whose
per-batch collation would only make this side slower.

Run as its own process by the ``process`` benchmark group::

    python benchmarks/references/torch_mnist_epoch.py DATA_DIR OUT_DIR
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BATCH = 128
VALIDATION = 0.1


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as uint8: images [N, 28, 28] or labels [N]."""
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder: Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(folder / f"{name}-images-idx3-ubyte.gz")
    labels = read_idx(folder / f"{name}-labels-idx1-ubyte.gz")
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255)
    return x, torch.from_numpy(labels.astype(np.int64))


def main(data_dir: str, out_dir: str) -> None:
    torch.manual_seed(0)
    folder = Path(data_dir) / "mnist"
    x, y = load(folder, "train")
    x_test, y_test = load(folder, "t10k")
    order = torch.randperm(len(x))
    held = int(len(x) * VALIDATION)
    x_train, y_train = x[order[held:]], y[order[held:]]

    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    for batch in torch.randperm(len(x_train)).split(BATCH):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
        loss.backward()
        optimizer.step()

    model.eval()
    with torch.no_grad():
        logits = model(x_test)
        test_loss = F.cross_entropy(logits, y_test).item()
        accuracy = (logits.argmax(1) == y_test).float().mean().item()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "weights.pt")
    print(f"test loss {test_loss:.4f}, accuracy {accuracy:.2%}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
