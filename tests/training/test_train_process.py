"""A `netspec train` process loads what its run uses and no more, and ends without the
interpreter's last collection. One subprocess: module imports are per process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest.importorskip("torch", reason="the run trains with the torch backend (the torch extra)")
pytest.importorskip("matplotlib", reason="the run draws its curves (the train extra)")

SPEC = """netspec 1
model net(x: [2]) {
    dense(8) -> relu
    dense(3)
}
train net {
    data       spirals(samples = 120, validation = 0.25)
    loss       softmax_cross_entropy
    optimizer  sgd(lr = 0.1, momentum = 0.9)
    batch_size 30
    epochs     1
    seed       0
}
"""

# Run as `python -m netspec` runs, then report (at exit, after main has returned) which
# watched modules were imported and whether main froze the objects left to the exit.
REPORT = """
import atexit, gc, json, runpy, sys
WATCHED = ("matplotlib.pyplot", "jax", "scipy", "pandas", "sklearn", "tensorboard")
def report():
    print(json.dumps({"imported": [m for m in WATCHED if m in sys.modules],
                      "frozen": gc.get_freeze_count() > 0}))
atexit.register(report)
sys.argv = ["netspec", *sys.argv[1:]]
runpy.run_module("netspec", run_name="__main__", alter_sys=True)
"""


def test_a_torch_run_imports_only_what_it_uses_and_skips_the_last_collection(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "net.net"
    spec.write_text(SPEC)
    run = tmp_path / "run"
    command = [sys.executable, "-c", REPORT, "train", str(spec), "--backend", "torch"]
    result = subprocess.run(
        [*command, "--out", str(run), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    # The curves are drawn without pyplot; no other backend or optional extra is loaded.
    assert report == {"imported": [], "frozen": True}
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run / "final.json").read_text())["val_loss"] > 0
