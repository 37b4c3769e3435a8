"""The generators read a framework's op functions from source, over ``nn.py`` and the
modules it takes functions from (``netspec.lowering.definitions``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netspec.backends.jax.lowerings import CALLS, definitions
from netspec.lowering import definitions as read_definitions


def test_a_function_may_use_one_of_another_file(tmp_path: Path) -> None:
    first = tmp_path / "nn.py"
    second = tmp_path / "nn_more.py"
    first.write_text("def base(x):\n    return x + 1\n", encoding="utf-8")
    second.write_text(
        "def helper(x):\n    return x\n\n\ndef top(x):\n    return base(helper(x))\n",
        encoding="utf-8",
    )
    found = read_definitions(first, second)
    assert sorted(found) == ["base", "helper", "top"]
    assert found["top"].uses == ("base", "helper")
    assert found["top"].source == "def top(x):\n    return base(helper(x))"
    assert found["top"].line == 5  # in its own file


def test_a_name_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    first = tmp_path / "nn.py"
    second = tmp_path / "nn_more.py"
    first.write_text("def same(x):\n    return x\n", encoding="utf-8")
    second.write_text("def same(x):\n    return -x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="same is defined twice"):
        read_definitions(first, second)


def test_every_jax_function_the_table_names_is_read() -> None:
    """Each op kind's own function, wherever it is written, reaches the generator."""
    found = definitions()
    named = {name for name, _ in CALLS.values() if "." not in name}
    assert named <= set(found), sorted(named - set(found))
    assert {"recurrent", "multi_head_attention", "positional_embedding"} <= named
