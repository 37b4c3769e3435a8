"""Imports: read the files a spec imports, and give it their blocks and constants.

``import "blocks.net"`` reads a file relative to the importing file (relative to the
current directory for text that is not a file); ``import std.resnet`` reads a module of
the standard library shipped in netspec/std. An imported file offers the blocks and
constants it defines itself; its own imports, defaults, models and train sections stay
its own. Each file is read once per analysis, however often it is imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lark import Token, Tree

from netspec.diagnostics import Diagnostics, Label, suggest
from netspec.elaborate.blocks import BlockDef, BlockEnv
from netspec.elaborate.values import Evaluator, Value
from netspec.ir.graph import Span
from netspec.syntax.parser import parse
from netspec.syntax.text import decode, warn_bidi_controls

STD_DIR = Path(__file__).resolve().parent.parent / "std"
STD_PREFIX = "std."
# Parse trees of imported files that parsed cleanly, by (name, text): a long-lived
# process (the language server) analyses the same imports on every edit, and their
# parsing is most of an import's cost. Trees are only read, never changed, after parsing.
_TREES: dict[tuple[str, str], Tree] = {}
_TREES_KEPT = 64


def std_modules() -> list[str]:
    """The modules of the standard library, as they are imported: std.resnet, ..."""
    return sorted(STD_PREFIX + path.stem for path in STD_DIR.glob("*.net"))


@dataclass(eq=False)
class Library:
    """What an imported file offers: the blocks and constants it defines itself."""

    file: str
    blocks: dict[str, BlockDef]
    constants: dict[str, Value]


@dataclass(frozen=True)
class Origin:
    """Where an imported name came from: the import statement and the file it read."""

    span: Span
    file: str


@dataclass
class Imported:
    """The names a file's imports give it, and where each came from."""

    env: BlockEnv
    block_origins: dict[str, Origin] = field(default_factory=dict)
    constant_origins: dict[str, Origin] = field(default_factory=dict)


class Importer:
    """Reads imported files for one analysis; remembers each file and its source text."""

    def __init__(self, diagnostics: Diagnostics, sources: dict[str, str], root: str) -> None:
        self.diagnostics = diagnostics
        # Every file read, by the name its spans carry, for rendering diagnostics.
        self.sources = sources
        self.libraries: dict[Path, Library | None] = {}
        # The files being read now, outermost first, with the import that reads each:
        # the analysed file first, when it is a file.
        self.reading: list[tuple[Path, str, Span | None]] = []
        if not root.startswith("<"):
            self.reading.append((Path(root).resolve(), root, None))

    def bind(self, items: list[Tree], file: str, evaluator: Evaluator) -> Imported:
        """Read every import of ``file`` (its ``import_def`` trees) and collect their names."""
        imported = Imported(env=BlockEnv(evaluator=evaluator, blocks={}, constants={}))
        namespaces: dict[str, Span] = {}
        for item in items:
            span = evaluator.span(item)
            target, *alias_token = item.children
            alias = str(alias_token[0]) if alias_token and alias_token[0] is not None else None
            library = self._load(target, span, file)
            if library is None:
                imported.env.failed_imports.add(alias or "")
                continue
            if alias is not None:
                if alias in namespaces:
                    self.diagnostics.error(
                        "E003",
                        f"the namespace '{alias}' is already given to another import",
                        evaluator.span(alias_token[0]),
                        labels=[
                            Label.model_construct(span=namespaces[alias], message="first here")
                        ],
                        help=[f"choose another name: import ... as {alias}2"],
                    )
                    continue
                namespaces[alias] = span
                for name, block in library.blocks.items():
                    imported.env.blocks[f"{alias}.{name}"] = block
                for name, value in library.constants.items():
                    imported.env.constants[f"{alias}.{name}"] = value
                continue
            origin = Origin(span=span, file=library.file)
            self._merge(
                "block", library.blocks, imported.env.blocks, imported.block_origins, origin
            )
            self._merge(
                "constant",
                library.constants,
                imported.env.constants,
                imported.constant_origins,
                origin,
            )
        return imported

    def _merge(
        self,
        kind: str,
        offered: dict[str, BlockDef] | dict[str, Value],
        into: dict,  # type: ignore[type-arg]
        origins: dict[str, Origin],
        origin: Origin,
    ) -> None:
        for name, thing in offered.items():
            first = origins.get(name)
            if first is not None and into[name] is not thing:
                self.diagnostics.error(
                    "E003",
                    f"{kind} '{name}' is imported twice: from {first.file} and from {origin.file}",
                    origin.span,
                    labels=[
                        Label.model_construct(
                            span=first.span, message=f"'{name}' is first imported here"
                        )
                    ],
                    help=["give one import a namespace: import ... as NAME, then NAME." + name],
                )
                continue
            into[name] = thing
            origins[name] = origin

    # -- reading one file ----------------------------------------------------------------

    def _load(self, target: Token, span: Span, file: str) -> Library | None:
        located = self._locate(target, span, file)
        if located is None:
            return None
        shown, written = located
        key = Path(shown).resolve()
        for position, (reading, _, _) in enumerate(self.reading):
            if reading == key:
                self._cycle(position, shown, span)
                return None
        if key in self.libraries:
            return self.libraries[key]
        try:
            # A device or a pipe (/dev/zero, a FIFO) would never end or never answer.
            if Path(shown).exists() and not (Path(shown).is_file() or Path(shown).is_dir()):
                self._cannot(written, span, f"{shown} is not a regular file", file)
                return None
            data = Path(shown).read_bytes()
        except FileNotFoundError:
            self._cannot(written, span, f"there is no file {shown}", file)
            return None
        except IsADirectoryError:
            self._cannot(written, span, f"{shown} is a directory, not a spec file", file)
            return None
        except OSError as error:
            self._cannot(written, span, f"cannot read {shown}: {error.strerror or error}", file)
            return None
        start = len(self.diagnostics.items)
        text, problem = decode(data, shown)
        text = text.removeprefix("\ufeff")
        self.sources[shown] = text
        library: Library | None = None
        if problem is not None:
            self.diagnostics.items.append(problem)
        else:
            self.reading.append((key, shown, span))
            try:
                library = self._read(text, shown)
            finally:
                self.reading.pop()
        note = f"in {shown}, imported at {span.file}:{span.line}:{span.column}"
        items = self.diagnostics.items
        items[start:] = [d.model_copy(update={"notes": (*d.notes, note)}) for d in items[start:]]
        self.libraries[key] = library
        return library

    def _read(self, text: str, file: str) -> Library | None:
        # Imported here: the program elaborator imports this module.
        from netspec.elaborate.program import elaborate

        warn_bidi_controls(text, file, self.diagnostics)
        tree = _parse_library(text, file, self.diagnostics)
        if tree is None:
            return None
        elaborated = elaborate(tree, file, self.diagnostics, importer=self, library=True)
        return Library(file=file, blocks=elaborated.blocks, constants=elaborated.constants)

    def _locate(self, target: Token, span: Span, file: str) -> tuple[str, str] | None:
        """(the path to read, as spans will name it; the target as written), or None."""
        if target.type == "STRING":
            written = str(target)[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            if not written:
                self.diagnostics.error("E024", 'import needs a file name, found ""', span)
                return None
            # Relative to the importing file; text that is no file reads from the
            # current directory (its name, "<string>", has no folder).
            folder = "" if file.startswith("<") else os.path.dirname(file)
            return os.path.normpath(os.path.join(folder, written)), f'"{written}"'
        name = str(target)
        available = std_modules()
        if not name.startswith(STD_PREFIX):
            self.diagnostics.error(
                "E024",
                f"cannot import '{name}': import takes a file name in quotes or a module of "
                "the standard library",
                span,
                help=[f'import "{name}.net"', f"standard modules: {', '.join(available)}"],
            )
            return None
        if name not in available:
            self.diagnostics.error(
                "E002",
                f"unknown standard module '{name}'",
                span,
                help=[
                    *_std_did_you_mean(name, available),
                    f"standard modules: {', '.join(available)}",
                ],
            )
            return None
        return str(STD_DIR / f"{name.removeprefix(STD_PREFIX)}.net"), name

    def _cannot(self, written: str, span: Span, why: str, file: str) -> None:
        folder = "the current directory" if file.startswith("<") else file
        self.diagnostics.error(
            "E024",
            f"cannot import {written}: {why}",
            span,
            notes=[f"an import's path is relative to {folder}'s folder"]
            if not file.startswith("<")
            else [f"text that is not a file imports relative to {folder}"],
        )

    def _cycle(self, position: int, shown: str, span: Span) -> None:
        # The imports on the way are noted by _load, one "in FILE, imported at" each.
        chain = [file for _, file, _ in self.reading[position:]]
        self.diagnostics.error(
            "E024",
            "import cycle: " + " -> ".join([*chain, shown]),
            span,
            help=["move the blocks both files need into a third file that both import"],
        )


def _parse_library(text: str, file: str, diagnostics: Diagnostics) -> Tree | None:
    """``parse``, remembering the trees of files that parse without a diagnostic."""
    tree = _TREES.get((file, text))
    if tree is not None:
        return tree
    before = len(diagnostics.items)
    tree = parse(text, file, diagnostics)
    if tree is not None and len(diagnostics.items) == before:
        if len(_TREES) >= _TREES_KEPT:
            _TREES.pop(next(iter(_TREES)))
        _TREES[(file, text)] = tree
    return tree


def _std_did_you_mean(name: str, available: list[str]) -> list[str]:
    """Help for a misspelt standard module, compared without the shared "std." prefix,
    which would make every module look close to any misspelling."""
    close = suggest(name.removeprefix(STD_PREFIX), [m.removeprefix(STD_PREFIX) for m in available])
    if not close:
        return []
    return ["did you mean " + " or ".join(f"'{STD_PREFIX}{c}'" for c in close) + "?"]
