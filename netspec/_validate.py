"""Argument checks shared by the public functions, the CLI and the backends.

Each raises :class:`netspec.errors.NetspecError` saying what was expected and what was
found, so that misuse never surfaces as a TypeError or AttributeError from deep inside.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable

import numpy as np

from netspec.errors import NetspecError

# Every backend seeds from the same range: numpy's PCG64 takes any size, torch's
# Generator.manual_seed and JAX's PRNG keys take 64 bits.
SEED_LIMIT = 2**64
SEED_RANGE = "an integer in [0, 2**64)"


def found(value: object) -> str:
    """``value`` as an error message shows it: its repr (shortened) and type."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_seed(seed: object, what: str = "seed") -> int:
    """``seed`` as an int in [0, 2**64): the range every backend accepts."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise NetspecError(f"{what} must be {SEED_RANGE}, found {found(seed)}")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise NetspecError(f"{what} must be {SEED_RANGE}, found {int(seed)}")
    return int(seed)


def check_int(value: object, what: str, *, minimum: int = 1) -> int:
    """A whole number >= ``minimum`` (bools and floats such as 1.5 or 2.0 refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise NetspecError(f"{what} must be an integer >= {minimum}, found {found(value)}")
    if value < minimum:
        raise NetspecError(f"{what} must be an integer >= {minimum}, found {int(value)}")
    return int(value)


def check_choice(value: object, what: str, choices: Iterable[str]) -> str:
    """One of ``choices``, with a did-you-mean for a near miss."""
    options = list(choices)
    if isinstance(value, str) and value in options:
        return value
    listed = ", ".join(repr(c) for c in options)
    message = f"{what} must be one of {listed}, found {found(value)}"
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), options, n=1, cutoff=0.6)
        if close:
            message += f"\n  help: did you mean {close[0]!r}?"
    raise NetspecError(message)


def check_str(value: object, what: str, *, optional: bool = False) -> str | None:
    """A string (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        expected = "a string or None" if optional else "a string"
        raise NetspecError(f"{what} must be {expected}, found {found(value)}")
    return value


def check_path(value: object, what: str, *, optional: bool = False) -> str | None:
    """A path (str or os.PathLike) as text that the file system can take."""
    if value is None and optional:
        return None
    if not isinstance(value, str | os.PathLike):
        expected = "a path (str or os.PathLike)" + (" or None" if optional else "")
        raise NetspecError(f"{what} must be {expected}, found {found(value)}")
    text = os.fspath(value)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return text


def unknown_keywords(function: str, given: Iterable[str], accepted: Iterable[str]) -> None:
    """Raise for keywords ``function`` does not take, naming the accepted ones."""
    known = sorted(accepted)
    bad = [name for name in given if name not in known]
    if not bad:
        return
    lines = [f"{function}() got unknown keyword argument(s): {', '.join(map(repr, bad))}"]
    for name in bad:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if close:
            lines.append(f"  help: did you mean {close[0]!r} instead of {name!r}?")
    lines.append(f"  expected: {', '.join(known)}")
    raise NetspecError("\n".join(lines))
