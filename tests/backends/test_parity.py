"""The three backends agree on every spec: activations, loss, gradients, running state.

float64: activations to 1e-10 and gradients to 1e-9, relative to max(|value|, 1);
float32: activations to 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec
from netspec.parity import run_parity
from tests.backends.conftest import AVAILABLE
from tests.conftest import SPECS

# ImageNet-size networks cost many seconds per float64 pass in NumPy; their parity is
# checked once, at batch 1 in float32 (test_imagenet_size_backends_agree).
LARGE = {"vgg11", "resnet18"}

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
    report = run_parity(
        model, AVAILABLE, dtype=dtype, batch=3, seed=7, loss=train.loss if train else None
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
