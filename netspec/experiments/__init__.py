"""Experiments over several runs: comparing finished runs and hyper-parameter sweeps."""
