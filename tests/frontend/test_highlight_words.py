"""The highlighters' words come from the compiler's tables: the generated word module and
TextMate grammar are current, and the grammar colours every op, keyword and setting."""

from __future__ import annotations

import json
import re

import pytest

from netspec.syntax import words

STALE = "{} is stale: run `python -m netspec.syntax.words`"


def test_the_committed_word_module_is_current() -> None:
    assert words.WORDS_FILE.read_text("utf-8") == words.words_module(), STALE.format(
        "netspec/_highlight_words.py"
    )


def test_the_committed_textmate_grammar_is_current() -> None:
    assert words.TEXTMATE_FILE.read_text("utf-8") == words.textmate_json(), STALE.format(
        "editors/vscode/syntaxes/netspec.tmLanguage.json"
    )


def test_the_words_are_the_languages() -> None:
    # Spot checks that the tables are read, not retyped: a keyword only the grammar
    # names, an op only the registry names, a setting only the train tables name.
    table = words.words()
    assert "as" in table["KEYWORDS"] and "repeat" in table["KEYWORDS"]
    assert {"conv2d", "multi_head_attention", "leaky_relu"} <= set(table["OPS"])
    assert {"early_stopping", "batch_size"} <= set(table["TRAIN_KEYS"])
    values = {"adamw", "softmax_cross_entropy", "cosine", "he_normal", "log_uniform"}
    assert values <= set(table["TRAIN_VALUES"])


REPOSITORY = json.loads(words.textmate_json())["repository"]


def _scope(part: str, text: str) -> str | None:
    """The scope the TextMate rule ``part`` gives to all of ``text``, if it matches it."""
    rule = REPOSITORY[part]
    match = re.search(rule["match"], f" {text}(")
    return rule["name"] if match and match.group() == text else None


@pytest.mark.parametrize("op", words.ops())
def test_every_op_is_a_builtin_in_the_textmate_grammar(op: str) -> None:
    assert _scope("op", op) == "support.function.builtin.netspec"
    assert _scope("op", f"r.{op}") is None  # a block of an imported namespace is not one


@pytest.mark.parametrize("keyword", words.keywords())
def test_every_keyword_is_a_keyword_in_the_textmate_grammar(keyword: str) -> None:
    assert _scope("keyword", keyword) == "keyword.other.netspec"


def test_train_settings_are_properties_at_the_start_of_their_line() -> None:
    [setting] = [p for p in REPOSITORY["train"]["patterns"] if "captures" in p]
    for key in words.train_keys():
        match = re.search(setting["match"], f"train m {{\n    {key} 1\n}}", re.M)
        assert match is not None and match.group(1) == key
    assert re.search(setting["match"], "    optimiser sgd", re.M) is None


def _patterns(node: object) -> list[str]:
    """Every regular expression of a TextMate grammar."""
    if isinstance(node, dict):
        own = [node[k] for k in ("match", "begin", "end") if k in node]
        return own + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


def test_every_textmate_pattern_compiles() -> None:
    # The patterns keep to the syntax Python's re and Oniguruma (the editors' engine)
    # share: groups, classes, fixed-width lookbehind, \b.
    patterns = _patterns(json.loads(words.textmate_json()))
    assert len(patterns) > 10
    for pattern in patterns:
        re.compile(pattern)
