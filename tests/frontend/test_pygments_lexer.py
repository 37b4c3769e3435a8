"""The Pygments lexer: registered as `netspec`, colours every op as a builtin, and lexes
every shipped spec without an error token."""

from __future__ import annotations

import importlib
import importlib.metadata
import tomllib
from pathlib import Path

import pytest

pytest.importorskip(
    "pygments", reason="pygments is not installed (pip install 'netspec[highlight]')"
)

from pygments.lexers import get_lexer_by_name
from pygments.token import Error, Keyword, Name, Token

from netspec.pygments_lexer import NetspecLexer
from netspec.syntax import words

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "specs").glob("*.net")) + sorted((ROOT / "netspec" / "std").glob("*.net"))


def _tokens(text: str) -> list[tuple[object, str]]:
    return [(kind, value) for kind, value in NetspecLexer().get_tokens(text) if value.strip()]


def _kind(text: str, word: str) -> object:
    [kind] = [k for k, v in _tokens(text) if v == word]
    return kind


@pytest.mark.parametrize("op", words.ops())
def test_every_op_is_highlighted_as_a_builtin(op: str) -> None:
    assert _kind(f"model m(x: [4]) {{\n    x -> {op}(1)\n}}\n", op) is Name.Builtin


def test_keywords_settings_and_values() -> None:
    spec = (
        "netspec 1\nimport std.resnet as r\nlet width = 4\n"
        "model m(x: [4]) {\n    repeat 2 {\n        r.basic(width) -> relu\n    }\n}\n"
        "train m {\n    optimizer adam(lr = 1e-3)\n    optimiser sgd\n"
        "    early_stopping patience = 2\n}\n"
    )
    kinds = {v: k for k, v in reversed(_tokens(spec))}  # the first occurrence of each
    for keyword in ("netspec", "import", "as", "let", "model", "repeat", "train"):
        assert kinds[keyword] is Keyword, keyword
    assert kinds["std.resnet"] is Name.Namespace
    assert kinds["r.basic"] is Name  # a block of a namespace, not the builtin
    assert kinds["relu"] is Name.Builtin
    assert kinds["optimizer"] is Name.Attribute
    assert kinds["early_stopping"] is Name.Attribute
    assert kinds["optimiser"] is Name  # a misspelt setting is not coloured as one
    assert kinds["adam"] is Name.Builtin.Pseudo
    assert kinds["m"] is Name.Function


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_spec_lexes_without_an_error(path: Path) -> None:
    text = path.read_text("utf-8")
    tokens = list(NetspecLexer().get_tokens(text))
    assert [v for k, v in tokens if k in Error] == []
    assert "".join(v for _, v in tokens) == text
    assert any(k in Token.Comment for k, _ in tokens)


def test_pyproject_registers_the_lexer() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    entry = project["entry-points"]["pygments.lexers"]["netspec"]
    module, _, name = entry.partition(":")
    assert getattr(importlib.import_module(module), name) is NetspecLexer


def test_pygments_finds_the_lexer_by_name() -> None:
    installed = importlib.metadata.entry_points(group="pygments.lexers", name="netspec")
    if not installed:
        pytest.skip("the installed netspec predates its lexer entry point: pip install -e .")
    assert isinstance(get_lexer_by_name("netspec"), NetspecLexer)
