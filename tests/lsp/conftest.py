"""A language server driven through the protocol: a client speaking JSON-RPC over pipes
to a server in a thread of the test process (no subprocess, no framework import).

Test modules skip where the lsp extra is absent, each with its own importorskip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netspec.lsp.client import Client

Opener = Callable[..., tuple[str, list[dict[str, Any]]]]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """One initialised server per test module; each test opens its own files."""
    session = Client.in_process()
    session.initialize()
    yield session
    session.close()


@pytest.fixture
def opened(client: Client) -> Opener:
    """Open a file (with ``text`` as its unsaved buffer, else its content on disk); the
    URI and the diagnostics the server publishes for it."""

    def open_file(path: Path, text: str | None = None) -> tuple[str, list[dict[str, Any]]]:
        uri = path.resolve().as_uri()
        client.open(uri, path.read_text() if text is None else text)
        return uri, client.diagnostics(uri)

    return open_file
