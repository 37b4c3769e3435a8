"""The VS Code extension in editors/vscode: its manifest names the generated grammar and
the language configuration, and extension.js starts `netspec lsp` over stdio."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

VSCODE = ROOT / "editors" / "vscode"
MANIFEST = json.loads((VSCODE / "package.json").read_text("utf-8"))


def test_the_manifest_contributes_the_language_and_its_grammar() -> None:
    [language] = MANIFEST["contributes"]["languages"]
    [grammar] = MANIFEST["contributes"]["grammars"]
    assert language["id"] == grammar["language"] == "netspec"
    assert language["extensions"] == [".net"]
    textmate = json.loads((VSCODE / grammar["path"]).read_text("utf-8"))
    assert textmate["scopeName"] == grammar["scopeName"]
    configuration = json.loads((VSCODE / language["configuration"]).read_text("utf-8"))
    assert configuration["comments"] == {"lineComment": "#"}
    assert ["{", "}"] in configuration["brackets"]
    assert (VSCODE / MANIFEST["main"]).is_file()
    lock = json.loads((VSCODE / "package-lock.json").read_text("utf-8"))
    assert lock["packages"][""]["dependencies"] == MANIFEST["dependencies"]


# Stand-ins for the two modules only VS Code and npm provide: they record what the
# extension asks for.
VSCODE_STUB = """
exports.workspace = { getConfiguration: () => ({ get: (key, fallback) =>
  (global.settings[key] !== undefined ? global.settings[key] : fallback) }) };
exports.window = { showErrorMessage: (message) => global.calls.push(["error", message]) };
"""
CLIENT_STUB = """
class LanguageClient {
  constructor(id, name, server, client) { global.calls.push(["client", id, server, client]); }
  start() { global.calls.push(["start"]); return Promise.resolve(); }
  stop() { global.calls.push(["stop"]); return Promise.resolve(); }
}
exports.LanguageClient = LanguageClient;
"""
RUN = """
global.calls = [];
global.settings = JSON.parse(process.argv[1]);
const extension = require("./extension.js");
extension.activate({ subscriptions: [] });
Promise.resolve(extension.deactivate()).then(() => console.log(JSON.stringify(global.calls)));
"""


def _activate(tmp_path: Path, settings: dict[str, object]) -> list[list[object]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: extension.js cannot be run")
    shutil.copy(VSCODE / "extension.js", tmp_path / "extension.js")
    modules = tmp_path / "node_modules"
    (modules / "vscode").mkdir(parents=True)
    (modules / "vscode" / "index.js").write_text(VSCODE_STUB)
    (modules / "vscode-languageclient").mkdir()
    (modules / "vscode-languageclient" / "node.js").write_text(CLIENT_STUB)
    done = subprocess.run(
        [node, "-e", RUN, json.dumps(settings)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_extension_starts_netspec_lsp_over_stdio(tmp_path: Path) -> None:
    calls = _activate(tmp_path, {"server.command": "/venv/bin/netspec"})
    (_, name, server, client), *rest = calls
    assert name == "netspec"
    # No transport key: the client would otherwise append --stdio to the arguments.
    assert server == {"command": "/venv/bin/netspec", "args": ["lsp"]}
    assert {"scheme": "file", "language": "netspec"} in client["documentSelector"]
    assert rest == [["start"], ["stop"]]


def test_the_server_can_be_turned_off(tmp_path: Path) -> None:
    assert _activate(tmp_path, {"server.enabled": False}) == []
