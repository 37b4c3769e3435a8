"""What every generator needs: the model, names safe for Python, and source references."""

from __future__ import annotations

import functools
import hashlib
import keyword
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import PurePath

from netspec.ir import CheckedModel, Program, Span

_NOT_IDENTIFIER = re.compile(r"[^0-9A-Za-z_]")


def _escape(char: str) -> str:
    """A character that must not appear literally in generated source, as an escape.

    Control and format characters (bidirectional overrides and isolates such as
    U+202E, which can make an editor show code in another order than Python reads it:
    "trojan source"), unpaired surrogates (a file name that is not UTF-8) and line or
    paragraph separators all become ``\\uXXXX`` text.
    """
    if unicodedata.category(char) in _ESCAPED_CATEGORIES:
        code = ord(char)
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def inert(text: str) -> str:
    """Text from a spec or a path, made inert inside a comment or a docstring: one line,
    no backslashes or triple quotes, and no invisible or reordering characters. Every
    generator puts spec text into its output through this function."""
    text = " ".join(text.split()).replace("\\", "/").replace('"""', "'''")
    if text.isprintable():
        return text
    return "".join(_escape(char) for char in text)


def identifier(name: str, taken: set[str] | None = None) -> str:
    """A valid, non-keyword Python identifier for ``name`` (dots become underscores),
    made unique against ``taken`` (which it extends)."""
    text = _NOT_IDENTIFIER.sub("_", name)
    if not text or text[0].isdigit():
        text = f"n_{text}"
    if keyword.iskeyword(text) or keyword.issoftkeyword(text):
        text += "_"
    if taken is not None:
        base, n = text, 2
        while text in taken:
            text = f"{base}_{n}"
            n += 1
        taken.add(text)
    return text


def class_name(model: str) -> str:
    """``mnist_residual`` -> ``MnistResidual``: a PEP 8 class name for the model."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", model) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    return identifier(name if not name[0].isdigit() else f"Model{name}")


@functools.lru_cache(maxsize=64)
def _same_file(a: str, b: str) -> bool:
    """Whether two spec file names are one file (a span may name it by another path
    than the one the generated code is labelled with); by name where either is gone."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return PurePath(a).name == PurePath(b).name


@dataclass(frozen=True)
class CodegenContext:
    """The input of a generator.

    ``spans`` maps node names to their source spans; ``comment(node)`` renders the
    ``# lenet5.net:7 conv2d(6, 5)`` reference a generated line carries.
    """

    model: CheckedModel
    spec_file: str
    spec_sha256: str
    class_name: str
    spans: dict[str, Span] = field(default_factory=dict)
    source_lines: tuple[str, ...] = ()

    def comment(self, node: str) -> str:
        span = self.spans.get(node)
        if span is None:
            return f"# {node}"
        file = self.spec_file if span.file == "<string>" else span.file
        where = f"{inert(PurePath(file).name)}:{span.line}"
        text = ""
        # The text is known for the spec's own lines; a node made by an imported block
        # has its span in the imported file, named but not quoted.
        own = span.file == "<string>" or _same_file(span.file, self.spec_file)
        if own and 1 <= span.line <= len(self.source_lines):
            line = self.source_lines[span.line - 1]
            if span.end_line == span.line:
                text = line[span.column - 1 : span.end_column - 1]
            else:
                text = line[span.column - 1 :].strip()
        # A spec line never becomes code: it only appears after '#', newlines removed.
        text = " ".join(text.split())
        return f"# {where} {inert(text)}".rstrip()

    def inputs_text(self) -> str:
        """``Input: [784]``, or ``Inputs: image [1, 28, 28], extra [4]``."""
        inputs = self.model.inputs
        if len(inputs) == 1:
            return f"Input: {list(inputs[0].shape)}"
        return "Inputs: " + ", ".join(f"{spec.name} {list(spec.shape)}" for spec in inputs)

    def header(self, framework: str) -> str:
        """The module docstring: what it is, from which spec, and its hash."""
        spec = inert(self.spec_file)
        return (
            f'"""{self.class_name}: the model `{self.model.name}` of {PurePath(spec).name}, '
            f"compiled by netspec for {framework}.\n\n"
            f"Spec: {spec}\n"
            f"Spec sha256: {self.spec_sha256}\n"
            f"{self.inputs_text()} per sample; output: "
            f"{list(self.model.output_type.shape)}; {self.model.parameter_count:,} parameters.\n"
            "This file depends only on its framework and NumPy; it does not need netspec.\n"
            '"""\n'
        )


def context_for(
    program: Program,
    model: str | None = None,
    *,
    source_file: str = "<string>",
    source_text: str = "",
) -> CodegenContext:
    checked = program.model(model)
    prefix = f"{checked.name}/"
    spans = {
        key[len(prefix) :]: span
        for key, span in program.source_map.items()
        if key.startswith(prefix)
    }
    digest = (
        hashlib.sha256(source_text.encode()).hexdigest()
        if source_text
        else hashlib.sha256(program.model_dump_json().encode()).hexdigest()
    )
    return CodegenContext(
        model=checked,
        spec_file=source_file,
        spec_sha256=digest,
        class_name=class_name(checked.name),
        spans=spans,
        source_lines=tuple(source_text.splitlines()),
    )
