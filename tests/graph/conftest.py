"""Every model of every example spec, read once per session, for the picture tests."""

from __future__ import annotations

from functools import cache

from netspec.frontend import Analysis, analyze_source
from netspec.graph import Graph, build_graph
from tests.conftest import SPECS, TWO_INPUTS


@cache
def analysis(spec: str) -> Analysis:
    result = analyze_source(spec)
    assert result.program is not None, result.render()
    return result


@cache
def graph(spec: str, model: str) -> Graph:
    found = analysis(spec)
    assert found.program is not None
    return build_graph(found.program.model(model), found.uses.get(model), found.sources)


# (spec path or text, model name) for every model of every example spec, and a model of
# two inputs.
MODELS = [
    *(
        (str(path), model.name)
        for path in SPECS
        for model in analysis(str(path)).program.models  # type: ignore[union-attr]
    ),
    (TWO_INPUTS, "two_inputs"),
]
MODEL_IDS = [
    f"{spec.rpartition('/')[2]}:{model}" if spec.endswith(".net") else model
    for spec, model in MODELS
]
