"""embedding against torch.nn.Embedding, and per-step cross-entropy against torch's
cross_entropy on the steps as rows, in float64 on every backend.

Each embedding case is a one-layer netspec model of an integer input and the
torch.nn.Embedding it claims to be; the netspec weight loads into the torch module by
name (``strict=True``). The batches repeat indices (so rows sum several gradients) and
hold the padding row where there is one, whose gradient must stay zero.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.initializers import initial_params
from netspec.ir.train import SoftmaxCrossEntropy
from netspec.parity import run_parity
from netspec.training.metrics import MetricSums
from tests.backends.conftest import AVAILABLE, backend_params

torch = pytest.importorskip("torch", reason="torch is the oracle (pip install netspec[torch])")
F = torch.nn.functional

# (id, per-sample index shape, num, dim, padding_idx as written, torch's padding_idx)
CASES = [
    ("sequence", (7,), 5, 3, None),
    ("padding_first", (7,), 5, 3, 0),
    ("padding_last_negative", (7,), 5, 3, -1),
    ("grid", (2, 3), 4, 6, 2),
    ("one_row", (4,), 1, 2, None),
    ("one_index_wide_rows", (1,), 9, 17, 8),
]
BATCH = 4


def _case(label: str, shape: tuple[int, ...], num: int, dim: int, padding: int | None):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(zlib.crc32(label.encode()))
    written = "" if padding is None else f", padding_idx = {padding}"
    model = netspec.load(f"model m(x: int64{list(shape)}) {{ embedding({num}, {dim}{written}) }}")
    x = rng.integers(0, num, size=(BATCH, *shape))
    if padding is not None:
        x.flat[0] = padding % num  # the padding row is read at least once
    weights = {"embedding_1.weight": rng.uniform(-1.5, 1.5, (num, dim))}
    return model.model(), x, weights, rng


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize(
    ("label", "shape", "num", "dim", "padding"), CASES, ids=[case[0] for case in CASES]
)
def test_forward_and_weight_gradient_match_torch_embedding(
    backend: str, label: str, shape: tuple[int, ...], num: int, dim: int, padding: int | None
) -> None:
    model, x, weights, rng = _case(label, shape, num, dim, padding)
    compiled = get_backend(backend).compile(model, dtype="float64", params=weights)
    twin = torch.nn.Embedding(num, dim, padding_idx=padding).double()
    twin.load_state_dict(
        {"weight": torch.from_numpy(weights["embedding_1.weight"].copy())}, strict=True
    )
    target = rng.standard_normal((BATCH, *shape, dim))

    y_torch = twin(torch.from_numpy(x))
    loss_torch = F.mse_loss(y_torch, torch.from_numpy(target))
    loss_torch.backward()

    y = compiled.forward(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, y_torch.detach().numpy(), rtol=1e-10, atol=1e-10)
    loss, grads = compiled.loss_and_grads(x, target, "mse", input_grad=True)
    assert loss == pytest.approx(loss_torch.item(), rel=1e-10, abs=1e-12)
    # Indices have no gradient: only the weight's comes back.
    assert set(grads) == {"embedding_1.weight"}
    want = twin.weight.grad.numpy()
    np.testing.assert_allclose(grads["embedding_1.weight"], want, rtol=1e-10, atol=1e-10)
    if padding is not None:
        assert not grads["embedding_1.weight"][padding % num].any()


def test_initial_weight_is_normal_with_the_padding_row_zeroed() -> None:
    model = netspec.load("model m(x: int64[3]) { embedding(400, 50, padding_idx = 7) }").model()
    weight = initial_params(model, seed=3, dtype="float64")["embedding_1.weight"]
    assert not weight[7].any()
    others = np.delete(weight, 7, axis=0)
    # normal(0, 1), as torch.nn.Embedding draws it: 19,950 values.
    assert abs(others.mean()) < 0.05 and abs(others.std() - 1.0) < 0.05
    # The zeroed row does not shift the draws of the others.
    plain = netspec.load("model m(x: int64[3]) { embedding(400, 50) }").model()
    drawn = initial_params(plain, seed=3, dtype="float64")["embedding_1.weight"]
    np.testing.assert_array_equal(np.delete(drawn, 7, axis=0), others)


def test_weights_load_by_name_into_torch_embedding() -> None:
    model = netspec.load("model m(x: int64[3]) { embedding(6, 4, padding_idx = 1) }").model()
    module = netspec.compile(model, "torch", dtype="float64", seed=5)
    twin = torch.nn.Embedding(6, 4, padding_idx=1).double()
    # The node's tensors are torch.nn.Embedding's, by name.
    own = {k.partition(".")[2]: v for k, v in module.state_dict().items()}
    twin.load_state_dict(own, strict=True)
    x = torch.tensor([[0, 1, 5]])
    torch.testing.assert_close(twin(x), module(x))


@pytest.mark.skipif(len(AVAILABLE) < 2, reason="parity needs at least two backends installed")
def test_backends_agree_in_float32() -> None:
    text = """
    model m(tokens: int32[4, 6]) {
        transpose(0, 1) -> slice(0, 1) -> embedding(13, 5, padding_idx = 3) -> flatten
        dense(4)
    }
    """
    report = run_parity(netspec.load(text).model(), AVAILABLE, dtype="float32", seed=2)
    assert report.ok, report.render()
    assert max(r.relative for r in report.rows if r.kind == "activation") <= 1e-5


# -- per-step cross-entropy: classes on the last axis, one label per step -----------------

SEQUENCE = "model lm(x: int64[5]) { embedding(7, 7) }"


def _sequence_batch(seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 7, size=(3, 5))
    y = rng.integers(0, 7, size=(3, 5))
    return x, y, {"embedding_1.weight": rng.standard_normal((7, 7))}


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "class_weights"])
@pytest.mark.parametrize("targets", ["labels", "probabilities"])
def test_per_step_cross_entropy_is_torch_cross_entropy_on_the_steps(
    backend: str, weighted: bool, targets: str
) -> None:
    x, y, weights = _sequence_batch(4)
    class_weights = (0.5, 1.0, 2.0, 1.5, 0.25, 3.0, 1.0) if weighted else None
    loss = SoftmaxCrossEntropy(class_weights=class_weights)
    if targets == "probabilities":
        y = np.random.default_rng(9).dirichlet(np.ones(7), size=(3, 5))
    model = netspec.load(SEQUENCE).model()
    compiled = get_backend(backend).compile(model, dtype="float64", params=weights)

    table = torch.from_numpy(weights["embedding_1.weight"].copy()).requires_grad_(True)
    logits = F.embedding(torch.from_numpy(x), table)
    rows = torch.from_numpy(y.reshape(-1) if targets == "labels" else y.reshape(-1, 7))
    w = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float64)
    want = F.cross_entropy(logits.reshape(-1, 7), rows, weight=w)
    want.backward()

    value, grads = compiled.loss_and_grads(x, y, loss)
    assert value == pytest.approx(want.item(), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(
        grads["embedding_1.weight"], table.grad.numpy(), rtol=1e-9, atol=1e-10
    )


@pytest.mark.parametrize("backend", backend_params())
def test_training_accuracy_counts_correct_steps(backend: str) -> None:
    """One step at a negligible lr: the accuracy the fused step reports is the share of steps whose
    top score is the label, and evaluation's is the same."""
    x, y, _ = _sequence_batch(6)
    weights = initial_params(netspec.load(SEQUENCE).model(), seed=0, dtype="float64")
    spec = f"""
    {SEQUENCE}
    train lm {{
        data npz(path = "unused.npz", test = 0)
        loss softmax_cross_entropy
        optimizer sgd(lr = 1e-12)
        batch_size 3
        epochs 1
    }}
    """
    logits = weights["embedding_1.weight"][x]
    share = float((logits.argmax(axis=-1) == y).mean())
    assert 0 < share < 1
    result = netspec.train(
        spec,
        backend=backend,
        dtype="float64",
        data={"train": (x, y), "test": (x, y)},
        progress=False,
    )
    assert result.history[0]["train_accuracy"] == pytest.approx(share)
    assert result.history[0]["test_accuracy"] == pytest.approx(share)


def test_perplexity_is_exp_of_the_mean_cross_entropy_per_step() -> None:
    x, y, weights = _sequence_batch(8)
    logits = weights["embedding_1.weight"][x]
    sums = MetricSums(["perplexity"])
    sums.add(logits[:2], y[:2])
    sums.add(logits[2:], y[2:])
    want = F.cross_entropy(torch.from_numpy(logits.reshape(-1, 7)), torch.from_numpy(y.ravel()))
    assert sums.result()["perplexity"] == pytest.approx(float(np.exp(want.item())), rel=1e-12)
