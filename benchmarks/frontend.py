"""Group frontend: whole-process ``netspec check`` on ResNet-18 and on generated specs.

Run alone: python -m benchmarks.frontend [--repeats N]

Each figure is the median wall time of ``python -m netspec check FILE`` as a fresh
process (interpreter start-up, imports, parsing, elaboration, checking, rendering),
after one warm-up run (the parser's LALR tables are read from the package, as JSON).
Generated specs are chains of dense/relu nodes. Whether the front end
grows linearly is judged in-process, where start-up does not drown the difference:
``netspec.analyze`` (what ``check`` runs before printing) on each generated spec, the
time per layer at 10,000 layers at most 1.5 times that at 1,000. The language server's
time to diagnostics after an edit of ResNet-18 is measured by benchmarks/lsp_edit.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import lsp_edit
from benchmarks._timing import Spread, table

ROOT = Path(__file__).resolve().parents[1]
RESNET_GOAL = 0.3  # seconds
DEEP_GOAL = 3.0  # seconds for 10,000 layers
LINEAR_SLACK = 1.5  # marginal cost per layer may grow this much and still count as linear


def generated_spec(layers: int) -> str:
    """A chain of ``layers`` nodes (dense/relu pairs), a deep-MLP stress case."""
    lines = ["netspec 1", "", "model deep(x: [64]) {"]
    lines += ["    dense(64) -> relu" for _ in range(layers // 2)]
    lines += ["    dense(10)", "}", ""]
    return "\n".join(lines)


def time_check(path: Path, repeats: int) -> list[float]:
    command = [sys.executable, "-m", "netspec", "check", str(path)]
    subprocess.run(command, capture_output=True, check=True, cwd=ROOT)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise RuntimeError(f"netspec check failed on {path}:\n{result.stderr.decode()}")
    return times


@dataclass
class FrontendResult:
    startup: Spread | None = None
    resnet: Spread | None = None
    deep: dict[int, Spread] = field(default_factory=dict)  # whole process
    analyze: dict[int, Spread] = field(default_factory=dict)  # in-process analyze()
    lsp: Spread | None = None  # netspec lsp: an edit of ResNet-18 to its diagnostics

    def per_layer(self, layers: int) -> float:
        """In-process seconds per layer of netspec.analyze at ``layers``."""
        return self.analyze[layers].median / layers

    def linear(self) -> tuple[bool, str] | None:
        sizes = sorted(self.analyze)
        if len(sizes) < 2:
            return None
        middle, large = sizes[-2], sizes[-1]
        low, high = self.per_layer(middle), self.per_layer(large)
        ok = high <= LINEAR_SLACK * low
        text = (
            f"netspec.analyze in-process: {low * 1e6:.0f} us per layer at {middle} layers, "
            f"{high * 1e6:.0f} us at {large} ({high / low:.2f}x): "
            f"{'linear' if ok else 'NOT linear'} (linear: at most {LINEAR_SLACK}x)"
        )
        return ok, text


def time_analyze(text: str, repeats: int) -> list[float]:
    import netspec

    netspec.analyze(text, "deep.net")  # warm-up: imports, parser tables
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        netspec.analyze(text, "deep.net")
        times.append(time.perf_counter() - start)
    return times


def run(
    *,
    repeats: int = 11,
    sizes: tuple[int, ...] = (100, 1000, 10000),
    resnet: bool = True,
    lsp: bool = True,
    progress: Callable[[str], None] | None = None,
) -> FrontendResult:
    result = FrontendResult()
    startup = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        startup.append(time.perf_counter() - start)
    result.startup = Spread.of(startup)
    if resnet:
        if progress:
            progress("frontend: resnet18")
        result.resnet = Spread.of(time_check(ROOT / "specs" / "resnet18.net", repeats))
    if lsp:
        if progress:
            progress("frontend: lsp edit")
        # Edits are cheap: more of them than process runs, for a steadier median.
        result.lsp = lsp_edit.measure(max(4 * repeats, 3))
    with tempfile.TemporaryDirectory() as tmp:
        for layers in sizes:
            if progress:
                progress(f"frontend: {layers} layers")
            path = Path(tmp) / f"deep{layers}.net"
            path.write_text(generated_spec(layers))
            count = repeats if layers < 10000 else min(repeats, 5)
            result.deep[layers] = Spread.of(time_check(path, count))
            result.analyze[layers] = Spread.of(time_analyze(path.read_text(), count))
    return result


def render(result: FrontendResult) -> str:
    rows = []

    def ms(s: Spread) -> str:
        return f"{s.median * 1e3:.0f} [{s.q1 * 1e3:.0f}, {s.q3 * 1e3:.0f}]"

    if result.startup:
        rows.append(["python -c pass (interpreter start-up)", ms(result.startup), ""])
    if result.resnet:
        met = result.resnet.median < RESNET_GOAL
        rows.append(
            [
                "netspec check specs/resnet18.net",
                ms(result.resnet),
                f"< {RESNET_GOAL * 1e3:.0f} ms: {'met' if met else 'NOT met'}",
            ]
        )
    if result.lsp:
        met = result.lsp.median < lsp_edit.GOAL
        rows.append(
            [
                "netspec lsp: an edit of specs/resnet18.net to its diagnostics",
                "",
                ms(result.lsp),
                f"< {lsp_edit.GOAL * 1e3:.0f} ms: {'met' if met else 'NOT met'}",
            ]
        )
    for layers, spread in sorted(result.deep.items()):
        goal = ""
        if layers == 10000:
            goal = f"< {DEEP_GOAL:.0f} s: {'met' if spread.median < DEEP_GOAL else 'NOT met'}"
        inner = result.analyze.get(layers)
        rows.append(
            [
                f"netspec check, generated spec of {layers} layers",
                ms(spread),
                ms(inner) if inner else "",
                goal,
            ]
        )
    for row in rows:
        if len(row) == 3:
            row.insert(2, "")
    out = [
        "### frontend: netspec check as a whole process, ms (median [IQR])",
        "",
        table(["case", "wall time, ms", "in-process, ms", "goal"], rows),
    ]
    linear = result.linear()
    if linear:
        out += ["", linear[1]]
    return "\n".join(out)


def finite(result: FrontendResult) -> bool:
    spreads = [s for s in (result.startup, result.resnet, result.lsp) if s]
    spreads += list(result.deep.values())
    spreads += list(result.analyze.values())
    return bool(spreads) and all(s.finite() for s in spreads)


def main(argv: list[str] | None = None) -> FrontendResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args(argv)
    result = run(repeats=args.repeats)
    print(render(result))
    return result


if __name__ == "__main__":
    main()
