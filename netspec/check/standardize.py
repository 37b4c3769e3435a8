"""The standardize node: a model trained on a standardised csv source keeps the feature
statistics of its training split in its own state, so that raw inputs give the right
answer wherever its weights are loaded."""

from __future__ import annotations

from netspec.ir.graph import INDEX_DTYPES, CheckedModel, CheckedNode, TensorType
from netspec.ir.ops import Standardize
from netspec.ir.train import CsvData, DataSpec, TrainSpec
from netspec.ops import OPS

NODE_NAME = "standardize"


def standardizes(data: DataSpec | None) -> bool:
    """Whether a data source scales its features by the training split's statistics."""
    return isinstance(data, CsvData) and data.standardize


def trained_standardized(train: TrainSpec | None) -> bool:
    """Whether a model's train section feeds it a standardised source."""
    return train is not None and standardizes(train.data)


def standardize_node(model: CheckedModel) -> CheckedNode | None:
    """The model's standardize node, if it has one (always its first node)."""
    for node in model.nodes[:1]:
        if isinstance(node.op, Standardize):
            return node
    return None


def _free_name(model: CheckedModel) -> str:
    # Not a node, not the input, and not a block scope ("standardize.dense_1").
    taken = {model.input.name} | {node.name for node in model.nodes}
    scopes = {part for node in model.nodes for part in node.name.split(".")[:-1]}
    name, n = NODE_NAME, 1
    while name in taken or name in scopes:
        n += 1
        name = f"{NODE_NAME}_{n}"
    return name


def standardize_input(model: CheckedModel) -> CheckedModel:
    """``model`` with a standardize node between its input and everything that read it.

    The node's state, ``<node>.mean`` and ``<node>.std`` of the input's shape, starts as
    the identity (0 and 1); training sets it from the training split. The parameters,
    their order and their initial values are those of ``model``. An integer input holds
    indices, which are not standardised: ``model`` is returned as it is (the train
    checker reports that a csv source cannot feed it).
    """
    if model.input.dtype in INDEX_DTYPES:
        return model
    name = _free_name(model)
    x, shape, dtype = model.input.name, tuple(model.input.shape), model.input.dtype
    op = Standardize.model_construct(kind="standardize")
    facts = OPS[op.kind]
    state = tuple(facts.state(name, op, shape))
    first = CheckedNode.model_construct(
        name=name,
        op=op,
        inputs=(x,),
        output=TensorType.model_construct(shape=shape, dtype=dtype),
        params=(),
        state=tuple(s.name for s in state),
        flops=facts.flops(op, [shape], shape),
    )
    nodes = [first]
    for node in model.nodes:
        inputs = tuple(name if i == x else i for i in node.inputs)
        nodes.append(node if inputs == node.inputs else node.model_copy(update={"inputs": inputs}))
    return model.model_copy(
        update={
            "nodes": tuple(nodes),
            "output": name if model.output == x else model.output,
            "state": state + tuple(model.state),
        }
    )
