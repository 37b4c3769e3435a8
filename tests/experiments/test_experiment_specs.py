"""The specs behind docs/experiments.md's random search and regression k-fold sections:
they check, the sweep's spaces are the ones the section describes, and the diabetes CSV
is what its script writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import netspec
from tests.conftest import ROOT

SEARCH = ROOT / "specs" / "sweeps" / "multilayer_net_extend_search.net"
DIABETES = ROOT / "specs" / "experiments" / "diabetes_regression.net"


@pytest.mark.parametrize("path", [SEARCH, DIABETES], ids=lambda p: p.stem)
def test_the_spec_checks(path: Path) -> None:
    analysis = netspec.analyze(path.read_text(), str(path))
    assert analysis.diagnostics == [], analysis.render()


def test_the_random_search_spans_lr_and_weight_decay_log_uniformly() -> None:
    spaces = {
        site.path: (site.space.kind, site.space.low, site.space.high)
        for site in netspec.search_spaces(SEARCH)
    }
    assert spaces == {
        "optimizer.lr": ("log_uniform", 1e-6, 1e-2),
        "regularize.l2": ("log_uniform", 1e-8, 1e-4),
    }
    # Values in place of the spaces: the shipped MultiLayerNetExtend on 1,000 samples.
    chosen = netspec.substitute(SEARCH, {"optimizer.lr": 1e-3, "regularize.l2": 1e-6})
    train = chosen.program.train("multilayer_net_extend")
    assert train.optimizer.lr == 1e-3
    assert (
        chosen.program.model().parameter_count
        == netspec.load(ROOT / "specs" / "multilayer_net_extend.net").model().parameter_count
    )


def test_the_diabetes_csv_is_what_its_script_writes() -> None:
    pytest.importorskip("sklearn", reason="the script reads scikit-learn's bundled data")
    script = ROOT / "specs" / "data" / "make_diabetes_csv.py"
    spec = importlib.util.spec_from_file_location("make_diabetes_csv", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (ROOT / "specs" / "data" / "diabetes.csv").read_text()
    assert text == module.diabetes_csv()
    assert text.count("\n") == 443  # the header and 442 patients
