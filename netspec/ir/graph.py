"""Models as DAGs of named nodes, before and after checking, and the whole program."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from netspec.errors import NetspecError, UnknownNameError
from netspec.ir._base import IRModel
from netspec.ir.init import Init, Regularize
from netspec.ir.ops import CheckedOp, Op
from netspec.ir.train import TrainSpec

DType = Literal["float32", "float64", "int32", "int64"]
# Integer inputs hold indices (for embedding); every other tensor is floating point.
INDEX_DTYPES: tuple[str, ...] = ("int32", "int64")


class Span(IRModel):
    """A region of source text; lines and columns count from 1, ``end_*`` is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int


class Input(IRModel):
    """A model input: its name in the spec, the shape of one sample and its dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: DType = "float32"


SEVERAL_INPUTS = "model {model!r} has {count} inputs ({names}); {what} needs one of them by name"
SEVERAL_INPUTS_HELP = "use model.inputs, or pass the inputs by name"


class _Inputs(IRModel):
    """What every model has alike: its inputs, in the order the spec names them.

    ``input`` is the only input of a single-input model, for code that takes one; on a
    model of several inputs it is an error naming them, never the first by accident.
    IR written before models had several inputs (an ``input`` field) still reads.
    """

    name: str
    inputs: tuple[Input, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_input_as_written_before(cls, data: Any) -> Any:
        if isinstance(data, dict) and "input" in data and "inputs" not in data:
            data = {**data, "inputs": (data["input"],)}
            del data["input"]
        return data

    @property
    def input(self) -> Input:
        """The model's only input; a NetspecError when it has several."""
        if len(self.inputs) != 1:
            raise NetspecError(
                SEVERAL_INPUTS.format(
                    model=self.name,
                    count=len(self.inputs),
                    names=", ".join(i.name for i in self.inputs),
                    what="this",
                ),
                help=SEVERAL_INPUTS_HELP,
            )
        return self.inputs[0]

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs' names, in order."""
        return tuple(spec.name for spec in self.inputs)


class Node(IRModel):
    """One op applied to named inputs; ``name`` is unique within its model."""

    name: str
    op: Op
    inputs: tuple[str, ...]


class Model(_Inputs):
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
    # Rows set to zero after drawing: an embedding's padding_idx row, as PyTorch does.
    zero_rows: tuple[int, ...] = ()

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


class CheckedModel(_Inputs):
    """A model whose every node has a known output type and whose params are listed.

    Its ops are checked ops (``netspec.ir.ops.CheckedOp``): conv and pool paddings are
    explicit ``((top, bottom), (left, right))`` pairs, softmax, log_softmax and concat
    axes count from 0 per sample, and each parameter's initialisation and penalties are
    in ``params`` alone.
    """

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
        if self.nodes:
            return self.node(self.output).output
        # A model without nodes is its input (the front end gives such a model one).
        spec = next(i for i in self.inputs if i.name == self.output)
        return TensorType(shape=spec.shape, dtype=spec.dtype)

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
    # The ``--set KEY=VALUE`` overrides the program was read with, in order.
    overrides: tuple[str, ...] = ()

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
