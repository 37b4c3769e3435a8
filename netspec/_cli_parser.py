"""The `netspec` argument parser: every command, option, help text and default.

Kept apart from netspec.cli (which runs the commands) so that the whole command-line
surface reads in one place; a test holds every option to having help and every command
to having a description.
"""

from __future__ import annotations

import argparse
import sys

from netspec.check.checker import DEFAULT_MAX_PARAMS
from netspec.commands import compare, fmt, gradcheck, inspect, lsp, sweep
from netspec.export._onnx_lowering import DEFAULT_OPSET

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, found {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, found {text}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, found {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, found {value}")
    return value


def _threads(text: str) -> int:
    """A thread count: N >= 1, or 0 / auto for the default rule (0 returned)."""
    if text.strip().lower() == "auto":
        return 0
    try:
        return _non_negative(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number of threads >= 1, or 0 or auto, found {text!r}"
        ) from None


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, found {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, found {text}")
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after an option that has a value as its default.

    An option whose default is None (taken from the spec, or absent) or a flag says in its
    own help what happens without it, so "(default: None)" is never printed.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _command(
    commands: argparse._SubParsersAction, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """A subcommand: ``summary`` for `netspec --help`, ``description`` for its own --help."""
    return commands.add_parser(
        name, help=summary, description=description, formatter_class=_HelpFormatter
    )


def _model_option(parser: argparse.ArgumentParser, without: str) -> None:
    parser.add_argument(
        "--model", metavar="NAME", help=f"the model of the spec to use (default: {without})"
    )


def _backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=("numpy", "torch", "jax"), default="numpy", help="the backend to run"
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu, cuda (or gpu), cuda:N or auto (a GPU when present)"
    )
    parser.add_argument(
        "--dtype", choices=("float32", "float64"), default="float32", help="the float type"
    )
    _model_option(parser, "the only one")


def _max_params_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-params",
        type=_positive,
        default=DEFAULT_MAX_PARAMS,
        help="a model with more parameters is an error",
    )


def build_parser() -> argparse.ArgumentParser:
    """The `netspec` argument parser: one subcommand per command, each with its own --help."""
    parser = _Parser(
        prog="netspec",
        description="A compiler for neural networks: check .net specs, then train them or "
        "compile them to NumPy, PyTorch or JAX.",
        epilog="`netspec COMMAND --help` describes a command and its options.",
    )
    parser.add_argument("--version", action="version", version="netspec 0.1.0")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    check = _command(
        commands,
        "check",
        "report every error and warning in spec files",
        "Check spec files and report every error and warning with its file:line:col. "
        "Exit status: 0 clean (warnings allowed), 1 spec errors, 2 usage errors.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="the .net files to check")
    check.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: rendered diagnostics on stderr; json: one report per file on stdout",
    )
    _max_params_option(check)
    check.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the diagnostics; auto: when stderr is a terminal",
    )

    summary = _command(
        commands,
        "summary",
        "a table per model: shapes, params, FLOPs",
        "Print a table per model: each node's op, output shape and parameters, then the "
        "totals (parameters, forward FLOPs per sample, parameter memory).",
    )
    summary.add_argument("file", metavar="FILE", help="the .net file")
    summary.add_argument("--model", metavar="NAME", help="only this model (default: every one)")
    summary.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="the float type of the parameter memory figure",
    )
    _max_params_option(summary)

    schema = _command(
        commands,
        "schema",
        "print the JSON schema of the checked IR",
        "Print the JSON schema of the checked IR that `netspec ir` writes.",
    )
    schema.add_argument("--indent", type=int, default=2, help="spaces per JSON indent level")

    parity = _command(
        commands,
        "parity",
        "run one batch through several backends and show where they differ",
        "Run one random batch through several backends with the same weights and compare, "
        "per node and per parameter, activations, loss, gradients and running statistics. "
        "Exit status 1 when a value is out of tolerance.",
    )
    parity.add_argument("file", metavar="SPEC", help="the .net file")
    parity.add_argument(
        "--backends", default="numpy,torch,jax", help="comma-separated; the first is the reference"
    )
    parity.add_argument(
        "--dtype", choices=("float32", "float64"), default="float64", help="the float type"
    )
    parity.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch")
    parity.add_argument("--batch", type=_positive, default=4, help="samples in the batch")
    _model_option(parity, "every model of the spec")
    parity.add_argument(
        "--mode",
        choices=("auto", "train", "eval"),
        default="auto",
        help="auto: training mode unless the model has dropout, whose masks each backend "
        "draws from its own random stream",
    )

    train = _command(
        commands,
        "train",
        "train a model as its train section says",
        "Train a model as the spec's train section says; the options override it. A run "
        "directory keeps the IR, metrics, checkpoints, final weights and a plot.",
    )
    train.add_argument("file", metavar="SPEC", help="the .net file")
    _backend_options(train)
    train.add_argument(
        "--devices",
        type=_positive,
        default=1,
        help="jax: train data-parallel over this many devices, with the same result as one "
        "(default: 1)",
    )
    train.add_argument("--epochs", type=_positive, help="epochs to train (default: the spec's)")
    train.add_argument(
        "--batch-size", type=_positive, help="samples per step (default: the spec's)"
    )
    train.add_argument("--lr", type=_positive_float, help="the learning rate (default: the spec's)")
    train.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        help="the arithmetic of each step: fp32, or bf16 / fp16 with float32 master weights, "
        "torch and jax only (default: the spec's, else fp32)",
    )
    train.add_argument(
        "--seed",
        type=_non_negative,
        help="the seed of weights, shuffling and dropout (default: the spec's)",
    )
    train.add_argument(
        "--data",
        metavar="SOURCE",
        help='the data, e.g. digits or "mnist(limit = 1000)" (default: the spec\'s)',
    )
    train.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where mnist/ is found (default: $NETSPEC_DATA_DIR, then the cache)",
    )
    train.add_argument(
        "--out", metavar="RUN_DIR", help="the run directory (default: runs/<model>-<time>)"
    )
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the interrupted run in RUN_DIR (default: start a new run)",
    )
    train.add_argument(
        "--folds",
        type=_positive,
        metavar="K",
        help="k-fold cross-validation: train K runs, fold k of the training split as run "
        "k's validation split, in RUN_DIR/fold-1..K, and report the mean ± std of their final "
        "metrics (default: one run)",
    )
    train.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write the metrics as TensorBoard event files in RUN_DIR/tensorboard/ "
        "(needs the tensorboard extra)",
    )
    train.add_argument(
        "--nproc",
        type=_positive,
        default=1,
        help="data-parallel worker processes on this machine (torch backend; one GPU each "
        "with --device cuda); the train section's batch size stays the global batch",
    )
    train.add_argument(
        "--master-port",
        type=_positive,
        metavar="PORT",
        help="the rendezvous port of the --nproc workers (default: $MASTER_PORT, else a free one)",
    )
    train.add_argument(
        "--sync-batchnorm",
        action="store_true",
        help="data-parallel batch norms use the statistics of the whole global batch "
        "(default: each process its own share)",
    )
    train.add_argument(
        "--compile",
        action="store_true",
        help="compile the training step with torch.compile (torch backend; compiles for a "
        "while first, docs/training.md)",
    )
    train.add_argument(
        "--threads",
        type=_threads,
        default=0,
        metavar="N",
        help="CPU threads of the torch and BLAS pools, shared among --nproc workers "
        "(default 0 or auto: one per physical core that the load leaves free)",
    )
    train.add_argument(
        "--eval-every",
        type=_positive,
        metavar="N",
        help="evaluate the validation (and test) split every N epochs and at the last "
        "(default: every epoch; a resumed run keeps its schedule)",
    )
    train.add_argument(
        "--test-at-end",
        action="store_true",
        default=None,
        help="evaluate the test split only after the last epoch (default: every evaluation)",
    )
    train.add_argument("--quiet", action="store_true", help="print only the final metrics")

    evaluate = _command(
        commands,
        "eval",
        "test metrics of saved weights",
        "Load saved weights and print the loss (and accuracy) on the test split of the data, "
        "or on the validation split when there is no test split.",
    )
    evaluate.add_argument("file", metavar="SPEC", help="the .net file")
    evaluate.add_argument(
        "--weights",
        required=True,
        metavar="FILE_OR_RUN_DIR",
        help="the weights to evaluate: a .safetensors file, or a run directory (its "
        "weights.safetensors) (required)",
    )
    _backend_options(evaluate)
    evaluate.add_argument("--data", metavar="SOURCE", help="the data (default: the spec's)")
    evaluate.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where mnist/ is found (default: $NETSPEC_DATA_DIR, then the cache)",
    )
    evaluate.add_argument(
        "--batch-size", type=_positive, default=1000, help="samples per forward pass"
    )

    sample = _command(
        commands,
        "sample",
        "generate text from a trained character language model",
        "Generate text from the model of a training run on a text source, with the "
        "vocabulary the run saved (vocab.json): the prompt, then LENGTH characters drawn one "
        "at a time from the model's next-character scores.",
    )
    sample.add_argument("run", metavar="RUN_DIR", help="the run directory of `netspec train`")
    sample.add_argument(
        "--length", type=_non_negative, required=True, help="characters to generate (required)"
    )
    sample.add_argument("--prompt", default="", help="text to continue (default: none)")
    sample.add_argument(
        "--temperature",
        type=_non_negative_float,
        default=1.0,
        help="divides the scores before softmax: below 1 is more conservative, 0 takes the "
        "most likely character",
    )
    sample.add_argument("--seed", type=_non_negative, default=0, help="seed of the draws")
    sample.add_argument(
        "--backend", choices=("numpy", "torch", "jax"), default="numpy", help="the backend to run"
    )

    _predict_parser(commands)

    compile_ = _command(
        commands,
        "compile",
        "write a standalone PyTorch, JAX or NumPy module for a model",
        "Write a readable Python module for one model that needs only its framework (and "
        "safetensors for weight files), not netspec. `netspec ir` gives the IR instead.",
    )
    compile_.add_argument("file", metavar="SPEC", help="the .net file")
    compile_.add_argument(
        "--backend",
        required=True,
        choices=("torch", "jax", "numpy"),
        help="the framework (required)",
    )
    compile_.add_argument(
        "-o", "--output", metavar="FILE", help="write here (default: standard output)"
    )
    _model_option(compile_, "the only one")

    graph = _command(
        commands,
        "graph",
        "draw a model: SVG, PNG or PDF, or DOT or Mermaid text",
        "Draw one model: each node with its op, output shape and parameters, block "
        "instances and repeats as labelled boxes, the input and output marked. SVG needs "
        "nothing beyond netspec; PNG and PDF need matplotlib (the train extra); DOT and "
        "Mermaid are text for Graphviz and Mermaid.",
    )
    graph.add_argument("file", metavar="SPEC", help="the .net file")
    _model_option(graph, "the only one")
    graph.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the file to write, its suffix naming the format: .svg, .png, .pdf, .dot (or "
        ".gv), .mmd; - for standard output (default: MODEL.svg in the current directory)",
    )
    graph.add_argument(
        "--format",
        choices=("svg", "png", "pdf", "dot", "mmd"),
        help="the format, for -o - or a file name without one of those suffixes "
        "(default: the suffix's; svg for standard output)",
    )

    export = _command(
        commands,
        "export",
        "write a model as an ONNX file, with its weights",
        "Write one model as an ONNX graph built from the checked IR (no torch or jax "
        "needed), in inference form, with its weights as initializers named as in the IR. "
        "Needs the onnx extra: pip install netspec[onnx].",
    )
    export.add_argument("file", metavar="SPEC", help="the .net file")
    export.add_argument(
        "--format", choices=("onnx",), default="onnx", help="the file format to write"
    )
    export.add_argument(
        "--weights",
        metavar="FILE_OR_RUN_DIR",
        help="trained weights: a .safetensors file or a run directory (default: netspec's "
        "initial weights, drawn with --seed)",
    )
    _model_option(export, "the only one")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (default: MODEL.onnx)")
    export.add_argument(
        "--opset", type=_positive, default=DEFAULT_OPSET, help="the ONNX opset of the graph"
    )
    export.add_argument(
        "--dynamic-batch",
        action="store_true",
        help="a symbolic batch axis (default: a fixed batch of --batch samples)",
    )
    export.add_argument(
        "--batch", type=_positive, default=1, help="the fixed batch size, without --dynamic-batch"
    )
    export.add_argument(
        "--dtype", choices=("float32", "float64"), default="float32", help="the float type"
    )
    export.add_argument(
        "--seed", type=_non_negative, default=0, help="the seed of the initial weights"
    )

    ir = _command(
        commands,
        "ir",
        "print the checked IR of a spec as JSON",
        "Print the checked IR of a spec (or of one model and its train section) as JSON; "
        "`netspec schema` gives its JSON schema.",
    )
    ir.add_argument("file", metavar="FILE", help="the .net file")
    _model_option(ir, "every model of the spec")
    ir.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    ir.add_argument("--indent", type=int, default=2, help="spaces per JSON indent level")
    fmt.add_parser(commands)
    lsp.add_parser(commands)
    _set_options(commands)
    compare.add_parser(commands)
    sweep.add_parser(commands)
    gradcheck.add_parser(commands)
    inspect.add_parser(commands)
    return parser


# The commands that read a spec and apply ``--set`` to it.
SET_COMMANDS = (
    "check", "summary", "parity", "train", "eval", "predict", "compile", "graph", "export",
    "ir",
)  # fmt: skip


def _set_options(commands: argparse._SubParsersAction) -> None:
    """``--set KEY=VALUE`` on every command of :data:`SET_COMMANDS`."""
    for name in SET_COMMANDS:
        add_set_option(commands.choices[name])


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable; ``args.set``, a list): for a command that reads a
    spec and passes the list on as its overrides."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="replace a value of the spec, written as in the spec: let.width=32, "
        'dense_1.units=512, epochs=3, optimizer="adam(lr = 1e-3)", optimizer.lr=0.01 '
        "(a model's name first where several could match: mlp.dense_1.units); repeatable",
    )


def _predict_parser(commands: argparse._SubParsersAction) -> None:
    predict = _command(
        commands,
        "predict",
        "run a trained model on inputs: classes with probabilities, or values",
        "Run a model on new inputs (.npy/.npz arrays, CSV rows, PNG/JPEG images, --input "
        "values) with the preprocessing of its training run, and print the top classes "
        "with their probabilities (classifiers) or the output values (regressors).",
    )
    predict.add_argument("file", metavar="SPEC", help="the .net file")
    predict.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="files: .npy (one sample or a batch), .npz (arrays by input name), .csv "
        "(a row per sample), .png/.jpg/.jpeg, .txt (text for a language model)",
    )
    predict.add_argument(
        "--weights",
        metavar="FILE_OR_RUN_DIR",
        help="a .safetensors file or a run directory (default: the values the spec fixes, "
        "for a spec that draws no parameter at random)",
    )
    predict.add_argument(
        "--input",
        action="append",
        metavar="VALUES",
        help="one sample's values, comma-separated (3,4); NAME=VALUES;NAME=VALUES for a "
        "model of several inputs; may be repeated (default: none, only the INPUT files)",
    )
    predict.add_argument(
        "--text",
        action="append",
        metavar="TEXT",
        help="text for a character language model: the next character's probabilities, "
        "with the run's vocabulary; may be repeated (default: none)",
    )
    _backend_options(predict)
    predict.add_argument(
        "--top-k", type=_positive, default=5, help="classes shown per sample (classifiers)"
    )
    predict.add_argument(
        "--format",
        choices=("table", "json", "npy"),
        default="table",
        help="table: text; json: a record per sample; npy: the probabilities or outputs",
    )
    predict.add_argument(
        "-o", "--output", metavar="FILE", help="write here (default: standard output)"
    )
