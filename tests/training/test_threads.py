"""Thread pools of a run: the default rule, --threads / threads=, and what they set."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec.cli import main
from netspec.errors import NetspecError
from netspec.ir import Program
from netspec.training import fit
from netspec.training import threads as thread_pools

threadpoolctl = pytest.importorskip("threadpoolctl", reason="the BLAS pool is sized through it")


@pytest.mark.parametrize(
    ("cores", "load", "expected"),
    [
        (2, 0.0, 2),  # a quiet machine: every core
        (2, 0.4, 2),  # a little background rounds to none
        (2, 0.6, 1),
        (2, 1.0, 1),  # one CPU-bound process: the other core
        (2, 9.7, 1),  # busier than it has cores: still one
        (8, 3.2, 5),
        (8, 3.5, 4),  # rounds half up
        (1, 0.0, 1),
        (4, None, 4),  # no load average: every core
        (4, math.nan, 4),
        (4, -1.0, 4),
    ],
)
def test_the_default_rule_takes_the_cores_the_load_leaves(
    cores: int, load: float | None, expected: int
) -> None:
    assert thread_pools.default_threads(cores, load) == expected


def _cpuinfo(*cores: tuple[int, int]) -> str:
    """A /proc/cpuinfo text: one block per CPU, given as (physical id, core id)."""
    return "\n\n".join(
        f"processor\t: {cpu}\nphysical id\t: {package}\ncore id\t\t: {core}"
        for cpu, (package, core) in enumerate(cores)
    )


@pytest.mark.parametrize(
    ("cpuinfo", "usable", "expected"),
    [
        (_cpuinfo((0, 0), (0, 1)), {0, 1}, 2),  # two cores
        (_cpuinfo((0, 0), (0, 0), (0, 1), (0, 1)), {0, 1, 2, 3}, 2),  # hyper-threads
        (_cpuinfo((0, 0), (0, 0), (0, 1), (0, 1)), {0, 1}, 1),  # affinity: one core's two
        (_cpuinfo((0, 0), (1, 0)), {0, 1}, 2),  # the same core id on two packages
        ("", {0, 1, 2}, 3),  # no core ids: each CPU a core
    ],
)
def test_physical_cores_are_counted_once(cpuinfo: str, usable: set[int], expected: int) -> None:
    assert thread_pools.count_cores(cpuinfo, usable) == expected


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_a_cgroup_cpu_quota_is_read(
    tmp_path: Path, files: dict[str, str], expected: float | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert thread_pools.cpu_quota(tmp_path) == expected


@pytest.mark.parametrize(
    ("given", "expected"), [(0, 0), ("auto", 0), ("AUTO", 0), (3, 3), ("2", 2)]
)
def test_a_thread_count_is_read(given: object, expected: int) -> None:
    assert thread_pools.check_threads(given) == expected


@pytest.mark.parametrize("bad", [-1, 1.5, "many", True, None])
def test_a_bad_thread_count_is_a_clear_error(tiny: Program, bad: object) -> None:
    message = r"threads must be an integer >= 1, or 0 or 'auto' .* found " + repr(bad)
    with pytest.raises(NetspecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        netspec.train(tiny, threads=bad, progress=False)


def test_a_bad_threads_flag_is_a_usage_error(
    tiny_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", tiny_file, "--threads", "-2"])
    assert exited.value.code == 2
    assert "expected a number of threads >= 1, or 0 or auto, found '-2'" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "expected"), [("1", 1), ("auto", 2), ("0", 2)])
def test_the_threads_flag_reaches_the_run(
    tiny_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str, expected: int
) -> None:
    monkeypatch.setattr(thread_pools, "default_threads", lambda cores, load: 2)
    out = tmp_path / "run"
    assert main(["train", tiny_file, "--epochs", "1", "--out", str(out), "--quiet",
                 "--threads", flag]) == 0  # fmt: skip
    assert json.loads((out / "run.json").read_text())["threads"] == expected


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}


def _watch(seen: list[dict[str, Any]], backend: str) -> Any:
    """An on_epoch callback recording the pools' sizes while the run trains."""

    def on_epoch(row: dict[str, Any]) -> None:
        sizes: dict[str, Any] = {"blas": _blas_threads()}
        if backend == "torch":
            import torch

            sizes["torch"] = torch.get_num_threads()
        seen.append(sizes)

    return on_epoch


@pytest.mark.parametrize(
    "backend",
    [
        "numpy",
        pytest.param(
            "torch",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("torch") is None, reason="torch is not installed"
            ),
        ),
    ],
)
def test_threads_sets_the_pools_for_the_run_and_puts_them_back(
    tiny: Program, tmp_path: Path, backend: str
) -> None:
    before = _blas_threads()
    torch_before = None
    if backend == "torch":
        import torch

        torch.set_num_threads(2)
        torch_before = torch.get_num_threads()
    seen: list[dict[str, Any]] = []
    result = fit(
        tiny, backend=backend, epochs=1, out=tmp_path / "run", progress=False, threads=1,
        on_epoch=_watch(seen, backend),
    )  # fmt: skip
    expected: dict[str, Any] = {"blas": {1} if before else set()}
    if backend == "torch":
        expected["torch"] = 1
    assert seen == [expected]
    assert json.loads((result.run_dir / "run.json").read_text())["threads"] == 1
    assert _blas_threads() == before
    if backend == "torch":
        assert torch.get_num_threads() == torch_before


def test_a_numpy_run_does_not_touch_torch(
    tiny: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes `import torch` raise ImportError: any import fails the run.
    monkeypatch.setitem(sys.modules, "torch", None)
    result = fit(tiny, epochs=1, out=tmp_path / "run", progress=False, threads=2)
    assert json.loads((result.run_dir / "run.json").read_text())["threads"] == 2


def test_the_default_applies_the_rule_and_a_resumed_run_keeps_its_count(
    tiny: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A resumed run takes the recorded count, not what the load says now: PyTorch may
    # split a reduction by thread, and resuming is bit-exact.
    monkeypatch.setattr(thread_pools, "default_threads", lambda cores, load: 1)
    first = fit(tiny, out=tmp_path / "run", progress=False, stop_after=1)
    assert json.loads((first.run_dir / "run.json").read_text())["threads"] == 1
    monkeypatch.setattr(thread_pools, "default_threads", lambda cores, load: 2)
    seen: list[dict[str, Any]] = []
    fit(tiny, resume=first.run_dir, progress=False, on_epoch=_watch(seen, "numpy"))
    blas = {1} if _blas_threads() else set()
    assert seen and all(sizes == {"blas": blas} for sizes in seen)
    fresh: list[dict[str, Any]] = []
    fit(tiny, epochs=1, out=tmp_path / "new", progress=False, on_epoch=_watch(fresh, "numpy"))
    assert fresh == [{"blas": {2} if blas else set()}]


def test_each_worker_takes_an_equal_share() -> None:
    assert thread_pools.worker_share(8, 2) == 4
    assert thread_pools.worker_share(3, 2) == 1
    assert thread_pools.worker_share(1, 4) == 1  # never none


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="--nproc needs torch")
@pytest.mark.parametrize(
    ("threads", "resume", "expected"),
    [(4, None, 2), (0, None, 3 // 2), (1, None, 1), (0, "run", 0), (4, "run", 2)],
)
def test_nproc_workers_are_handed_their_share(
    tiny: Program,
    monkeypatch: pytest.MonkeyPatch,
    threads: int,
    resume: str | None,
    expected: int,
) -> None:
    # 0 for a resumed run: each worker then reads the count its run recorded.
    from netspec.backends.torch import _launch

    monkeypatch.setattr(thread_pools, "default_threads", lambda cores, load: 3)
    handed: list[dict[str, Any]] = []
    monkeypatch.setattr(_launch, "launch", lambda program, options, **kw: handed.append(options))
    fit(tiny, backend="torch", nproc=2, threads=threads, resume=resume, progress=False)
    assert handed[0]["threads"] == expected
