"""csv and npz sources: parsing, encoding fitted on the training split, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netspec.data import load_dataset
from netspec.errors import NetspecError
from netspec.ir.train import CsvData, NpzData

CE = "softmax_cross_entropy"

CSV = """\
size,color,weight,kind
1.0,red,10,b
2.0,blue,20,a
3.0,red,30,b

4.0,green,40,c
5.0,blue,50,a
6.0,red,60,b
7.0,green,70,c
8.0,blue,80,a
"""


def _write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_classification(tmp_path: Path) -> None:
    path = _write(tmp_path, CSV)
    data = load_dataset(
        CsvData(path=str(path), target="kind", categorical=("color",), test=0.0),
        input_shape=(5,),  # size, 3 colours one-hot, weight
        output_shape=(3,),
        loss_kind=CE,
        seed=0,
        dtype="float64",
    )
    assert data.class_names == ("a", "b", "c") and data.num_classes == 3
    np.testing.assert_array_equal(data.train.y, [1, 0, 1, 2, 0, 1, 2, 0])
    x = data.train.x
    size = np.arange(1.0, 9.0)
    # Features stay raw: the model applies the statistics (its standardize node).
    np.testing.assert_array_equal(x[:, 0], size)
    # Categories sorted: blue, green, red.
    np.testing.assert_array_equal(x[:3, 1:4], [[0, 0, 1], [1, 0, 0], [0, 0, 1]])
    encoding = data.encoding
    assert encoding is not None and encoding.mean is not None and encoding.std is not None
    weight = size * 10
    np.testing.assert_allclose(encoding.mean, [size.mean(), 0, 0, 0, weight.mean()])
    np.testing.assert_allclose(encoding.std, [size.std(), 1, 1, 1, weight.std()])
    assert encoding.features == ("size", "color", "weight")
    assert encoding.categories == {"color": ("blue", "green", "red")}
    assert encoding.class_names == ("a", "b", "c")


def test_csv_statistics_come_from_the_training_split(tmp_path: Path) -> None:
    path = _write(tmp_path, CSV)
    data = load_dataset(
        CsvData(path=str(path), target="weight", categorical=("color", "kind"), test=0.25),
        input_shape=(7,),
        output_shape=(1,),
        loss_kind="mse",
        seed=0,
        dtype="float64",
    )
    assert data.num_classes is None and data.train.y.shape == (6, 1)
    assert data.encoding is not None and data.encoding.mean is not None
    train_size = data.train.x[:, 0]
    assert data.encoding.mean[0] == pytest.approx(train_size.mean())
    assert data.encoding.std is not None
    assert data.encoding.std[0] == pytest.approx(train_size.std())
    # Not the whole file's: the two test rows are left out of the statistics.
    assert data.encoding.mean[0] != pytest.approx(4.5)


def test_csv_unseen_category_is_all_zeros(tmp_path: Path) -> None:
    rows = "x,c,y\n" + "".join(f"{i},{'ab'[i % 2]},{i}\n" for i in range(20)) + "99,zzz,0\n"
    path = _write(tmp_path, rows)
    spec = CsvData(path=str(path), target="y", categorical=("c",), standardize=False, test=0.5)
    for seed in range(50):
        data = load_dataset(spec, input_shape=(3,), output_shape=(1,), loss_kind="mse", seed=seed)
        rows_99 = data.test.x[data.test.x[:, 0] == 99]
        if len(rows_99):
            # Categories come from the training split (a, b); 'zzz' encodes as zeros.
            np.testing.assert_array_equal(rows_99, [[99, 0, 0]])
            assert set(map(tuple, data.train.x[:, 1:])) == {(1, 0), (0, 1)}
            return
    pytest.fail("row 99 never landed in the test split")


def test_csv_standardize_off_and_numeric_label_order(tmp_path: Path) -> None:
    path = _write(tmp_path, "a,label\n1,10\n2,2\n3,10\n4,2\n5,1\n6,1\n")
    data = load_dataset(
        CsvData(path=str(path), target="label", standardize=False, test=0.0),
        input_shape=(1,),
        output_shape=(3,),
        loss_kind=CE,
        seed=0,
    )
    assert data.class_names == ("1", "2", "10")  # numerically, not as text
    np.testing.assert_array_equal(data.train.y, [2, 1, 2, 1, 0, 0])
    np.testing.assert_array_equal(data.train.x[:, 0], [1, 2, 3, 4, 5, 6])


def test_csv_relative_path_against_base_dir(tmp_path: Path) -> None:
    _write(tmp_path, CSV)
    data = load_dataset(
        CsvData(path="data.csv", target="kind", categorical=("color",)),
        input_shape=(5,),
        output_shape=(3,),
        loss_kind=CE,
        seed=0,
        base_dir=str(tmp_path),
    )
    assert len(data.train) + len(data.test) == 8


def test_csv_non_numeric_value(tmp_path: Path) -> None:
    path = _write(tmp_path, CSV)
    with pytest.raises(NetspecError) as info:
        load_dataset(
            CsvData(path=str(path), target="kind"),
            input_shape=(3,),
            output_shape=(3,),
            loss_kind=CE,
            seed=0,
        )
    message = str(info.value)
    assert f"{path}:2: column 'color' has the value 'red', which is not a number" in message
    assert 'categorical = ["color"]' in message


def test_csv_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, CSV.replace("4.0,green", "four,green"))
    with pytest.raises(NetspecError, match=r"data.csv:6: column 'size' has the value 'four'"):
        load_dataset(
            CsvData(path=str(path), target="kind", categorical=("color",)),
            input_shape=(5,),
            output_shape=(3,),
            loss_kind=CE,
            seed=0,
        )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (CsvData(path="data.csv", target="knd"), "target 'knd' is not a column of the file"),
        (CsvData(path="data.csv", target="kind", categorical=("colour",)), "did you mean 'color'"),
        (CsvData(path="missing.csv", target="kind"), "file 'missing.csv' not found"),
    ],
)
def test_csv_spec_errors(tmp_path: Path, spec: CsvData, expected: str) -> None:
    _write(tmp_path, CSV)
    with pytest.raises(NetspecError) as info:
        load_dataset(
            spec,
            input_shape=(5,),
            output_shape=(3,),
            loss_kind=CE,
            seed=0,
            base_dir=str(tmp_path),
        )
    assert expected in str(info.value)


def test_csv_ragged_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "a,b\n1,2\n3\n")
    with pytest.raises(NetspecError, match=r"data.csv:3: 1 values, expected 2"):
        load_dataset(
            CsvData(path=str(path), target="b"),
            input_shape=(1,),
            output_shape=(1,),
            loss_kind="mse",
            seed=0,
        )


def test_csv_regression_target_must_be_numeric(tmp_path: Path) -> None:
    path = _write(tmp_path, CSV)
    with pytest.raises(NetspecError, match="column 'kind' has the value 'b'"):
        load_dataset(
            CsvData(path=str(path), target="kind", categorical=("color",)),
            input_shape=(5,),
            output_shape=(1,),
            loss_kind="mse",
            seed=0,
        )


def test_npz_with_and_without_test_arrays(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 3, 4), dtype=np.uint8)
    y = np.arange(40) % 4
    np.savez(tmp_path / "both.npz", x_train=x, y_train=y, x_test=x[:5], y_test=y[:5])
    np.savez(tmp_path / "train_only.npz", images=x, labels=y.astype(np.float64))
    both = load_dataset(
        NpzData(path=str(tmp_path / "both.npz")),
        input_shape=(3, 4),
        output_shape=(4,),
        loss_kind=CE,
        seed=0,
    )
    assert len(both.train) == 40 and len(both.test) == 5 and both.num_classes == 4
    np.testing.assert_allclose(both.train.x * 255, x, rtol=1e-6)
    only = load_dataset(
        NpzData(
            path=str(tmp_path / "train_only.npz"), x="images", y="labels", test=0.25, one_hot=True
        ),
        input_shape=(12,),
        output_shape=(4,),
        loss_kind=CE,
        seed=0,
    )
    assert only.train.x.shape == (30, 12) and only.test.y.shape == (10, 4)
    assert only.train.y.dtype == np.float32 and np.all(only.train.y.sum(axis=1) == 1)


def test_npz_regression_targets(tmp_path: Path) -> None:
    np.savez(tmp_path / "r.npz", x_train=np.ones((10, 2)), y_train=np.arange(10.0))
    data = load_dataset(
        NpzData(path=str(tmp_path / "r.npz"), test=0.2),
        input_shape=(2,),
        output_shape=(1,),
        loss_kind="l1",
        seed=0,
    )
    assert data.train.y.shape == (8, 1) and data.train.y.dtype == np.float32
    with pytest.raises(NetspecError) as info:
        load_dataset(
            NpzData(path=str(tmp_path / "r.npz")),
            input_shape=(2,),
            output_shape=(3,),
            loss_kind="mse",
            seed=0,
        )
    message = str(info.value)
    assert (
        "regression targets have shape (1,) per sample, but the model's output is (3,)" in message
    )
    assert "dense(1)" in message


@pytest.mark.parametrize(
    ("arrays", "spec", "expected"),
    [
        ({"x_train": np.ones((4, 2)), "y": np.zeros(4)}, {}, "no array 'y_train'"),
        (
            {"x_train": np.ones((4, 2)), "y_train": np.zeros(3)},
            {},
            "x_train has 4 samples but y_train has 3",
        ),
        (
            {"x_train": np.ones((4, 2)), "y_train": np.zeros(4), "x_test": np.ones((1, 2))},
            {},
            "has 'x_test' but not 'y_test'",
        ),
        (
            {"x_train": np.ones((4, 2)), "y_train": np.array([0, 1, 0.5, 1])},
            {},
            "y_train[2] = 0.5 is not a class label",
        ),
    ],
)
def test_npz_errors(tmp_path: Path, arrays: dict, spec: dict, expected: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(NetspecError) as info:
        load_dataset(
            NpzData(path=str(tmp_path / "d.npz"), **spec),
            input_shape=(2,),
            output_shape=(2,),
            loss_kind=CE,
            seed=0,
        )
    assert expected in str(info.value)


def test_npz_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(NetspecError, match=r"not a readable \.npz file"):
        load_dataset(
            NpzData(path=str(tmp_path / "bad.npz")),
            input_shape=(2,),
            output_shape=(2,),
            loss_kind=CE,
            seed=0,
        )
