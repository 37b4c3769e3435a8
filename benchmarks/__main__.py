"""python -m benchmarks [--quick] [--only GROUP[,GROUP]] [--threads N] [--clock wall|cpu]

Prints the machine and versions, then one markdown table per group, then the goals
(met or not, with figures). Groups: train-step, attention, recurrent, limit, frontend, loop,
gpu, onnx, jax-devices, distributed, load, process.
See docs/benchmarks.md for what each measures and the latest full run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

GROUPS = (
    "train-step", "attention", "recurrent", "limit", "frontend", "loop", "gpu", "onnx",
    "jax-devices",
    "distributed",
    "load",
    "process",
)  # fmt: skip


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="netspec's benchmark suite: the machine and versions, one markdown "
        "table per group, then the goals, met or not. See docs/benchmarks.md.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="few repeats, small cases: the whole suite in about two minutes",
    )
    parser.add_argument(
        "--only", metavar="GROUP", help=f"comma-separated groups among {', '.join(GROUPS)}"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for PyTorch and the NumPy BLAS (default 1, steadiest on a shared "
        "machine; 0 leaves each library's default). JAX's XLA pool cannot be limited "
        "from Python and keeps its default.",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time (default) or process CPU time for the timed blocks",
    )
    args = parser.parse_args(argv)
    if args.only:
        chosen = [g.strip() for g in args.only.split(",") if g.strip()]
        unknown = [g for g in chosen if g not in GROUPS]
        if unknown:
            parser.error(f"unknown group(s) {', '.join(unknown)}: choose from {', '.join(GROUPS)}")
        args.groups = tuple(chosen)
    else:
        args.groups = GROUPS
    return args


def _limit_threads(n: int) -> None:
    """Must run before numpy / torch are imported: the BLAS pools read these once."""
    if n <= 0:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(n)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _limit_threads(args.threads)

    from benchmarks import _timing
    from benchmarks.goals import Goals

    try:
        import torch

        if args.threads > 0:
            torch.set_num_threads(args.threads)
    except ImportError:
        pass
    _timing.set_clock(args.clock)
    quick = args.quick

    def progress(text: str) -> None:
        print(f"  ... {text}", file=sys.stderr, flush=True)

    print("## netspec benchmarks" + (" (--quick: few repeats, not for quoting)" if quick else ""))
    print()
    print(_timing.header())
    threads = (
        f"{args.threads} thread(s) for PyTorch and BLAS"
        if args.threads > 0
        else ("library defaults")
    )
    print(
        f"- settings: {threads}; JAX: XLA's default pool; {args.clock} clock; "
        f"{'quick' if quick else 'full'} run"
    )
    print()
    goals = Goals()
    started = time.perf_counter()
    rounds = 5 if quick else 41
    block_s = 0.005 if quick else 0.02
    for group in args.groups:
        group_start = time.perf_counter()
        if group == "train-step":
            from benchmarks import train_step

            result = train_step.run(rounds=rounds, block_s=block_s, progress=progress)
            print(train_step.render(result))
            goals.train_step(result)
        elif group == "attention":
            from benchmarks import train_step

            attention = train_step.run(
                rounds=rounds,
                block_s=block_s,
                nets=("attention",),
                frameworks=("torch", "jax"),
                infer_batch=256,
                progress=progress,
                variants=False,
            )
            print(train_step.render(attention, title="attention"))
            goals.train_step(attention)
        elif group == "recurrent":
            from benchmarks import recurrent

            rec = recurrent.run(
                rounds=3 if quick else 15, block_s=0.05 if quick else 0.3, progress=progress
            )
            print(recurrent.render(rec))
            goals.recurrent(rec)
        elif group == "limit":
            from benchmarks import limit

            lim = limit.run(
                rounds=5 if quick else 31,
                block_s=block_s,
                big_size=1024 if quick else 2048,
                big_rounds=2 if quick else 5,
                progress=progress,
            )
            print(limit.render(lim))
            goals.limit(lim)
        elif group == "frontend":
            from benchmarks import frontend

            front = frontend.run(repeats=2 if quick else 11, progress=progress)
            print(frontend.render(front))
            goals.frontend(front)
        elif group == "loop":
            from benchmarks import loop

            looped = loop.run(
                rounds=1 if quick else 7,
                limits=(20000,) if quick else (20000, 0),
                progress=progress,
            )
            print(loop.render(looped))
            goals.loop(looped)
            if looped.data_dir:
                from benchmarks import loop_pipeline

                piped = loop_pipeline.run(
                    rounds=3 if quick else 7,
                    data_dir=looped.data_dir,
                    scale=0.25 if quick else 1.0,
                    progress=progress,
                )
                print(loop_pipeline.render(piped))
                goals.loop_pipeline(piped)
        elif group == "gpu":
            from benchmarks import gpu

            result_gpu = gpu.run(rounds=rounds, block_s=block_s, progress=progress)
            print(gpu.render(result_gpu))
            goals.gpu(result_gpu)
            from benchmarks import distributed

            # Data-parallel on two GPUs; skipped, saying why, with fewer.
            multi = distributed.run(
                rounds=1 if quick else 3, samples=8192 if quick else 32768, device="cuda"
            )
            print()
            print(distributed.render(multi, title="gpu (two GPUs, data-parallel)"))
        elif group == "distributed":
            from benchmarks import distributed

            result_dist = distributed.run(
                rounds=1 if quick else 3, samples=2048 if quick else 8192, progress=progress
            )
            print(distributed.render(result_dist))
        elif group == "onnx":
            from benchmarks import onnx_export

            result_onnx = onnx_export.run(
                rounds=5 if quick else 21,
                block_s=block_s,
                repeats=2 if quick else 5,
                progress=progress,
            )
            print(onnx_export.render(result_onnx))
        elif group == "jax-devices":
            from benchmarks import jax_devices

            devices = jax_devices.run(
                rounds=1 if quick else 5, limit=20000 if quick else 0, progress=progress
            )
            print(jax_devices.render(devices))
        elif group == "load":
            from benchmarks import load

            loaded = load.run(
                rounds=3 if quick else 7,
                samples={"mlp": 1024, "lenet5": 512} if quick else None,
                progress=progress,
            )
            print(load.render(loaded))
            goals.load(loaded)
        elif group == "process":
            from benchmarks import process

            whole = process.run(
                rounds=3 if quick else 11, traces=2 if quick else 5, progress=progress
            )
            print(process.render(whole))
            goals.process(whole)
        print(f"\n({group}: {time.perf_counter() - group_start:.0f} s)\n", flush=True)
    print(goals.render())
    print(
        f"\n- load average at the end: {_timing.load_average()}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
