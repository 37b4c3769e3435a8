"""A model of two inputs on every backend: parity, the batch by name, train steps, and one
error per bad batch whatever the backend; and a model mixing integer and float inputs,
whose float input keeps its gradient."""

from __future__ import annotations

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.errors import ShapeError, UnknownNameError
from netspec.ir import CheckedModel
from netspec.parity import run_parity
from tests.backends.conftest import AVAILABLE, backend_params
from tests.conftest import MIXED_INPUTS, TWO_INPUTS, mixed_input_samples, two_input_samples


@pytest.fixture(scope="module")
def model() -> CheckedModel:
    return netspec.load(TWO_INPUTS).model()


@pytest.mark.skipif(len(AVAILABLE) < 2, reason="parity needs at least two backends installed")
@pytest.mark.parametrize("train", [False, True])
def test_backends_agree_on_a_model_of_two_inputs(model: CheckedModel, train: bool) -> None:
    # float64: activations and loss to 1e-10, gradients (parameters and both inputs) to
    # 1e-9, running statistics to 1e-10, relative to max(|value|, 1).
    report = run_parity(model, AVAILABLE, dtype="float64", batch=4, seed=3, train=train)
    assert report.ok, report.render()
    checked = {(row.kind, row.name) for row in report.rows}
    assert {("gradient", "image"), ("gradient", "extra")} <= checked
    assert ("activation", "concat_1") in checked


@pytest.mark.parametrize("backend", backend_params(), indirect=True)
def test_forward_takes_the_inputs_by_keyword_or_as_a_dict(backend, model: CheckedModel) -> None:  # type: ignore[no-untyped-def]
    compiled = backend.compile(model, dtype="float64", seed=1)
    x, _ = two_input_samples(5, seed=0)
    by_dict = compiled.forward(x)
    assert by_dict.shape == (5, 3)
    np.testing.assert_array_equal(compiled.forward(image=x["image"], extra=x["extra"]), by_dict)
    # The inputs meet only at the concat: each changes the output.
    for name in x:
        changed = {**x, name: x[name] + 1.0}
        assert not np.allclose(compiled.forward(changed), by_dict)


@pytest.mark.parametrize("backend", backend_params(), indirect=True)
def test_input_gradients_come_back_by_input_name(backend, model: CheckedModel) -> None:  # type: ignore[no-untyped-def]
    compiled = backend.compile(model, dtype="float64", seed=1)
    x, y = two_input_samples(4, seed=2)
    _, grads = compiled.loss_and_grads(x, y, "softmax_cross_entropy", input_grad=True)
    assert grads["image"].shape == (4, 1, 6, 6) and grads["extra"].shape == (4, 5)
    assert np.abs(grads["extra"]).sum() > 0 and np.abs(grads["image"]).sum() > 0


@pytest.mark.parametrize("backend", backend_params(), indirect=True)
def test_a_train_step_takes_a_batch_by_input_name(backend, model: CheckedModel) -> None:  # type: ignore[no-untyped-def]
    compiled = backend.compile(model, dtype="float64", seed=1)
    x, y = two_input_samples(8, seed=4)
    before = compiled.loss_and_grads(x, y, "softmax_cross_entropy", train=False)[0]
    step = compiled.train_step("softmax_cross_entropy", "sgd")
    for _ in range(5):
        step.step(x, y, 0.1)
    stats = step.drain()
    assert stats.samples == 40
    after = compiled.loss_and_grads(x, y, "softmax_cross_entropy", train=False)[0]
    assert after < before


BAD_BATCHES = {
    "missing": (
        lambda x: {"image": x["image"]},
        ShapeError,
        "model 'two_inputs' takes inputs image, extra; missing: extra",
    ),
    "unknown": (
        lambda x: {**x, "extras": x["extra"]},
        UnknownNameError,
        "unknown input 'extras': expected one of image, extra",
    ),
    "shape": (
        lambda x: {**x, "extra": x["extra"][:, :4]},
        ShapeError,
        "batch for input 'extra' has shape (3, 4), expected (N, 5)",
    ),
    "batch sizes": (
        lambda x: {**x, "extra": x["extra"][:2]},
        ShapeError,
        "one batch size, found: image has 3, extra has 2",
    ),
    "one array": (
        lambda x: x["image"],
        ShapeError,
        "model 'two_inputs' has 2 inputs (image, extra): pass a batch for each by input name",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
@pytest.mark.parametrize("backend", backend_params(), indirect=True)
def test_a_bad_batch_gets_one_error_on_every_backend(
    backend, model: CheckedModel, case: str
) -> None:  # type: ignore[no-untyped-def]
    make, kind, text = BAD_BATCHES[case]
    x, _ = two_input_samples(3, seed=0)
    compiled = backend.compile(model, dtype="float64")
    with pytest.raises(kind) as caught:
        compiled.forward(make(x))
    assert text in str(caught.value)


def _compiled_call(name: str):  # type: ignore[no-untyped-def]
    """``netspec.compile``'s model of TWO_INPUTS on backend ``name`` in float64, as a
    function of the inputs by keyword returning a NumPy array."""
    compiled = netspec.compile(TWO_INPUTS, name, dtype="float64", seed=1)
    if name == "torch":
        import torch

        compiled.eval()

        def forward(**x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return compiled(**{k: torch.from_numpy(v) for k, v in x.items()}).numpy()

        return forward
    if name == "jax":
        import jax

        init, apply = compiled

        def call(**x: np.ndarray) -> np.ndarray:
            with jax.enable_x64(True):
                return np.asarray(apply(init(1), **x)[0])

        return call
    return lambda **x: compiled.forward(**x)


@pytest.mark.parametrize("name", [p.values[0] for p in backend_params()])
def test_compiled_models_take_the_inputs_by_keyword(name: str, model: CheckedModel) -> None:  # type: ignore[no-untyped-def]
    if name not in AVAILABLE:
        pytest.skip(f"{name} is not installed")
    x, _ = two_input_samples(3, seed=6)
    call = _compiled_call(name)
    expected = get_backend("numpy").compile(model, dtype="float64", seed=1).forward(x)
    np.testing.assert_allclose(call(**x), expected, rtol=1e-10, atol=1e-10)
    for case in BAD_BATCHES.values():
        make, kind, text = case
        batch = make(x)
        if not isinstance(batch, dict):
            continue  # one array: a positional call, refused as by the backends
        with pytest.raises(kind) as caught:
            call(**batch)
        assert text in str(caught.value)


@pytest.fixture(scope="module")
def mixed() -> CheckedModel:
    return netspec.load(MIXED_INPUTS).model()


@pytest.mark.skipif(len(AVAILABLE) < 2, reason="parity needs at least two backends installed")
@pytest.mark.parametrize("train", [False, True])
def test_backends_agree_on_a_model_of_integer_and_float_inputs(
    mixed: CheckedModel, train: bool
) -> None:
    # float64: activations and loss to 1e-10, gradients (parameters, the embedding table
    # and the float input) to 1e-9, relative to max(|value|, 1).
    report = run_parity(mixed, AVAILABLE, dtype="float64", batch=4, seed=3, train=train)
    assert report.ok, report.render()
    gradients = {row.name for row in report.rows if row.kind == "gradient"}
    assert {"extra", "embedding_1.weight"} <= gradients
    assert "tokens" not in gradients


@pytest.mark.parametrize("backend", backend_params(), indirect=True)
def test_an_integer_input_is_skipped_alone_in_the_input_gradients(  # type: ignore[no-untyped-def]
    backend, mixed: CheckedModel
) -> None:
    compiled = backend.compile(mixed, dtype="float64", seed=1)
    x, y = mixed_input_samples(4, seed=2)
    _, grads = compiled.loss_and_grads(x, y, "softmax_cross_entropy", input_grad=True)
    params = {spec.name for spec in mixed.params}
    assert set(grads) == params | {"extra"}
    assert grads["extra"].shape == (4, 4) and np.abs(grads["extra"]).sum() > 0
    # Against finite differences of the loss in the float input (central, float64).
    step, loss = 1e-6, "softmax_cross_entropy"
    for i, j in [(0, 0), (3, 2)]:
        up, down = x["extra"].copy(), x["extra"].copy()
        up[i, j] += step
        down[i, j] -= step
        plus = compiled.loss_and_grads({**x, "extra": up}, y, loss, train=False)[0]
        minus = compiled.loss_and_grads({**x, "extra": down}, y, loss, train=False)[0]
        assert abs((plus - minus) / (2 * step) - grads["extra"][i, j]) < 1e-7
