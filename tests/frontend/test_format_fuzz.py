"""Property tests of the formatter: on any spec that parses, formatting is a fixed point
and keeps the program (its IR without locations, or its errors' codes).

The specs are the real ones mutated as the front end's fuzz tests mutate them, and the
real ones with their whitespace and comments thrown about at random.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_format import assert_formats_safely
from test_fuzz import mutated_spec

from netspec import analyze
from netspec.syntax.format import FormatError, format_source
from netspec.syntax.parser import parser

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "specs").glob("*.net")) + sorted((ROOT / "netspec" / "std").glob("*.net"))
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# What may stand between two tokens: a comment always ends its line.
SEPARATORS = [" ", " ", "  ", "\n", "\n\n\n", "\t", " # note\n", "\n# own line\n", "  #\n"]


@FUZZ
@given(mutated_spec())
def test_a_mutated_spec_formats_safely_or_reports_its_syntax_error(text: str) -> None:
    try:
        assert_formats_safely(text, "fuzz.net")
    except FormatError as error:
        codes = {d.code for d in analyze(text, "fuzz.net").diagnostics if d.is_error}
        assert codes & {"E001", "E021"}, codes
        assert error.diagnostics and error.diagnostics[0].code in {"E001", "E021"}


@st.composite
def respaced_spec(draw: st.DrawFn) -> tuple[str, str]:
    """A shipped spec's code tokens joined by random whitespace and comments."""
    path = draw(st.sampled_from(SHIPPED))
    tokens = [
        str(t) for t in parser().lex(path.read_text("utf-8")) if t.type not in ("COMMENT", "WS")
    ]
    separators = draw(
        st.lists(st.sampled_from(SEPARATORS), min_size=len(tokens), max_size=len(tokens))
    )
    return "".join(s + t for s, t in zip(separators, tokens, strict=True)), str(path)


@FUZZ
@given(respaced_spec())
def test_a_respaced_spec_formats_safely(spec: tuple[str, str]) -> None:
    text, file = spec
    assert_formats_safely(text, file)


@FUZZ
@given(respaced_spec())
def test_the_layout_does_not_depend_on_the_spacing_within_a_line(spec: tuple[str, str]) -> None:
    # Spaces and tabs between tokens are layout only; line breaks and comments are not.
    text, file = spec
    squeezed = text.replace("\t", " ").replace("  ", " ")
    assert format_source(squeezed, file) == format_source(text, file)
