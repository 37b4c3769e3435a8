"""Without the lsp extra, `netspec lsp` says what to install instead of a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.test_extras import _without


def test_netspec_lsp_without_pygls_says_what_to_install(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "netspec", "lsp"],
        cwd=ROOT,
        env=_without(tmp_path, {"pygls", "lsprotocol"}),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert "pip install netspec[lsp]" in result.stderr
    assert "Traceback" not in result.stderr
