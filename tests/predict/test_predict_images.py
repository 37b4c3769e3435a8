"""Image files as inputs: channels, size and the training data's pixel scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.errors import NetspecError
from netspec.runs import build_run
from tests.backends.conftest import backend_params
from tests.predict.conftest import TrainedRun

Image = pytest.importorskip(
    "PIL.Image", reason="Pillow is not installed (pip install netspec[train])"
)


def _pixels(seed: int, shape: tuple[int, ...] = (8, 8)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype(np.uint8)


@pytest.mark.parametrize("backend", backend_params())
def test_an_image_is_scaled_as_the_training_data(
    image_run: TrainedRun, tmp_path: Path, backend: str
) -> None:
    run = netspec.load_run(image_run.run_dir, backend=backend)
    pixels = _pixels(0)
    Image.fromarray(pixels, mode="L").save(tmp_path / "digit.png")
    from_image = run.predict(str(tmp_path / "digit.png"))
    # digits(normalize = true) trains on values 0..1: a 0..255 pixel is divided by 255.
    from_array = run.predict((pixels / 255.0).reshape(1, 8, 8))
    np.testing.assert_allclose(from_image.outputs, from_array.outputs, rtol=1e-5, atol=1e-6)
    assert from_image.labels == (str(tmp_path / "digit.png"),)
    ((best, name, probability), *_) = from_image.top_k(3)[0]
    assert name == str(best) and probability == from_image.probabilities[0].max()


def test_images_are_converted_to_the_inputs_channels_and_size(
    image_run: TrainedRun, tmp_path: Path
) -> None:
    run = netspec.load_run(image_run.run_dir)
    gray = _pixels(1)
    Image.fromarray(np.stack([gray] * 3, axis=-1), mode="RGB").save(tmp_path / "rgb.png")
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.jpg", quality=100)
    Image.fromarray(np.kron(gray, np.ones((4, 4), np.uint8)), mode="L").save(tmp_path / "big.png")
    outputs = run.predict(*(str(tmp_path / n) for n in ("rgb.png", "gray.jpg", "big.png")))
    expected = run.predict((gray / 255.0).reshape(1, 8, 8)).outputs[0]
    np.testing.assert_allclose(outputs.outputs[0], expected, rtol=1e-5, atol=1e-6)  # RGB -> L
    np.testing.assert_allclose(outputs.outputs[1], expected, atol=0.05)  # JPEG is lossy
    # 32 x 32 blocks of 4 x 4 equal pixels resize back to the 8 x 8 picture.
    np.testing.assert_allclose(outputs.outputs[2], expected, atol=0.05)


def test_an_rgb_input_gets_colour_first(tmp_path: Path) -> None:
    spec = "netspec 1\nmodel m(x: [3, 2, 2]) { flatten -> dense(12, weight = EYE, bias = false) }\n"
    eye = "[" + ", ".join(str([int(i == j) for j in range(12)]) for i in range(12)) + "]"
    program = netspec.load(spec.replace("EYE", eye))
    run = build_run(
        program, program.model(), None, train=None, backend="numpy", dtype="float64", device="cpu"
    )
    picture = np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 20
    Image.fromarray(picture, mode="RGB").save(tmp_path / "colour.png")
    values = run.predict(str(tmp_path / "colour.png")).outputs[0]
    np.testing.assert_allclose(values, (picture.transpose(2, 0, 1) / 255.0).ravel())


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_bytes(b"not a picture"), "cannot read it as an image"),
        (lambda p: p.write_bytes(b""), "cannot read it as an image"),
    ],
)
def test_an_unreadable_image_is_an_error(
    image_run: TrainedRun, tmp_path: Path, write: object, message: str
) -> None:
    path = tmp_path / "broken.png"
    write(path)  # type: ignore[operator]
    with pytest.raises(NetspecError, match=f"{path}: {message}.*expected a PNG or JPEG file"):
        netspec.load_run(image_run.run_dir).predict(str(path))


def test_an_image_for_an_input_no_image_can_fill_is_an_error(tmp_path: Path) -> None:
    program = netspec.load(Path(__file__).parents[2] / "specs" / "relu_worked_example.net")
    run = build_run(
        program, program.model(), None, train=None, backend="numpy", dtype="float32", device="cpu"
    )
    Image.fromarray(_pixels(2), mode="L").save(tmp_path / "digit.png")
    with pytest.raises(NetspecError, match=r"an image cannot fill input 'x' of shape \[2\]"):
        run.predict(str(tmp_path / "digit.png"))


def test_a_flattened_input_takes_a_square_grayscale_image(tmp_path: Path) -> None:
    from netspec.weights import save_weights

    program = netspec.load(Path(__file__).parents[2] / "specs" / "digits.net")
    compiled = netspec.compile(program, "numpy", seed=3)
    save_weights(tmp_path / "w.safetensors", {**compiled.parameters(), **compiled.state()})
    run = build_run(
        program,
        program.model(),
        tmp_path / "w.safetensors",
        train=program.train("digits"),
        backend="numpy",
        dtype="float32",
        device="cpu",
    )
    pixels = _pixels(5)
    Image.fromarray(pixels, mode="L").save(tmp_path / "digit.png")
    prediction = run.predict(str(tmp_path / "digit.png"))
    expected = compiled.forward((pixels.reshape(1, 64) / 255.0).astype(np.float32))
    np.testing.assert_allclose(prediction.outputs, expected, rtol=1e-5, atol=1e-6)


def test_a_16_bit_image_is_not_clipped(image_run: TrainedRun, tmp_path: Path) -> None:
    run = netspec.load_run(image_run.run_dir)
    pixels = _pixels(6)
    Image.fromarray(pixels.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    Image.fromarray(pixels, mode="L").save(tmp_path / "flat.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I;16")
    prediction = run.predict(str(tmp_path / "deep.png"), str(tmp_path / "flat.png"))
    np.testing.assert_allclose(prediction.outputs[0], prediction.outputs[1], rtol=1e-5, atol=1e-6)
    Image.fromarray(pixels.astype(np.float32)).save(tmp_path / "float.tiff")
    (tmp_path / "float.tiff").rename(tmp_path / "float.png")  # Pillow reads by content
    with pytest.raises(NetspecError, match="floating-point pixels, whose range is unknown"):
        run.predict(str(tmp_path / "float.png"))
