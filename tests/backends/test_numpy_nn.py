"""The NumPy lowering table: complete, self-contained, and the code generated code runs."""

from __future__ import annotations

import inspect
import typing

from netspec.backends.numpy.nn import LOWERINGS
from netspec.codegen._numpy_carry import needed
from netspec.ir import ops as ir

# Every op kind of the IR, read from the union of op classes (not listed by hand).
_UNION = typing.get_args(ir.Op)[0]
KINDS = sorted(cls.model_fields["kind"].default for cls in typing.get_args(_UNION))

# What a carried function may read besides its arguments, its locals and what it carries.
_MODULE_NAMES = {"np", "math", "sliding_window_view"}
# Every parameter and state attribute an op has.
_ARRAYS = {"weight", "bias", "running_mean", "running_var", "mean", "std"}


def test_every_op_kind_has_a_forward_and_a_backward() -> None:
    assert len(KINDS) > 20
    assert sorted(LOWERINGS) == KINDS
    for kind, lowering in LOWERINGS.items():
        assert lowering.backward is not None, kind
        forward = inspect.signature(lowering.fn).parameters
        backward = list(inspect.signature(lowering.backward).parameters)
        # dy and the cache come first, positionally: the cache's name must not be one
        # the interpreter or the generator fills by keyword.
        static = {name for name, p in forward.items() if p.kind is p.KEYWORD_ONLY}
        keyword = _ARRAYS | {"train", "rng", "workspace", "need_dx"} | static
        assert backward[0] == "dy" and backward[1] not in keyword, kind
        # A backward never takes the state or the pass's mode: those are forward-only.
        assert not {"train", "rng", "workspace", "running_mean", "running_var"} & set(backward)
        assert "need_dx" not in forward, kind


def test_carried_functions_read_only_what_a_generated_module_has() -> None:
    used = [fn for entry in LOWERINGS.values() for fn in (entry.fn, entry.backward) if fn]
    consts, functions = needed(used)
    defined = {name for _, name in consts} | {fn.__name__ for fn in functions}
    for fn in functions:
        scope = fn.__globals__
        free = set(fn.__code__.co_names) - defined - _MODULE_NAMES
        # Attribute names (np.exp's exp) appear in co_names too: keep globals only.
        free = {name for name in free if name in scope and name not in dir(__builtins__)}
        assert not free, f"{fn.__name__} reads {sorted(free)}, which generated code lacks"


def test_every_init_scheme_has_a_draw_function() -> None:
    from netspec import initializers
    from netspec.ir import init

    union = typing.get_args(typing.get_args(init.Init)[0])
    schemes = {cls.model_fields["scheme"].default for cls in union}
    drawn = {name.removeprefix("draw_") for name in dir(initializers) if name.startswith("draw_")}
    assert schemes == drawn
