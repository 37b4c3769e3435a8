"""Property tests: whatever the text, the front end answers with diagnostics.

``analyze`` never raises and every diagnostic it returns is well formed (a registered
code, a span inside the text); ``load`` raises nothing but ``NetspecError``. The inputs
are random token soup and mutations of the real specs (tokens deleted, duplicated,
swapped, numbers made 0 / -1 / huge, braces dropped).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netspec
from netspec import NetspecError, analyze
from netspec.diagnostics import CODES
from netspec.ops import LAYER_NAMES

ROOT = Path(__file__).resolve().parents[2]
SPECS = {p.name: p.read_text() for p in sorted((ROOT / "specs").glob("*.net"))}

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KEYWORDS = ["netspec", "let", "defaults", "block", "model", "train", "input", "repeat"]
WORDS = [
    *KEYWORDS,
    *LAYER_NAMES,
    "x", "h", "a", "b", "same", "valid", "true", "false", "none", "he_normal", "normal",
    "padding", "stride", "groups", "weight", "bias", "init", "axis", "units", "p",
    "data", "loss", "optimizer", "mnist", "sgd", "lr", "softmax_cross_entropy", "epochs",
    "float32", "float16",
]  # fmt: skip
SYMBOLS = [
    "{", "}", "(", ")", "[", "]", ",", ":", "=", "->", "+", "-", "*", "/", "//", "%", "**",
    "#", '"', "'", ";", ".", "\n", "\t",
]  # fmt: skip
NUMBERS = ["0", "1", "-1", "2", "3", "28", "784", "0.5", "1e-4", "1e400", "10 ** 10 ** 10",
           "99999999999999999999999", "1000000000"]  # fmt: skip
TOKEN = st.sampled_from(WORDS + SYMBOLS + NUMBERS) | st.from_regex(
    r"[a-z_][a-z0-9_]{0,6}", fullmatch=True
)


def well_formed(text: str) -> None:
    """``analyze`` returns; each diagnostic has a known code and a span inside ``text``."""
    analysis = analyze(text, "fuzz.net")
    lines = text.splitlines() or [""]
    for d in analysis.diagnostics:
        assert d.code in CODES, d
        assert d.severity == ("warning" if d.code.startswith("W") else "error"), d
        assert d.message, d
        for span in [d.span, *(label.span for label in d.labels)]:
            if span is None:
                continue
            assert span.column >= 1 and span.end_line >= span.line, d
            if span.file != "fuzz.net":
                # A label may point into an imported file (a std block's layer).
                continue
            assert 1 <= span.line <= len(lines) + 1, (d, len(lines))
    assert (analysis.program is None) == any(d.is_error for d in analysis.diagnostics)
    analysis.render()  # rendering never fails either
    if analysis.program is not None:
        analysis.program.model_dump_json()


def loads_or_netspec_error(text: str) -> None:
    with contextlib.suppress(NetspecError):
        netspec.load(text)


# -- random text ------------------------------------------------------------------------


@FUZZ
@given(st.lists(TOKEN, max_size=60).map(" ".join))
def test_token_soup_only_gives_diagnostics(text: str) -> None:
    well_formed(text)
    loads_or_netspec_error(text + "\n")


@FUZZ
@given(
    st.text(
        alphabet=st.sampled_from(list("{}()[],:=->+*/%#\"' \n\tabcdefxyz_0123456789.;@é")),
        max_size=120,
    )
)
def test_character_soup_only_gives_diagnostics(text: str) -> None:
    well_formed(text)


@FUZZ
@given(
    header=st.sampled_from(["x: [4]", "x: [1, 8, 8]", "x: [3, 6, 6]", "x: float64[2]"]),
    stages=st.lists(
        st.tuples(
            st.sampled_from(LAYER_NAMES),
            st.lists(st.sampled_from([*NUMBERS[:9], "x", "same", "[2, 2]", "p = 1.5"]), max_size=3),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_random_layer_chains_only_give_diagnostics(
    header: str, stages: list[tuple[str, list[str]]]
) -> None:
    chain = " -> ".join(f"{name}({', '.join(args)})" if args else name for name, args in stages)
    text = f"model m({header}) {{\n    {chain}\n}}\n"
    well_formed(text)


# -- mutations of the real specs --------------------------------------------------------

_TOKENS = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|->|//|\*\*|\w+(?:\.[A-Za-z_]\w*)+|\w+|\S|\n'
)
_HUGE = ["0", "-1", "1000000000000", "99999999999999999999999", "1e400", "0.5", "-0"]


def _tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


@st.composite
def mutated_spec(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(SPECS)))
    tokens = _tokens(SPECS[name])
    for _ in range(draw(st.integers(1, 4))):
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "number", "brace", "insert"]))
        if kind == "delete":
            del tokens[i]
        elif kind == "duplicate":
            tokens.insert(i, tokens[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == "number":
            numbers = [k for k, t in enumerate(tokens) if t[:1].isdigit()]
            if numbers:
                tokens[draw(st.sampled_from(numbers))] = draw(st.sampled_from(_HUGE))
        elif kind == "brace":
            braces = [k for k, t in enumerate(tokens) if t in "{}()[]"]
            if braces:
                del tokens[draw(st.sampled_from(braces))]
        else:
            tokens.insert(i, draw(TOKEN))
    # Newlines and comments are tokens too, so joining with spaces keeps the line layout.
    return " ".join(tokens)


@FUZZ
@given(mutated_spec())
def test_mutated_specs_only_give_diagnostics(text: str) -> None:
    well_formed(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_load_of_a_mutated_spec_raises_only_netspec_error(text: str) -> None:
    loads_or_netspec_error(text)


def test_the_unmutated_specs_are_clean() -> None:
    for name, text in SPECS.items():
        assert analyze(" ".join(_tokens(text)), name).ok, name
