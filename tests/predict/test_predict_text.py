"""Text for a character language model: the next character, with the run's vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.cli import EXIT_OK, EXIT_SPEC, main
from netspec.errors import NetspecError
from netspec.predict import Text

SPEC = """\
netspec 1

model chars(x: int64[8]) {
    embedding(7, 7)
}

train chars {
    data text("words.txt", 8)
    loss softmax_cross_entropy
    optimizer adam(lr = 0.1)
    batch_size 8
    epochs 2
    seed 0
}
"""


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("text_run")
    (folder / "words.txt").write_text("abc de\n" * 40)
    spec = folder / "chars.net"
    spec.write_text(SPEC)
    result = netspec.train(spec, out=str(folder / "run"), progress=False)
    return spec, Path(result.run_dir)


def test_text_gives_the_next_characters_probabilities(text_run: tuple[Path, Path]) -> None:
    _, run_dir = text_run
    run = netspec.load_run(run_dir)
    vocabulary = json.loads((run_dir / "vocab.json").read_text())["characters"]
    prediction = run.predict(Text("ab"), Text("abc de\nabc"))
    # "ab" fills the start of the window; the longer text keeps its last 8 characters.
    windows = [[vocabulary.index(c) for c in "ab"] + [0] * 6]
    windows.append([vocabulary.index(c) for c in "c de\nabc"])
    scores = run.compiled.forward(np.array(windows))
    expected = np.stack([scores[0, 1], scores[1, 7]])
    expected = np.exp(expected - expected.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        prediction.probabilities, expected / expected.sum(axis=1, keepdims=True), rtol=1e-6
    )
    assert prediction.class_names == tuple("\\n" if c == "\n" else c for c in vocabulary)
    assert prediction.top_k(1)[0][0][1] == "c"  # "ab" goes on with "c" in the text


def test_text_from_the_command_line_and_its_errors(
    text_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, run_dir = text_run
    (tmp_path / "start.txt").write_text("abc d")
    argv = ["predict", str(spec), "--weights", str(run_dir), "--top-k", "1"]
    assert main([*argv, str(tmp_path / "start.txt"), "--text", "ab", "--format", "json"]) == EXIT_OK
    records = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in records] == [str(tmp_path / "start.txt"), "'ab'"]
    assert [r["classes"][0]["name"] for r in records] == ["e", "c"]
    assert main([*argv, "--text", "abz"]) == EXIT_SPEC
    assert "the prompt holds 1 character not in the model's vocabulary: 'z'" in (
        capsys.readouterr().err
    )
    relu = str(Path(__file__).parents[2] / "specs" / "relu_worked_example.net")
    assert main(["predict", relu, "--text", "ab"]) == EXIT_SPEC
    assert "has no vocabulary" in capsys.readouterr().err


def test_text_needs_a_language_model(text_run: tuple[Path, Path]) -> None:
    from netspec.predict.inputs import _from_text
    from netspec.runs import Preprocessing

    model = netspec.load("netspec 1\nmodel m(x: [2]) { dense(1) }\n").model()
    with pytest.raises(NetspecError, match="is not a character language model"):
        _from_text(model, "ab", "'ab'", Preprocessing(vocabulary=("a", "b")))
