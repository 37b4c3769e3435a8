// The netspec extension: the grammar in package.json colours .net files; this file
// starts the language server, `netspec lsp`, which speaks LSP over stdin and stdout.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate() {
  const config = vscode.workspace.getConfiguration("netspec");
  if (!config.get("server.enabled", true)) {
    return;
  }
  const command = config.get("server.command", "netspec");
  // No `transport` key: the client then talks over the process's stdio without adding
  // a --stdio argument, and the server is started exactly as `netspec lsp`.
  const serverOptions = { command, args: ["lsp"] };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "netspec" },
      { scheme: "untitled", language: "netspec" },
    ],
  };
  client = new LanguageClient("netspec", "netspec language server", serverOptions, clientOptions);
  client.start().catch((error) => {
    vscode.window.showErrorMessage(
      `netspec: cannot start \`${command} lsp\` (${error.message}). Install netspec with its ` +
        "lsp extra (pip install 'netspec[lsp]') or set netspec.server.command.",
    );
  });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
