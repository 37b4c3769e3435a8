"""The suite collects where an optional framework is not installed: its modules skip.

torch and jax are extras (pip install netspec[torch], netspec[jax]). Each is hidden in
turn, and all at once, from a fresh interpreter, by a sitecustomize that makes the import
system find nothing under its name (importlib.util.find_spec returns None and importing it
raises ModuleNotFoundError, as when it is absent). With all hidden the whole suite is
collected; with one hidden, the modules that import it.
"""

from __future__ import annotations

import os
import re
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


# Each extra's import names, and the text of its skip reason.
EXTRAS = [{"torch"}, {"jax", "jaxlib"}, {"onnx", "onnxruntime"}, {"pygls", "lsprotocol"},
          {"optuna"}, {"tensorboard"}]  # fmt: skip


def _collect(env: dict[str, str], paths: list[str]) -> subprocess.CompletedProcess[str]:
    """``pytest --collect-only`` of ``paths`` in a Python with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *paths],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _importing(names: set[str]) -> list[str]:
    """The test modules that import one of ``names`` themselves (at their top, inside a
    function, or through pytest.importorskip)."""
    pattern = re.compile(
        r"^\s*(?:import|from)\s+(?:{0})\b|importorskip\(\s*[\"'](?:{0})\b".format(
            "|".join(map(re.escape, sorted(names)))
        ),
        re.MULTILINE,
    )
    return sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    )


def test_the_suite_collects_without_any_extra(tmp_path: Path) -> None:
    """The base install: every extra hidden at once, the whole suite collects, and each
    extra's modules skip saying which one is missing."""
    hidden = set().union(*EXTRAS)
    env = _without(tmp_path, hidden)
    probe = "import importlib.util as u; print([u.find_spec(n) for n in {names!r}])"
    done = subprocess.run(
        [sys.executable, "-c", probe.format(names=sorted(hidden))],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert done.stdout.strip() == str([None] * len(hidden))  # the frameworks are hidden
    collected = _collect(env, ["tests"])
    # Exit code 2 (interrupted) with "ERROR <module>" lines is a module that imported a
    # framework at its top; a module that needs one must skip with a stated reason.
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-2000:]
    for names in EXTRAS:
        assert f"{min(names)} is not installed" in collected.stdout


@pytest.mark.parametrize("hidden", EXTRAS, ids=lambda names: "no " + min(names))
def test_the_modules_that_import_an_extra_collect_without_it(
    tmp_path: Path, hidden: set[str]
) -> None:
    """With only this extra missing (the others installed), every module that imports it
    skips: a module that skips for another extra first is checked here."""
    modules = _importing(hidden)
    assert modules, f"no test module imports {sorted(hidden)}"
    collected = _collect(_without(tmp_path, hidden), modules)
    assert collected.returncode in (0, 5), collected.stdout[-3000:] + collected.stderr[-2000:]
    assert f"{min(hidden)} is not installed" in collected.stdout
