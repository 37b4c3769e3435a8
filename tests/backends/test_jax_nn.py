"""The JAX lowering table: complete, and made of functions a generated module can carry."""

from __future__ import annotations

import ast
import builtins
import inspect
import subprocess
import sys
import typing

import pytest

from netspec.ir import ops as ir

pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
from netspec.backends.jax import nn as nn_module
from netspec.backends.jax.lowerings import definitions
from netspec.backends.jax.nn import LOWERINGS

# The module-level names a generated JAX module binds for the functions it carries.
MODULE_NAMES = {"math", "jax", "jnp", "lax"}


def _kinds() -> set[str]:
    union = typing.get_args(ir.Op)[0]
    return {
        typing.get_args(cls.model_fields["kind"].annotation)[0] for cls in typing.get_args(union)
    }


def test_every_op_kind_has_a_lowering() -> None:
    assert set(LOWERINGS) == _kinds()


def _free_names(source: str) -> set[str]:
    """The names a function's source reads without binding them (builtins aside)."""
    tree = ast.parse(source)
    bound = {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}
    bound |= {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
    read = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    return read - bound - set(dir(builtins))


@pytest.mark.parametrize(
    "kind", [kind for kind, low in LOWERINGS.items() if low.framework_name is None]
)
def test_carried_functions_read_only_what_a_generated_module_has(kind: str) -> None:
    """A carried function reads the generated module's imports and the other functions
    of nn.py, which the generator carries with it; so does each of those, in turn."""
    found = definitions()
    pending, seen = [LOWERINGS[kind].fn.__name__], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        free = _free_names(inspect.getsource(getattr(nn_module, name)))
        assert free <= MODULE_NAMES | set(found), f"{name} reads {sorted(free - MODULE_NAMES)}"
        assert free - MODULE_NAMES == set(found[name].uses), name
        pending += [used for used in found[name].uses if used not in seen]


@pytest.mark.parametrize(
    "kind", [kind for kind, low in LOWERINGS.items() if low.framework_name is not None]
)
def test_framework_names_name_the_callable(kind: str) -> None:
    import jax

    lowering = LOWERINGS[kind]
    assert lowering.framework_name is not None
    target: object = jax
    for part in lowering.framework_name.split(".")[1:]:
        target = getattr(target, part)
    assert target is lowering.fn


def test_the_generator_reads_the_table_without_importing_jax() -> None:
    code = (
        "import sys\n"
        "import netspec.codegen.jax\n"
        "from netspec.backends.jax import lowerings\n"
        "lowerings.definitions()\n"
        "print('jax' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    "kind", [kind for kind, low in LOWERINGS.items() if low.framework_name is None]
)
def test_the_source_read_from_the_file_is_the_functions(kind: str) -> None:
    fn = LOWERINGS[kind].fn
    assert definitions()[fn.__name__].source + "\n" == inspect.getsource(fn)
