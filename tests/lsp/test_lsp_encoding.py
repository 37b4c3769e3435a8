"""Columns in the position encoding agreed at initialisation: UTF-16 unless the client
prefers UTF-8 or UTF-32 (text with characters outside ASCII before a problem)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("lsprotocol", reason="lsprotocol is not installed (pip install netspec[lsp])")
pytest.importorskip("pygls", reason="pygls is not installed (pip install netspec[lsp])")

from netspec.lsp.client import Client
from netspec.lsp.convert import use_encoding

# Before the division by zero on its line: "é" (2 UTF-8 bytes, 1 UTF-16 unit) and
# "𝄞" (4 UTF-8 bytes, 2 UTF-16 units, 1 character).
TEXT = 'netspec 1\nlet s = "é𝄞" let t = 1 // 0\nmodel m(x: [4]) { dense(2) }\n'
COLUMN = TEXT.splitlines()[1].index("1 // 0")  # in characters


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    # The encoding is the process's (one client per `netspec lsp`): other tests' servers
    # in this process expect the default back.
    yield
    use_encoding("utf-16")


@pytest.mark.parametrize(
    ("offered", "agreed", "extra"),
    [(None, "utf-16", 1), (["utf-8"], "utf-8", 4), (["utf-32", "utf-16"], "utf-32", 0)],
)
def test_positions_count_the_agreed_code_units(
    tmp_path: Path, offered: list[str] | None, agreed: str, extra: int
) -> None:
    client = Client.in_process()
    try:
        capabilities = {"general": {"positionEncodings": offered}} if offered else {}
        result = client.initialize(capabilities=capabilities)
        assert result["capabilities"]["positionEncoding"] == agreed
        uri = (tmp_path / "enc.net").resolve().as_uri()
        client.open(uri, TEXT)
        (diagnostic,) = client.diagnostics(uri)
        start = diagnostic["range"]["start"]
        assert start == {"line": 1, "character": COLUMN + extra}
        # A position sent back in the same units finds the name there.
        hover = client.at("textDocument/hover", uri, 1, TEXT.splitlines()[1].index("t =") + extra)
        assert hover is not None and "let t = 1 // 0" in hover["contents"]["value"]
    finally:
        client.close()
