"""`netspec predict` from the command line: the worked examples, formats, -o, weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netspec.cli import EXIT_OK, EXIT_SPEC, EXIT_USAGE, main
from tests.backends.conftest import backend_params
from tests.predict.conftest import TrainedRun

ROOT = Path(__file__).resolve().parents[2]

# The books' worked examples: a spec whose weights are all written in it, one input,
# and the output the book gives.
WORKED = [
    pytest.param("relu_worked_example.net", "3,4", (46.0, 0.0), 1e-6, id="relu"),
    pytest.param("sigmoid_worked_example.net", "1.0,0.5", (0.3168, 0.6963), 1e-4, id="sigmoid"),
]


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize(("spec", "values", "expected", "tolerance"), WORKED)
def test_worked_examples_reproduce_without_weights(
    spec: str,
    values: str,
    expected: tuple[float, ...],
    tolerance: float,
    backend: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["predict", str(ROOT / "specs" / spec), "--input", values, "--backend", backend]
    assert main([*argv, "--format", "json"]) == EXIT_OK
    (record,) = json.loads(capsys.readouterr().out)
    assert record["input"] == values
    np.testing.assert_allclose(record["output"], expected, atol=tolerance)
    assert main(argv) == EXIT_OK
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["input", "output"]
    assert table[2].split(maxsplit=1) == [values, ", ".join(f"{v:.6g}" for v in record["output"])]


def test_a_spec_without_literal_weights_needs_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "drawn.net"
    spec.write_text("netspec 1\nmodel m(x: [2]) { dense(3) -> relu -> dense(1) }\n")
    assert main(["predict", str(spec), "--input", "1,2"]) == EXIT_SPEC
    error = capsys.readouterr().err
    # The biases start at zero, a value the spec fixes; the weights are drawn.
    assert "model 'm' has 2 parameters whose values the spec does not fix" in error
    assert "(dense_1.weight, dense_2.weight)" in error and "--weights" in error


def test_parameters_of_fixed_values_need_no_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "fixed.net"
    spec.write_text(
        "netspec 1\nmodel m(x: [2]) {\n"
        "    dense(2, weight = [[1, 2], [3, 4]]) -> batchnorm\n"
        "    dense(1, init = 0.5, bias_init = ones)\n}\n"
    )
    assert main(["predict", str(spec), "--input", "1,1", "--format", "json"]) == EXIT_OK
    (record,) = json.loads(capsys.readouterr().out)
    # batchnorm in evaluation: running mean 0, variance 1, gamma 1, beta 0 (eps 1e-5).
    expected = 0.5 * (3 + 7) / np.sqrt(1 + 1e-5) + 1
    assert record["output"] == pytest.approx([expected], rel=1e-6)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("3,4,5", "--input 3,4,5: 3 values, expected 2 (input 'x' is [2])"),
        ("3", "--input 3: 1 values, expected 2 (input 'x' is [2])"),
        ("3,four", "--input 3,four: 'four' is not a number; expected comma-separated numbers"),
        ("3,nan", "--input 3,nan: expected finite numbers for input 'x', found nan at index [1]"),
    ],
)
def test_bad_literal_values_say_what_was_expected(
    values: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(ROOT / "specs" / "relu_worked_example.net")
    assert main(["predict", spec, f"--input={values}"]) == EXIT_SPEC
    assert message in capsys.readouterr().err


def test_no_inputs_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(ROOT / "specs" / "relu_worked_example.net")
    assert main(["predict", spec]) == EXIT_USAGE
    assert "no inputs" in capsys.readouterr().err


def test_classifier_output_in_every_format(
    csv_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = csv_run.spec.parent / "flowers.csv"
    base = ["predict", str(csv_run.spec), "--weights", str(csv_run.run_dir), str(data)]
    assert main([*base, "--format", "json", "--top-k", "3"]) == EXIT_OK
    records = json.loads(capsys.readouterr().out)
    assert records[0]["input"] == f"{data}:2"
    first = records[0]["classes"]
    assert sorted(c["name"] for c in first) == ["iris", "rose", "tulip"]
    assert sum(c["probability"] for c in first) == pytest.approx(1.0)
    assert [c["probability"] for c in first] == sorted(
        (c["probability"] for c in first), reverse=True
    )

    out = tmp_path / "probabilities.npy"
    assert main([*base, "--format", "npy", "-o", str(out)]) == EXIT_OK
    assert f"wrote {out}" in capsys.readouterr().out
    probabilities = np.load(out)
    assert probabilities.shape == (len(records), 3)
    best = first[0]
    assert probabilities[0, best["class"]] == pytest.approx(best["probability"], rel=1e-6)

    assert main([*base, "--top-k", "1"]) == EXIT_OK
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["input", "class", "probability"]
    assert len(table) == 2 + len(records)  # one class per sample
    assert table[2].split()[:2] == [f"{data}:2", best["name"]]


def test_writing_to_an_unwritable_place_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(ROOT / "specs" / "relu_worked_example.net")
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)  # a directory in the way
    assert main(["predict", spec, "--input", "3,4", "-o", str(target)]) == EXIT_SPEC
    assert f"cannot write {target}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no partial file left


def test_a_wrong_weights_path_says_what_it_expected_and_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(ROOT / "specs" / "relu_worked_example.net")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "sub").mkdir()
    assert main(["predict", spec, "--weights", str(tmp_path), "--input", "3,4"]) == EXIT_SPEC
    error = capsys.readouterr().err
    assert f"{tmp_path} is a directory that holds no weights.safetensors" in error
    assert "found: notes.txt, sub/" in error
    missing = tmp_path / "nothing.safetensors"
    assert main(["predict", spec, "--weights", str(missing), "--input", "3,4"]) == EXIT_SPEC
    assert "expected: a weights.safetensors file or a run directory" in capsys.readouterr().err


def test_predict_on_numpy_imports_no_framework() -> None:
    spec = str(ROOT / "specs" / "sigmoid_worked_example.net")
    code = (
        "import sys\n"
        "from netspec.cli import main\n"
        f"assert main(['predict', {spec!r}, '--input', '1,0.5']) == 0\n"
        "loaded = [name for name in ('torch', 'jax') if name in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "0.316827" in result.stdout


def test_eval_and_compile_take_the_run_directory(
    image_run: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    import netspec

    run_dir = str(image_run.run_dir)
    assert main(["eval", str(image_run.spec), "--weights", run_dir]) == EXIT_OK
    assert "accuracy" in capsys.readouterr().out
    compiled = netspec.compile(str(image_run.spec), "numpy", params=run_dir)
    x = np.linspace(0, 1, 64).reshape(1, 1, 8, 8)
    run = netspec.load_run(run_dir)
    np.testing.assert_array_equal(compiled.forward(x.astype(np.float32)), run.predict(x).outputs)
