"""Elaborate one model: expand blocks and repeats, resolve names, build the node DAG."""

from __future__ import annotations

from collections.abc import Mapping

from lark import Token, Tree

from netspec.diagnostics import Diagnostics, Label, Use, did_you_mean, suggest
from netspec.elaborate import convert as c
from netspec.elaborate.blocks import BlockDef, Scope
from netspec.elaborate.expand import POISON, Expansions, _Abort
from netspec.elaborate.hints import activation_help
from netspec.elaborate.inputs import ModelInput, report_unused
from netspec.elaborate.layer_settings import ModelSettings, Refused
from netspec.elaborate.layers import activation, bind, build, take_activation
from netspec.elaborate.values import SPACE_KINDS, CallValue, Evaluator, Symbol, Value
from netspec.ir.graph import Input, Model, Node, Span
from netspec.ops import ACTIVATION_KINDS, AFFINE_KINDS, LAYER_NAMES, MERGE_KINDS, SIGNATURES
from netspec.ops.signature import LayerDefaults

MAX_NODES = 100_000


class ModelElaborator(Expansions):
    def __init__(
        self,
        evaluator: Evaluator,
        diagnostics: Diagnostics,
        blocks: Mapping[str, BlockDef],
        defaults: LayerDefaults,
        global_constants: dict[str, Value],
        failed_imports: set[str] | None = None,
    ) -> None:
        self.global_constants = global_constants
        self.failed_imports = failed_imports or set()
        self.evaluator = evaluator
        self.diagnostics = diagnostics
        self.blocks = blocks
        self.defaults = defaults
        self.nodes: list[Node] = []
        self.spans: dict[str, Span] = {}
        self.taken: set[str] = set()
        # The blocks being expanded, outermost first; compared by identity, since two
        # files may each define a block of the same name.
        self.block_stack: list[BlockDef] = []
        self.expansions = 0
        # How many times the current body runs: the product of the enclosing repeats.
        self.repeat_factor = 1
        self.warned_unused: set[tuple[int, int, str]] = set()
        # For each merge node, its inputs as the user named them, for diagnostics.
        self.input_names: dict[str, tuple[str, ...]] = {}
        # For each node made inside a block: the chain of block uses that made it.
        self.uses: dict[str, tuple[Use, ...]] = {}
        self.input_names_in_order: list[str] = []
        # The model's ``--set`` overrides and search spaces (none for a bare elaborator).
        self.settings: ModelSettings | None = None

    # -- entry point -------------------------------------------------------------------

    def elaborate(
        self, name: str, inputs: list[ModelInput], body: Tree, constants: dict[str, Value]
    ) -> tuple[Model, dict[str, Span]] | None:
        scope = Scope(prefix="", constants=dict(constants))
        for spec in inputs:
            scope.tensors[spec.name] = spec.name
            scope.defined_at[spec.name] = spec.span
            self.taken.add(spec.name)
        self.input_names_in_order = [spec.name for spec in inputs]
        # The one input of a model flows into its first statement; of several, none does:
        # each chain names the input it reads.
        first = inputs[0].name if len(inputs) == 1 else None
        if first is not None:
            scope.used.add(first)  # the one input feeds the first statement
        try:
            output = self._body(body, scope, first, allow_input=False)
        except _Abort:
            return None
        if first is None:
            report_unused(self.diagnostics, name, inputs, scope.used, output)
            scope.used.update(i.name for i in inputs)  # reported above, not as W004
        self._warn_unused(scope, output)
        model = Model.model_construct(
            name=name,
            inputs=tuple(
                Input.model_construct(name=i.name, shape=i.shape, dtype=i.dtype)  # type: ignore[arg-type]
                for i in inputs
            ),
            nodes=tuple(self.nodes),
            output=output if output is not None else POISON,
        )
        return model, self.spans

    # -- bodies and statements ---------------------------------------------------------

    def _body(
        self, body: Tree, scope: Scope, current: str | None, *, allow_input: bool
    ) -> str | None:
        declared_input = False
        for statement in body.children:
            if not isinstance(statement, Tree):
                continue
            if statement.data == "input_decl":
                name_token = statement.children[0]
                span = self.evaluator.span(statement)
                if not allow_input:
                    self.diagnostics.error(
                        "E022",
                        "'input' declares a block's input; a model names its input in its header",
                        span,
                        help=["model m(x: [1, 28, 28]) { ... }"],
                    )
                    continue
                if declared_input:
                    self.diagnostics.error(
                        "E022",
                        "a block has one input",
                        span,
                        help=[
                            "a block takes the one tensor that flows into it: merge tensors "
                            "before calling it, e.g. concat(a, b) -> my_block"
                        ],
                    )
                    # Bound (poisoned) all the same, so that its uses are not errors too.
                    self._bind(scope, str(name_token), POISON, self.evaluator.span(name_token))
                    continue
                declared_input = True
                self._bind(scope, str(name_token), current, self.evaluator.span(name_token))
                if current is not None:
                    scope.used.discard(str(name_token))
                continue
            current = self._statement(statement, scope, current)
        return current

    def _statement(self, statement: Tree, scope: Scope, current: str | None) -> str | None:
        if statement.data == "assign":
            name_token, chain = statement.children
            name = str(name_token)
            span = self.evaluator.span(name_token)
            if name in SIGNATURES or name in self.blocks:
                self.diagnostics.error(
                    "E003",
                    f"'{name}' names a {'layer' if name in SIGNATURES else 'block'} and "
                    "cannot name a tensor",
                    span,
                    help=[f"choose another name, e.g. {name}_out"],
                )
                return self._chain(chain, scope, current, None)
            output = self._chain(chain, scope, current, name)
            if output is not None:
                self._bind(scope, name, output, span)
            return output
        if statement.data == "chain":
            return self._chain(statement, scope, current, None)
        if statement.data == "repeat":
            return self._repeat(statement, scope, current)
        raise AssertionError(f"unexpected statement {statement.data}")

    # -- chains and stages -------------------------------------------------------------

    def _chain(
        self, chain: Tree, scope: Scope, current: str | None, name: str | None
    ) -> str | None:
        stages = list(chain.children)
        flowing: str | None
        first = stages[0]
        if isinstance(first, Tree) and first.data == "ref" and self._is_tensor(first, scope):
            flowing = scope.lookup(str(first.children[0]))
            stages = stages[1:]
            if not stages:
                return flowing
        else:
            flowing = None if self._is_merge(first) else current
            if flowing is not None:
                self._mark_used(scope, flowing)
            if flowing is None and not self._is_merge(first):
                several = self.input_names_in_order if len(self.input_names_in_order) > 1 else []
                self.diagnostics.error(
                    "E022",
                    "this statement has no input",
                    self.evaluator.span(first),
                    help=[
                        f"the model has several inputs ({', '.join(several)}): start the "
                        f"chain with the one it reads, e.g. {several[0]} -> ..."
                        if several
                        else "start the chain with a tensor: x -> ..."
                    ],
                )
                return POISON
        for position, stage in enumerate(stages):
            last = position == len(stages) - 1
            # After a failed stage the rest of the chain is still read (poisoned), so a
            # second misspelt layer on the same line is reported too.
            flowing = self._stage(stage, scope, flowing, name if last else None)
            if flowing is None:
                flowing = POISON
        return flowing

    def _mark_used(self, scope: Scope, tensor: str) -> None:
        # A named tensor consumed implicitly by the next statement is used.
        probe: Scope | None = scope
        while probe is not None:
            probe.used.update(n for n, t in probe.tensors.items() if t == tensor)
            probe = probe.parent

    def _is_tensor(self, ref: Tree, scope: Scope) -> bool:
        return scope.lookup(str(ref.children[0])) is not None

    def _is_merge(self, stage: Tree | Token) -> bool:
        return (
            isinstance(stage, Tree)
            and stage.data == "call"
            and str(stage.children[0]) in MERGE_KINDS
        )

    def _stage(
        self, stage: Tree, scope: Scope, incoming: str | None, name: str | None
    ) -> str | None:
        span = self.evaluator.span(stage)
        head = str(stage.children[0])
        call: CallValue | None = None
        if stage.data == "call":
            value = self.evaluator.evaluate_stage(stage, scope.constants)
            if value is None:
                return None
            assert isinstance(value.data, CallValue)
            call = value.data
        elif scope.lookup(head) is not None:
            self.diagnostics.error(
                "E022",
                f"'{head}' is a tensor, not a layer",
                span,
                help=[
                    f"to combine tensors use a merge: add({head}), concat({head}) or "
                    f"multiply({head})"
                ],
            )
            return None
        if head in SIGNATURES:
            if self.settings is not None:
                node = self._peek_name(scope, name, head)
                try:
                    call = self.settings.layer(
                        head,
                        call,
                        node,
                        span,
                        scope.constants,
                        self.defaults,
                        nested=bool(scope.prefix),
                    )
                except Refused:
                    return None
            return self._layer(head, call, span, scope, incoming, name)
        if head in self.blocks:
            return self._block(self.blocks[head], call, span, scope, incoming, name)
        namespace = head.rsplit(".", 1)[0] if "." in head else ""
        if namespace in self.failed_imports:
            return None  # the failed import is reported; its names are not unknown too
        candidates = [*LAYER_NAMES, *self.blocks, *scope.visible_tensors()]
        self.diagnostics.error(
            "E002",
            f"unknown layer or block '{head}'",
            span,
            help=did_you_mean(head, candidates)
            or (
                [
                    "a search space is a value, not a layer: e.g. dense(10, activation = "
                    "choice(relu, tanh)) or dropout(uniform(0.1, 0.5))"
                ]
                if head in SPACE_KINDS
                else []
            ),
        )
        return None

    def _layer(
        self,
        kind: str,
        call: CallValue | None,
        span: Span,
        scope: Scope,
        incoming: str | None,
        name: str | None,
    ) -> str | None:
        call, activations = take_activation(kind, call)
        if activations:
            return self._activated(kind, call, activations, span, scope, incoming, name)
        try:
            bound = bind(kind, call, span)
            op = build(bound, self.defaults)
        except c.Invalid as error:
            for problem in error.each():
                help = problem.help_in(scope.constants)
                if problem.unknown_name in ACTIVATION_KINDS:
                    # conv2d(32, 3, relu): an activation passed as an argument.
                    keyword = kind in AFFINE_KINDS
                    help = (activation_help(kind, problem.unknown_name, keyword=keyword),)
                self.diagnostics.error(problem.code, problem.message, problem.span, help=help)
            return None
        inputs: list[str] = [] if incoming is None else [incoming]
        if kind in MERGE_KINDS:
            # Every tensor argument is resolved (and a misspelt one reported) before
            # giving up on a poisoned input.
            resolved = [self._tensor_arg(tensor, scope, kind) for tensor in bound.tensors]
            if any(r is None for r in resolved):
                return None
            inputs.extend(r for r in resolved if r is not None)
            if len(inputs) < 2:
                self.diagnostics.error(
                    "E005",
                    f"{kind} needs at least two tensors, found {len(inputs)}",
                    span,
                    help=[f"for example: {SIGNATURES[kind].example}"],
                )
                return None
            if POISON in inputs:
                return POISON
            shown = [] if incoming is None else [incoming.rsplit(".", 1)[-1]]
            shown += [str(t.data.name) for t in bound.tensors if isinstance(t.data, Symbol)]
            node = self._add_node(scope, name, kind, op, tuple(inputs), span)
            self.input_names[node] = tuple(shown)
            return node
        if incoming == POISON:
            return POISON
        return self._add_node(scope, name, kind, op, tuple(inputs), span)

    def _activated(
        self,
        kind: str,
        call: CallValue | None,
        activations: list[Value],
        span: Span,
        scope: Scope,
        incoming: str | None,
        name: str | None,
    ) -> str | None:
        """``dense(10, activation = relu)``: the layer's node, then the activation's,
        named after the layer (``dense_1_relu``, ``h_relu`` for ``h = ...``) unless that
        name is taken."""
        layer = self._layer(kind, call, span, scope, incoming, name)
        value = activations[0]
        for extra in activations[1:]:
            self.diagnostics.error("E003", "argument 'activation' is given twice", extra.span)
        try:
            op = activation(value, self.defaults)
        except c.Invalid as error:
            for problem in error.each():
                help = problem.help_in(scope.constants)
                self.diagnostics.error(problem.code, problem.message, problem.span, help=help)
            return None
        if layer is None or len(activations) > 1:
            return None
        if layer == POISON:
            return POISON
        own = f"{layer.removeprefix(scope.prefix)}_{op.kind}"
        return self._add_node(scope, own, op.kind, op, (layer,), value.span)

    def _tensor_arg(self, value: Value, scope: Scope, kind: str) -> str | None:
        if isinstance(value.data, Symbol):
            resolved = scope.lookup(value.data.name)
            if resolved is not None:
                return resolved
            help = did_you_mean(value.data.name, scope.visible_tensors())
            # The tensor the user meant is not "never used": no W004 on top of this error.
            for meant in suggest(value.data.name, scope.visible_tensors()):
                scope.lookup(meant)
            self.diagnostics.error(
                "E002",
                f"unknown tensor '{value.data.name}'",
                value.span,
                help=help or ["name a tensor first: h = x -> ..."],
            )
            return None
        self.diagnostics.error(
            "E006",
            f"{kind} takes tensor names, found {value.describe()}",
            value.span,
        )
        return None

    # -- naming and bookkeeping --------------------------------------------------------

    def _peek_name(self, scope: Scope, name: str | None, kind: str) -> str:
        """The name :meth:`_add_node` will give the next node of ``kind``."""
        if name is not None and scope.prefix + name not in self.taken:
            return scope.prefix + name
        index = scope.counters.get(kind, 0)
        while True:
            index += 1
            full = f"{scope.prefix}{kind}_{index}"
            if full not in self.taken:
                return full

    def _next_index(self, scope: Scope, kind: str) -> int:
        scope.counters[kind] = scope.counters.get(kind, 0) + 1
        return scope.counters[kind]

    def _add_node(
        self,
        scope: Scope,
        name: str | None,
        kind: str,
        op: object,
        inputs: tuple[str, ...],
        span: Span,
    ) -> str:
        if len(self.nodes) >= MAX_NODES:
            self.diagnostics.error("E021", f"the model has more than {MAX_NODES} nodes", span)
            raise _Abort
        if name is not None and scope.prefix + name not in self.taken:
            full = scope.prefix + name
        else:
            while True:
                full = f"{scope.prefix}{kind}_{self._next_index(scope, kind)}"
                if full not in self.taken:
                    break
        self.taken.add(full)
        self.nodes.append(Node.model_construct(name=full, op=op, inputs=inputs))  # type: ignore[arg-type]
        self.spans[full] = span
        if self.diagnostics.uses:
            self.uses[full] = self.diagnostics.uses
        return full

    def _bind(self, scope: Scope, name: str, tensor: str | None, span: Span) -> None:
        if name in scope.tensors:
            self.diagnostics.error(
                "E003",
                f"tensor '{name}' is already defined",
                span,
                labels=[
                    Label.model_construct(span=scope.defined_at[name], message="first defined here")
                ],
            )
            return
        if tensor is None:
            return
        scope.tensors[name] = tensor
        scope.defined_at[name] = span

    def _warn_unused(self, scope: Scope, output: str | None) -> None:
        for name, tensor in scope.tensors.items():
            if name in scope.used or tensor in (output, POISON):
                continue
            span = scope.defined_at[name]
            key = (span.line, span.column, name)
            if key in self.warned_unused:
                continue
            self.warned_unused.add(key)
            self.diagnostics.warning(
                "W004",
                f"tensor '{name}' is never used",
                span,
                help=["use it in a later statement, or drop the name"],
            )
