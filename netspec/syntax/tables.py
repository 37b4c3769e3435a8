"""The LALR tables of the grammar as JSON: built once, committed, loaded without pickle.

Lark can cache its tables on disk, but its cache is a pickle, and unpickling a file
that anyone with write access to the cache directory can plant runs arbitrary code.
netspec never reads a pickle: the tables are serialized with Lark's own
``memo_serialize`` into plain JSON, written in a canonical order (Lark numbers its
states differently from run to run), shipped beside the grammar as
``grammars/netspec.tables.json`` and read back with ``json.loads``.

Regenerate after editing ``grammars/netspec.lark``::

    python -m netspec.syntax.tables

A test regenerates the tables and compares them with the committed file. At run time a
file that does not match the grammar (its SHA-256 is stored in the file) or that was
written by another Lark version is ignored, and the parser is built from the grammar.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import sys
from collections import deque
from pathlib import Path
from typing import Any

import lark
from lark import Lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

TABLES_FILE = "netspec.tables.json"
FORMAT = 1
OPTIONS: dict[str, Any] = {
    "parser": "lalr",
    "propagate_positions": True,
    "maybe_placeholders": False,
}


def grammar_text() -> str:
    """The grammar as shipped in the package."""
    return (importlib.resources.files("netspec.grammars") / "netspec.lark").read_text("utf-8")


def grammar_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build(text: str) -> Lark:
    """The parser built from the grammar text (about 40 ms)."""
    return Lark(text, **OPTIONS)


def serialize(text: str) -> str:
    """The tables of ``text`` as canonical JSON: the same grammar gives the same bytes."""
    data, memo = build(text).memo_serialize([TerminalDef, Rule])
    data["parser"]["parser"] = _canonical_table(data["parser"]["parser"])
    document = {
        "format": FORMAT,
        "lark": lark.__version__,
        "grammar_sha256": grammar_hash(text),
        "data": data,
        "memo": memo,
    }
    return json.dumps(document, sort_keys=True, indent=0, ensure_ascii=True) + "\n"


def _canonical_table(table: dict[str, Any]) -> dict[str, Any]:
    """The parse table with tokens in name order and states numbered breadth-first.

    Lark's state numbers and token indices depend on the iteration order of sets of
    objects, which changes between runs; the automaton itself does not.
    """
    names: dict[int, str] = {int(i): name for i, name in table["tokens"].items()}
    order = sorted(set(names.values()))
    token_index = {name: i for i, name in enumerate(order)}
    states: dict[int, dict[int, Any]] = {
        int(s): {int(t): a for t, a in actions.items()} for s, actions in table["states"].items()
    }
    numbering: dict[int, int] = {}
    queue: deque[int] = deque()
    for start in sorted(table["start_states"]):
        for state in (table["start_states"][start], table["end_states"][start]):
            if state not in numbering:
                numbering[state] = len(numbering)
                queue.append(state)
    while queue:
        state = queue.popleft()
        for _, (action, arg) in sorted(states[state].items(), key=lambda item: names[item[0]]):
            if action == 0 and arg not in numbering:  # a shift: arg is the next state
                numbering[arg] = len(numbering)
                queue.append(arg)
    for state in sorted(states):  # states reached only through reductions
        if state not in numbering:
            numbering[state] = len(numbering)
    canonical_states = {
        numbering[state]: {
            token_index[names[token]]: (action, numbering[arg] if action == 0 else arg)
            for token, (action, arg) in sorted(actions.items(), key=lambda i: names[i[0]])
        }
        for state, actions in states.items()
    }
    return {
        "tokens": dict(enumerate(order)),
        "states": dict(sorted(canonical_states.items())),
        "start_states": {k: numbering[v] for k, v in table["start_states"].items()},
        "end_states": {k: numbering[v] for k, v in table["end_states"].items()},
    }


def _int_keys(mapping: dict[str, Any]) -> dict[int, Any]:
    return {int(key): value for key, value in mapping.items()}


def load(document: str, text: str) -> Lark | None:
    """The parser from serialized tables, or None when they do not fit ``text``."""
    try:
        saved = json.loads(document)
    except ValueError:
        return None
    if (
        not isinstance(saved, dict)
        or saved.get("format") != FORMAT
        or saved.get("lark") != lark.__version__
        or saved.get("grammar_sha256") != grammar_hash(text)
    ):
        return None
    data, memo = saved["data"], saved["memo"]
    # JSON keeps only string keys; Lark's tables are keyed by integers.
    table = data["parser"]["parser"]
    table["tokens"] = _int_keys(table["tokens"])
    table["states"] = {int(state): _int_keys(actions) for state, actions in table["states"].items()}
    try:
        # A dict (never a file object) takes Lark's loading path that has no pickle.
        return Lark._load_from_dict(data, _int_keys(memo))
    except Exception:  # tables of an unexpected shape: build from the grammar instead
        return None


def committed_tables() -> str | None:
    """The tables shipped in the package, or None when absent."""
    try:
        return (importlib.resources.files("netspec.grammars") / TABLES_FILE).read_text("utf-8")
    except (FileNotFoundError, OSError):
        return None


def main() -> int:
    """Write grammars/netspec.tables.json for the grammar beside it."""
    target = Path(str(importlib.resources.files("netspec.grammars") / TABLES_FILE))
    target.write_text(serialize(grammar_text()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
