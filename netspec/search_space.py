"""The search spaces of a spec, and the spec with chosen values in their place.

A spec may leave values open for a sweep (see docs/language.md, "Search spaces")::

    let width = int_uniform(32, 256)
    ...
    optimizer adam(lr = log_uniform(1e-5, 1e-2))

:func:`search_spaces` lists them, each with its path (``let.width``, ``optimizer.lr``),
kind, bounds or options, and where it is written; :func:`substitute` fixes each at a
chosen value and gives the checked program and the spec text with the values written
in place of the spaces (comments and layout kept)::

    spaces = netspec.search_spaces("mlp.net")
    chosen = netspec.substitute("mlp.net", {"let.width": 64, "optimizer.lr": 3e-4})
    chosen.program   # a checked Program, ready for netspec.fit
    chosen.text      # the spec with int_uniform(32, 256) -> 64, log_uniform(...) -> 0.0003
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netspec.diagnostics import did_you_mean
from netspec.elaborate.overrides import OverrideInput, format_value, normalize
from netspec.elaborate.spaces import offset
from netspec.errors import NetspecError
from netspec.frontend import Analysis, analyze, analyze_source, concrete_program
from netspec.ir.graph import Program
from netspec.ir.space import Choice, IntUniform, SpaceSite

Spec = str | os.PathLike[str]


@dataclass(frozen=True)
class Substitution:
    """A spec with its search spaces fixed: the checked ``program`` (read with the chosen
    values as ``--set`` overrides, which it records), the spec ``text`` with the values
    written in place of the spaces, and the ``values`` by path."""

    program: Program
    text: str
    values: dict[str, Any] = field(default_factory=dict)


def _analysis(spec: Spec, overrides: OverrideInput | None) -> Analysis:
    analysis = analyze_source(spec, overrides=overrides)
    if analysis.program is None:
        concrete_program(analysis)  # raises, carrying the diagnostics
    return analysis


def search_spaces(spec: Spec, *, overrides: OverrideInput | None = None) -> tuple[SpaceSite, ...]:
    """The search spaces of ``spec`` (a .net path or spec text), in the order written.

    Each :class:`~netspec.ir.space.SpaceSite` has its ``path`` (the ``--set`` key of
    where it stands, and the key :func:`substitute` takes), its ``space``
    (:class:`~netspec.ir.space.Uniform`, ``LogUniform``, ``IntUniform`` with ``low`` and
    ``high``, or ``Choice`` with its ``options``: numbers as numbers, anything else as
    the spec text that writes it), its ``span`` and its ``text``. An empty tuple for a
    spec without spaces. ``overrides`` are applied first (one that fixes a space removes
    it). Raises :class:`NetspecError` with every diagnostic for a spec with errors.
    """
    return _analysis(spec, overrides).spaces


def substitute(
    spec: Spec,
    values: Mapping[str, Any],
    *,
    overrides: OverrideInput | None = None,
) -> Substitution:
    """Fix each search space of ``spec`` at the value ``values`` gives for its path.

    A value is a number or a boolean, or spec text (a str: ``"adam(lr = 1e-3)"``,
    ``"relu"``); a choice's value is one of its options as :func:`search_spaces` lists
    them, a range's a number within its bounds (an integer for ``int_uniform``). Every
    space needs a value, and every path must be a space's: otherwise, or when the
    program with the values does not check, :class:`NetspecError`.

    ``overrides`` are applied before the spaces are read, and to the program; the text
    holds the spec's own values for them (only the spaces are written into it).
    """
    analysis = _analysis(spec, overrides)
    sites = {site.path: site for site in analysis.spaces}
    unknown = [path for path in values if path not in sites]
    if unknown:
        help = did_you_mean(unknown[0], sites)
        raise NetspecError(
            f"the spec has no search space at '{unknown[0]}'"
            + (f"; its spaces: {', '.join(sites)}" if sites else "; it has none"),
            help=help[0] if help else None,
        )
    missing = [path for path in sites if path not in values]
    if missing:
        raise NetspecError(
            f"no value for the search space {sites[missing[0]].describe()}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    texts = {path: _checked_text(sites[path], value) for path, value in values.items()}
    text = _write_values(analysis.source, [(sites[path], texts[path]) for path in texts])
    sets = [*normalize(overrides), *(f"{path}={texts[path]}" for path in texts)]
    chosen = analyze(analysis.source, analysis.file, overrides=sets)
    return Substitution(program=concrete_program(chosen), text=text, values=dict(values))


def _checked_text(site: SpaceSite, value: Any) -> str:
    """``value`` as spec text, once it is known to be one of the space's values."""
    space = site.space
    text = format_value(value, site.path)
    if isinstance(space, Choice):
        if not any(_same(value, option) for option in space.options):
            shown = ", ".join(map(str, space.options))
            raise NetspecError(f"{site.path}: {value!r} is not one of the options ({shown})")
        return text
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NetspecError(f"{site.path}: {site.text} takes a number, found {value!r}")
    if isinstance(space, IntUniform) and not isinstance(value, int):
        raise NetspecError(f"{site.path}: {site.text} takes an integer, found {value!r}")
    if not (space.low <= value <= space.high) or not math.isfinite(value):
        raise NetspecError(
            f"{site.path}: {value!r} is outside {site.text} ([{space.low}, {space.high}])"
        )
    return text


def _same(value: Any, option: Any) -> bool:
    if isinstance(option, str) or isinstance(value, str):
        return isinstance(value, str) and isinstance(option, str) and value.strip() == option
    return (type(value) is type(option) and value == option) or (
        not isinstance(value, bool) and not isinstance(option, bool) and value == option
    )


def _write_values(source: str, replacements: list[tuple[SpaceSite, str]]) -> str:
    """``source`` with each space's text replaced by its value's (from the end, so that
    earlier offsets stay valid)."""
    spans = sorted(
        (
            (
                offset(source, site.span.line, site.span.column),
                offset(source, site.span.end_line, site.span.end_column),
                text,
            )
            for site, text in replacements
        ),
        reverse=True,
    )
    for start, end, text in spans:
        source = source[:start] + text + source[end:]
    return source
