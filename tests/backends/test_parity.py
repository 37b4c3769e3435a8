"""The three backends agree on every spec: activations, loss, gradients, running state.

float64: activations to 1e-10 and gradients to 1e-9, relative to max(|value|, 1);
float32: activations to 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec
from netspec.parity import TOLERANCES, run_parity
from tests.backends.conftest import AVAILABLE
from tests.conftest import SPECS

# ImageNet-size networks cost many seconds per float64 pass in NumPy; their parity is
# checked once, at batch 1 in float32 (test_imagenet_size_backends_agree).
LARGE = {"vgg11", "resnet18"}
# float32 gradient tolerances wider than the default, by spec: unet's full-resolution
# convolutions reduce 3 x 64 x 64 positions per weight, behind four batchnorms, and JAX
# sums in another order than NumPy (2.7e-4 relative measured).
FLOAT32_GRADIENTS = {"unet": 1e-3}

pytestmark = pytest.mark.skipif(
    len(AVAILABLE) < 2, reason="parity needs at least two backends installed"
)


def _models(paths: list[Path]) -> list[object]:
    cases = []
    for path in paths:
        program = netspec.load(path)
        for model in program.models:
            marks = [pytest.mark.slow] if path.stem in LARGE else []
            cases.append(
                pytest.param(path, model.name, id=f"{path.stem}:{model.name}", marks=marks)
            )
    return cases


@pytest.mark.parametrize(("path", "model_name"), _models([p for p in SPECS if p.stem not in LARGE]))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_backends_agree(path: Path, model_name: str, dtype: str) -> None:
    program = netspec.load(path)
    model = program.model(model_name)
    train = program.train(model_name)
    widened = FLOAT32_GRADIENTS.get(path.stem) if dtype == "float32" else None
    report = run_parity(
        model,
        AVAILABLE,
        dtype=dtype,
        batch=3,
        seed=7,
        loss=train.loss if train else None,
        tolerances=(TOLERANCES[dtype][0], widened) if widened else None,
    )
    assert report.ok, report.render()


def _with_modes(path: Path) -> bool:
    """Evaluation mode differs from training only with batchnorm or dropout."""
    text = path.read_text()
    return "batchnorm" in text or "dropout" in text


@pytest.mark.parametrize("dtype", ["float64"])
@pytest.mark.parametrize(
    ("path", "model_name"), _models([p for p in SPECS if p.stem not in LARGE and _with_modes(p)])
)
def test_backends_agree_in_evaluation_mode(path: Path, model_name: str, dtype: str) -> None:
    model = netspec.load(path).model(model_name)
    report = run_parity(model, AVAILABLE, dtype=dtype, batch=2, seed=3, train=False)
    assert report.ok, report.render()


@pytest.mark.slow
@pytest.mark.parametrize(
    "stem",
    [
        "resnet18",
        # 133M parameters: about 1 GB per backend copy and minutes on 2 cores, so it runs
        # only when asked for (pytest -m heavy, or netspec parity specs/vgg11.net).
        pytest.param("vgg11", marks=pytest.mark.heavy),
    ],
)
def test_imagenet_size_backends_agree(stem: str) -> None:
    path = next(p for p in SPECS if p.stem == stem)
    model = netspec.load(path).model()
    # float32 sums over 224 x 224 positions: the first convolution's weight gradient
    # reduces ~50,000 products per entry, so it agrees to 5e-3 relative, activations 1e-4.
    report = run_parity(
        model, AVAILABLE, dtype="float32", batch=1, seed=1, train=False, tolerances=(1e-4, 5e-3)
    )
    assert report.ok, report.render()


DROPOUT = """\
netspec 1
model m(x: [6]) {
    dense(8) -> relu -> dropout(0.5)
    dense(3)
}
"""


def test_training_mode_marks_what_dropout_masks_change() -> None:
    model = netspec.load(DROPOUT).model()
    report = run_parity(model, AVAILABLE[:2], batch=3, seed=2, train=True)
    by_name = {(row.kind, row.name): row for row in report.rows}
    # Before the dropout the backends must still agree, and are held to it.
    for name in ("dense_1", "relu_1"):
        assert not by_name["activation", name].masked and by_name["activation", name].ok
    # From the dropout on, each backend's own masks make the values differ.
    for key in [("activation", "dropout_1"), ("activation", "dense_2"), ("loss", "loss")]:
        assert by_name[key].masked, key
    assert all(row.masked for row in report.rows if row.kind == "gradient")
    assert not by_name["activation", "dropout_1"].ok  # the masks do differ here
    assert report.ok and report.first_failure is None
    text = report.render()
    assert "differs: dropout masks" in text and "FAIL" not in text
    assert "differ by design" in text and "--mode eval" in text


def test_a_real_difference_still_fails_beside_masked_ones() -> None:
    from netspec.parity import Difference, ParityReport

    masked = Difference("activation", "dropout_1", "torch", (2,), 1.0, 1.0, 1e-10, masked=True)
    wrong = Difference("activation", "dense_1", "torch", (2,), 1.0, 1.0, 1e-10)
    report = ParityReport("m", "numpy", "float64", True, rows=[masked, wrong])
    assert not report.ok and report.first_failure is wrong
    assert "first disagreement: activation dense_1" in report.render()


def test_cli_parity_in_training_mode_on_dropout_exits_0_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from netspec.cli import EXIT_OK, main

    spec = tmp_path / "dropout.net"
    spec.write_text(DROPOUT)
    argv = ["parity", str(spec), "--mode", "train", "--backends", ",".join(AVAILABLE[:2])]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert "note: " in out and "depend on dropout masks" in out


def test_cli_parity_checks_every_model_of_a_spec(capsys: pytest.CaptureFixture[str]) -> None:
    from netspec.cli import EXIT_OK, main

    gates = next(p for p in SPECS if p.stem == "logic_gates")
    assert main(["parity", str(gates), "--backends", ",".join(AVAILABLE[:2])]) == EXIT_OK
    out = capsys.readouterr().out
    names = [m.name for m in netspec.load(gates).models]
    assert len(names) > 1
    for name in names:
        assert f"parity of {name}:" in out
