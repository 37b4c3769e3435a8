"""Imports: files relative to the importing file, namespaces, what an imported file
gives, and every diagnostic an import can give, at its exact location. The standard
library's blocks are tested in test_std_library.py."""

from __future__ import annotations

import os
from pathlib import Path
from textwrap import dedent

import pytest

from netspec import analyze, load
from netspec.cli import main
from netspec.diagnostics import Diagnostic
from netspec.frontend import Analysis, analyze_source

RES = """\
block res(c) {
    input x
    h = x -> conv2d(c, 3, padding = same) -> relu
    add(x, h)
}
"""
USE_RES = 'import "blocks.net"\n\nmodel m(x: [8, 12, 12]) {\n    res(8)\n}\n'


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))


def check(path: Path) -> Analysis:
    return analyze_source(path)


def only(analysis: Analysis, code: str) -> Diagnostic:
    assert [d.code for d in analysis.diagnostics] == [code], analysis.render()
    return analysis.diagnostics[0]


def where(diagnostic: Diagnostic) -> tuple[str, int, int]:
    assert diagnostic.span is not None
    return (Path(diagnostic.span.file).name, diagnostic.span.line, diagnostic.span.column)


# -- importing files -----------------------------------------------------------------------


def test_an_imported_block_is_used_like_a_local_one(tmp_path: Path) -> None:
    write(tmp_path, {"blocks.net": RES, "main.net": USE_RES})
    program = load(tmp_path / "main.net")
    assert [n.name for n in program.models[0].nodes] == [
        "res_1.conv2d_1",
        "res_1.h",
        "res_1.add_1",
    ]
    assert program.source_map["m/res_1.add_1"].file == str(tmp_path / "blocks.net")


def test_paths_are_relative_to_the_importing_file_across_folders(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "lib/blocks.net": 'import "deeper/width.net"\n' + RES,
            "lib/deeper/width.net": "let width = 8\n",
            "specs/main.net": 'import "../lib/blocks.net"\nimport "../lib/deeper/width.net"\n'
            "model m(x: [width, 12, 12]) { res(width) }\n",
        },
    )
    assert load(tmp_path / "specs" / "main.net").models[0].input.shape == (8, 12, 12)


def test_an_imported_file_gives_only_what_it_defines(tmp_path: Path) -> None:
    # blocks.net imports width.net, but the names it imports stay its own.
    write(
        tmp_path,
        {
            "blocks.net": 'import "width.net"\n' + RES,
            "width.net": "let width = 8\n",
            "main.net": 'import "blocks.net"\nmodel m(x: [width, 12, 12]) { res(8) }\n',
        },
    )
    found = check(tmp_path / "main.net").diagnostics
    assert [(d.code, where(d)) for d in found] == [("E006", ("main.net", 2, 13))], found
    assert found[0].message == "input shape: expected a positive integer, found the name 'width'"


def test_transitive_imports_let_a_block_use_its_own_files_blocks(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.net": 'import "b.net"\nblock twice(c) { res(c) -> res(c) }\n',
            "b.net": RES,
            "main.net": 'import "a.net"\nmodel m(x: [8, 12, 12]) { twice(8) }\n',
        },
    )
    nodes = [n.name for n in load(tmp_path / "main.net").models[0].nodes]
    assert nodes[0] == "twice_1.res_1.conv2d_1"
    assert nodes[-1] == "twice_1.res_2.add_1"


def test_an_imported_block_sees_its_own_files_constants(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "blocks.net": "let k = 3\nblock conv(c) { conv2d(c, k) }\n",
            "main.net": 'import "blocks.net"\nlet k = 5\nmodel m(x: [1, 9, 9]) { conv(2) }\n',
        },
    )
    analysis = check(tmp_path / "main.net")
    # The clash of 'k' is reported, and the block still reads its own file's k = 3.
    assert [d.code for d in analysis.diagnostics] == ["E003"]
    write(
        tmp_path,
        {"main.net": 'import "blocks.net" as b\nlet k = 5\nmodel m(x: [1, 9, 9]) { b.conv(2) }\n'},
    )
    (checked,) = load(tmp_path / "main.net").models
    assert checked.output_type.shape == (2, 7, 7)


def test_models_and_train_sections_of_an_imported_file_are_not_imported(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "lib.net": RES + "defaults { init = zeros }\nmodel lib(x: [8, 4, 4]) { res(8) }\n"
            "train lib { data mnist loss mse optimizer sgd(lr = 0.1) }\n",
            "main.net": 'import "lib.net"\nmodel m(x: [8, 12, 12]) { res(8) }\n',
        },
    )
    program = load(tmp_path / "main.net")
    assert [m.name for m in program.models] == ["m"]
    assert program.trains == ()
    # The imported file's defaults do not apply either: the importer's built-in he_normal.
    model = program.models[0]
    assert model.params[0].node == model.nodes[0].name
    assert model.params[0].init.scheme == "he_normal"


def test_a_namespace_qualifies_blocks_and_constants(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "blocks.net": RES + "let width = 8\n",
            "main.net": 'import "blocks.net" as b\nblock res(c) { dense(c) }\n'
            "model m(x: [b.width, 12, 12]) { b.res(b.width) }\n",
        },
    )
    (checked,) = load(tmp_path / "main.net").models
    assert checked.nodes[-1].name == "res_1.add_1"


def test_a_namespace_given_twice_is_an_error_at_the_second(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "blocks.net": RES,
            "main.net": 'import "blocks.net" as b\nimport std.vgg as b\n'
            "model m(x: [8, 12, 12]) { b.res(8) }\n",
        },
    )
    d = only(check(tmp_path / "main.net"), "E003")
    assert (where(d), d.message) == (
        ("main.net", 2, 19),
        "the namespace 'b' is already given to another import",
    )
    assert (d.labels[0].span.line, d.labels[0].message) == (1, "first here")


def test_text_imports_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"blocks.net": RES})
    monkeypatch.chdir(tmp_path)
    program = load(USE_RES)
    assert program.models[0].nodes[-1].name == "res_1.add_1"


def test_check_works_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, {"specs/blocks.net": RES, "specs/main.net": USE_RES})
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["check", "../specs/main.net"]) == 0
    assert "main.net: ok (1 model)" in capsys.readouterr().out


# -- diagnostics at the import ---------------------------------------------------------------


def test_a_missing_file_is_reported_at_the_import(tmp_path: Path) -> None:
    write(tmp_path, {"main.net": 'netspec 1\n  import "nope.net"\nmodel m(x: [2]) { dense(1) }\n'})
    d = only(check(tmp_path / "main.net"), "E024")
    assert where(d) == ("main.net", 2, 3)
    assert d.message == f'cannot import "nope.net": there is no file {tmp_path / "nope.net"}'
    assert d.notes == (f"an import's path is relative to {tmp_path / 'main.net'}'s folder",)


def test_uses_of_a_failed_import_are_not_reported_again(tmp_path: Path) -> None:
    write(tmp_path, {"main.net": 'import "nope.net"\nmodel m(x: [8, 4, 4]) { res(8) }\n'})
    assert [d.code for d in check(tmp_path / "main.net").diagnostics] == ["E024"]


def test_a_directory_is_reported_at_the_import(tmp_path: Path) -> None:
    (tmp_path / "lib.net").mkdir()
    write(tmp_path, {"main.net": 'import "lib.net"\nmodel m(x: [2]) { dense(1) }\n'})
    d = only(check(tmp_path / "main.net"), "E024")
    assert (where(d), d.message) == (
        ("main.net", 1, 1),
        f'cannot import "lib.net": {tmp_path / "lib.net"} is a directory, not a spec file',
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_without_reading_it() -> None:
    text = 'import "/dev/zero"\nmodel m(x: [2]) { dense(1) }\n'
    (d,) = analyze(text, "t.net").diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E024", 1, 1)
    assert d.message == 'cannot import "/dev/zero": /dev/zero is not a regular file'


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="needs a user whom file permissions bind"
)
def test_an_unreadable_file_is_reported_at_the_import(tmp_path: Path) -> None:
    write(
        tmp_path, {"lib.net": RES, "main.net": 'import "lib.net"\nmodel m(x: [2]) { dense(1) }\n'}
    )
    (tmp_path / "lib.net").chmod(0)
    try:
        d = only(check(tmp_path / "main.net"), "E024")
    finally:
        (tmp_path / "lib.net").chmod(0o644)
    assert where(d) == ("main.net", 1, 1)
    assert d.message.endswith(": Permission denied")


def test_a_read_error_is_reported_at_the_import_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same path as a file the user may not read, for any user (root reads them all).
    write(
        tmp_path, {"lib.net": RES, "main.net": 'import "lib.net"\nmodel m(x: [2]) { dense(1) }\n'}
    )
    read_bytes = Path.read_bytes

    def refuse(path: Path) -> bytes:
        if path.name == "lib.net":
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    d = only(check(tmp_path / "main.net"), "E024")
    assert (where(d), d.message) == (
        ("main.net", 1, 1),
        f'cannot import "lib.net": cannot read {tmp_path / "lib.net"}: Permission denied',
    )


def test_a_file_that_is_not_utf8_is_reported_in_it_with_the_import(tmp_path: Path) -> None:
    (tmp_path / "lib.net").write_bytes(b"let a = 1\n# caf\xe9\n")
    write(tmp_path, {"main.net": 'import "lib.net"\nmodel m(x: [2]) { dense(1) }\n'})
    analysis = check(tmp_path / "main.net")
    d = only(analysis, "E008")
    assert where(d) == ("lib.net", 2, 6)
    assert d.notes[-1] == f"in {tmp_path / 'lib.net'}, imported at {tmp_path / 'main.net'}:1:1"
    assert "2 | # caf\ufffd" in analysis.render()


def test_an_import_cycle_shows_the_chain(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.net": 'import "b.net"\nmodel m(x: [2]) { dense(1) }\n',
            "b.net": '# b\nimport "a.net"\n',
        },
    )
    d = only(check(tmp_path / "a.net"), "E024")
    a, b = tmp_path / "a.net", tmp_path / "b.net"
    assert where(d) == ("b.net", 2, 1)
    assert d.message == f"import cycle: {a} -> {b} -> {a}"
    assert d.notes == (f"in {b}, imported at {a}:1:1",)


def test_a_file_importing_itself_is_a_cycle(tmp_path: Path) -> None:
    write(tmp_path, {"a.net": 'import "a.net"\nmodel m(x: [2]) { dense(1) }\n'})
    d = only(check(tmp_path / "a.net"), "E024")
    assert (where(d), d.message) == (
        ("a.net", 1, 1),
        f"import cycle: {tmp_path / 'a.net'} -> {tmp_path / 'a.net'}",
    )


def test_the_same_block_from_two_imports_points_at_both(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "one.net": RES,
            "two.net": RES,
            "main.net": 'import "one.net"\nimport "two.net"\nmodel m(x: [8, 4, 4]) { res(8) }\n',
        },
    )
    d = only(check(tmp_path / "main.net"), "E003")
    assert where(d) == ("main.net", 2, 1)
    assert d.message == (
        f"block 'res' is imported twice: from {tmp_path / 'one.net'} and from "
        f"{tmp_path / 'two.net'}"
    )
    assert [(label.span.line, label.message) for label in d.labels] == [
        (1, "'res' is first imported here")
    ]


def test_importing_one_file_twice_is_no_clash(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"blocks.net": RES, "main.net": 'import "blocks.net"\nimport "./blocks.net"\n' + USE_RES},
    )
    assert load(tmp_path / "main.net").models[0].nodes[-1].name == "res_1.add_1"


@pytest.mark.parametrize(
    ("local", "kind", "line"),
    [("block res(c) { dense(c) }\n", "block", 3), ("let res = 1\n", "constant", 3)],
)
def test_an_import_clashing_with_a_local_definition_points_at_both(
    tmp_path: Path, local: str, kind: str, line: int
) -> None:
    lib = RES if kind == "block" else "let res = 2\n"
    write(
        tmp_path,
        {
            "lib.net": lib,
            "main.net": 'import "lib.net"\n\n' + local + "model m(x: [2]) { dense(1) }\n",
        },
    )
    d = only(check(tmp_path / "main.net"), "E003")
    assert where(d) == ("main.net", 1, 1)
    assert (
        d.message
        == f"{kind} 'res' imported from {tmp_path / 'lib.net'} is also defined in this file"
    )
    assert [(label.span.line, label.message) for label in d.labels] == [
        (line, "'res' is defined here")
    ]


def test_an_unknown_std_module_lists_the_available_ones() -> None:
    found = analyze("\nimport std.resnt\nmodel m(x: [2]) { dense(1) }\n", "t.net").diagnostics
    (d,) = found
    assert (d.code, d.span.line, d.span.column) == ("E002", 2, 1)
    assert d.message == "unknown standard module 'std.resnt'"
    assert d.help == (
        "did you mean 'std.resnet'?",
        "standard modules: std.inception, std.resnet, std.transformer, std.unet, std.vgg",
    )


def test_an_import_of_a_bare_name_says_how_to_write_one() -> None:
    (d,) = analyze("import blocks\nmodel m(x: [2]) { dense(1) }\n", "t.net").diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E024", 1, 1)
    assert d.help[0] == 'import "blocks.net"'


# -- errors inside imported files ------------------------------------------------------------


def test_a_syntax_error_in_an_imported_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path, {"blocks.net": "let a = 1\nblock b(c) { dense(c) -> }\n", "main.net": USE_RES})
    analysis = check(tmp_path / "main.net")
    d = only(analysis, "E001")
    assert where(d) == ("blocks.net", 2, 26)
    rendered = analysis.render()
    assert rendered.startswith(f"{tmp_path / 'blocks.net'}:2:26: error[E001]: expected ")
    assert "2 | block b(c) { dense(c) -> }" in rendered
    assert f"= note: in {tmp_path / 'blocks.net'}, imported at {tmp_path / 'main.net'}:1:1" in (
        rendered
    )


def test_a_semantic_error_in_a_transitively_imported_file_notes_each_import(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "c.net": "block dense(c) { relu }\n",
            "b.net": 'import "c.net"\n',
            "a.net": 'import "b.net"\nmodel m(x: [2]) { dense(1) }\n',
        },
    )
    d = only(check(tmp_path / "a.net"), "E003")
    assert where(d) == ("c.net", 1, 7)
    assert d.notes == (
        f"in {tmp_path / 'c.net'}, imported at {tmp_path / 'b.net'}:1:1",
        f"in {tmp_path / 'b.net'}, imported at {tmp_path / 'a.net'}:1:1",
    )


def test_an_error_inside_an_imported_block_names_the_use(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "blocks.net": RES,
            "main.net": 'import "blocks.net"\nmodel m(x: [8, 12, 12]) {\n'
            "    res(8)\n    second = res(16)\n}\n",
        },
    )
    analysis = check(tmp_path / "main.net")
    d = only(analysis, "E010")
    assert where(d) == ("blocks.net", 4, 5)
    assert [
        (u.instance, u.block, Path(u.span.file).name, u.span.line, u.span.column) for u in d.uses
    ] == [("second", "res", "main.net", 4, 14)]
    rendered = analysis.render()
    assert "4 |     add(x, h)" in rendered
    # The use is in another file than the error: its line is headed by that file's name.
    assert f" ::: {tmp_path / 'main.net'}\n4 |     second = res(16)" in rendered
    assert f"in second (block 'res' used at {tmp_path / 'main.net'}:4:14)" in rendered


def test_generated_code_quotes_only_lines_of_the_compiled_spec(tmp_path: Path) -> None:
    from netspec.codegen import generate

    write(tmp_path, {"blocks.net": RES, "main.net": USE_RES})
    analysis = check(tmp_path / "main.net")
    assert analysis.program is not None
    text = generate(
        analysis.program,
        "numpy",
        model="m",
        source_file=analysis.file,
        source_text=analysis.source,
    )
    # The block's nodes are located in blocks.net; main.net's line 3 is not quoted for them.
    comments = {line.strip() for line in text.splitlines() if "blocks.net:" in line}
    assert comments == {"# blocks.net:3", "# blocks.net:4"}
