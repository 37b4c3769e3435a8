"""The text source (character windows and next-character targets) and integer npz data:
indices stay integer, targets are one label per step, and bad files say what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netspec.data import Dataset, load_dataset
from netspec.errors import NetspecError
from netspec.ir.train import DigitsData, NpzData, TextData
from tests.conftest import ROOT

SHAKESPEARE = ROOT / "specs" / "data" / "tiny_shakespeare.txt"


def _load(
    spec: object,
    window: int,
    classes: int,
    *,
    input_dtype: str = "int64",
    loss: str = "softmax_cross_entropy",
    output: tuple[int, ...] | None = None,
) -> Dataset:
    return load_dataset(
        spec,  # type: ignore[arg-type]
        input_shape=(window,),
        output_shape=output or (window, classes),
        loss_kind=loss,
        seed=0,
        input_dtype=input_dtype,
    )


def _write(tmp_path: Path, text: bytes, name: str = "t.txt") -> str:
    path = tmp_path / name
    path.write_bytes(text)
    return str(path)


def test_windows_are_indices_and_targets_the_next_character(tmp_path: Path) -> None:
    text = "abcabcabd\nxyz" * 3
    data = _load(TextData(path=_write(tmp_path, text.encode()), window=4, test=0), 4, 9)
    vocabulary = sorted(set(text))
    assert data.vocabulary == tuple(vocabulary)
    assert data.num_classes == len(vocabulary)
    x, y = data.train.x, data.train.y
    assert x.dtype == np.int64 and y.dtype == np.int64
    decoded = ["".join(vocabulary[i] for i in row) for row in x]
    # Windows every 4 characters (no overlap), each needing the character after it.
    assert decoded == [text[i : i + 4] for i in range(0, len(text) - 4, 4)]
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    assert ["".join(vocabulary[i] for i in row) for row in y] == [
        text[i + 1 : i + 5] for i in range(0, len(text) - 4, 4)
    ]


def test_the_test_set_is_the_end_of_the_text_and_no_training_window_reaches_it(
    tmp_path: Path,
) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(203))
    spec = TextData(path=_write(tmp_path, text.encode()), window=10, stride=3, test=0.2)
    data = _load(spec, 10, 26)
    # 65 windows start every 3 characters (0 .. 192); the last 13 (from 156) are the test
    # set; a training window with its target (11 characters) must end before 156.
    assert data.test is not None and len(data.test) == 13
    assert data.test.x[0, 0] == ord(text[156]) - ord("a")
    assert len(data.train) == len(range(0, 147, 3)) == 49
    assert data.train.x[-1, 0] == ord(text[144]) - ord("a")


def test_validation_is_a_random_part_of_the_training_windows() -> None:
    spec = TextData(path=str(SHAKESPEARE), window=64, validation=0.1, test=0.1)
    data = _load(spec, 64, 61)
    assert data.validation is not None and data.test is not None
    total = len(data.train) + len(data.validation) + len(data.test)
    assert total == (149_961 - 1) // 64
    assert len(data.test) == round(0.1 * total)
    assert data.vocabulary is not None and len(data.vocabulary) == 61
    assert data.describe().splitlines()[0] == (
        "text: inputs (64,) int64, 61 classes, int64 labels per step (64,)"
    )


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = _write(tmp_path, "café".encode("latin-1"))
    with pytest.raises(NetspecError) as info:
        _load(TextData(path=path, window=2), 2, 4)
    message = str(info.value)
    assert "is not UTF-8 text: byte 0xe9 at offset 3" in message
    assert "iconv" in message


def test_a_text_shorter_than_the_window_says_how_long_it_must_be(tmp_path: Path) -> None:
    path = _write(tmp_path, b"hello")
    with pytest.raises(NetspecError) as info:
        _load(TextData(path=path, window=5), 5, 4)
    message = str(info.value)
    assert "has 5 characters, too few for one window of 5 and the character that follows" in message
    assert "(at least 6)" in message and "window" in message


def test_a_byte_order_mark_is_not_a_character(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeffabab".encode())
    data = _load(TextData(path=path, window=2, test=0), 2, 2)
    assert data.vocabulary == ("a", "b")


def test_text_into_a_float_input_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"abcabcabc")
    with pytest.raises(NetspecError) as info:
        _load(TextData(path=path, window=3, test=0), 3, 3, input_dtype="float32")
    message = str(info.value)
    assert (
        "data text gives integer indices, samples (3,), but the model's input is float32" in message
    )
    assert "x: int64[3]" in message and "embedding(num, dim)" in message


def test_floats_into_an_integer_input_are_refused() -> None:
    with pytest.raises(NetspecError) as info:
        load_dataset(
            DigitsData(flatten=True),
            input_shape=(64,),
            output_shape=(10,),
            loss_kind="softmax_cross_entropy",
            seed=0,
            input_dtype="int64",
        )
    message = str(info.value)
    assert "data digits gives float32 samples, but the model's input x is int64 [64]" in message


def test_an_output_too_narrow_for_the_vocabulary_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"abcdabcdabcd")
    with pytest.raises(NetspecError) as info:
        _load(TextData(path=path, window=3, test=0), 3, 3)
    message = str(info.value)
    assert "targets hold label 3" in message and "the model has 3 outputs per step" in message
    assert "vocabulary of 4 characters" in message


def test_per_step_labels_need_an_output_per_step(tmp_path: Path) -> None:
    path = _write(tmp_path, b"abcabcabc")
    with pytest.raises(NetspecError, match=r"so the model's output must be \[steps, classes\]"):
        _load(TextData(path=path, window=3, test=0), 3, 3, output=(3,))
    with pytest.raises(
        NetspecError, match="which needs softmax_cross_entropy, but the loss is mse"
    ):
        _load(TextData(path=path, window=3, test=0), 3, 3, loss="mse")


def test_integer_npz_arrays_stay_integer_with_labels_per_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, size=(30, 8)).astype(np.int32)
    y = rng.integers(0, 5, size=(30, 8))
    np.savez(tmp_path / "seq.npz", x_train=x, y_train=y)
    data = _load(NpzData(path=str(tmp_path / "seq.npz"), test=0.2), 8, 5)
    assert data.train.x.dtype == np.int64 and data.train.y.dtype == np.int64
    assert data.train.y.shape[1:] == (8,)
    assert len(data.train) + len(data.test or ()) == 30  # type: ignore[arg-type]
    # The same file into a float input: floats, as before.
    floats = load_dataset(
        NpzData(path=str(tmp_path / "seq.npz"), test=0.2),
        input_shape=(8,),
        output_shape=(8, 5),
        loss_kind="softmax_cross_entropy",
        seed=0,
    )
    assert floats.train.x.dtype == np.float32
