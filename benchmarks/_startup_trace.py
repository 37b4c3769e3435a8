"""``netspec train`` with timestamps at the stages of a run, for the ``process`` group.

Run as ``python benchmarks/_startup_trace.py TRACE_FILE train ...`` (the arguments after
TRACE_FILE are netspec's): the same command line as ``python -m netspec``, with the
functions that mark each stage wrapped from the outside, so that netspec itself carries
no tracing. When the run ends, TRACE_FILE receives a JSON object of wall-clock times
(``time.time()``, comparable with the parent's), keyed by stage:

- ``interpreter``: this file's first line runs (the interpreter and site are up);
- ``imported``: ``netspec.cli`` is imported (netspec, pydantic, the grammar's tables);
- ``checked``: the spec is parsed and checked (``read_program``);
- ``data_start`` / ``data_end``: ``load_dataset`` (read, split, convert, check);
- ``backend_end``: the backend module is imported (``get_backend``: torch or jax);
- ``step_start`` / ``step_end``: the first training step (model compilation, the
  optimizer and the run directory's set-up lie between ``backend_end`` and it);
- ``epochs_end``: the last epoch is committed (``finish`` begins);
- ``finish_end``: final figures, weights and curves are written.
"""

from __future__ import annotations

import time

STARTED = time.time()

import json  # noqa: E402  (after the first timestamp)
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402


def _marking(
    marks: dict[str, float], fn: Callable[..., Any], end: str, start: str | None = None
) -> Callable[..., Any]:
    """``fn``, recording when its first call starts and ends."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if start is not None:
            marks.setdefault(start, time.time())
        try:
            return fn(*args, **kwargs)
        finally:
            marks.setdefault(end, time.time())

    return wrapper


def main(argv: list[str]) -> int:
    trace, args = argv[0], argv[1:]
    marks: dict[str, float] = {"interpreter": STARTED}
    from netspec import _model_base, cli

    marks["imported"] = time.time()
    from netspec.training import epochs, loop

    cli.read_program = _marking(marks, cli.read_program, "checked")
    loop.load_dataset = _marking(marks, loop.load_dataset, "data_end", "data_start")
    loop.get_backend = _marking(marks, loop.get_backend, "backend_end")
    make_step = _model_base.ModelBase.train_step

    def train_step(self: Any, *a: Any, **k: Any) -> Any:
        step = make_step(self, *a, **k)
        step.step = _marking(marks, step.step, "step_end", "step_start")
        return step

    _model_base.ModelBase.train_step = train_step  # type: ignore[method-assign]
    finish = epochs.EpochLoop.finish

    def timed_finish(self: Any) -> Any:
        marks.setdefault("epochs_end", time.time())
        try:
            return finish(self)
        finally:
            marks.setdefault("finish_end", time.time())

    epochs.EpochLoop.finish = timed_finish  # type: ignore[method-assign]
    sys.argv = ["netspec", *args]
    try:
        return cli.main()  # as the netspec script calls it: the process's own command line
    finally:
        with open(trace, "w") as handle:
            json.dump(marks, handle)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
