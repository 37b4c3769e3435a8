"""`netspec lsp` as editors run it: a process speaking the protocol on stdin and stdout,
which never imports torch or jax."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("lsprotocol", reason="lsprotocol is not installed (pip install netspec[lsp])")
pytest.importorskip("pygls", reason="pygls is not installed (pip install netspec[lsp])")

from netspec.lsp.client import Client
from tests.conftest import ROOT

LENET = ROOT / "specs" / "lenet5.net"


def test_netspec_lsp_serves_on_stdio_and_exits_cleanly() -> None:
    client = Client.subprocess(cwd=ROOT)
    capabilities = client.initialize(ROOT)["capabilities"]
    assert capabilities["textDocumentSync"]["change"] == 1  # full text on each change
    providers = ("hover", "definition", "references", "documentSymbol", "codeAction", "completion")
    for provider in (*providers, "documentFormatting"):
        assert capabilities[f"{provider}Provider"]
    uri = LENET.resolve().as_uri()
    client.open(uri, LENET.read_text().replace("dense(120)", "dense(120) -> relux"))
    (unknown,) = client.diagnostics(uri)
    assert unknown["code"] == "E002" and unknown["source"] == "netspec"
    assert client.close() == 0  # shutdown, then exit: status 0


def test_the_server_imports_neither_torch_nor_jax() -> None:
    code = (
        "import sys\n"
        "from netspec.lsp.client import Client\n"
        "client = Client.in_process()\n"
        f"client.initialize()\n"
        f"uri = {LENET.resolve().as_uri()!r}\n"
        f"client.open(uri, open({str(LENET)!r}).read())\n"
        "assert client.diagnostics(uri) == []\n"
        "assert client.at('textDocument/hover', uri, 5, 6) is not None\n"
        "client.at('textDocument/completion', uri, 5, 4)\n"
        "client.close()\n"
        "print('torch' in sys.modules, 'jax' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
