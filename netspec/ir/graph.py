"""Models as DAGs of named nodes, before and after checking, and the whole program."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from netspec.errors import UnknownNameError
from netspec.ir._base import IRModel
from netspec.ir.init import Init, Regularize
from netspec.ir.ops import CheckedOp, Op
from netspec.ir.train import TrainSpec

DType = Literal["float32", "float64"]


class Span(IRModel):
    """A region of source text; lines and columns count from 1, ``end_*`` is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int


class Input(IRModel):
    name: str
    shape: tuple[int, ...]
    dtype: DType = "float32"


class Node(IRModel):
    """One op applied to named inputs; ``name`` is unique within its model."""

    name: str
    op: Op
    inputs: tuple[str, ...]


class Model(IRModel):
    name: str
    input: Input
    nodes: tuple[Node, ...]
    output: str


class TensorType(IRModel):
    shape: tuple[int, ...]
    dtype: DType


ParamRole = Literal["weight", "bias", "slope"]


class ParamSpec(IRModel):
    """A learnable array. ``name`` is ``<node>.<path>``, the key in weight files; ``attr``
    is the keyword a backend function takes it by."""

    name: str
    node: str
    attr: str
    role: ParamRole
    shape: tuple[int, ...]
    init: Init
    regularize: Regularize

    @property
    def path(self) -> str:
        """The name within the node, ``attr`` unless a submodule holds it
        (``out_proj.weight``, whose keyword ``attr`` is ``out_proj_weight``)."""
        return self.name[len(self.node) + 1 :]


class StateSpec(IRModel):
    """A non-learnable array: batchnorm running statistics, which training updates, or a
    standardize node's feature statistics, which training sets once from its data."""

    name: str
    node: str
    attr: Literal["running_mean", "running_var", "mean", "std"]
    shape: tuple[int, ...]
    fill: float


class CheckedNode(IRModel):
    """A node after checking: its op in checked form (explicit paddings, non-negative
    axes, no initialisation or penalties: those are in the model's ``params``)."""

    name: str
    op: CheckedOp
    inputs: tuple[str, ...]
    output: TensorType
    params: tuple[str, ...] = ()
    state: tuple[str, ...] = ()
    flops: int = 0


class CheckedModel(IRModel):
    """A model whose every node has a known output type and whose params are listed.

    Its ops are checked ops (``netspec.ir.ops.CheckedOp``): conv and pool paddings are
    explicit ``((top, bottom), (left, right))`` pairs, softmax, log_softmax and concat
    axes count from 0 per sample, and each parameter's initialisation and penalties are
    in ``params`` alone.
    """

    name: str
    input: Input
    nodes: tuple[CheckedNode, ...]
    output: str
    params: tuple[ParamSpec, ...]
    state: tuple[StateSpec, ...]

    def node(self, name: str) -> CheckedNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def output_type(self) -> TensorType:
        return (
            self.node(self.output).output
            if self.nodes
            else TensorType(shape=self.input.shape, dtype=self.input.dtype)
        )

    @property
    def parameter_count(self) -> int:
        total = 0
        for spec in self.params:
            count = 1
            for dim in spec.shape:
                count *= dim
            total += count
        return total

    @property
    def flops(self) -> int:
        return sum(node.flops for node in self.nodes)


class Program(IRModel):
    """A whole .net file after checking: its models, train sections and source map.

    ``source_map`` maps ``"<model>/<node>"`` to the span that produced the node; it sits
    beside the models so that two programs that mean the same compare equal per model.
    """

    version: int = 1
    models: tuple[CheckedModel, ...]
    trains: tuple[TrainSpec, ...] = ()
    source_map: dict[str, Span] = Field(default_factory=dict)

    def model(self, name: str | None = None) -> CheckedModel:
        """The model called ``name``, or the only one; UnknownNameError otherwise."""
        if name is None:
            if len(self.models) != 1:
                names = ", ".join(m.name for m in self.models) or "none"
                raise UnknownNameError(
                    f"the program has {len(self.models)} models ({names}); name one",
                    name=None,
                    choices=[m.name for m in self.models],
                )
            return self.models[0]
        for model in self.models:
            if model.name == name:
                return model
        names = ", ".join(m.name for m in self.models) or "none"
        raise UnknownNameError(
            f"no model named {name!r}; the program has: {names}",
            name=name,
            choices=[m.name for m in self.models],
        )

    def train(self, model: str | None = None) -> TrainSpec | None:
        for spec in self.trains:
            if model is None or spec.model == model:
                return spec
        return None
