"""Every kind of input `predict` reads, and the errors of bad ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import netspec
from netspec.errors import NetspecError
from netspec.predict import LiteralValues
from netspec.runs import Preprocessing, build_run
from tests.backends.conftest import backend_params
from tests.conftest import TWO_INPUTS
from tests.predict.conftest import COLOURS, TrainedRun, write_flowers


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


def test_npy_files_hold_one_sample_or_a_batch(image_run: TrainedRun, tmp_path: Path) -> None:
    run = netspec.load_run(image_run.run_dir)
    batch = np.random.default_rng(3).random((4, 1, 8, 8))
    np.save(tmp_path / "batch.npy", batch)
    np.save(tmp_path / "one.npy", batch[0])
    prediction = run.predict(str(tmp_path / "batch.npy"), str(tmp_path / "one.npy"))
    assert prediction.labels == (
        *(f"{tmp_path / 'batch.npy'}[{i}]" for i in range(4)),
        str(tmp_path / "one.npy"),
    )
    np.testing.assert_array_equal(prediction.outputs[4], prediction.outputs[0])
    np.testing.assert_array_equal(
        prediction.outputs,
        run.compiled.forward(np.concatenate([batch, batch[:1]]).astype(np.float32)),
    )


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            (64,),
            r"found shape \[64\]\n"
            r"  help: it has the 64 values of one sample; reshape it to \[1, 8, 8\]",
        ),
        (
            (4, 64),
            r"found shape \[4, 64\]\n"
            r"  help: its rows have the 64 values of a sample; reshape it to \[4, 1, 8, 8\]",
        ),
        ((2, 1, 7, 7), r"found shape \[2, 1, 7, 7\]$"),
    ],
)
def test_an_array_of_the_wrong_shape_says_both_shapes(
    image_run: TrainedRun, tmp_path: Path, shape: tuple[int, ...], message: str
) -> None:
    path = tmp_path / "wrong.npy"
    np.save(path, np.zeros(shape))
    expected = (
        f"{path}: input 'x' takes one sample of shape \\[1, 8, 8\\] or a batch "
        f"\\[N, 1, 8, 8\\], {message}"
    )
    with pytest.raises(NetspecError, match=expected):
        netspec.load_run(image_run.run_dir).predict(str(path))


def test_an_unreadable_npy_file_is_an_error(image_run: TrainedRun, tmp_path: Path) -> None:
    path = tmp_path / "broken.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(NetspecError, match=f"{path}: cannot read it as a .npy array"):
        netspec.load_run(image_run.run_dir).predict(str(path))


def test_npz_and_literals_feed_a_model_of_several_inputs(tmp_path: Path) -> None:
    program = netspec.load(TWO_INPUTS)
    model = program.model()
    compiled = netspec.compile(program, "numpy", dtype="float64", seed=1)
    netspec_weights = {**compiled.parameters(), **compiled.state()}
    from netspec.weights import save_weights

    save_weights(tmp_path / "w.safetensors", netspec_weights)
    run = build_run(
        program,
        model,
        tmp_path / "w.safetensors",
        train=None,
        backend="numpy",
        dtype="float64",
        device="cpu",
    )
    rng = np.random.default_rng(4)
    image, extra = rng.normal(size=(3, 1, 6, 6)), rng.normal(size=(3, 5))
    np.savez(tmp_path / "both.npz", extra=extra, image=image)
    literal = (
        "image="
        + ",".join(map(repr, image[0].ravel().tolist()))
        + ";extra="
        + ",".join(map(repr, extra[0].tolist()))
    )
    prediction = run.predict(
        str(tmp_path / "both.npz"), LiteralValues(literal), image=image[1], extra=extra[1]
    )
    expected = compiled.forward(image=image, extra=extra)
    # The inputs by keyword come first, then the positional ones in order.
    np.testing.assert_allclose(prediction.outputs[0], expected[1], rtol=1e-12)
    np.testing.assert_allclose(prediction.outputs[1:4], expected, rtol=1e-12)
    np.testing.assert_allclose(prediction.outputs[4], expected[0], rtol=1e-12)
    assert prediction.labels[0] == "input" and prediction.labels[4] == literal
    assert prediction.probabilities is None  # no train section: the values as they are

    np.savez(tmp_path / "one.npz", image=image)
    with pytest.raises(
        NetspecError, match=r"one.npz: no array named 'extra'.*\n.*\n  found: image"
    ):
        run.predict(str(tmp_path / "one.npz"))
    np.save(tmp_path / "plain.npy", image)
    with pytest.raises(NetspecError, match=r"has 2 inputs \(image, extra\); give a dict"):
        run.predict(str(tmp_path / "plain.npy"))


def test_csv_rows_are_encoded_as_in_training(csv_run: TrainedRun, tmp_path: Path) -> None:
    run = netspec.load_run(csv_run.run_dir)
    cells = write_flowers(tmp_path / "new.csv", 5, seed=9, target=False)
    prediction = run.predict(str(tmp_path / "new.csv"))
    assert prediction.labels == tuple(f"{tmp_path / 'new.csv'}:{line}" for line in range(2, 7))
    assert prediction.class_names == ("iris", "rose", "tulip")
    # Raw numbers and the colour one-hot, in the training file's order: the model's
    # standardize node applies the training statistics itself.
    encoded = np.array(
        [[float(a), float(b), *(float(c == colour) for colour in COLOURS)] for a, b, c in cells]
    )
    np.testing.assert_allclose(prediction.outputs, run.predict(encoded).outputs, rtol=1e-6)
    assert np.allclose(prediction.probabilities.sum(axis=1), 1.0)


def test_csv_errors_name_the_file_row_and_column(csv_run: TrainedRun, tmp_path: Path) -> None:
    run = netspec.load_run(csv_run.run_dir)
    path = tmp_path / "rows.csv"
    path.write_text("length,colour\n100,red\n")
    with pytest.raises(
        NetspecError,
        match=f"{path}:1: the header has no column 'width'\n"
        "  expected: the columns the model was trained on: length, width, colour\n"
        "  found: length, colour",
    ):
        run.predict(str(path))
    path.write_text("length,width,colour\n100,50,red\n90,40,purple\n")
    with pytest.raises(
        NetspecError,
        match=f"{path}:3: category 'purple' in column 'colour' is not one the model was trained on",
    ):
        run.predict(str(path))
    path.write_text("length,width,colour\n100,wide,red\n")
    with pytest.raises(
        NetspecError, match=f"{path}:2: column 'width' has the value 'wide', which is not a number"
    ):
        run.predict(str(path))


def test_load_run_refuses_what_is_not_a_run(tmp_path: Path, csv_run: TrainedRun) -> None:
    (tmp_path / "data.csv").write_text("")
    with pytest.raises(
        NetspecError, match=r"is not a run directory: it has no run.json\n.*\n  found: data.csv"
    ):
        netspec.load_run(tmp_path)
    with pytest.raises(NetspecError, match="does not exist; expected a run directory"):
        netspec.load_run(tmp_path / "nowhere")
    run = netspec.load_run(csv_run.run_dir)
    assert run.model.name == "flowers" and run.path == csv_run.run_dir
    assert run.train is not None and run.train.loss.kind == "softmax_cross_entropy"
    assert set(run.weights) == {p.name for p in run.model.params} | {
        s.name for s in run.model.state
    }


def test_preprocessing_names_fashion_mnist_classes() -> None:
    program = netspec.load(
        "netspec 1\nmodel m(x: [1, 28, 28]) { flatten -> dense(10) }\n"
        "train m { data fashion_mnist\n loss softmax_cross_entropy\n"
        " optimizer sgd(lr = 0.1)\n epochs 1 }\n"
    )
    names = Preprocessing(train=program.train("m")).class_names
    assert names is not None and names[0] == "T-shirt/top" and names[9] == "Ankle boot"


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


def test_a_binary_classifier_gives_both_classes() -> None:
    from netspec.predict.output import class_probabilities

    program = netspec.load(
        "netspec 1\nmodel m(x: [2]) { dense(1) }\n"
        "train m { data xor\n loss binary_cross_entropy\n optimizer sgd(lr = 0.1)\n epochs 1 }\n"
    )
    logits = np.array([[0.0], [2.0], [-1.0]])
    probabilities = class_probabilities(
        logits, program.model(), Preprocessing(train=program.train("m"))
    )
    assert probabilities is not None
    p = 1 / (1 + np.exp(-logits[:, 0]))
    np.testing.assert_allclose(probabilities, np.stack([1 - p, p], axis=1))
    assert class_probabilities(logits, program.model(), Preprocessing()) is None
