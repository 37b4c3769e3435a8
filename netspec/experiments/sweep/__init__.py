"""Hyper-parameter sweeps on Optuna: a spec's search spaces sampled trial by trial.

A sweep directory holds the study (``study.db``, SQLite, so that an interrupted sweep
resumes where it stopped), its settings (``sweep.json``) and a copy of the spec
(``spec.net``), one ordinary run directory per trial (``trial-0007/``, with the spec
its values gave as ``trial.net``), and the results: ``results.csv``, ``results.json``,
``best.net`` (the spec with the best trial's values written in) and plots.
"""

from netspec.experiments.sweep.run import SweepResult, sweep

__all__ = ["SweepResult", "sweep"]
