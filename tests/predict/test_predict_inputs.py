"""Arrays, .npy/.npz files, CSV rows and literal values as inputs, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.errors import NetspecError
from netspec.predict import LiteralValues
from netspec.runs import Preprocessing, build_run
from tests.conftest import TWO_INPUTS
from tests.predict.conftest import COLOURS, TrainedRun, write_flowers


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


def test_an_npy_suffix_on_an_archive_reads_the_archive_and_literals_may_name_the_input(
    tmp_path: Path,
) -> None:
    path = tmp_path / "named.npy"
    with path.open("wb") as stream:
        np.savez(stream, x=np.array([3.0, 4.0]))
    worked = netspec.load(Path(__file__).parents[2] / "specs" / "relu_worked_example.net")
    run = build_run(
        worked, worked.model(), None, train=None, backend="numpy", dtype="float64", device="cpu"
    )
    prediction = run.predict(str(path), LiteralValues("x=1,0"))
    np.testing.assert_array_equal(prediction.outputs, [[46.0, 0.0], [45.0, 0.0]])
