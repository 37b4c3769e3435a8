"""Blocks and scopes: what a block definition carries, the names a body sees, and the
binding of a block's parameters at one use."""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Tree

from netspec.diagnostics import Diagnostics, Label, did_you_mean
from netspec.elaborate.values import CallValue, Evaluator, Value
from netspec.ir.graph import Span


@dataclass
class BlockEnv:
    """What a block's body sees: the names of the file that defines it (its constants,
    its blocks, imported ones included), read with that file's evaluator."""

    evaluator: Evaluator
    blocks: dict[str, BlockDef]
    constants: dict[str, Value]
    # Namespaces of imports that failed ("" for an import without one): a use of a name
    # they would have given is not reported again as unknown.
    failed_imports: set[str] = field(default_factory=set)


@dataclass(frozen=True, eq=False)
class BlockDef:
    name: str
    params: tuple[tuple[str, Tree | None, Span], ...]
    body: Tree
    span: Span
    env: BlockEnv | None = None


@dataclass
class Scope:
    """Names visible while elaborating one body (a model, a block instance, a repeat)."""

    prefix: str
    constants: dict[str, Value]
    parent: Scope | None = None
    tensors: dict[str, str] = field(default_factory=dict)
    defined_at: dict[str, Span] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def lookup(self, name: str) -> str | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.tensors:
                scope.used.add(name)
                return scope.tensors[name]
            scope = scope.parent
        return None

    def visible_tensors(self) -> list[str]:
        names: list[str] = []
        scope: Scope | None = self
        while scope is not None:
            names.extend(scope.tensors)
            scope = scope.parent
        return names


def block_arguments(
    block: BlockDef,
    call: CallValue | None,
    span: Span,
    evaluator: Evaluator,
    diagnostics: Diagnostics,
    global_constants: dict[str, Value],
) -> dict[str, Value] | None:
    """The constants a block's body sees for one use: the names of the block's file and
    its parameters, bound to the call's arguments or their defaults; None (reported)
    when the arguments do not fit."""
    args = call.args if call else ()
    kwargs = call.kwargs if call else ()
    names = [p[0] for p in block.params]
    if len(args) > len(names):
        diagnostics.error(
            "E004",
            f"block '{block.name}' takes {len(names)} argument"
            f"{'s' if len(names) != 1 else ''}, found {len(args)}",
            args[len(names)].span,
            labels=[Label.model_construct(span=block.span, message="defined here")],
        )
        return None
    given: dict[str, Value] = dict(zip(names, args, strict=False))
    failed = False
    # Every unknown or repeated argument is reported before giving up on the call.
    for key, value, key_span in kwargs:
        if key not in names:
            diagnostics.error(
                "E004",
                f"block '{block.name}' has no parameter '{key}'",
                key_span,
                help=did_you_mean(key, names) or [f"its parameters: {', '.join(names) or 'none'}"],
            )
            failed = True
        elif key in given:
            diagnostics.error("E003", f"argument '{key}' is given twice", key_span)
            failed = True
        else:
            given[key] = value
    if failed:
        return None
    # Blocks see the file's constants, never the caller's parameters.
    constants = dict(global_constants)
    for param_name, default, param_span in block.params:
        if param_name in given:
            constants[param_name] = given[param_name]
        elif default is not None:
            value = evaluator.evaluate(default, constants)
            if value is None:
                return None
            constants[param_name] = value
        else:
            diagnostics.error(
                "E005",
                f"block '{block.name}' needs the argument '{param_name}'",
                span,
                labels=[Label.model_construct(span=param_span, message="parameter declared here")],
            )
            return None
    return constants
