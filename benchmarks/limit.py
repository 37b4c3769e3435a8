"""Group limit: how close the MLP step comes to the matrix multiplications it must do.

The MLP 784-256-10 step at batch B = 128 needs five GEMMs (W1 [256, 784], W2 [10, 256]):

- forward:          Z1 = X @ W1.T   [B, 784] x [784, 256];   Z2 = A1 @ W2.T   [B, 256] x [256, 10]
- weight gradients: dW2 = dZ2.T @ A1  [10, B] x [B, 256];    dW1 = dZ1.T @ X  [256, B] x [B, 784]
- input gradient:   dA1 = dZ2 @ W2    [B, 10] x [10, 256]

(the gradient for X itself is never needed). Run back to back with preallocated outputs
and nothing else in PyTorch, NumPy and JAX, the fastest gives the bare-GEMM bound. Each
backend's netspec MLP step is alternated with the same five GEMMs in its own framework
(same library, same threads, so the ratio compares like with like) and reported as a
multiple of them; its multiple of the bound is that ratio times its framework's GEMM
time over the fastest's. A large square float32 GEMM gives the machine's FLOP/s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchmarks._timing import Pair, Spread, alternate, repeat, table
from benchmarks.train_step import LR, SPECS, _data

B, D, H, K = 128, 784, 256, 10
BOUND_GOAL = 1.5


def gemm_flops(batch: int = B) -> int:
    return 2 * batch * D * H * 2 + 2 * batch * H * K * 3


def _operands(batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return {
        "x": f(batch, D),
        "w1": f(H, D),
        "a1": f(batch, H),
        "w2": f(K, H),
        "dz2": f(batch, K),
        "dz1": f(batch, H),
    }


def numpy_gemms(batch: int = B) -> Callable[[int], None]:
    o = _operands(batch)
    out = [
        np.empty((batch, H), np.float32),
        np.empty((batch, K), np.float32),
        np.empty((K, H), np.float32),
        np.empty((H, D), np.float32),
        np.empty((batch, H), np.float32),
    ]

    def block(n: int) -> None:
        for _ in range(n):
            np.matmul(o["x"], o["w1"].T, out=out[0])
            np.matmul(o["a1"], o["w2"].T, out=out[1])
            np.matmul(o["dz2"].T, o["a1"], out=out[2])
            np.matmul(o["dz1"].T, o["x"], out=out[3])
            np.matmul(o["dz2"], o["w2"], out=out[4])

    return block


def torch_gemms(batch: int = B, device: str = "cpu") -> Callable[[int], None]:
    import torch

    o = {k: torch.from_numpy(v).to(device) for k, v in _operands(batch).items()}
    out = [
        torch.empty((batch, H), device=device),
        torch.empty((batch, K), device=device),
        torch.empty((K, H), device=device),
        torch.empty((H, D), device=device),
        torch.empty((batch, H), device=device),
    ]

    def block(n: int) -> None:
        for _ in range(n):
            torch.mm(o["x"], o["w1"].T, out=out[0])
            torch.mm(o["a1"], o["w2"].T, out=out[1])
            torch.mm(o["dz2"].T, o["a1"], out=out[2])
            torch.mm(o["dz1"].T, o["x"], out=out[3])
            torch.mm(o["dz2"], o["w2"], out=out[4])
        if device != "cpu":
            torch.cuda.synchronize()

    return block


def jax_gemms(batch: int = B) -> Callable[[int], None]:
    import jax
    import jax.numpy as jnp

    o = {k: jnp.asarray(v) for k, v in _operands(batch).items()}

    @jax.jit
    def five(x, w1, a1, w2, dz2, dz1):  # type: ignore[no-untyped-def]
        return x @ w1.T, a1 @ w2.T, dz2.T @ a1, dz1.T @ x, dz2 @ w2

    def block(n: int) -> None:
        result = None
        for _ in range(n):
            result = five(o["x"], o["w1"], o["a1"], o["w2"], o["dz2"], o["dz1"])
        jax.block_until_ready(result)

    return block


def big_gemm(framework: str, size: int) -> Callable[[int], None]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    if framework == "numpy":
        out = np.empty_like(a)
        return lambda n: [np.matmul(a, b, out=out) for _ in range(n)] and None
    if framework == "torch":
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tout = torch.empty_like(ta)
        return lambda n: [torch.mm(ta, tb, out=tout) for _ in range(n)] and None
    import jax
    import jax.numpy as jnp

    ja, jb = jnp.asarray(a), jnp.asarray(b)
    mm = jax.jit(jnp.matmul)
    return lambda n: jax.block_until_ready([mm(ja, jb) for _ in range(n)]) and None


@dataclass
class LimitResult:
    bare: dict[str, Spread] = field(default_factory=dict)  # framework -> s per five GEMMs
    fastest: str = ""
    steps: dict[str, Pair] = field(default_factory=dict)  # backend -> (step, own GEMMs)
    big: dict[str, Spread] = field(default_factory=dict)  # framework -> s per GEMM
    big_size: int = 0
    batch: int = B
    skipped: list[str] = field(default_factory=list)

    def multiple(self, backend: str) -> float:
        """The backend's step as a multiple of the bound (the fastest framework's GEMMs)."""
        own = self.bare[backend].median / self.bare[self.fastest].median
        return self.steps[backend].ratio.median * own

    def best(self) -> tuple[str, float]:
        """The backend whose step is closest to the bound, and its multiple."""
        name = min(self.steps, key=self.multiple)
        return name, self.multiple(name)


def _netspec_step(backend: str, batch: int) -> Callable[[int], None]:
    import netspec
    from netspec.backend import get_backend
    from netspec.ir.train import Sgd, SoftmaxCrossEntropy

    compiled = get_backend(backend).compile(netspec.load(SPECS["mlp"]).model(), seed=0)
    step = compiled.train_step(SoftmaxCrossEntropy(), Sgd(lr=LR), None)
    x, y = _data((D,), batch)

    def block(n: int) -> None:
        for _ in range(n):
            step.step(x, y, LR)
        step.drain()

    return block


def run(
    *,
    rounds: int = 31,
    block_s: float = 0.02,
    batch: int = B,
    big_size: int = 2048,
    big_rounds: int = 5,
    backends: tuple[str, ...] = ("torch", "jax", "numpy"),
    calls: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> LimitResult:
    result = LimitResult(big_size=big_size, batch=batch)
    makers = {"numpy": numpy_gemms, "torch": torch_gemms, "jax": jax_gemms}
    blocks: dict[str, Callable[[int], None]] = {}
    for name, make in makers.items():
        try:
            blocks[name] = make(batch)
        except ImportError:
            result.skipped.append(f"{name}: not installed")
    if progress:
        progress("limit: bare GEMMs")
    for name, block in blocks.items():
        result.bare[name], _ = repeat(block, rounds=rounds, block_s=block_s, calls=calls)
    result.fastest = min(result.bare, key=lambda k: result.bare[k].median)
    for backend in backends:
        if backend not in blocks:
            continue
        if progress:
            progress(f"limit: {backend} MLP step against its framework's GEMMs")
        result.steps[backend] = alternate(
            _netspec_step(backend, batch),
            blocks[backend],
            rounds=rounds,
            block_s=block_s,
            calls=calls,
        )
    if big_size:
        for name in blocks:
            if progress:
                progress(f"limit: {big_size}x{big_size} GEMM in {name}")
            result.big[name], _ = repeat(
                big_gemm(name, big_size), rounds=big_rounds, warmup=1, calls=1
            )
    return result


def render(result: LimitResult) -> str:
    flops = gemm_flops(result.batch)
    rows = [
        [
            name,
            f"{s.median * 1e3:.3f} [{s.q1 * 1e3:.3f}, {s.q3 * 1e3:.3f}]",
            f"{flops / s.median / 1e9:.1f}",
            "fastest: the bound" if name == result.fastest else "",
        ]
        for name, s in result.bare.items()
    ]
    out = [
        f"### limit: the MLP step's five GEMMs alone (batch {result.batch}, "
        f"{flops / 1e6:.1f} MFLOP)",
        "",
        table(["framework", "ms per five GEMMs", "GFLOP/s", ""], rows),
        "",
        f"### limit: each backend's MLP step as a multiple of the bare-GEMM bound "
        f"({result.fastest}'s five GEMMs)",
        "",
    ]
    rows = []
    for backend, pair in result.steps.items():
        rows.append(
            [
                backend,
                f"{pair.a.median * 1e3:.3f}",
                f"{pair.b.median * 1e3:.3f}",
                pair.ratio.fmt(digits=2),
                f"{result.multiple(backend):.2f}",
            ]
        )
    out.append(
        table(
            [
                "backend",
                "step ms",
                "own framework's GEMMs ms (alternated)",
                "step / own GEMMs",
                "step / bound",
            ],
            rows,
        )
    )
    if result.steps:
        best, multiple = result.best()
        verdict = "met" if multiple <= BOUND_GOAL else "NOT met"
        out += [
            "",
            f"best backend: {best}, {multiple:.2f}x the bound (goal <= {BOUND_GOAL}x: {verdict})",
        ]
    if result.big:
        n = result.big_size
        rows = [
            [name, f"{s.median * 1e3:.1f}", f"{2 * n**3 / s.median / 1e9:.1f}"]
            for name, s in result.big.items()
        ]
        out += [
            "",
            f"### limit: machine context, one {n}x{n} float32 GEMM",
            "",
            table(["framework", "ms", "GFLOP/s"], rows),
        ]
    for line in result.skipped:
        out.append(f"- skipped {line}")
    return "\n".join(out)


def finite(result: LimitResult) -> bool:
    return (
        bool(result.bare)
        and all(s.finite() for s in result.bare.values())
        and all(p.ratio.finite() for p in result.steps.values())
    )
