"""Imported files are parsed once per text: a long-lived process (the language server)
analyses the same imports on every edit. A changed file is parsed anew."""

from __future__ import annotations

from pathlib import Path

import pytest

from netspec.elaborate import imports
from netspec.frontend import analyze

MAIN = 'netspec 1\nimport "lib.net"\nmodel m(x: [4]) {\n    mlp\n}\n'


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    real = imports.parse

    def parse(text, file, diagnostics):  # type: ignore[no-untyped-def]
        parsed.append(file)
        return real(text, file, diagnostics)

    monkeypatch.setattr(imports, "parse", parse)
    monkeypatch.setattr(imports, "_TREES", {})
    return parsed


def test_an_imported_file_is_parsed_once_while_its_text_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _counting(monkeypatch)
    library = tmp_path / "lib.net"
    library.write_text("netspec 1\nblock mlp { dense(3) }\n")
    main = str(tmp_path / "main.net")
    first = analyze(MAIN, main)
    second = analyze(MAIN, main)
    assert parsed == [str(library)]
    assert first.program is not None and second.program is not None
    assert second.program.model().output_type.shape == (3,)
    library.write_text("netspec 1\nblock mlp { dense(5) }\n")  # edited: read anew
    third = analyze(MAIN, main)
    assert parsed == [str(library), str(library)]
    assert third.program is not None and third.program.model().output_type.shape == (5,)


def test_a_file_with_a_syntax_error_is_parsed_and_reported_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _counting(monkeypatch)
    (tmp_path / "lib.net").write_text("netspec 1\nblock mlp { dense(3) \n")
    main = str(tmp_path / "main.net")
    for _ in range(2):
        assert [d.code for d in analyze(MAIN, main).diagnostics] == ["E001"]
    assert len(parsed) == 2
