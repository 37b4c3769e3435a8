"""A model trained on a standardised csv file answers raw inputs correctly everywhere.

The features have mean 100 and standard deviation 20, so a model that forgot the
training split's statistics would be far off. After ``netspec train``, the generated
module of every framework (fed raw features and the run's weight file), the in-memory
model of ``netspec.compile`` and ``netspec eval`` must all give the run's test loss.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import netspec
from netspec.cli import main
from netspec.data import CsvEncoding, load_dataset, read_encoding
from netspec.errors import NetspecError
from netspec.ir.train import CsvData

FRAMEWORKS = {"torch": "torch", "jax": "jax", "numpy": "numpy"}
COLOURS = ("blue", "green", "red")

SPEC = """\
netspec 1

model reg(x: [6]) {
    dense(16) -> relu
    dense(1)
}

train reg {
    data csv(path = "data.csv", target = "y", categorical = ["colour"])
    loss mse
    optimizer adam(lr = 0.01)
    epochs 15
}
"""


def _frameworks() -> list[object]:
    return [
        pytest.param(
            name,
            id=name,
            marks=pytest.mark.skipif(
                importlib.util.find_spec(module) is None,
                reason=f"{module} is not installed (pip install netspec[{name}])",
            ),
        )
        for name, module in FRAMEWORKS.items()
    ]


def _write_csv(path: Path, features: np.ndarray, colours: np.ndarray, y: np.ndarray) -> None:
    lines = ["a,b,c,colour,y"]
    for row, colour, target in zip(features.tolist(), colours.tolist(), y.tolist(), strict=True):
        lines.append(",".join(repr(float(v)) for v in row) + f",{colour},{float(target)!r}")
    path.write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Run:
    folder: Path
    spec: Path
    run_dir: Path
    test_loss: float
    # The test split's rows, raw as in the file: numeric features, colour, target.
    features: np.ndarray
    colours: np.ndarray
    y: np.ndarray

    @property
    def weights(self) -> Path:
        return self.run_dir / "weights.safetensors"

    def inputs(self) -> np.ndarray:
        """The model's raw input: numeric columns as they are, colour one-hot in the
        order the run recorded."""
        record = json.loads((self.run_dir / "run.json").read_text())["csv_encoding"]
        categories = record["categories"]["colour"]
        onehot = (self.colours[:, None] == np.array(categories)[None, :]).astype(np.float64)
        return np.concatenate([self.features, onehot], axis=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("csv")
    rng = np.random.default_rng(0)
    n = 400
    features = rng.normal(100.0, 20.0, (n, 3))
    colours = rng.choice(np.array(COLOURS), n)
    z = (features - 100.0) / 20.0
    y = z @ np.array([1.5, -2.0, 0.5]) + (colours == "red") + rng.normal(0.0, 0.1, n)
    _write_csv(folder / "data.csv", features, colours, y)
    spec = folder / "reg.net"
    spec.write_text(SPEC)
    run_dir = folder / "run"
    assert main(["train", str(spec), "--out", str(run_dir), "--quiet"]) == 0
    final = json.loads((run_dir / "final.json").read_text())
    # The test split's targets, matched to the file's rows (every target is distinct).
    program = netspec.load(spec)
    section = program.train("reg")
    assert section is not None
    data = load_dataset(
        section.data,
        input_shape=(6,),
        output_shape=(1,),
        loss_kind="mse",
        seed=section.seed,
        base_dir=str(folder),
    )
    assert data.test is not None
    row_of = {float(np.float32(t)): i for i, t in enumerate(y)}
    rows = np.array([row_of[float(t)] for t in data.test.y[:, 0]])
    return Run(folder, spec, run_dir, final["test_loss"], features[rows], colours[rows], y[rows])


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def _generated_predictions(run: Run, backend: str, x: np.ndarray) -> np.ndarray:
    target = run.folder / f"generated_{backend}.py"
    assert main(["compile", str(run.spec), "--backend", backend, "-o", str(target)]) == 0
    module = _import(target, f"netspec_csv_generated_{backend}")
    if backend == "torch":
        import torch

        model = module.load_netspec_weights(module.Reg(), str(run.weights)).eval()
        with torch.no_grad():
            return model(torch.tensor(x, dtype=torch.float32)).numpy()
    if backend == "jax":
        params = module.load_netspec_weights(str(run.weights))
        return np.asarray(module.apply(params, x.astype(np.float32))[0])
    model = module.Reg(module.load_netspec_weights(str(run.weights)))
    return model.forward(x.astype(np.float32))


def _mse(prediction: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(prediction, dtype=np.float64)[:, 0] - y) ** 2))


@pytest.mark.parametrize("backend", _frameworks())
def test_generated_module_on_raw_features_gives_the_runs_test_loss(run: Run, backend: str) -> None:
    loss = _mse(_generated_predictions(run, backend, run.inputs()), run.y)
    assert loss == pytest.approx(run.test_loss, rel=1e-4)


@pytest.mark.parametrize("backend", _frameworks())
def test_netspec_compile_with_the_runs_weights_takes_raw_features(run: Run, backend: str) -> None:
    x = run.inputs().astype(np.float32)
    model = netspec.compile(str(run.spec), backend, params=str(run.weights))
    if backend == "torch":
        import torch

        with torch.no_grad():
            prediction = model.eval()(torch.tensor(x)).numpy()
    elif backend == "jax":
        init, apply = model
        prediction = np.asarray(apply(init(), x)[0])
    else:
        prediction = model.forward(x)
    assert _mse(prediction, run.y) == pytest.approx(run.test_loss, rel=1e-4)


@pytest.mark.parametrize("backend", _frameworks())
def test_eval_gives_the_runs_test_loss(
    run: Run, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["eval", str(run.spec), "--weights", str(run.weights), "--backend", backend])
    assert code == 0
    assert f"test: loss {run.test_loss:.4f} ({len(run.y)} samples)" in capsys.readouterr().out


def test_eval_of_the_run_directory_uses_its_weights_encoding(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file without one of the training categories: encoded afresh, it would give the
    # model one input too few; encoded as in training (the weights' record), it fits.
    other = run.folder / "no-green.csv"
    _write_csv(other, run.features, np.where(run.colours == "green", "red", run.colours), run.y)
    source = f'csv(path = "{other}", target = "y", categorical = ["colour"], test = 0.5)'
    printed = []
    for weights in (run.weights, run.run_dir):
        assert main(["eval", str(run.spec), "--weights", str(weights), "--data", source]) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1]


def test_eval_on_another_file_uses_the_training_statistics(
    run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    # A new file whose own statistics differ from the training split's (the test rows,
    # shifted): its rows must be read with the statistics and categories of training.
    shifted = run.features + 15.0
    other = run.folder / "other.csv"
    _write_csv(other, shifted, run.colours, run.y)
    source = f'csv(path = "{other}", target = "y", categorical = ["colour"], test = 0.5)'
    code = main(["eval", str(run.spec), "--weights", str(run.weights), "--data", source])
    assert code == 0
    printed = re.search(r"test: loss (\d+\.\d+)", capsys.readouterr().out)
    assert printed is not None
    # The rows eval scored, found by their targets, scored by the generated NumPy module.
    encoding = read_encoding(run.weights)
    data = load_dataset(
        CsvData(path=str(other), target="y", categorical=("colour",), test=0.5),
        input_shape=(6,),
        output_shape=(1,),
        loss_kind="mse",
        seed=0,
        encoding=encoding,
    )
    assert data.test is not None
    row_of = {float(np.float32(t)): i for i, t in enumerate(run.y)}
    rows = np.array([row_of[float(t)] for t in data.test.y[:, 0]])
    moved = Run(
        run.folder, run.spec, run.run_dir, 0.0, shifted[rows], run.colours[rows], run.y[rows]
    )
    expected = _mse(_generated_predictions(moved, "numpy", moved.inputs()), moved.y)
    assert float(printed.group(1)) == pytest.approx(expected, abs=6e-5)


def test_the_run_records_its_encoding_beside_the_statistics(run: Run) -> None:
    encoding = read_encoding(run.weights)
    assert encoding is not None
    assert encoding.features == ("a", "b", "c", "colour")
    assert encoding.categories == {"colour": COLOURS}
    assert encoding.class_names is None
    # A checkpoint finds the record in its run's run.json.
    checkpoint = next((run.run_dir / "checkpoints").glob("epoch-*.weights.safetensors"))
    assert read_encoding(checkpoint) is not None
    from netspec.weights import load_weights

    weights = load_weights(run.weights)
    assert set(weights) >= {"standardize.mean", "standardize.std"}
    np.testing.assert_allclose(weights["standardize.mean"][:3], 100.0, rtol=0.05)
    np.testing.assert_allclose(weights["standardize.std"][:3], 20.0, rtol=0.1)
    np.testing.assert_array_equal(weights["standardize.mean"][3:], 0.0)
    np.testing.assert_array_equal(weights["standardize.std"][3:], 1.0)


def test_eval_refuses_an_unseen_category(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    colours = np.full(len(run.y), "purple")
    other = run.folder / "purple.csv"
    _write_csv(other, run.features, colours, run.y)
    source = f'csv(path = "{other}", target = "y", categorical = ["colour"])'
    code = main(["eval", str(run.spec), "--weights", str(run.weights), "--data", source])
    assert code == 1
    error = capsys.readouterr().err
    assert "category 'purple' in column 'colour' is not one the model was trained on" in error
    assert "expected one of: 'blue', 'green', 'red'" in error
    assert f"{other}:" in error


def test_saved_class_names_fix_the_label_codes(tmp_path: Path) -> None:
    # A file lacking class 'b' would map 'c' to 1 if fitted afresh; the saved names keep 2.
    path = tmp_path / "labels.csv"
    path.write_text("v,kind\n" + "".join(f"{i},{'ac'[i % 2]}\n" for i in range(10)))
    saved = CsvEncoding(features=("v",), class_names=("a", "b", "c"))
    spec = CsvData(path=str(path), target="kind", test=0.0)
    data = load_dataset(
        spec,
        input_shape=(1,),
        output_shape=(3,),
        loss_kind="softmax_cross_entropy",
        seed=0,
        encoding=saved,
    )
    np.testing.assert_array_equal(data.train.y, [0, 2] * 5)
    assert data.class_names == ("a", "b", "c")
    with pytest.raises(NetspecError, match=r"labels.csv:2: class 'a' in column 'kind' is not"):
        load_dataset(
            spec,
            input_shape=(1,),
            output_shape=(3,),
            loss_kind="softmax_cross_entropy",
            seed=0,
            encoding=CsvEncoding(features=("v",), class_names=("b", "c")),
        )
    with pytest.raises(NetspecError, match=r"feature columns are v, but the model was trained"):
        load_dataset(
            spec,
            input_shape=(1,),
            output_shape=(3,),
            loss_kind="softmax_cross_entropy",
            seed=0,
            encoding=CsvEncoding(features=("w",), class_names=("a", "c")),
        )


def test_a_spec_without_a_standardised_csv_has_no_standardize_node() -> None:
    program = netspec.load(SPEC.replace('categorical = ["colour"]', "standardize = false"))
    assert [node.op.kind for node in program.model().nodes] == ["dense", "relu", "dense"]
    assert program.model().state == ()


def test_a_standardised_csv_given_with_data_needs_the_node(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The spec trains on synthetic data: its model has no standardize node to keep the
    # statistics.
    spec = tmp_path / "linear.net"
    spec.write_text(
        SPEC.replace(
            'csv(path = "data.csv", target = "y", categorical = ["colour"])',
            "linear(features = 6)",
        )
    )
    source = f'csv(path = "{run.folder / "data.csv"}", target = "y", categorical = ["colour"])'
    code = main(["train", str(spec), "--data", source, "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 1
    error = capsys.readouterr().err
    assert "data csv standardises its features, but model 'reg' has no standardize node" in error
    assert "add standardize = false to --data" in error
    # Unstandardised, the same file trains (and the model sees the raw features).
    raw = source[:-1] + ", standardize = false)"
    assert main(["train", str(spec), "--data", raw, "--out", str(tmp_path / "r"), "--quiet"]) == 0


def test_the_standardize_node_is_declared_in_the_checked_ir() -> None:
    plain = netspec.load(SPEC.replace('categorical = ["colour"]', "standardize = false")).model()
    model = netspec.load(SPEC).model()
    first = model.nodes[0]
    assert (first.name, first.op.kind, first.inputs) == ("standardize", "standardize", ("x",))
    assert model.nodes[1].inputs == ("standardize",)
    assert [(s.name, s.shape, s.fill) for s in model.state] == [
        ("standardize.mean", (6,), 0.0),
        ("standardize.std", (6,), 1.0),
    ]
    # Everything else is the model as written: same parameters, same later nodes.
    assert model.params == plain.params
    assert [n.op for n in model.nodes[1:]] == [n.op for n in plain.nodes]
    from netspec.summary import summary_table

    table = summary_table(model)
    assert "standardize  standardize  [6]" in table
    assert "(+12 input statistics)" in table


def test_the_node_takes_a_free_name() -> None:
    # A node the spec names "standardize" keeps its name; the inserted node steps aside.
    model = netspec.load(
        SPEC.replace("dense(16) -> relu", "standardize = dense(16)\n    relu")
    ).model()
    assert model.nodes[0].name == "standardize_2"
    assert model.nodes[1].name == "standardize" and model.nodes[1].inputs == ("standardize_2",)
    assert [s.name for s in model.state] == ["standardize_2.mean", "standardize_2.std"]
