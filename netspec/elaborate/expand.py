"""Block calls and ``repeat``: the expansions of a model's body, each elaborating a body
again in a scope of its own, and the limits that bound how many there are.

``Expansions`` is a part of :class:`netspec.elaborate.model.ModelElaborator`, which
supplies the state and the methods declared here and elaborates the bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lark import Tree

from netspec.diagnostics import Diagnostics, Label, Use
from netspec.elaborate import convert as c
from netspec.elaborate.blocks import BlockDef, Scope, block_arguments
from netspec.elaborate.spaces import SPACE_NOTE, concrete, has_space, variants
from netspec.elaborate.values import CallValue, Evaluator, Value
from netspec.ir.graph import Span

if TYPE_CHECKING:
    from netspec.elaborate.layer_settings import ModelSettings

MAX_REPEAT = 10_000
MAX_BLOCK_DEPTH = 64
# Block instances and repeat iterations in all: nested repeats multiply, and blocks that
# call blocks twice grow exponentially, even when their bodies add no nodes.
MAX_EXPANSIONS = 100_000

# The tensor produced by a stage that failed. Later stages that read it report their own
# argument errors but no shape errors, so one mistake gives one diagnostic, and the rest
# of the model is still elaborated and checked.
POISON = "<error>"


class _Abort(Exception):
    """A limit was hit: the model's elaboration stops after reporting it."""


class Expansions:
    """Repeats and block calls of :class:`ModelElaborator`, which defines the rest."""

    evaluator: Evaluator
    diagnostics: Diagnostics
    blocks: Mapping[str, BlockDef]
    global_constants: dict[str, Value]
    failed_imports: set[str]
    taken: set[str]
    block_stack: list[BlockDef]
    expansions: int
    repeat_factor: int
    settings: ModelSettings | None

    if TYPE_CHECKING:

        def _body(
            self, body: Tree, scope: Scope, current: str | None, *, allow_input: bool
        ) -> str | None: ...

        def _next_index(self, scope: Scope, kind: str) -> int: ...

        def _warn_unused(self, scope: Scope, output: str | None) -> None: ...

    def _repeat(self, statement: Tree, scope: Scope, current: str | None) -> str | None:
        count_tree, body = statement.children
        count_value = self.evaluator.evaluate(count_tree, scope.constants)
        if count_value is None:
            return POISON
        if has_space(count_value):
            count_value = self._count_space(count_value)
            if count_value is None:
                return POISON
        try:
            count = c.non_negative_int(count_value)
        except c.Invalid as error:
            self.diagnostics.error(
                error.code,
                "repeat " + error.message,
                error.span,
                help=error.help_in(scope.constants),
            )
            return POISON
        if count > MAX_REPEAT:
            self.diagnostics.error(
                "E021",
                f"repeat {count} exceeds the limit of {MAX_REPEAT}",
                count_value.span,
            )
            raise _Abort
        if self.repeat_factor * count > MAX_EXPANSIONS:
            self.diagnostics.error(
                "E021",
                f"nested repeats run this body {self.repeat_factor * count:,} times, over the "
                f"limit of {MAX_EXPANSIONS:,}",
                count_value.span,
                help=["use smaller repeat counts, or fewer levels of nesting"],
            )
            raise _Abort
        index = self._next_index(scope, "repeat")
        outer_factor = self.repeat_factor
        self.repeat_factor *= count
        try:
            for iteration in range(count):
                self._expand(count_value.span)
                inner = Scope(
                    prefix=f"{scope.prefix}repeat_{index}.{iteration}.",
                    constants=scope.constants,
                    parent=scope,
                )
                current = self._body(body, inner, current, allow_input=False)
                self._warn_unused(inner, current)
        finally:
            self.repeat_factor = outer_factor
        return current

    def _count_space(self, value: Value) -> Value | None:
        """A repeat count that is a ``let``'s search space (``repeat depth``): every
        value it can take must be a count; the body is elaborated with its first."""
        registry = self.settings.registry if self.settings is not None else None
        problems = registry.place(value, "", direct=False) if registry is not None else []
        for problem in problems:
            self.diagnostics.error(problem.code, problem.message, problem.span, help=problem.help)
        failed = bool(problems)
        for (chosen,), probe in variants([value]):
            try:
                count = c.non_negative_int(chosen)
            except c.Invalid as error:
                failed = True
                self.diagnostics.error(
                    error.code,
                    "repeat " + error.message,
                    error.span,
                    help=[probe.hint] if probe.hint else error.help,
                    notes=[SPACE_NOTE],
                )
                continue
            if count > MAX_REPEAT:
                failed = True
                self.diagnostics.error(
                    "E021", f"repeat {count} exceeds the limit of {MAX_REPEAT}", chosen.span
                )
        return None if failed else concrete(value)

    def _block(
        self,
        block: BlockDef,
        call: CallValue | None,
        span: Span,
        scope: Scope,
        incoming: str | None,
        name: str | None,
    ) -> str | None:
        if any(outer is block for outer in self.block_stack):
            first = next(i for i, outer in enumerate(self.block_stack) if outer is block)
            cycle = " -> ".join([*(b.name for b in self.block_stack[first:]), block.name])
            self.diagnostics.error(
                "E020",
                f"block '{block.name}' uses itself: {cycle}",
                span,
                labels=[
                    Label.model_construct(
                        span=block.span, message=f"'{block.name}' is defined here"
                    )
                ],
                help=["write the repetition with repeat N { ... } instead"],
            )
            raise _Abort
        if len(self.block_stack) >= MAX_BLOCK_DEPTH:
            self.diagnostics.error("E021", f"blocks nested more than {MAX_BLOCK_DEPTH} deep", span)
            raise _Abort
        # The block's body, and its parameters' defaults, read the names of the file that
        # defines it, which for an imported block is not the file that uses it.
        outer_env = (self.evaluator, self.blocks, self.global_constants, self.failed_imports)
        if block.env is not None:
            self.evaluator = block.env.evaluator
            self.blocks = block.env.blocks
            self.global_constants = block.env.constants
            self.failed_imports = block.env.failed_imports
        try:
            return self._expand_block(block, call, span, scope, incoming, name)
        finally:
            self.evaluator, self.blocks, self.global_constants, self.failed_imports = outer_env

    def _expand_block(
        self,
        block: BlockDef,
        call: CallValue | None,
        span: Span,
        scope: Scope,
        incoming: str | None,
        name: str | None,
    ) -> str | None:
        constants = block_arguments(
            block, call, span, self.evaluator, self.diagnostics, self.global_constants
        )
        if constants is None:
            return None
        self._expand(span)
        prefix_name = (
            name if name is not None else f"{block.name}_{self._next_index(scope, block.name)}"
        )
        if name is not None:
            self.taken.add(scope.prefix + name)
        inner = Scope(prefix=f"{scope.prefix}{prefix_name}.", constants=constants)
        self.block_stack.append(block)
        outer_uses = self.diagnostics.uses
        use = Use.model_construct(span=span, block=block.name, instance=inner.prefix[:-1])
        self.diagnostics.uses = (*outer_uses, use)
        try:
            output = self._body(block.body, inner, incoming, allow_input=True)
        finally:
            self.block_stack.pop()
            self.diagnostics.uses = outer_uses
        self._warn_unused(inner, output)
        return output

    def _expand(self, span: Span) -> None:
        self.expansions += 1
        if self.expansions > MAX_EXPANSIONS:
            self.diagnostics.error(
                "E021",
                f"the model expands to more than {MAX_EXPANSIONS:,} block instances and "
                "repeat iterations",
                span,
                notes=[
                    "nested repeats multiply: repeat 100 { repeat 100 { ... } } runs the "
                    "inner body 10,000 times"
                ],
                help=["use smaller repeat counts, or fewer levels of nesting"],
            )
            raise _Abort
