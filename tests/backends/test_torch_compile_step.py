"""``--compile``: the torch training step through torch.compile, trained as the eager
step trains, and a clear error on the backends that have no such option.

The tests compile with the "aot_eager" backend (TorchDynamo's graph capture and
AOTAutograd's backward, as with TorchInductor, without generating C++): TorchInductor
itself takes tens of seconds per network, which the benchmark reports instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec
from netspec.errors import NetspecError
from netspec.training import fit
from tests.training.conftest import TINY

torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")

DROPOUT = netspec.load(TINY.replace("dense(16) -> relu", "dense(16) -> relu -> dropout(0.2)"))


def test_a_compiled_step_trains_as_the_eager_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netspec.backends.torch import _compile_step

    monkeypatch.setattr(_compile_step, "BACKEND", "aot_eager")
    torch._dynamo.reset()
    eager = fit(DROPOUT, backend="torch", out=tmp_path / "eager", progress=False, epochs=2)
    compiled = fit(
        DROPOUT, backend="torch", out=tmp_path / "compiled", progress=False, epochs=2, compile=True
    )
    assert torch._dynamo.utils.counters["frames"]["ok"] > 0  # the step went through dynamo
    for a, b in zip(eager.history, compiled.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_compile_is_refused_on_other_backends(tmp_path: Path, backend: str) -> None:
    with pytest.raises(NetspecError, match=f"needs the torch backend; the {backend} backend"):
        fit(DROPOUT, backend=backend, out=tmp_path / "run", compile=True, progress=False)
    assert not (tmp_path / "run").exists()


def test_the_compile_option_is_checked() -> None:
    with pytest.raises(NetspecError, match="compile must be True or False, found 'yes'"):
        netspec.train(TINY, compile="yes")


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="CUDA graphs of the compiled step need a CUDA device (torch.cuda.is_available() "
    "is False)",
)
def test_a_compiled_step_on_cuda_trains_as_the_eager_step(tmp_path: Path) -> None:
    # TorchInductor with CUDA graphs (mode "reduce-overhead"), the path --compile takes on CUDA.
    runs = [
        fit(
            DROPOUT,
            backend="torch",
            device="cuda",
            out=tmp_path / name,
            progress=False,
            epochs=2,
            compile=name == "compiled",
        )
        for name in ("eager", "compiled")
    ]
    for a, b in zip(runs[0].history, runs[1].history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
