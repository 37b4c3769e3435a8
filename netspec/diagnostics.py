"""Diagnostics as data, and their rendering as text (rustc/miette style) or JSON.

Every problem the front end finds becomes a :class:`Diagnostic`; nothing is raised until
a whole file has been read, so a user sees all errors of a file in one pass.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from netspec.ir._base import IRModel
from netspec.ir.graph import Span

Severity = Literal["error", "warning"]

# Unicode's explicit directional formatting characters: embeddings and overrides
# (U+202A-U+202E), isolates (U+2066-U+2069) and the marks U+200E, U+200F, U+061C. They
# are invisible, and can make a terminal or an editor show text in another order than
# the one it is read in ("Trojan Source", CVE-2021-42574).
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")

# One registry of codes: the code names the kind of problem, the message the instance.
CODES: dict[str, str] = {
    "E001": "syntax error",
    "E002": "unknown name",
    "E003": "duplicate definition",
    "E004": "bad argument",
    "E005": "missing argument",
    "E006": "wrong type of value",
    "E007": "arithmetic error",
    "E008": "source is not UTF-8 text",
    "E010": "shape mismatch",
    "E011": "empty output",
    "E012": "dense needs a vector",
    "E013": "bad literal array",
    "E014": "bad reshape",
    "E015": "bad channels or groups",
    "E016": "wrong dtype",
    "E020": "recursive block",
    "E021": "limit exceeded",
    "E022": "bad model structure",
    "E023": "unsupported language version",
    "E024": "import failed",
    "E025": "bad search space",
    "E026": "bad override",
    "E030": "bad train section",
    "E031": "train section does not fit its model or data",
    "W001": "affine layers compose",
    "W002": "softmax before softmax_cross_entropy",
    "W003": "dropout drops everything",
    "W004": "unused named tensor",
    "W005": "bidirectional control character",
    "W006": "train setting cannot act as written",
}


class Label(IRModel):
    """A secondary span with a short message, drawn with ``-`` under the source."""

    span: Span
    message: str


class Use(IRModel):
    """One use of a block on the way to a diagnostic: where it is called, and the
    instance it makes (``res_2``, or ``stage_1.res_2`` for a block inside a block)."""

    span: Span
    block: str
    instance: str

    @property
    def message(self) -> str:
        return f"'{self.instance}' uses block '{self.block}' here"


class Fix(IRModel):
    """A machine-readable edit that resolves a diagnostic, for editors: replace the text
    of ``span`` by ``replacement`` (an empty span inserts). ``title`` says what it does."""

    title: str
    span: Span
    replacement: str


class Suggestion(str):
    """A ``did you mean`` help line that remembers the misspelt name and the names close
    to it, so that :func:`resolve_fixes` can turn it into :class:`Fix` edits."""

    name: str
    choices: tuple[str, ...]

    def __new__(cls, text: str, name: str, choices: Sequence[str]) -> Suggestion:
        line = super().__new__(cls, text)
        line.name = name
        line.choices = tuple(choices)
        return line


class Diagnostic(IRModel):
    code: str
    severity: Severity
    message: str
    span: Span | None = None
    label: str = ""
    labels: tuple[Label, ...] = ()
    notes: tuple[str, ...] = ()
    help: tuple[str, ...] = ()
    # For a problem inside a block: the chain of uses that led to it, outermost first.
    uses: tuple[Use, ...] = ()
    # Edits an editor can apply to resolve it (not part of the text rendering).
    fixes: tuple[Fix, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class Diagnostics:
    """Collects diagnostics while one file is read; the order of reporting is kept."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        # The block uses being expanded now (outermost first); errors found meanwhile
        # carry them, so that a block used twice says which use failed.
        self.uses: tuple[Use, ...] = ()

    def error(self, code: str, message: str, span: Span | None, **details: Any) -> None:
        """Record an error; ``details``: label, labels, notes, help, fixes (see Diagnostic)."""
        self._add("error", code, message, span, **details)

    def warning(self, code: str, message: str, span: Span | None, **details: Any) -> None:
        """Record a warning; ``details`` as for :meth:`error`."""
        self._add("warning", code, message, span, **details)

    def _add(
        self,
        severity: Severity,
        code: str,
        message: str,
        span: Span | None,
        *,
        label: str = "",
        labels: Sequence[Label] = (),
        notes: Sequence[str] = (),
        help: Sequence[str] = (),
        uses: Sequence[Use] | None = None,
        fixes: Sequence[Fix] = (),
    ) -> None:
        assert code in CODES, f"unregistered diagnostic code {code}"
        if uses is None:
            # Warnings stay with the block body: they hold for every use alike.
            uses = self.uses if severity == "error" else ()
        self.items.append(
            Diagnostic.model_construct(
                code=code,
                severity=severity,
                message=message,
                span=span,
                label=label,
                labels=tuple(labels),
                notes=tuple(notes),
                help=tuple(help),
                uses=tuple(uses),
                fixes=tuple(fixes),
            )
        )

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    @property
    def error_count(self) -> int:
        return sum(1 for d in self.items if d.is_error)


def suggest(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Names close to ``name``: a case-insensitive exact match first, then by similarity."""
    pool = sorted(set(candidates))
    folded = [c for c in pool if c.lower() == name.lower() and c != name]
    if folded:
        return folded[:limit]
    close = difflib.get_close_matches(name, pool, n=limit, cutoff=0.6)
    if not close:
        # Prefix typos ("dens") and over-long names ("dense2d") still deserve a hint.
        close = [c for c in pool if c.startswith(name) or name.startswith(c)][:limit]
    return close


def did_you_mean(name: str, candidates: Iterable[str]) -> list[str]:
    """``help:`` lines for a misspelt name, empty when nothing is close."""
    close = suggest(name, candidates)
    if not close:
        return []
    text = "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return [Suggestion(text, name, close)]


_WORD = "[A-Za-z0-9_.]"


def resolve_fixes(items: Sequence[Diagnostic], sources: dict[str, str]) -> list[Diagnostic]:
    """Each diagnostic with a ``did you mean`` help line gets one replacement :class:`Fix`
    per suggested name, at the misspelt name as it is written inside the diagnostic's
    span (found in ``sources``); where the name is not there once, no fix is made."""
    resolved = []
    for item in items:
        suggestions = [h for h in item.help if isinstance(h, Suggestion)]
        span = item.span
        if not suggestions or span is None or span.file not in sources:
            resolved.append(item)
            continue
        lines = sources[span.file].splitlines()
        if not 1 <= span.line <= len(lines):
            resolved.append(item)
            continue
        text = lines[span.line - 1]
        end = span.end_column if span.end_line == span.line else len(text) + 1
        fixes = list(item.fixes)
        for suggestion in suggestions:
            pattern = f"(?<!{_WORD}){re.escape(suggestion.name)}(?!{_WORD})"
            found = [m.start() for m in re.finditer(pattern, text[span.column - 1 : end - 1])]
            if len(found) != 1:
                continue
            column = span.column + found[0]
            where = Span.model_construct(
                file=span.file,
                line=span.line,
                column=column,
                end_line=span.line,
                end_column=column + len(suggestion.name),
            )
            fixes.extend(
                Fix.model_construct(title=f"replace '{suggestion.name}' with '{choice}'",
                                    span=where, replacement=choice)
                for choice in suggestion.choices
            )  # fmt: skip
        resolved.append(item.model_copy(update={"fixes": tuple(fixes)}) if fixes else item)
    return resolved


def render(diagnostic: Diagnostic, sources: dict[str, str], *, color: bool = False) -> str:
    """Render as ``file:line:col: error[code]: message`` with the source line underlined."""
    red, yellow, blue, bold, reset = (
        ("\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[1m", "\x1b[0m") if color else ("",) * 5
    )
    tint = red if diagnostic.is_error else yellow
    span = diagnostic.span
    where = f"{span.file}:{span.line}:{span.column}: " if span else ""
    lines = [
        f"{bold}{where}{tint}{diagnostic.severity}[{diagnostic.code}]{reset}{bold}: "
        f"{diagnostic.message}{reset}"
    ]
    marks: list[tuple[Span, str, str]] = []
    if span is not None:
        marks.append((span, "^", diagnostic.label))
    marks.extend((label.span, "-", label.message) for label in diagnostic.labels)
    marks.extend((use.span, "-", use.message) for use in diagnostic.uses)
    shown = [m for m in marks if m[0].file in sources]
    if shown:
        width = max(len(str(m[0].line)) for m in shown)
        gutter = " " * width
        lines.append(f"{blue}{gutter} |{reset}")
        # One source line per (file, line); every mark on it is drawn beneath it.
        by_line: dict[tuple[str, int], list[tuple[Span, str, str]]] = {}
        for mark in shown:
            by_line.setdefault((mark[0].file, mark[0].line), []).append(mark)
        # The primary span's file first; a line of another file (an imported block's
        # body, or the use of a block from another file) is headed by that file's name.
        primary = span.file if span is not None else shown[0][0].file
        shown_file = primary
        for (file, number), line_marks in sorted(
            by_line.items(), key=lambda item: (item[0][0] != primary, item[0])
        ):
            if file != shown_file:
                lines.append(f"{blue}{gutter}:::{reset} {file}")
                shown_file = file
            source_lines = sources[file].splitlines()
            if not 1 <= number <= len(source_lines):
                continue
            # Shown, a direction override would reorder the line under its marks.
            source = BIDI_CONTROLS.sub("\ufffd", source_lines[number - 1].expandtabs(1))
            lines.append(f"{blue}{number:>{width}} |{reset} {source}")
            for mark_span, char, text in sorted(line_marks, key=lambda m: m[1] != "^"):
                end = (
                    mark_span.end_column
                    if mark_span.end_line == mark_span.line
                    else len(source) + 1
                )
                length = max(1, end - mark_span.column)
                underline = " " * (mark_span.column - 1) + char * length
                suffix = f" {text}" if text else ""
                colour = tint if char == "^" else blue
                lines.append(f"{blue}{gutter} |{reset} {colour}{underline}{suffix}{reset}")
        if diagnostic.notes or diagnostic.help or diagnostic.uses:
            lines.append(f"{blue}{gutter} |{reset}")
        pad = gutter + " "
    else:
        pad = "  "
    notes = [*_use_notes(diagnostic.uses), *diagnostic.notes]
    lines.extend(f"{pad}{blue}={reset} {bold}note{reset}: {note}" for note in notes)
    lines.extend(f"{pad}{blue}={reset} {bold}help{reset}: {text}" for text in diagnostic.help)
    return "\n".join(lines)


def _use_notes(uses: Sequence[Use]) -> list[str]:
    """``in res_2 (block 'res' used at t.net:9:5)``, innermost use first."""
    return [
        f"in {use.instance} (block '{use.block}' used at "
        f"{use.span.file}:{use.span.line}:{use.span.column})"
        for use in reversed(uses)
    ]


def render_all(
    diagnostics: Sequence[Diagnostic], sources: dict[str, str], *, color: bool = False
) -> str:
    """Every diagnostic, separated by blank lines, then a one-line count."""
    blocks = [render(d, sources, color=color) for d in diagnostics]
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    if blocks:
        parts = []
        if errors:
            parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        if warnings:
            parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
        blocks.append(", ".join(parts))
    return "\n\n".join(blocks)
