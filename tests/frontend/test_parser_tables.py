"""The parser's LALR tables: committed as JSON in step with the grammar, never a pickle."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import lark
import pytest

from netspec.syntax import tables
from netspec.syntax.parser import parser

ROOT = Path(__file__).resolve().parents[2]


STALE = "grammars/netspec.tables.json is stale: run `python -m netspec.syntax.tables`"


def _committed() -> dict[str, object]:
    committed = tables.committed_tables()
    assert committed is not None, "grammars/netspec.tables.json is missing"
    return json.loads(committed)


def test_committed_tables_were_made_from_this_grammar() -> None:
    assert _committed()["grammar_sha256"] == tables.grammar_hash(tables.grammar_text()), STALE


def test_regenerated_tables_equal_the_committed_ones() -> None:
    made_by = _committed()["lark"]
    if made_by != lark.__version__:
        pytest.skip(f"the tables were made by lark {made_by}; lark {lark.__version__} is installed")
    assert tables.committed_tables() == tables.serialize(tables.grammar_text()), STALE


def test_the_parser_is_loaded_from_the_committed_tables() -> None:
    loaded = tables.load(tables.committed_tables() or "", tables.grammar_text())
    assert loaded is not None
    text = "model m(x: [784]) { dense(10) -> relu }"
    assert loaded.parse(text) == tables.build(tables.grammar_text()).parse(text)
    assert parser().parse(text) == loaded.parse(text)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.replace('"grammar_sha256": "', '"grammar_sha256": "0'), id="hash"),
        pytest.param(lambda d: d.replace('"format": 1', '"format": 99'), id="format"),
        pytest.param(lambda d: d[: len(d) // 2], id="truncated"),
    ],
)
def test_tables_that_do_not_fit_are_ignored(change: object) -> None:
    document = change(tables.committed_tables() or "")  # type: ignore[operator]
    assert tables.load(document, tables.grammar_text()) is None


def _planted_pickle(marker: Path) -> bytes:
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    # The layout of Lark's cache file: a hash line, then pickles.
    return b"0" * 64 + b"\n" + pickle.dumps(Payload()) + pickle.dumps(Payload())


SCRIPT = """
import sys
import netspec
from netspec.cli import main
netspec.load(sys.argv[1])
main(["check", sys.argv[1]])
main(["summary", sys.argv[1]])
"""


def test_a_planted_pickle_in_the_cache_directory_is_never_loaded(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    marker = tmp_path / "pwned"
    (cache / "netspec").mkdir(parents=True)
    for name in ("grammar.lark.cache", "grammar.cache", "netspec.lark.cache"):
        (cache / "netspec" / name).write_bytes(_planted_pickle(marker))
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "specs" / "lenet5.net")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), "a pickle from the cache directory was executed"


def test_every_terminal_is_named_and_described_as_written() -> None:
    """No terminal carries Lark's numbered anonymous name (``__ANON_n`` follows grammar
    order), and each reads in a message as the user types it."""
    from lark.lexer import PatternStr

    from netspec.syntax.parser import _TERMINALS, _describe

    lark_parser = parser()
    for terminal in lark_parser.terminals:
        if terminal.name in lark_parser.lexer_conf.ignore:
            continue
        assert not terminal.name.startswith("__"), f"{terminal.pattern} has no name"
        if isinstance(terminal.pattern, PatternStr):
            assert _describe({terminal.name}) == f"'{terminal.pattern.value}'"
        else:
            assert terminal.name in _TERMINALS
