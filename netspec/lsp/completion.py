"""Completion: what may be written at the cursor, found from the text before it (which
need not parse: it is being typed).

In a model or block body: layers (with their required arguments as a snippet),
activations, blocks, named tensors and constants in scope. Inside a call's parentheses:
its argument names with their defaults (snippets), and after ``activation =``, ``init =``
the activations and initialisers. In a train section: its settings, and after ``data``,
``loss``, ``optimizer``, ``schedule`` or ``metrics`` the names each accepts.
"""

from __future__ import annotations

import re

from lsprotocol import types

from netspec.elaborate.program import _DEFAULT_SETTINGS
from netspec.lsp.documents import Document, Store
from netspec.lsp.facts import (
    ACTIVATIONS,
    INITIALIZERS,
    SETTING_VALUES,
    TRAIN_KEYS,
    op_arguments,
    setting_arguments,
    signature_text,
)
from netspec.ops import LAYER_NAMES, SIGNATURES

KEYWORDS = ("netspec", "import", "let", "defaults", "block", "model", "train")
_HEADER = re.compile(r"(model|block|train|defaults)\b\s*([A-Za-z_][A-Za-z0-9_]*)?[^{}]*$")
_KEY_VALUE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*[A-Za-z_0-9.]*$")
_HEAD = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*$")
# Values a keyword argument takes by name, from the tables.
_VALUES: dict[str, tuple[str, ...]] = {
    "activation": ACTIVATIONS,
    "init": INITIALIZERS,
    "bias_init": INITIALIZERS,
    "padding": ("same", "valid"),
    "bias": ("true", "false"),
}
Kind = types.CompletionItemKind


def _code(text: str) -> str:
    """``text`` with comments and string contents blanked (same length), so that braces
    and parentheses in them are not counted."""
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"?', lambda m: '"' + " " * (len(m.group()) - 1), text)
    return re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), text)


def _enclosing(code: str, opening: str, closing: str, stop: str = "") -> int | None:
    """The offset of the innermost unclosed ``opening`` in ``code``, scanning back (and
    giving up at an unmatched character of ``stop``)."""
    depth = 0
    for offset in range(len(code) - 1, -1, -1):
        char = code[offset]
        if char == closing:
            depth += 1
        elif char == opening:
            if depth == 0:
                return offset
            depth -= 1
        elif char in stop and depth == 0:
            return None
    return None


def completions(
    store: Store, document: Document, line: int, column: int
) -> list[types.CompletionItem]:
    """The items for a 1-based cursor position."""
    lines = document.text.split("\n")
    before = "\n".join(
        [*lines[: line - 1], lines[line - 1][: column - 1] if line <= len(lines) else ""]
    )
    code = _code(before)
    brace = _enclosing(code, "{", "}")
    if brace is None:
        return _items(KEYWORDS, Kind.Keyword)
    header = _HEADER.search(code[:brace].rsplit("}", 1)[-1])
    section = header.group(1) if header else "model"
    paren = _enclosing(code[brace + 1 :], "(", ")", stop="{}")
    current = code.rsplit("\n", 1)[-1]
    if paren is not None:
        inside = code[brace + 1 + paren + 1 :]
        head_match = _HEAD.search(code[: brace + 1 + paren])
        head = head_match.group(1) if head_match else ""
        key_value = _KEY_VALUE.search(inside)
        if key_value and not re.search(r"[,(]\s*$", inside):
            values = _VALUES.get(key_value.group(1))
            if values is not None:
                return _items(values, Kind.EnumMember)
            return _in_scope(store, document, line, column, tensors=False)
        return _arguments(store, document, head) + _in_scope(store, document, line, column)
    if section == "train":
        words = current.split()
        if len(words) == 0 or (len(words) == 1 and not current.endswith((" ", "\t"))):
            return _items(TRAIN_KEYS, Kind.Property)
        values = SETTING_VALUES.get(words[0])
        if values is not None:
            return [_setting_item(name) for name in values]
        return _in_scope(store, document, line, column, tensors=False)
    if section == "defaults":
        if "=" in current:
            return _items(INITIALIZERS, Kind.EnumMember)
        return _items(_DEFAULT_SETTINGS, Kind.Property)
    items = [_layer_item(name) for name in LAYER_NAMES]
    items += [i for i in _in_scope(store, document, line, column)]
    if not current.strip():
        items += _items(("repeat", "input"), Kind.Keyword)
    return items


def _items(
    names: tuple[str, ...] | list[str], kind: types.CompletionItemKind
) -> list[types.CompletionItem]:
    return [types.CompletionItem(label=name, kind=kind) for name in names]


def _layer_item(name: str) -> types.CompletionItem:
    arguments = op_arguments(name)
    required = [a for a, d in arguments if d is None]
    snippet = name
    if required:
        snippet += "(" + ", ".join(f"${{{n + 1}:{a}}}" for n, a in enumerate(required)) + ")"
    return types.CompletionItem(
        label=name,
        kind=types.CompletionItemKind.Function,
        detail=signature_text(name, arguments),
        insert_text=snippet,
        insert_text_format=types.InsertTextFormat.Snippet,
    )


def _setting_item(name: str) -> types.CompletionItem:
    arguments = setting_arguments(name)
    return types.CompletionItem(
        label=name,
        kind=types.CompletionItemKind.EnumMember,
        detail=signature_text(name, arguments) if arguments else None,
    )


def _arguments(store: Store, document: Document, head: str) -> list[types.CompletionItem]:
    """The argument names of the call ``head``: an op's, a block's or a train setting's."""
    if head in SIGNATURES:
        arguments = op_arguments(head)
    else:
        block = store.resolve(document.index, head, None) if document.index else None
        if block is not None and block.kind == "block":
            arguments = [(n, d or None) for n, d in block.params]
        else:
            arguments = setting_arguments(head)
    items = []
    for number, (name, default) in enumerate(arguments):
        if name.endswith("..."):
            continue  # a merge's tensors are positional: no name to complete
        items.append(
            types.CompletionItem(
                label=f"{name} =",
                kind=types.CompletionItemKind.Field,
                detail=f"{name} = {default}" if default is not None else f"{name} (required)",
                insert_text=f"{name} = ${{1:{default if default is not None else name}}}",
                insert_text_format=types.InsertTextFormat.Snippet,
                sort_text=f"0{number:03d}",
            )
        )
    return items


def _in_scope(
    store: Store, document: Document, line: int, column: int, *, tensors: bool = True
) -> list[types.CompletionItem]:
    """Blocks, constants and (with ``tensors``) the named tensors and block parameters
    of the scope at the cursor, from this file and its imports."""
    index = document.index
    if index is None:
        return []
    scope = index.scope_at(line, column)
    items: dict[str, types.CompletionItem] = {}
    for item in index.definitions:
        file_wide = item.kind in ("let", "block") and item.scope is None
        local = scope is not None and item.scope == scope and (tensors or item.kind == "param")
        if file_wide or local:
            items[item.name] = _named(item.name, item.kind)
    for imported in index.imports():
        library = store.library(imported.target) if imported.target else None
        if library is None:
            continue
        namespace = "" if imported.name == imported.text else imported.name + "."
        for item in library.definitions:
            if item.kind in ("let", "block") and item.scope is None:
                items.setdefault(namespace + item.name, _named(namespace + item.name, item.kind))
    return list(items.values())


def _named(name: str, kind: str) -> types.CompletionItem:
    kinds = {
        "let": Kind.Constant,
        "block": Kind.Module,
        "tensor": Kind.Variable,
        "param": Kind.Variable,
    }
    return types.CompletionItem(label=name, kind=kinds.get(kind, Kind.Text), detail=kind)
