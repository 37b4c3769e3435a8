"""A small synchronous protocol client, for driving the server in tests and benchmarks.

It speaks JSON-RPC with ``Content-Length`` framing over two pipes, either to a server
running in a thread of this process (:meth:`Client.in_process`) or to a `netspec lsp`
subprocess (:meth:`Client.subprocess`). Notifications the server sends (such as
``textDocument/publishDiagnostics``) are queued and read with :meth:`Client.notification`.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

TIMEOUT = 60.0


class Client:
    """A protocol client over a pair of byte streams."""

    def __init__(self, reader: IO[bytes], writer: IO[bytes], stop: Any = None) -> None:
        self._reader = reader
        self._writer = writer
        self._stop = stop
        # Streams of the server's side to close once it has ended (an in-process server's).
        self._owned: list[IO[bytes]] = []
        self._next_id = 0
        self._responses: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read_loop, daemon=True)
        self._thread.start()

    @classmethod
    def in_process(cls) -> Client:
        """A client of a fresh server running in a thread of this process."""
        from netspec.lsp.server import create_server

        server = create_server()
        to_server_r, to_server_w = os.pipe()
        from_server_r, from_server_w = os.pipe()
        server_in = os.fdopen(to_server_r, "rb")
        server_out = os.fdopen(from_server_w, "wb")
        thread = threading.Thread(target=server.start_io, args=(server_in, server_out), daemon=True)
        thread.start()
        client = cls(os.fdopen(from_server_r, "rb"), os.fdopen(to_server_w, "wb"), thread)
        client._owned.append(server_in)
        # The server reads its input in a pool thread, which the interpreter waits for at
        # exit; a client left open (a script that failed) would hang it. Closing the pipe
        # first ends that read. Callbacks run in reverse order of registration, so this
        # runs before the pool's own (registered when concurrent.futures was imported).
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            register(client._end)
        return client

    def _end(self) -> None:
        """Close the pipe to the server, once."""
        if not self._writer.closed:
            self._writer.close()

    @classmethod
    def subprocess(cls, cwd: str | Path | None = None) -> Client:
        """A client of ``python -m netspec lsp`` in a child process."""
        process = subprocess.Popen(
            [sys.executable, "-m", "netspec", "lsp", "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
        )
        assert process.stdin is not None and process.stdout is not None
        return cls(process.stdout, process.stdin, process)

    # -- messages ------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        with self._lock:
            self._writer.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            self._writer.flush()

    def _read_loop(self) -> None:
        while True:
            length = None
            while True:
                line = self._reader.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            message = json.loads(self._reader.read(length))
            if "id" in message and "method" not in message:
                self._responses.setdefault(message["id"], queue.Queue()).put(message)
            elif "id" in message:
                # A request from the server (e.g. client/registerCapability): accept it.
                self._send({"id": message["id"], "result": None})
            else:
                self._notifications.put(message)

    def request(self, method: str, params: Any = None) -> Any:
        """Send a request and wait for its result; a protocol error raises RuntimeError."""
        self._next_id += 1
        number = self._next_id
        box = self._responses.setdefault(number, queue.Queue())
        self._send({"id": number, "method": method, "params": params})
        response = box.get(timeout=TIMEOUT)
        del self._responses[number]
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response.get("result")

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"method": method, "params": params})

    def notification(self, method: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The params of the next notification named ``method`` (others are dropped)."""
        while True:
            message = self._notifications.get(timeout=timeout)
            if message.get("method") == method:
                return message["params"]

    def diagnostics(self, uri: str, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """The next diagnostics published for ``uri``."""
        while True:
            params = self.notification("textDocument/publishDiagnostics", timeout)
            if params["uri"] == uri:
                return params["diagnostics"]

    # -- session -------------------------------------------------------------------------

    def initialize(
        self, root: str | Path | None = None, capabilities: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Initialise the session with the client ``capabilities`` (none by default)."""
        result = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": Path(root).resolve().as_uri() if root else None,
                "capabilities": capabilities or {},
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "netspec", "version": version,
                              "text": text}},
        )  # fmt: skip

    def change(self, uri: str, text: str, version: int) -> None:
        """Replace the whole text (full synchronisation)."""
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )

    def at(self, method: str, uri: str, line: int, character: int, **extra: Any) -> Any:
        """A request about a position (0-based, as the protocol counts)."""
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            **extra,
        }
        return self.request(method, params)

    def close(self) -> int | None:
        """Shut the server down and wait for it to end; its exit code for a subprocess."""
        self.request("shutdown")
        self.notify("exit")
        code = None
        if isinstance(self._stop, subprocess.Popen):
            code = self._stop.wait(timeout=TIMEOUT)
        elif isinstance(self._stop, threading.Thread):
            self._stop.join(timeout=TIMEOUT)
        self._end()
        self._thread.join(timeout=TIMEOUT)  # the reader ends at the server's end of output
        for stream in (self._reader, *self._owned):
            stream.close()
        return code
