"""Every shipped spec checks cleanly, summarises, and has the numbers its source states."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

import netspec
from netspec.summary import summary_table
from tests.conftest import SPECS


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_checks_without_diagnostics(path: Path) -> None:
    analysis = netspec.analyze(path.read_text(), str(path))
    assert analysis.diagnostics == [], analysis.render()
    assert analysis.program is not None and analysis.program.models


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_summarises(path: Path) -> None:
    program = netspec.load(path)
    for model in program.models:
        table = summary_table(model)
        assert f"parameters        {model.parameter_count:,}" in table
        assert "FLOPs per sample" in table


def _model(stem: str, name: str | None = None) -> netspec.CheckedModel:
    return netspec.load(Path(__file__).parents[1] / "specs" / f"{stem}.net").model(name)


def test_simple_conv_net_has_4320_features_after_pooling() -> None:
    model = _model("simple_conv_net")
    flatten = next(n for n in model.nodes if n.op.kind == "flatten")
    assert flatten.output.shape == (4320,)


def test_deep_conv_net_spatial_trace() -> None:
    model = _model("deep_conv_net")
    sizes = [n.output.shape[1] for n in model.nodes if n.op.kind in ("conv2d", "maxpool")]
    # conv1, conv2, pool, conv3, conv4 (padding 2), pool, conv5, conv6, pool
    assert sizes == [28, 28, 14, 14, 16, 8, 8, 8, 4]
    distinct = [s for i, s in enumerate(sizes) if i in (0, 1, 2, 4, 5, 8)]
    assert distinct == [28, 28, 14, 16, 8, 4]


def test_inception_block_outputs_88_channels() -> None:
    model = _model("mnist_inception")
    merges = [n for n in model.nodes if n.op.kind == "concat"]
    assert [n.output.shape[0] for n in merges] == [88, 88]


@pytest.mark.parametrize(("stem", "count"), [("resnet18", 11_689_512), ("vgg11", 132_863_336)])
def test_imagenet_parameter_counts(stem: str, count: int) -> None:
    assert _model(stem).parameter_count == count


def test_resnet18_shapes_per_stage() -> None:
    model = _model("resnet18")
    assert model.node("layer1.relu_1").output.shape == (64, 56, 56)
    assert model.node("layer4.relu_1").output.shape == (512, 7, 7)
    assert model.output_type.shape == (1000,)


def test_mnist_residual_parameter_count_by_hand() -> None:
    model = _model("mnist_residual")
    conv = lambda cin, cout, k: cout * cin * k * k + cout  # noqa: E731
    expected = (
        conv(1, 16, 5) + 2 * conv(16, 16, 3) + conv(16, 32, 5) + 2 * conv(32, 32, 3) + 512 * 10 + 10
    )
    assert model.parameter_count == expected


def test_logic_gates_are_four_models_with_literal_weights() -> None:
    program = netspec.load(Path(__file__).parents[1] / "specs" / "logic_gates.net")
    assert [m.name for m in program.models] == ["and_gate", "nand_gate", "or_gate", "xor_gate"]
    for model in program.models:
        assert all(p.init.scheme == "literal" for p in model.params)


def test_multilayer_net_extend_has_six_hidden_blocks_with_l2() -> None:
    model = _model("multilayer_net_extend")
    dense = [n for n in model.nodes if n.op.kind == "dense"]
    assert [n.output.shape[0] for n in dense] == [100] * 6 + [10]
    norms = [n.op for n in model.nodes if n.op.kind == "batchnorm"]
    # The book's BatchNormalization adds 10e-7 = 1e-6 to the variance.
    assert len(norms) == 6 and all(op.eps == 1e-6 for op in norms)
    weights = [p for p in model.params if p.node.endswith("dense_1") and p.attr == "weight"]
    assert weights and all(p.regularize.l2 == 0.1 for p in weights)
    biases = [p for p in model.params if p.attr == "bias"]
    assert all(p.regularize.is_off for p in biases)


def test_conv_autoencoder_squeezes_to_a_code_and_grows_back() -> None:
    program = netspec.load(Path(__file__).parents[1] / "specs" / "conv_autoencoder.net")
    model = program.model()
    convs = [n for n in model.nodes if n.op.kind in ("conv2d", "conv2d_transpose")]
    assert [n.output.shape for n in convs] == [
        (16, 14, 14), (32, 7, 7), (8, 4, 4), (32, 7, 7), (16, 14, 14), (1, 28, 28),
    ]  # fmt: skip
    # Pixels come in [0, 1] (mnist divides by 255): the output is squashed to match.
    assert model.nodes[-1].op.kind == "sigmoid"
    assert model.output_type.shape == model.input.shape
    section = program.train(model.name)
    assert section is not None and section.target == "input" and section.loss.kind == "mse"
    assert section.data.source == "mnist" and section.data.normalize


def test_flops_and_parameters_of_a_transposed_conv_by_hand() -> None:
    text = "model m(x: [4, 5, 6]) { conv2d_transpose(6, [3, 2], 2, groups = 2) }"
    model = netspec.load(text).model()
    (node,) = model.nodes
    assert node.output.shape == (6, 11, 12)
    # Each of the 4 * 5 * 6 input values meets 6 / 2 * 3 * 2 weights; a bias per output.
    assert model.flops == 2 * (4 * 5 * 6) * (3 * 3 * 2) + 6 * 11 * 12
    assert model.parameter_count == 4 * 3 * 3 * 2 + 6


def test_flops_of_mlp_by_hand() -> None:
    model = _model("mlp")
    assert model.flops == (2 * 784 * 256 + 256) + 256 + (2 * 256 * 10 + 10)
    assert model.parameter_count == 784 * 256 + 256 + 256 * 10 + 10
    assert math.prod(model.input.shape) == 784


def test_unet_has_the_parameter_count_and_output_of_the_same_net_in_torch() -> None:
    torch = pytest.importorskip("torch", reason="the reference U-Net is built with PyTorch")
    nn = torch.nn

    def double_conv(cin: int, c: int) -> nn.Module:
        layers: list[nn.Module] = []
        for i in (cin, c):
            layers += [nn.Conv2d(i, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        return nn.Sequential(*layers)

    widths = [16, 32, 64, 128]
    encoder = [double_conv(1, 16)] + [
        nn.Sequential(nn.MaxPool2d(2), double_conv(a, b)) for a, b in itertools.pairwise(widths)
    ]
    ups = [nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in itertools.pairwise(widths)]
    decoder = [double_conv(2 * a, a) for a in widths[:-1]]
    head = nn.Conv2d(16, 2, 1)
    modules = nn.ModuleList([*encoder, *ups, *decoder, head])
    x = torch.zeros(1, 1, 64, 64)
    skips = []
    for step in encoder:
        x = step(x)
        skips.append(x)
    for level in (2, 1, 0):
        x = decoder[level](torch.cat([ups[level](x), skips[level]], dim=1))
    model = _model("unet")
    assert model.parameter_count == sum(p.numel() for p in modules.parameters())
    assert model.output_type.shape == tuple(head(x).shape[1:]) == (2, 64, 64)
    assert f"parameters        {model.parameter_count:,}" in summary_table(model)


@pytest.mark.parametrize(
    ("stem", "torch_count", "output"),
    [
        # torch.nn.LSTM(28, 128) + nn.Linear(128, 10): 4 * 128 * (28 + 128 + 2) + 1,290
        ("lstm_row_mnist", 4 * 128 * (28 + 128 + 2) + 128 * 10 + 10, (10,)),
        # torch.nn.GRU(1, 32) + nn.Linear(32, 1)
        ("gru_sine", 3 * 32 * (1 + 32 + 2) + 32 + 1, (1,)),
    ],
)
def test_recurrent_specs_have_their_torch_twins_parameter_counts(
    stem: str, torch_count: int, output: tuple[int, ...]
) -> None:
    model = _model(stem)
    assert model.parameter_count == torch_count
    assert model.output_type.shape == output
    recurrent = next(n for n in model.nodes if n.op.kind in ("lstm", "gru"))
    shapes = {model.input.name: model.input.shape} | {n.name: n.output.shape for n in model.nodes}
    assert len(shapes[recurrent.inputs[0]]) == 2  # a [T, F] sequence per sample


@pytest.mark.parametrize("stem", ["char_bigram", "char_lm"])
def test_character_models_score_every_character_of_the_shipped_text(stem: str) -> None:
    model = _model(stem)
    text = (Path(__file__).parents[1] / "specs" / "data" / "tiny_shakespeare.txt").read_text(
        encoding="utf-8"
    )
    assert model.input.dtype == "int64"
    assert model.output_type.shape == (model.input.shape[0], len(set(text)))


def test_char_lm_parameter_count_by_hand() -> None:
    embedding = 61 * 32
    lstm = 4 * 128 * (32 + 128) + 2 * 4 * 128  # weight_ih, weight_hh, bias_ih, bias_hh
    dense = 128 * 61 + 61
    assert _model("char_lm").parameter_count == embedding + lstm + dense == 92_765
