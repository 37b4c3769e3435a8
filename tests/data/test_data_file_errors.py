"""Bad values and malformed files in csv and npz sources: each error names the place in
the file (csv line and column, npz array index), shows the value as the file has it,
and no NumPy warning leaks out on the way."""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from netspec.data import load_dataset
from netspec.data._checks import continuous_note
from netspec.data._types import Dataset
from netspec.errors import NetspecError
from netspec.ir.train import CsvData, NpzData

CE = "softmax_cross_entropy"
MSE = "mse"

# 40 rows; line n + 2 holds row n (line 1 is the header).
ROWS = "a,b,y\n" + "".join(f"{i},{i * 2},{i % 3}\n" for i in range(40))


def _load(spec: object, *, loss: str = MSE, outputs: int = 1, dtype: str = "float32") -> Dataset:
    """Load with every warning turned into an error, so that none can leak."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_dataset(
            spec,  # type: ignore[arg-type]
            input_shape=(2,),
            output_shape=(outputs,),
            loss_kind=loss,
            seed=0,
            dtype=dtype,
        )


def _csv(tmp_path: Path, text: str, **options: object) -> CsvData:
    path = tmp_path / "data.csv"
    path.write_text(text)
    return CsvData(path=str(path), target="y", **options)  # type: ignore[arg-type]


def _error(spec: object, **kw: object) -> str:
    with pytest.raises(NetspecError) as info:
        _load(spec, **kw)  # type: ignore[arg-type]
    return str(info.value)


# ---------------------------------------------------------------- csv cells


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN"])
@pytest.mark.parametrize(("column", "loss"), [("b", CE), ("y", MSE)])
def test_csv_non_finite_cell_is_located(tmp_path: Path, text: str, column: str, loss: str) -> None:
    def bad(a: int) -> str:
        return f"{a},{text},2\n" if column == "b" else f"{a},{2 * a},{text}\n"

    rows = ROWS.replace("5,10,2\n", bad(5)).replace("9,18,0\n", bad(9))
    message = _error(_csv(tmp_path, rows), loss=loss, outputs=3 if loss == CE else 1)
    assert f"data.csv:7: column '{column}' has the value '{text}'" in message
    assert "which is not a finite number" in message and "beyond" not in message
    assert "2 cells of the numeric columns are not finite" in message


def test_csv_first_bad_cell_is_in_file_order(tmp_path: Path) -> None:
    rows = ROWS.replace("3,6,0\n", "3,nan,0\n").replace("2,4,2\n", "2,4,inf\n")
    message = _error(_csv(tmp_path, rows))
    assert "data.csv:4: column 'y' has the value 'inf'" in message


def test_csv_number_beyond_float64(tmp_path: Path) -> None:
    message = _error(_csv(tmp_path, ROWS.replace("5,10,2\n", "5,1e400,2\n")), dtype="float64")
    assert "data.csv:7: column 'b' has the value '1e400', which is not a finite number" in message
    assert "(beyond float64 range)" in message


def test_csv_number_out_of_float32_range(tmp_path: Path) -> None:
    spec = _csv(tmp_path, ROWS.replace("5,10,2\n", "5,1e300,2\n"), standardize=False)
    message = _error(spec)
    assert "data.csv:7: column 'b' has the value '1e300', out of float32 range" in message
    assert "not finite (" not in message and "--dtype float64" in message
    data = _load(spec, dtype="float64")  # representable there: accepted as is
    assert 1e300 in np.concatenate([data.train.x[:, 1], data.test.x[:, 1]])


# ---------------------------------------------------------------- csv labels


@pytest.mark.parametrize(("cell", "shown"), [("nan", "the label 'nan'"), ("", "no value")])
def test_csv_missing_class_label(tmp_path: Path, cell: str, shown: str) -> None:
    rows = ROWS.replace("5,10,2\n", f"5,10,{cell}\n")
    message = _error(_csv(tmp_path, rows), loss=CE, outputs=3)
    assert f"data.csv:7: the target column 'y' has {shown}, a missing class label" in message


def test_csv_text_label_nan_is_a_class(tmp_path: Path) -> None:
    rows = "a,b,y\n" + "".join(f"{i},{i},{['cat', 'dog', 'nan'][i % 3]}\n" for i in range(30))
    data = _load(_csv(tmp_path, rows), loss=CE, outputs=3)
    assert data.class_names == ("cat", "dog", "nan")


def test_csv_label_out_of_range_shows_its_text(tmp_path: Path) -> None:
    rows = "a,b,y\n" + "".join(f"{i},{i},{'abcd'[i % 4]}\n" for i in range(40))
    message = _error(_csv(tmp_path, rows, test=0.0), loss=CE, outputs=3)
    assert "train label 'd' (class 3, first on " in message
    assert "data.csv:5) is out of range for the model's 3 outputs" in message


# ---------------------------------------------------------------- csv structure


def test_csv_unclosed_quote_is_blamed_where_it_opens(tmp_path: Path) -> None:
    message = _error(_csv(tmp_path, ROWS.replace("5,10,2\n", '5,"10,2\n')))
    assert "data.csv:7: the quote that opens column 'b' on this line is not closed" in message
    assert "runs on to line 41" in message


def test_csv_unclosed_quote_in_the_header(tmp_path: Path) -> None:
    message = _error(_csv(tmp_path, ROWS.replace("a,b,y", 'a,"b,y', 1)))
    assert "data.csv:1: the quote that opens the header's column 2 on this line" in message


@pytest.mark.parametrize("loss", [MSE, CE])
def test_csv_unclosed_quote_in_the_last_column(tmp_path: Path, loss: str) -> None:
    # The rest of the file becomes one value of the right row: the count cannot tell.
    message = _error(_csv(tmp_path, ROWS.replace("5,10,2\n", '5,10,"2\n')), loss=loss, outputs=3)
    assert "data.csv:7: the quote that opens column 'y' on this line is not closed" in message


def test_csv_one_row_is_too_few_to_split(tmp_path: Path) -> None:
    message = _error(_csv(tmp_path, "a,b,y\n1,2,3\n"))
    assert "too few samples to split: test = 0.2 needs at least 2 samples" in message
    assert "1/1" not in message


# ---------------------------------------------------------------- continuous targets


def test_regression_csv_under_a_classification_loss(tmp_path: Path) -> None:
    rows = "a,b,y\n" + "".join(f"{i},{i},{i * 1.37:.3f}\n" for i in range(500))
    message = _error(_csv(tmp_path, rows), loss=CE, outputs=1)
    assert "look like continuous targets" in message and "fractional values" in message
    assert "`loss mse`" in message and "dense(500)" not in message


def test_many_distinct_integer_labels_look_continuous(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x_train=np.ones((300, 2)), y_train=np.arange(300) * 7)
    message = _error(NpzData(path=str(tmp_path / "d.npz")), loss=CE, outputs=10)
    assert "the targets take 300 distinct values in 300 samples" in message
    assert "`loss mse`" in message


def test_classes_do_not_look_continuous() -> None:
    assert continuous_note(np.arange(1000) % 10, None) is None
    assert continuous_note(np.arange(19), None) is None  # few values, however few rows
    assert continuous_note(np.arange(60) % 25, None) is None  # 25 classes, 60 rows
    assert continuous_note(np.arange(40) % 25, None) is not None  # 25 values, 40 rows
    assert continuous_note(np.zeros(3, np.int64), ("cat", "1.5", "dog")) is None
    assert continuous_note(np.zeros(3, np.int64), ("1", "2.5", "3")) is not None


# ---------------------------------------------------------------- npz


def _npz(tmp_path: Path, **arrays: np.ndarray) -> NpzData:
    np.savez(tmp_path / "d.npz", **arrays)
    return NpzData(path=str(tmp_path / "d.npz"))


@pytest.mark.parametrize(
    ("labels", "shown"),
    [
        (np.array([0, 1, 2**63, 1], dtype=np.uint64), "y_train[2] = 9223372036854775808"),
        (np.array([0, 1, 1e20, 1]), "y_train[2] = 1e+20"),
    ],
)
def test_npz_huge_label_is_shown_as_it_is(tmp_path: Path, labels: np.ndarray, shown: str) -> None:
    message = _error(_npz(tmp_path, x_train=np.ones((4, 2)), y_train=labels), loss=CE, outputs=3)
    assert f"{shown} is too large to be a class label" in message
    assert "-9223372036854775808" not in message


def test_npz_non_finite_input_is_named_by_its_index_in_the_file(tmp_path: Path) -> None:
    x = np.ones((10, 2))
    x[3, 1], x[7, 0] = np.nan, np.inf
    spec = _npz(tmp_path, x_train=x, y_train=np.arange(10) % 2)
    message = _error(spec.model_copy(update={"test": 0.5}), loss=CE, outputs=2)
    assert "x_train[3, 1] = nan is not finite" in message
    assert "2 values of x_train are not finite" in message


def test_npz_non_finite_regression_target(tmp_path: Path) -> None:
    y = np.zeros(10)
    y[4] = np.nan
    message = _error(_npz(tmp_path, x_train=np.ones((10, 2)), y_train=y))
    assert "y_train[4] = nan is not finite" in message


def test_npz_value_out_of_float32_range(tmp_path: Path) -> None:
    x = np.ones((10, 2))
    x[6, 0] = -1e300
    spec = _npz(tmp_path, x_train=x, y_train=np.arange(10.0))
    message = _error(spec)
    assert "x_train[6, 0] = -1e+300 is out of float32 range" in message
    data = _load(spec, dtype="float64")
    assert -1e300 in np.concatenate([data.train.x[:, 0], data.test.x[:, 0]])


def _raw_npz(tmp_path: Path, members: dict[str, bytes]) -> NpzData:
    with zipfile.ZipFile(tmp_path / "raw.npz", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return NpzData(path=str(tmp_path / "raw.npz"))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("member", ["x_train.npy", "x_train"])
def test_npz_member_that_is_not_npy(tmp_path: Path, member: str) -> None:
    spec = _raw_npz(tmp_path, {member: b"hello world", "y_train.npy": _npy(np.zeros(4))})
    message = _error(spec)
    assert f"raw.npz: member '{member}' is not a .npy array (11 bytes of other data)" in message


def test_npz_truncated_member(tmp_path: Path) -> None:
    members = {"x_train.npy": _npy(np.ones((40, 2)))[:200], "y_train.npy": _npy(np.zeros(40))}
    message = _error(_raw_npz(tmp_path, members))
    assert "member 'x_train.npy' is not a readable .npy array" in message
    assert "Python objects" not in message
