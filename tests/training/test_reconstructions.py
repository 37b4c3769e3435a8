"""reconstructions.png: inputs above outputs in the run directory of a `target input` run."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

import netspec
from netspec.training import fit
from netspec.training.reconstructions import image_shape
from tests.training.conftest import TINY
from tests.training.test_autoencoder import AUTOENCODER

ONE_EPOCH = AUTOENCODER.replace("epochs     4", "epochs     1")
# The same autoencoder on flattened digits: [64] in, [64] out, drawn as 8 x 8.
FLAT = (
    ONE_EPOCH.replace("x: [1, 8, 8]", "x: [64]")
    .replace("flatten -> dense(16)", "dense(16)")
    .replace("dense(64) -> reshape(1, 8, 8)", "dense(64)")
    .replace("digits(limit", "digits(flatten = true, limit")
)
# 8 images a row, 100 pixels each; two rows of 100 pixels and a 40-pixel title band.
EXPECTED_SIZE = (800, 240)


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's signature and IHDR chunk, refusing anything else."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    assert data[12:16] == b"IHDR", data[12:16]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("spec", [ONE_EPOCH, FLAT], ids=["image-input", "flat-input"])
def test_an_autoencoder_run_draws_its_reconstructions(spec: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="reconstructions.png needs matplotlib")
    result = fit(netspec.load(spec), out=tmp_path / "run", progress=False)
    picture = tmp_path / "run" / "reconstructions.png"
    assert _png_size(picture) == EXPECTED_SIZE
    assert not [note for note in result.notes if "reconstructions" in note]
    # A whole, decodable image, not only a header.
    image = pytest.importorskip("matplotlib.image").imread(picture)
    assert image.shape[:2] == (EXPECTED_SIZE[1], EXPECTED_SIZE[0])
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".recon")]


def test_a_run_without_target_input_draws_none(tmp_path: Path) -> None:
    fit(netspec.load(TINY), out=tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "weights.safetensors").exists()
    assert not (tmp_path / "run" / "reconstructions.png").exists()


def test_inputs_that_are_not_images_are_skipped_with_a_note(tmp_path: Path) -> None:
    spec = """netspec 1
model ae(x: [10]) {
    dense(3) -> relu
    dense(10)
}
train ae {
    data       linear(samples = 40, features = 10)
    loss       mse
    optimizer  adam(lr = 0.01)
    batch_size 10
    epochs     1
    seed       1
    target     input
}
"""
    result = fit(netspec.load(spec), out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "reconstructions.png").exists()
    assert (
        "reconstructions.png skipped: the input [10] is not image-like "
        "(expected [1, H, W], [H, W] or a square number of values)"
    ) in result.notes


def test_without_matplotlib_the_run_completes_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes `import matplotlib` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    result = fit(netspec.load(ONE_EPOCH), out=tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "weights.safetensors").exists()
    assert not (tmp_path / "run" / "reconstructions.png").exists()
    assert any(
        note.startswith("reconstructions.png skipped: matplotlib is not installed")
        for note in result.notes
    ), result.notes


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ((1, 28, 28), (28, 28)),
        ((1, 8, 6), (8, 6)),
        ((8, 8), (8, 8)),
        ((64,), (8, 8)),
        ((784,), (28, 28)),
        ((10,), None),
        ((1,), None),
        ((3, 8, 8), None),
        ((1, 8), None),
        ((2, 3, 4, 5), None),
    ],
)
def test_which_inputs_are_drawn_as_images(
    sample: tuple[int, ...], expected: tuple[int, int] | None
) -> None:
    assert image_shape(sample) == expected
