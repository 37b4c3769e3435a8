"""A character language model end to end: specs/char_bigram.net (an embedding table of
next-character scores, no recurrent layer) trained briefly on the shipped Shakespeare
text, its vocabulary saved in the run, then sampled by netspec.sample and `netspec
sample`, and the errors of sampling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.cli import EXIT_OK, main
from netspec.errors import NetspecError
from netspec.initializers import initial_params
from netspec.weights import load_weights, save_weights
from tests.conftest import ROOT

BIGRAM = ROOT / "specs" / "char_bigram.net"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lm") / "bigram"
    result = netspec.train(str(BIGRAM), backend="numpy", epochs=2, out=str(out), progress=False)
    # A bigram table of Shakespeare: about 2.5 nats per character, perplexity about 12,
    # against 61 for a uniform guess.
    assert result.final["test_perplexity"] < 14
    return out


def test_the_run_keeps_its_vocabulary(run: Path) -> None:
    record = json.loads((run / "vocab.json").read_text(encoding="utf-8"))
    text = (ROOT / "specs" / "data" / "tiny_shakespeare.txt").read_text(encoding="utf-8")
    assert record["characters"] == sorted(set(text))
    assert record["source"] == "text"
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["val_perplexity"] == pytest.approx(np.exp(history[-1]["val_loss"]))


def test_sampling_continues_the_prompt_from_the_vocabulary(run: Path) -> None:
    text = netspec.sample(run, length=200, prompt="ROMEO:\n", seed=3)
    assert text.startswith("ROMEO:\n") and len(text) == 207
    vocabulary = set(json.loads((run / "vocab.json").read_text())["characters"])
    assert set(text) <= vocabulary
    assert netspec.sample(run, length=200, prompt="ROMEO:\n", seed=3) == text
    assert netspec.sample(run, length=200, prompt="ROMEO:\n", seed=4) != text


def test_greedy_sampling_follows_the_most_likely_next_character(run: Path) -> None:
    # After "q" comes "u" in English; the bigram table has learnt it.
    assert netspec.sample(run, length=1, prompt="q", temperature=0) == "qu"


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_every_backend_draws_the_same_text(run: Path, backend: str) -> None:
    pytest.importorskip(backend, reason=f"{backend} is not installed")
    want = netspec.sample(run, length=50, prompt="The ", seed=1)
    assert netspec.sample(run, length=50, prompt="The ", seed=1, backend=backend) == want


def test_the_command_prints_the_text(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sample", str(run), "--length", "30", "--prompt", "KING", "--seed", "2"])
    assert code == EXIT_OK
    assert capsys.readouterr().out == netspec.sample(run, length=30, prompt="KING", seed=2) + "\n"


def test_prompt_characters_outside_the_vocabulary(run: Path) -> None:
    with pytest.raises(NetspecError) as info:
        netspec.sample(run, length=5, prompt="naïve ~")
    message = str(info.value)
    assert "the prompt holds 2 characters not in the model's vocabulary: 'ï', '~'" in message
    assert "61 characters of its training text" in message


def test_a_run_without_a_vocabulary(run: Path, tmp_path: Path) -> None:
    other = tmp_path / "no_vocab"
    shutil.copytree(run, other)
    (other / "vocab.json").unlink()
    with pytest.raises(NetspecError, match=r"has no vocabulary \(vocab.json\)"):
        netspec.sample(other, length=5)
    with pytest.raises(NetspecError, match="is not a run directory"):
        netspec.sample(tmp_path, length=5)


def test_a_model_that_is_not_a_language_model(run: Path, tmp_path: Path) -> None:
    other = tmp_path / "not_lm"
    shutil.copytree(run, other)
    program = netspec.load("model char_bigram(x: int64[64]) { embedding(61, 3) }")
    (other / "ir.json").write_text(program.model_dump_json())
    save_weights(other / "weights.safetensors", initial_params(program.model(), 0))
    with pytest.raises(NetspecError) as info:
        netspec.sample(other, length=5)
    message = str(info.value)
    assert "model 'char_bigram' is not a character language model" in message
    assert "found input int64 [64] and output [64, 3]" in message


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [("length", -1, "length must be"), ("temperature", float("nan"), "temperature must be")],
)
def test_bad_options(run: Path, option: str, value: float, expected: str) -> None:
    options: dict[str, float] = {"length": 3, option: value}
    with pytest.raises(NetspecError, match=expected):
        netspec.sample(run, **options)  # type: ignore[arg-type]


def test_a_table_wider_than_the_vocabulary_never_draws_past_it(run: Path, tmp_path: Path) -> None:
    other = tmp_path / "wide"
    shutil.copytree(run, other)
    program = netspec.load("model char_bigram(x: int64[64]) { embedding(64, 64) }")
    (other / "ir.json").write_text(program.model_dump_json())
    trained = load_weights(run / "weights.safetensors")["embedding_1.weight"]
    wide = np.full((64, 64), 100.0)  # the extra scores would win every draw
    wide[:61, :61] = trained
    save_weights(other / "weights.safetensors", {"embedding_1.weight": wide})
    assert netspec.sample(other, length=40, prompt="The ", seed=5) == netspec.sample(
        run, length=40, prompt="The ", seed=5
    )


def test_eval_refuses_a_text_of_other_characters(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(BIGRAM), "--weights", str(run)]) == EXIT_OK
    assert "perplexity" in capsys.readouterr().out
    other = tmp_path / "other.txt"
    other.write_text("Some other text, with a ~ tilde and no capitals but S. " * 20)
    code = main(["eval", str(BIGRAM), "--weights", str(run), "--data", f'text("{other}", 64)'])
    assert code != EXIT_OK
    err = capsys.readouterr().err
    assert "is not the one the model was trained with (61 characters" in err
    assert "characters new to the model: '~'" in err
