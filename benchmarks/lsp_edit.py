"""The language server's time to diagnostics after an edit (part of group frontend).

A server runs in a thread of this process; a client sends it, through the protocol
(JSON-RPC over pipes), an edit of specs/resnet18.net (the whole text, as editors that
synchronise in full do) and waits for the diagnostics it publishes. Edits alternate
between two texts (a width changed and changed back), so that each is a real change;
the first analysis (imports, parser tables) is not counted. With ``--clock cpu`` the
process's CPU time (server and client threads together) is counted instead of wall time.

Run alone: python -m benchmarks.lsp_edit [--repeats N]
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from benchmarks._timing import Spread, now, set_clock

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "resnet18.net"
GOAL = 0.05  # seconds from the edit to its diagnostics


def why_not() -> str | None:
    """Why the server cannot run here (the lsp extra is missing), or None."""
    for name in ("lsprotocol", "pygls"):
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed (pip install netspec[lsp])"
    return None


def time_edits(repeats: int) -> list[float]:
    """Seconds from each edit sent to its diagnostics received."""
    from netspec.lsp.client import Client

    text = SPEC.read_text()
    edited = text.replace("dense(1000,", "dense(999,")
    assert edited != text
    client = Client.in_process()
    try:
        client.initialize(ROOT)
        uri = SPEC.resolve().as_uri()
        client.open(uri, text)
        client.diagnostics(uri)  # the first analysis: imports, tables
        times = []
        for version in range(2, repeats + 2):
            start = now()
            client.change(uri, edited if version % 2 else text, version)
            diagnostics = client.diagnostics(uri)
            times.append(now() - start)
            if diagnostics:
                raise RuntimeError(f"unexpected diagnostics for {SPEC}: {diagnostics}")
    finally:
        client.close()
    return times


def measure(repeats: int) -> Spread | None:
    """The spread of the time to diagnostics, None where the lsp extra is missing."""
    if why_not() is not None:
        return None
    return Spread.of(time_edits(repeats))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args(argv)
    set_clock(args.clock)
    spread = measure(args.repeats)
    if spread is None:
        print(f"skipped: {why_not()}")
        return
    print(
        f"netspec lsp, diagnostics after an edit of {SPEC.name}: median "
        f"{spread.median * 1e3:.1f} ms [IQR {spread.q1 * 1e3:.1f}, {spread.q3 * 1e3:.1f}] "
        f"({args.clock} time; goal < {GOAL * 1e3:.0f} ms)"
    )


if __name__ == "__main__":
    main()
