"""Text to checked IR: parse, elaborate, check, lint, in one pass over a file."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from pathlib import Path

from netspec.check.checker import DEFAULT_MAX_PARAMS, check_model
from netspec.check.lint import lint
from netspec.check.standardize import standardize_input, trained_standardized
from netspec.check.train import check_train
from netspec.diagnostics import Diagnostic, Diagnostics, Use, render_all, resolve_fixes
from netspec.elaborate.imports import Importer
from netspec.elaborate.overrides import FILE as OVERRIDES_FILE
from netspec.elaborate.overrides import OverrideInput, normalize, parse_overrides
from netspec.elaborate.program import elaborate
from netspec.elaborate.spaces import site
from netspec.errors import NetspecError
from netspec.ir.graph import CheckedModel, Program, Span
from netspec.ir.space import SpaceSite
from netspec.syntax.parser import parse
from netspec.syntax.text import decode, warn_bidi_controls

BOM = "\ufeff"


@dataclass
class Analysis:
    """The outcome of reading one source: the program (if no errors) and all diagnostics."""

    file: str
    source: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    program: Program | None = None
    # The text of every file read (imported ones too), by the name its spans carry.
    sources: dict[str, str] = field(default_factory=dict)
    # Per model, per node made inside a block: the chain of block uses that made it
    # (block name, instance, call span), for tools that draw or explain block structure.
    uses: dict[str, dict[str, tuple[Use, ...]]] = field(default_factory=dict)
    # The search spaces the spec leaves open, in the order they are written; the program
    # is checked with each at its first value (the low end, the first option).
    spaces: tuple[SpaceSite, ...] = ()
    # The ``--set`` overrides applied, as KEY=VALUE.
    overrides: tuple[str, ...] = ()
    # The models that checked, with their source map, even where other parts of the file
    # have errors: for tools that show what they can while a file is being edited.
    checked: Program | None = None

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def counts(self) -> str:
        """``1 model`` or ``2 models, 5 search spaces``: what a spec that checks holds."""
        models = len(self.program.models) if self.program else 0
        spaces = len(self.spaces)
        return f"{models} model{'s' if models != 1 else ''}" + (
            f", {spaces} search space{'s' if spaces != 1 else ''}" if spaces else ""
        )

    def render(self, *, color: bool = False) -> str:
        return render_all(self.diagnostics, {**self.sources, self.file: self.source}, color=color)


def analyze(
    source: str,
    file: str = "<string>",
    *,
    max_params: int = DEFAULT_MAX_PARAMS,
    overrides: OverrideInput | None = None,
) -> Analysis:
    """Read ``source`` completely and report every problem found; never raises for a bad spec.

    Its imports are relative to the folder of ``file``; for the default ``<string>``,
    relative to the current directory. ``overrides`` replace values the spec writes:
    ``KEY=VALUE`` strings, or a mapping of keys to values (numbers, booleans, or spec
    text as a str), as ``--set`` takes them (see :mod:`netspec.elaborate.overrides`).
    """
    # Elaboration allocates many small objects that all stay alive until the end; the
    # cyclic collector would scan them again and again (half the time of a 100,000-node
    # model) and can find nothing to free. It is paused for the duration.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _analyze(source, file, max_params, normalize(overrides))
    finally:
        if collecting:
            gc.enable()


def _analyze(source: str, file: str, max_params: int, sets: tuple[str, ...]) -> Analysis:
    # A UTF-8 byte-order mark (written by some Windows editors) is not part of the text;
    # columns are counted without it, as editors show them.
    source = source.removeprefix(BOM)
    diagnostics = Diagnostics()
    analysis = Analysis(file=file, source=source, sources={file: source}, overrides=sets)
    warn_bidi_controls(source, file, diagnostics)
    overrides = parse_overrides(sets, diagnostics)
    if sets:
        analysis.sources[OVERRIDES_FILE] = overrides.source
    tree = parse(source, file, diagnostics)
    if tree is None or (sets and diagnostics.has_errors):
        analysis.diagnostics = diagnostics.items
        return analysis
    importer = Importer(diagnostics, analysis.sources, file)
    elaborated = elaborate(tree, file, diagnostics, importer, overrides=overrides)
    if elaborated.spaces is not None:
        registry = elaborated.spaces
        analysis.spaces = tuple(
            site(registry.spaces[span], path, source)
            for span, path in sorted(
                registry.paths.items(), key=lambda item: (item[0].line, item[0].column)
            )
        )
    trains = {spec.model: spec for spec in elaborated.trains}
    checked: list[CheckedModel] = []
    source_map: dict[str, Span] = {}
    for model in elaborated.models:
        spans = elaborated.node_spans[model.name]
        result = check_model(
            model,
            spans,
            diagnostics,
            model_span=elaborated.model_spans.get(model.name),
            input_spans=elaborated.input_spans.get(model.name),
            max_params=max_params,
            input_names=elaborated.input_names.get(model.name),
            uses=elaborated.node_uses.get(model.name),
        )
        train = trains.get(model.name)
        if train is not None:
            check_train(
                train,
                result,
                elaborated.train_item_spans.get(model.name, {}),
                elaborated.train_spans[model.name],
                diagnostics,
                output_span=spans.get(model.output),
                input_spans=elaborated.input_spans.get(model.name),
            )
        if result is None:
            continue
        if trained_standardized(train) and len(result.inputs) == 1:
            # The statistics of the data belong to the model: see docs/semantics.md.
            result = standardize_input(result)
        lint(result, spans, train, diagnostics)
        checked.append(result)
        analysis.uses[model.name] = elaborated.node_uses.get(model.name, {})
        source_map.update({f"{model.name}/{node}": span for node, span in spans.items()})
    if not elaborated.model_spans and not diagnostics.has_errors:
        diagnostics.error(
            "E022",
            "the file defines no model",
            Span.model_construct(file=file, line=1, column=1, end_line=1, end_column=2),
            help=["model name(x: [784]) { dense(10) }"],
        )
    # Errors first in file order (the analysed file, then the imported ones in the order
    # they were read), then warnings: the reader fixes errors first.
    unique = resolve_fixes(merge_uses(diagnostics.items), analysis.sources)
    files = {name: index for index, name in enumerate(analysis.sources)}
    analysis.diagnostics = sorted(
        unique,
        key=lambda d: (
            not d.is_error,
            files.get(d.span.file, len(files)) if d.span else 0,
            d.span.line if d.span else 0,
            d.span.column if d.span else 0,
        ),
    )
    analysis.checked = Program.model_construct(
        models=tuple(checked),
        trains=tuple(elaborated.trains),
        source_map=source_map,
        overrides=sets,
    )
    if not diagnostics.has_errors:
        analysis.program = analysis.checked
    return analysis


def merge_uses(items: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per problem: the same error from several uses of a block is
    reported once, at its first use, with a note counting the others."""
    first: dict[Diagnostic, Diagnostic] = {}
    chains: dict[Diagnostic, set[tuple[Use, ...]]] = {}
    for item in items:
        key = item.model_copy(update={"uses": ()}) if item.uses else item
        first.setdefault(key, item)
        chains.setdefault(key, set()).add(item.uses)
    merged = []
    for key, item in first.items():
        others = len(chains[key]) - 1
        if others:
            note = f"the same error occurs in {others} other use{'s' if others != 1 else ''}"
            item = item.model_copy(update={"notes": (*item.notes, note)})
        merged.append(item)
    return merged


def _read(path_or_text: str | os.PathLike[str]) -> tuple[str, str, Diagnostic | None]:
    """(text, file name, the encoding problem or None); other read errors raise."""
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str)
        and "\n" not in path_or_text
        and "{" not in path_or_text
        and (path_or_text.endswith(".net") or os.path.exists(path_or_text))
    ):
        path = Path(path_or_text)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NetspecError(f"no such spec file: {path}") from None
        except IsADirectoryError:
            raise NetspecError(f"{path} is a directory, not a spec file") from None
        except OSError as error:
            raise NetspecError(f"cannot read {path}: {error.strerror}") from None
        text, problem = decode(data, str(path))
        return text, str(path), problem
    return str(path_or_text), "<string>", None


def _failure(
    file: str,
    diagnostics: list[Diagnostic],
    source: str,
    sources: dict[str, str] | None = None,
) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    rendered = render_all(diagnostics, {**(sources or {}), file: source})
    return f"{file}: {errors} error{'s' if errors != 1 else ''}\n{rendered}"


def analyze_source(
    path_or_text: str | os.PathLike[str],
    *,
    max_params: int = DEFAULT_MAX_PARAMS,
    overrides: OverrideInput | None = None,
) -> Analysis:
    """Read a .net file (a path) or spec text and analyze it, as :func:`analyze` does.

    A file that is not UTF-8 gives an analysis with its E008 diagnostic; a missing or
    unreadable file raises NetspecError.
    """
    text, file, problem = _read(path_or_text)
    if problem is not None:
        return Analysis(file=file, source=text, diagnostics=[problem])
    return analyze(text, file, max_params=max_params, overrides=overrides)


def spaces_message(spaces: tuple[SpaceSite, ...]) -> str:
    """Why a spec with search spaces cannot be trained (or compiled, exported, run)."""
    listed = ", ".join(
        f"{s.path} at {s.span.file}:{s.span.line}:{s.span.column}" for s in spaces[:4]
    )
    more = f" and {len(spaces) - 4} more" if len(spaces) > 4 else ""
    return (
        f"the spec has search spaces ({listed}{more}): use `netspec sweep` to search them, "
        "or fix them with --set"
    )


def concrete_program(analysis: Analysis) -> Program:
    """The analysis's program, for a use that needs every value fixed: a NetspecError
    carrying the diagnostics for a spec with errors, or naming its search spaces."""
    if analysis.program is None:
        raise NetspecError(
            _failure(analysis.file, analysis.diagnostics, analysis.source, analysis.sources),
            tuple(analysis.diagnostics),
        )
    if analysis.spaces:
        raise NetspecError(spaces_message(analysis.spaces))
    return analysis.program


def load(
    path_or_text: str | os.PathLike[str],
    *,
    max_params: int = DEFAULT_MAX_PARAMS,
    overrides: OverrideInput | None = None,
) -> Program:
    """Read a .net file (a path) or spec text and return the checked program.

    A file's imports are relative to its folder; spec text imports relative to the
    current directory. ``overrides`` replace values the spec writes, as ``--set`` does:
    ``{"epochs": 3, "dense_1.units": 512, "optimizer": "adam(lr = 1e-3)"}`` or
    ``["epochs=3", ...]`` (see :func:`analyze`).

    Raises :class:`netspec.NetspecError` carrying every diagnostic when the spec has
    errors (an override's included), or naming its search spaces when it leaves some
    open (:func:`netspec.substitute` fixes them); warnings do not stop loading.
    """
    return concrete_program(
        analyze_source(path_or_text, max_params=max_params, overrides=overrides)
    )
