"""The suite collects where an optional framework is not installed: its modules skip.

torch and jax are extras (pip install netspec[torch], netspec[jax]). Each is hidden in
turn from a fresh interpreter, by a sitecustomize that makes the import system find
nothing under its name (importlib.util.find_spec returns None and importing it raises
ModuleNotFoundError, as when it is absent), and the whole suite is collected there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

HIDE = '''\
"""Hide {names} from the import system, as if not installed."""
import sys
from importlib.machinery import PathFinder

HIDDEN = {names!r}


class _Hiding:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        return PathFinder.find_spec(name, path, target)

    @staticmethod
    def invalidate_caches():
        PathFinder.invalidate_caches()


sys.meta_path[:] = [_Hiding if f is PathFinder else f for f in sys.meta_path]
'''


def _without(tmp_path: Path, names: set[str]) -> dict[str, str]:
    """The environment of a Python that cannot import ``names``."""
    (tmp_path / "sitecustomize.py").write_text(HIDE.format(names=names))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp_path), env.get("PYTHONPATH", "")) if p)
    return env


@pytest.mark.parametrize(
    "hidden",
    [
        {"torch"},
        {"jax", "jaxlib"},
        {"onnx", "onnxruntime"},
        {"pygls", "lsprotocol"},
        {"optuna"},
        {"tensorboard"},
    ],
    ids=lambda names: "no " + min(names),
)
def test_the_suite_collects_without_an_extra(tmp_path: Path, hidden: set[str]) -> None:
    env = _without(tmp_path, hidden)
    probe = "import importlib.util as u; print([u.find_spec(n) for n in {names!r}])"
    done = subprocess.run(
        [sys.executable, "-c", probe.format(names=sorted(hidden))],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert done.stdout.strip() == str([None] * len(hidden))  # the framework is hidden
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "tests"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    # Exit code 2 (interrupted) with "ERROR <module>" lines is a module that imported the
    # framework at its top; a module that needs it must skip with a stated reason.
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-2000:]
    assert f"{min(hidden)} is not installed" in collected.stdout
