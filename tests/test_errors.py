"""The error root: what happened in ``message``, the fixes as data in ``help``."""

from __future__ import annotations

import pickle

import pytest

from netspec.errors import NetspecError, ShapeError, UnknownNameError, UnsupportedOpError


def test_help_is_data_and_renders_as_help_lines() -> None:
    error = ShapeError("bad batch", help=("reshape it", "or cast it"))
    assert (error.message, error.help) == ("bad batch", ("reshape it", "or cast it"))
    assert str(error) == "bad batch\n  help: reshape it\n  help: or cast it"
    assert isinstance(error, NetspecError) and isinstance(error, ValueError)


def test_a_message_with_inline_help_is_split() -> None:
    error = NetspecError("no such model\n  help: choose one with --model NAME", help="or two")
    assert error.message == "no such model"
    assert error.help == ("choose one with --model NAME", "or two")
    assert str(error) == "no such model\n  help: choose one with --model NAME\n  help: or two"


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (UnknownNameError("unknown loss 'x'", name="x", choices=("mse",)), ValueError),
        (UnsupportedOpError("no lowering", target="jax backend", kind="silu"), NotImplementedError),
    ],
)
def test_subclasses_are_also_the_builtin_a_caller_expects(
    error: NetspecError, builtin: type[Exception]
) -> None:
    assert isinstance(error, NetspecError) and isinstance(error, builtin)
    assert error.help == ()


@pytest.mark.parametrize(
    "error",
    [
        NetspecError("bad spec\n  help: fix it"),
        ShapeError("bad batch", help="reshape it"),
        UnknownNameError("unknown loss 'x'", name="x", choices=("mse",), help="did you mean"),
        UnsupportedOpError("no lowering", target="jax backend", kind="silu"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_survive_pickling(error: NetspecError) -> None:
    # Errors cross process boundaries (multiprocessing) as pickles.
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (str(copy), copy.message, copy.help) == (str(error), error.message, error.help)
    assert copy.__dict__ == error.__dict__
