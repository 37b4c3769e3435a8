"""Generate text from a trained character language model: ``netspec sample``.

A run trained on a ``text`` source keeps its vocabulary in ``vocab.json`` (the characters
in index order). Its model takes a window of ``T`` character indices, ``x: int64[T]``, and
gives next-character scores per step, ``[T, V]``. Sampling feeds the context (the prompt,
then what has been generated) and draws the next character from the scores of the last
context step, softmax(scores / temperature); the context sits at the start of the window
(the rest is filled with index 0) and, once longer than the window, is its last ``T``
characters. This reads the right step of a causal model, one whose output at a step
depends on the steps up to it (recurrent layers, the bigram table).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from netspec.errors import NetspecError
from netspec.ir import CheckedModel, Program
from netspec.ir.graph import INDEX_DTYPES
from netspec.weights import atomic_write_bytes

VOCABULARY_FILE = "vocab.json"
VOCABULARY_FORMAT = 1

NO_VOCABULARY = (
    "run {run} has no vocabulary ({file}): text is sampled from a model trained on a "
    "text source\n"
    '  help: train a character language model with `data text("FILE", WINDOW)`, then '
    "sample its run directory"
)
NOT_A_RUN = (
    "{run} is not a run directory of `netspec train` (no {missing})\n"
    "  help: pass the directory a training run wrote (its --out)"
)
NOT_A_LANGUAGE_MODEL = (
    "model {model!r} is not a character language model: sampling needs an integer input "
    "[T] and an output [T, V] with V >= {vocabulary} (scores for each of the {vocabulary} "
    "characters at every step); found input {input} and output {output}\n"
    "  help: end the model with per-step scores, e.g. embedding(...) -> lstm(..., "
    "return_sequences = true) -> dense({vocabulary})"
)
UNKNOWN_CHARACTERS = (
    "the prompt holds {count} character{s} not in the model's vocabulary: {shown}\n"
    "  help: the model knows only the {size} characters of its training text: {known}"
)


def write_vocabulary(run_dir: Path, vocabulary: tuple[str, ...], source: str) -> None:
    """Save a text source's vocabulary in the run directory, atomically."""
    record = {"format": VOCABULARY_FORMAT, "source": source, "characters": list(vocabulary)}
    data = json.dumps(record, ensure_ascii=False, indent=1) + "\n"
    atomic_write_bytes(run_dir / VOCABULARY_FILE, data.encode("utf-8"))


def read_vocabulary(run_dir: Path) -> tuple[str, ...]:
    """The characters of a run's vocabulary, in index order; a NetspecError when the run
    has none or the file is not one netspec wrote."""
    path = run_dir / VOCABULARY_FILE
    if not path.is_file():
        raise NetspecError(NO_VOCABULARY.format(run=run_dir, file=VOCABULARY_FILE))
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        characters = record["characters"]
        if record.get("format") != VOCABULARY_FORMAT or not all(
            isinstance(c, str) and len(c) == 1 for c in characters
        ):
            raise ValueError("not a list of single characters")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NetspecError(
            f"{path}: not a vocabulary netspec wrote ({error})\n"
            "  help: train the run again; vocab.json is written when training starts"
        ) from None
    return tuple(characters)


def check_same_vocabulary(run_dir: Path, vocabulary: tuple[str, ...]) -> None:
    """A text read for a trained model must index its characters as the training text
    did: when the run kept a vocabulary, ``vocabulary`` must be it (else NetspecError)."""
    if not (run_dir / VOCABULARY_FILE).is_file():
        return
    saved = read_vocabulary(run_dir)
    if saved == vocabulary:
        return
    new = sorted(set(vocabulary) - set(saved))
    shown = ", ".join(repr(ch) for ch in new[:10]) or "none"
    raise NetspecError(
        f"the text's vocabulary ({len(vocabulary)} characters) is not the one the model was "
        f"trained with ({len(saved)} characters, {run_dir / VOCABULARY_FILE}): the same index "
        f"would stand for another character; characters new to the model: {shown}\n"
        "  help: evaluate on text with exactly the training text's characters"
    )


def _check_language_model(model: CheckedModel, size: int) -> None:
    shape = tuple(model.input.shape)
    output = tuple(model.output_type.shape)
    # More scores than characters is fine (a table sized generously): the extra classes
    # never occur as targets and are not drawn.
    if (
        model.input.dtype in INDEX_DTYPES
        and len(shape) == 1
        and len(output) == 2
        and output[0] == shape[0]
        and output[1] >= size
    ):
        return
    dtype = "" if model.input.dtype == "float32" else f"{model.input.dtype} "
    raise NetspecError(
        NOT_A_LANGUAGE_MODEL.format(
            model=model.name,
            vocabulary=size,
            input=dtype + "[" + ", ".join(map(str, shape)) + "]",
            output="[" + ", ".join(map(str, output)) + "]",
        )
    )


def _encode_prompt(prompt: str, vocabulary: tuple[str, ...]) -> list[int]:
    index = {ch: i for i, ch in enumerate(vocabulary)}
    unknown = list(dict.fromkeys(ch for ch in prompt if ch not in index))
    if unknown:
        known = "".join(vocabulary)
        raise NetspecError(
            UNKNOWN_CHARACTERS.format(
                count=len(unknown),
                s="" if len(unknown) == 1 else "s",
                shown=", ".join(repr(ch) for ch in unknown[:10]),
                size=len(vocabulary),
                known=repr(known if len(known) <= 80 else known[:77] + "..."),
            )
        )
    return [index[ch] for ch in prompt]


def _check_options(length: object, temperature: object, seed: object) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise NetspecError(f"length must be a whole number of characters >= 0, found {length!r}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or temperature < 0
    ):
        raise NetspecError(
            f"temperature must be a finite number >= 0, found {temperature!r}\n"
            "  help: 1 samples the model's own distribution; below 1 is more conservative, "
            "0 always takes the most likely character"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise NetspecError(f"seed must be an integer in [0, 2**64), found {seed!r}")


def sample(
    run: str | os.PathLike[str],
    *,
    length: int,
    prompt: str = "",
    temperature: float = 1.0,
    seed: int = 0,
    backend: str = "numpy",
) -> str:
    """``prompt`` followed by ``length`` characters generated by the language model of a
    training run (its final weights and ``vocab.json``).

    Each character is drawn from softmax(scores / ``temperature``) of the last context
    step (``temperature = 0``: the most likely character) with a generator seeded by
    ``seed``. Without a prompt the text starts after a newline (or the vocabulary's first
    character when the text had no newline). ``backend`` runs the model (numpy, torch or
    jax). Errors (no vocabulary, a model that is not a language model, prompt characters
    outside the vocabulary, bad options) raise NetspecError.
    """
    from netspec.backend import get_backend
    from netspec.weights import load_weights, validate_weights

    _check_options(length, temperature, seed)
    if not isinstance(prompt, str):
        raise NetspecError(f"prompt must be text, found {type(prompt).__name__}")
    run_dir = Path(run)
    for name in ("run.json", "ir.json", "weights.safetensors"):
        if not (run_dir / name).is_file():
            raise NetspecError(NOT_A_RUN.format(run=run_dir, missing=name))
    vocabulary = read_vocabulary(run_dir)
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    program = Program.model_validate_json((run_dir / "ir.json").read_text(encoding="utf-8"))
    model = program.model(record.get("model"))
    _check_language_model(model, len(vocabulary))
    context = _encode_prompt(prompt, vocabulary)
    start = "\n" if "\n" in vocabulary else vocabulary[0]
    if not context:
        context = [vocabulary.index(start)]
    path = run_dir / "weights.safetensors"
    weights = validate_weights(
        model, load_weights(path), dtype="float64", source=str(path), require="all"
    )
    compiled = get_backend(backend).compile(model, dtype="float64", params=weights)  # type: ignore[arg-type]
    window = model.input.shape[0]
    rng = np.random.Generator(np.random.PCG64(seed))
    dtype = np.dtype(model.input.dtype)
    generated: list[str] = []
    for _ in range(length):
        recent = context[-window:]
        batch = np.zeros((1, window), dtype=dtype)
        batch[0, : len(recent)] = recent
        scores = np.asarray(compiled.forward(batch), dtype=np.float64)[0, len(recent) - 1]
        scores = scores[: len(vocabulary)]
        if temperature == 0:
            choice = int(np.argmax(scores))
        else:
            scaled = scores / temperature
            p = np.exp(scaled - scaled.max())
            choice = int(rng.choice(len(p), p=p / p.sum()))
        context.append(choice)
        generated.append(vocabulary[choice])
    return prompt + "".join(generated)
