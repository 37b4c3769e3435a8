"""The standard library (netspec/std): every module checks, and its blocks give the
shapes and parameter counts of the networks they come from."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from netspec import analyze, load
from netspec.elaborate.imports import STD_DIR, std_modules
from netspec.frontend import analyze_source
from netspec.ir.graph import CheckedModel


def model(text: str, name: str = "t.net") -> CheckedModel:
    analysis = analyze(dedent(text), name)
    assert analysis.program is not None, analysis.render()
    (checked,) = analysis.program.models
    return checked


def test_the_standard_library_lists_its_modules() -> None:
    assert std_modules() == [
        "std.inception",
        "std.resnet",
        "std.transformer",
        "std.unet",
        "std.vgg",
    ]


@pytest.mark.parametrize("module", sorted(p.name for p in STD_DIR.glob("*.net")))
def test_every_std_module_checks_clean(module: Path) -> None:
    analysis = analyze_source(STD_DIR / module)
    # A library defines no model; blocks only, and nothing else to report.
    assert [d.code for d in analysis.diagnostics] == ["E022"], analysis.render()


def conv_net(header: str, body: str, shape: str) -> CheckedModel:
    return model(f"import {header}\nmodel m(x: {shape}) {{\n    {body}\n}}\n")


@pytest.mark.parametrize("c", [64, 128])
def test_resnet_basic_block_has_torchvisions_parameter_count(c: int) -> None:
    checked = conv_net("std.resnet", f"basic({c})", f"[{c}, 14, 14]")
    # BasicBlock(c, c): two 3 x 3 convs without bias and two batchnorms (weight, bias).
    assert checked.parameter_count == 2 * 9 * c * c + 2 * 2 * c
    assert checked.output_type.shape == (c, 14, 14)


def test_resnet_down_block_projects_and_halves() -> None:
    checked = conv_net("std.resnet", "down(128)", "[64, 56, 56]")
    # conv 3x3 64->128, conv 3x3 128->128, projection 1x1 64->128, three batchnorms.
    assert checked.parameter_count == 9 * 64 * 128 + 9 * 128 * 128 + 64 * 128 + 3 * 2 * 128
    assert checked.output_type.shape == (128, 28, 28)


def test_resnet_bottleneck_blocks_have_torchvisions_parameter_count() -> None:
    w = 64
    identity = conv_net("std.resnet", f"bottleneck({w})", f"[{4 * w}, 56, 56]")
    # Bottleneck(4w, w): 1x1 4w->w, 3x3 w->w, 1x1 w->4w, batchnorms of w, w and 4w.
    assert identity.parameter_count == 4 * w * w + 9 * w * w + 4 * w * w + 2 * (w + w + 4 * w)
    first = conv_net("std.resnet", f"bottleneck_down({w}, stride = 1)", f"[{w}, 56, 56]")
    # ResNet-50's first block: input w channels, projection 1x1 w->4w with batchnorm.
    assert first.parameter_count == (
        w * w + 9 * w * w + 4 * w * w + 2 * (w + w + 4 * w) + w * 4 * w + 2 * 4 * w
    )
    assert first.output_type.shape == (4 * w, 56, 56)
    halved = conv_net("std.resnet", "bottleneck_down(128)", "[256, 56, 56]")
    assert halved.output_type.shape == (512, 28, 28)


def test_resnet18_from_std_has_its_published_parameter_count() -> None:
    checked = load(Path(__file__).resolve().parents[2] / "specs" / "resnet18.net").models[0]
    assert checked.parameter_count == 11_689_512


STEM = """\
    conv2d(64, 7, stride = 2, padding = 3, bias = false) -> batchnorm -> relu
    maxpool(3, stride = 2, padding = 1)
"""


@pytest.mark.parametrize(
    ("body", "count"),
    [
        # torchvision's resnet34: 21,797,672 parameters.
        (
            "repeat 3 { basic(64) }\n down(128)\n repeat 3 { basic(128) }\n"
            " down(256)\n repeat 5 { basic(256) }\n down(512)\n repeat 2 { basic(512) }",
            21_797_672,
        ),
        # torchvision's resnet50: 25,557,032 parameters.
        (
            "bottleneck_down(64, stride = 1)\n repeat 2 { bottleneck(64) }\n"
            " bottleneck_down(128)\n repeat 3 { bottleneck(128) }\n"
            " bottleneck_down(256)\n repeat 5 { bottleneck(256) }\n"
            " bottleneck_down(512)\n repeat 2 { bottleneck(512) }",
            25_557_032,
        ),
    ],
    ids=["resnet34", "resnet50"],
)
def test_deeper_resnets_from_std_have_torchvisions_parameter_counts(body: str, count: int) -> None:
    text = (
        f"import std.resnet\nmodel r(x: [3, 224, 224]) {{\n{STEM} {body}\n"
        "    global_avgpool\n    dense(1000)\n}\n"
    )
    checked = model(text)
    assert checked.parameter_count == count
    assert checked.node(checked.output).output.shape == (1000,)


def test_std_resnet_blocks_give_the_ir_of_the_same_blocks_written_inline() -> None:
    inline = (STD_DIR / "resnet.net").read_text()
    body = "basic(64) -> down(128) -> bottleneck_down(32) -> bottleneck(32)"
    ours = conv_net("std.resnet", body, "[64, 16, 16]")
    theirs = model(f"{inline}\nmodel m(x: [64, 16, 16]) {{ {body} }}\n")
    assert ours == theirs


def test_vgg_stages() -> None:
    checked = conv_net("std.vgg", "stage(64, convs = 2) -> stage_bn(128)", "[3, 32, 32]")
    assert checked.output_type.shape == (128, 8, 8)
    assert checked.parameter_count == (
        (27 * 64 + 64) + (9 * 64 * 64 + 64) + (9 * 64 * 128 + 128) + 2 * 128
    )


def test_inception_block_concatenates_its_branches() -> None:
    # GoogLeNet's inception (3a) on 192 x 28 x 28: 64 + 128 + 32 + 32 = 256 channels.
    checked = conv_net("std.inception", "inception(64, 96, 128, 16, 32, 32)", "[192, 28, 28]")
    assert checked.output_type.shape == (256, 28, 28)
    weights = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    biases = 64 + 96 + 128 + 16 + 32 + 32
    assert checked.parameter_count == weights + biases


def test_std_modules_can_be_imported_under_a_namespace() -> None:
    checked = conv_net("std.resnet as r", "r.basic(8) -> r.basic(8)", "[8, 6, 6]")
    assert [n.name for n in checked.nodes][-1] == "basic_2.relu_2"


def double_conv_count(cin: int, c: int) -> int:
    """Two 3 x 3 convolutions without bias (cin -> c, c -> c), each with a batchnorm."""
    return 9 * cin * c + 9 * c * c + 2 * 2 * c


@pytest.mark.parametrize(("cin", "c"), [(1, 16), (64, 32)])
def test_unet_double_conv_keeps_the_size(cin: int, c: int) -> None:
    checked = conv_net("std.unet", f"double_conv({c})", f"[{cin}, 12, 10]")
    assert checked.output_type.shape == (c, 12, 10)
    assert checked.parameter_count == double_conv_count(cin, c)


def test_unet_down_pools_then_convolves() -> None:
    checked = conv_net("std.unet", "down(32)", "[16, 64, 48]")
    assert checked.output_type.shape == (32, 32, 24)
    assert checked.parameter_count == double_conv_count(16, 32)
    assert checked.nodes[0].op.kind == "maxpool"


def test_unet_up_doubles_the_size() -> None:
    checked = conv_net("std.unet", "up(32)", "[64, 8, 6]")
    assert checked.output_type.shape == (32, 16, 12)
    # ConvTranspose2d(64, 32, 2, stride=2): 64 * 32 * 2 * 2 weights and 32 biases.
    assert checked.parameter_count == 64 * 32 * 4 + 32


def test_unet_levels_wire_their_skips_with_concat() -> None:
    body = (
        "e1 = double_conv(8)\n e2 = e1 -> down(16)\n"
        " d1 = e2 -> up(8) -> concat(e1) -> double_conv(8)\n conv2d(3, 1)"
    )
    checked = conv_net("std.unet", body, "[2, 16, 16]")
    assert checked.output_type.shape == (3, 16, 16)
    (merge,) = [n for n in checked.nodes if n.op.kind == "concat"]
    assert merge.output.shape == (16, 16, 16)
    assert checked.parameter_count == (
        double_conv_count(2, 8)
        + double_conv_count(8, 16)
        + (16 * 8 * 4 + 8)
        + double_conv_count(16, 8)
        + (8 * 3 + 3)
    )


@pytest.mark.parametrize(("width", "heads", "ff"), [(64, 4, 128), (512, 8, 2048)])
def test_transformer_encoder_layer_has_torchs_parameter_count(
    width: int, heads: int, ff: int
) -> None:
    checked = conv_net(
        "std.transformer", f"encoder_layer({width}, {heads}, {ff})", f"[10, {width}]"
    )
    # TransformerEncoderLayer(width, heads, ff): attention 4 D^2 + 4 D, two linears, two
    # layer norms (torch's count, which the twin tests hold name by name).
    attention = 4 * width * width + 4 * width
    linears = width * ff + ff + ff * width + width
    assert checked.parameter_count == attention + linears + 2 * 2 * width
    assert checked.output_type.shape == (10, width)


def test_transformer_encoder_layer_drops_and_masks_as_asked() -> None:
    checked = conv_net(
        "std.transformer", "encoder_layer(8, 2, 16, dropout = 0.2, causal = true)", "[5, 8]"
    )
    kinds = [node.op.kind for node in checked.nodes]
    assert kinds.count("dropout") == 3 and kinds.count("layer_norm") == 2
    (attention,) = [node.op for node in checked.nodes if node.op.kind == "multi_head_attention"]
    assert attention.causal and attention.dropout == 0.2 and attention.heads == 2
