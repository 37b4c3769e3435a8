"""The source a generated NumPy module carries: the NumPy backend's own functions.

The generator prints calls to the functions of :data:`netspec.backends.numpy.nn.LOWERINGS`;
this module copies their source (``inspect.getsource``) together with every netspec
function and module constant they read, found by walking the names each one loads, so a
generated module holds exactly the code it runs, and that code is the backend's.
"""

from __future__ import annotations

import ast
import inspect
import sys
import types
from collections.abc import Callable, Iterable

from netspec.backends.numpy.nn import LOWERINGS
from netspec.codegen._source import WIDTH, constants, packed

Function = Callable[..., object]

_OWN = "netspec.backends.numpy"


def _own(value: object) -> bool:
    return isinstance(value, types.FunctionType) and value.__module__.startswith(_OWN)


def _constant(name: str, value: object) -> bool:
    """A module constant the functions read: an upper-case name bound to numbers."""
    return name.lstrip("_").isupper() and isinstance(value, int | float | tuple)


def _loaded(fn: Function) -> list[str]:
    """The names ``fn`` reads, in the order they appear."""
    tree = ast.parse(inspect.getsource(fn))
    names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
    return list(dict.fromkeys(names))


def needed(used: Iterable[Function]) -> tuple[list[tuple[str, str]], list[Function]]:
    """(module constants as (module, name), functions) that ``used`` needs, callees first."""
    consts: list[tuple[str, str]] = []
    functions: list[Function] = []
    seen: set[Function] = set()

    def visit(fn: Function) -> None:
        if fn in seen:
            return
        seen.add(fn)
        scope = fn.__globals__  # type: ignore[attr-defined]
        for name in _loaded(fn):
            value = scope.get(name)
            if _own(value):
                visit(value)  # type: ignore[arg-type]
            elif _constant(name, value):
                key = (fn.__module__, name)
                if key not in consts:
                    consts.append(key)
        functions.append(fn)

    for fn in used:
        visit(fn)
    return consts, functions


def plain_source(fn: Function) -> str:
    """The source of ``fn`` with its signature's type hints dropped (they name typing
    helpers a generated module does not import); the body is copied as it is."""
    source = inspect.getsource(fn)
    tree = ast.parse(source).body[0]
    assert isinstance(tree, ast.FunctionDef)
    args = tree.args
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None:
            arg.annotation = None
    items = [item.strip() for item in ast.unparse(args).split(", ")]
    head = [f"def {tree.name}({', '.join(items)}):"]
    if len(head[0]) > WIDTH:
        head = [f"def {tree.name}(", *(f"    {row}" for row in packed(items, 4)), "):"]
    body = source.splitlines()[tree.body[0].lineno - 1 :]
    return "\n".join([*head, *body]).rstrip() + "\n"


def carried_source(used: Iterable[Function]) -> str:
    """The constants, then the functions, that calls to ``used`` need, as source."""
    consts, functions = needed(used)
    parts: list[str] = []
    modules = list(dict.fromkeys(module for module, _ in consts))
    for module in modules:
        names = tuple(name for owner, name in consts if owner == module)
        parts.append("\n\n" + constants(sys.modules[module], names))
    parts += ["\n\n" + plain_source(fn) for fn in functions]
    return "".join(parts)


def every_name() -> set[str]:
    """Every function and constant name a generated NumPy module may define."""
    used = [fn for entry in LOWERINGS.values() for fn in (entry.fn, entry.backward) if fn]
    consts, functions = needed(used)
    return {name for _, name in consts} | {fn.__name__ for fn in functions}
