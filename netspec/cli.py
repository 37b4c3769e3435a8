"""The `netspec` command line. Exit codes: 0 clean, 1 spec errors, 2 usage errors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from netspec.check.checker import DEFAULT_MAX_PARAMS
from netspec.errors import NetspecError
from netspec.frontend import Analysis, analyze, read_source

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


def _backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("numpy", "torch", "jax"), default="numpy")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--model", help="the model to use (default: the only one)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netspec", description="A compiler for neural networks.")
    parser.add_argument("--version", action="version", version="netspec 0.1.0")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    check = commands.add_parser("check", help="report every error and warning in spec files")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--max-params", type=_positive, default=DEFAULT_MAX_PARAMS)
    check.add_argument("--color", choices=("auto", "always", "never"), default="auto")

    summary = commands.add_parser("summary", help="a table per model: shapes, params, FLOPs")
    summary.add_argument("file", metavar="FILE")
    summary.add_argument("--model", help="only this model")
    summary.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="for the parameter memory figure",
    )
    summary.add_argument("--max-params", type=_positive, default=DEFAULT_MAX_PARAMS)

    schema = commands.add_parser("schema", help="print the JSON schema of the checked IR")
    schema.add_argument("--indent", type=int, default=2)

    parity = commands.add_parser(
        "parity", help="run one batch through several backends and show where they differ"
    )
    parity.add_argument("file", metavar="SPEC")
    parity.add_argument(
        "--backends",
        default="numpy,torch,jax",
        help="comma-separated; the first is the reference (default: %(default)s)",
    )
    parity.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parity.add_argument("--seed", type=int, default=0)
    parity.add_argument("--batch", type=_positive, default=4)
    parity.add_argument("--model", help="the model to compare (default: the only one)")
    parity.add_argument(
        "--mode",
        choices=("auto", "train", "eval"),
        default="auto",
        help="auto: training mode unless the model has dropout",
    )

    train = commands.add_parser("train", help="train a model as its train section says")
    train.add_argument("file", metavar="SPEC")
    _backend_options(train)
    train.add_argument("--epochs", type=_positive)
    train.add_argument("--batch-size", type=_positive)
    train.add_argument("--lr", type=_positive_float)
    train.add_argument("--seed", type=_non_negative)
    train.add_argument("--data", metavar="SOURCE", help='e.g. digits or "mnist(limit = 1000)"')
    train.add_argument("--data-dir", metavar="DIR", help="where mnist/ etc. are found")
    train.add_argument("--out", metavar="RUN_DIR", help="default: runs/<model>-<time>")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    train.add_argument("--quiet", action="store_true", help="print only the final metrics")

    evaluate = commands.add_parser("eval", help="test metrics of saved weights")
    evaluate.add_argument("file", metavar="SPEC")
    evaluate.add_argument("--weights", required=True, metavar="FILE.safetensors")
    _backend_options(evaluate)
    evaluate.add_argument("--data", metavar="SOURCE")
    evaluate.add_argument("--data-dir", metavar="DIR")
    evaluate.add_argument("--batch-size", type=_positive, default=1000)

    compile_ = commands.add_parser(
        "compile", help="write a standalone PyTorch, JAX or NumPy module for a model"
    )
    compile_.add_argument("file", metavar="SPEC")
    compile_.add_argument(
        "--backend", choices=("torch", "jax", "numpy"), help="the framework (required for code)"
    )
    compile_.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    compile_.add_argument("--model", help="the model to compile (default: the only one)")
    compile_.add_argument(
        "--emit",
        choices=("code", "ir"),
        default="code",
        help="code: the module's source; ir: the checked IR as JSON",
    )

    ir = commands.add_parser("ir", help="print the checked IR of a spec as JSON")
    ir.add_argument("file", metavar="FILE")
    ir.add_argument("--indent", type=int, default=2)
    return parser


def _read(path: str, max_params: int) -> Analysis | None:
    try:
        text, file = read_source(Path(path))
    except NetspecError as error:
        print(f"netspec: error: {error}", file=sys.stderr)
        return None
    return analyze(text, file, max_params=max_params)


def _use_color(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never":
        return False
    return sys.stderr.isatty()


def cmd_check(args: argparse.Namespace) -> int:
    worst = EXIT_OK
    reports = []
    for path in args.files:
        analysis = _read(path, args.max_params)
        if analysis is None:
            worst = max(worst, EXIT_USAGE)
            continue
        if not analysis.ok:
            worst = max(worst, EXIT_SPEC)
        if args.format == "json":
            reports.append(
                {
                    "file": analysis.file,
                    "ok": analysis.ok,
                    "diagnostics": [d.model_dump(mode="json") for d in analysis.diagnostics],
                }
            )
            continue
        if analysis.diagnostics:
            print(analysis.render(color=_use_color(args.color)), file=sys.stderr)
        if analysis.ok:
            models = len(analysis.program.models) if analysis.program else 0
            print(f"{analysis.file}: ok ({models} model{'s' if models != 1 else ''})")
    if args.format == "json":
        print(json.dumps(reports, indent=2))
    return worst


def cmd_summary(args: argparse.Namespace) -> int:
    from netspec.summary import summary_table

    analysis = _read(args.file, args.max_params)
    if analysis is None:
        return EXIT_USAGE
    if analysis.diagnostics:
        print(analysis.render(color=_use_color("auto")), file=sys.stderr)
    if analysis.program is None:
        return EXIT_SPEC
    models = analysis.program.models
    if args.model is not None:
        models = tuple(m for m in models if m.name == args.model)
        if not models:
            names = ", ".join(m.name for m in analysis.program.models)
            print(
                f"netspec: error: no model named {args.model!r} in {analysis.file} "
                f"(it has: {names})",
                file=sys.stderr,
            )
            return EXIT_USAGE
    width = 8 if args.dtype == "float64" else 4
    program = analysis.program
    tables = (summary_table(m, bytes_per_value=width, train=program.train(m.name)) for m in models)
    print("\n\n".join(tables))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from netspec.ir import Program

    print(json.dumps(Program.model_json_schema(), indent=args.indent))
    return EXIT_OK


def cmd_ir(args: argparse.Namespace) -> int:
    analysis = _read(args.file, DEFAULT_MAX_PARAMS)
    if analysis is None:
        return EXIT_USAGE
    if analysis.program is None:
        print(analysis.render(color=_use_color("auto")), file=sys.stderr)
        return EXIT_SPEC
    print(analysis.program.model_dump_json(indent=args.indent))
    return EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    from netspec.codegen import generate
    from netspec.ir import Program
    from netspec.weights import atomic_write_bytes

    def fail(message: str, code: int) -> int:
        print(f"netspec compile: error: {message}", file=sys.stderr)
        return code

    if args.emit == "code" and args.backend is None:
        return fail("name the framework with --backend torch, jax or numpy", EXIT_USAGE)
    analysis = _read(args.file, DEFAULT_MAX_PARAMS)
    if analysis is None:
        return EXIT_USAGE
    if analysis.program is None:
        print(analysis.render(color=_use_color("auto")), file=sys.stderr)
        return EXIT_SPEC
    program = analysis.program
    try:
        model = program.model(args.model)
    except KeyError as error:
        return fail(error.args[0], EXIT_USAGE)
    if args.emit == "ir":
        if args.model is not None:
            prefix = f"{model.name}/"
            program = Program(
                version=program.version,
                models=(model,),
                trains=tuple(t for t in program.trains if t.model == model.name),
                source_map={k: v for k, v in program.source_map.items() if k.startswith(prefix)},
            )
        text = program.model_dump_json(indent=2) + "\n"
    else:
        try:
            text = generate(
                program,
                args.backend,
                model=model.name,
                source_file=analysis.file,
                source_text=analysis.source,
            )
        except ModuleNotFoundError as error:
            if not (error.name or "").startswith("netspec.codegen"):
                raise
            return fail(f"no {args.backend} code generator is installed here", EXIT_SPEC)
        except (NetspecError, NotImplementedError) as error:
            return fail(str(error), EXIT_SPEC)
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        atomic_write_bytes(args.output, text.encode("utf-8"))
    except OSError as error:
        return fail(f"cannot write {args.output}: {error.strerror or error}", EXIT_USAGE)
    what = "IR" if args.emit == "ir" else f"{args.backend} module"
    print(f"wrote {args.output} ({what} for model {model.name})")
    return EXIT_OK


def _program(path: str) -> tuple[int, object]:
    """(exit code, program): code 0 with the program, or the code to exit with."""
    analysis = _read(path, DEFAULT_MAX_PARAMS)
    if analysis is None:
        return EXIT_USAGE, None
    if analysis.program is None:
        print(analysis.render(color=_use_color("auto")), file=sys.stderr)
        return EXIT_SPEC, None
    return EXIT_OK, analysis.program


def cmd_parity(args: argparse.Namespace) -> int:
    from netspec.backend import BACKENDS
    from netspec.parity import run_parity

    code, program = _program(args.file)
    if program is None:
        return code
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown or len(names) < 2:
        why = f"unknown backend {unknown[0]!r}" if unknown else "name at least two backends"
        print(f"netspec parity: error: {why}; choose from {', '.join(BACKENDS)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        model = program.model(args.model)  # type: ignore[attr-defined]
    except KeyError as error:
        print(f"netspec parity: error: {error.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    train = None if args.mode == "auto" else args.mode == "train"
    spec = program.train(model.name)  # type: ignore[attr-defined]
    try:
        report = run_parity(
            model,
            names,
            dtype=args.dtype,
            seed=args.seed,
            batch=args.batch,
            loss=spec.loss if spec else None,
            train=train,
        )
    except NetspecError as error:
        print(f"netspec parity: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(report.render())
    return EXIT_OK if report.ok else EXIT_SPEC


def cmd_train(args: argparse.Namespace) -> int:
    from netspec.training import fit

    code, program = _program(args.file)
    if program is None:
        return code
    try:
        result = fit(
            program,  # type: ignore[arg-type]
            model=args.model,
            backend=args.backend,
            device=args.device,
            dtype=args.dtype,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            data=args.data,
            data_dir=args.data_dir,
            out=args.out,
            resume=args.resume,
            progress=not args.quiet,
            spec_path=args.file,
        )
    except NetspecError as error:
        print(f"netspec train: error: {error}", file=sys.stderr)
        return EXIT_SPEC
    except KeyError as error:
        print(f"netspec train: error: {error.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    print(_final_line(result.final) if result.final else "trained (no validation or test split)")
    print(f"run directory: {result.run_dir}")
    return EXIT_OK


def _final_line(final: dict[str, float | None]) -> str:
    parts = []
    for split in ("val", "test"):
        loss = final.get(f"{split}_loss")
        if loss is None:
            continue
        text = f"{'validation' if split == 'val' else 'test'} loss {loss:.4f}"
        accuracy = final.get(f"{split}_accuracy")
        if accuracy is not None:
            text += f", accuracy {accuracy * 100:.2f}%"
        parts.append(text)
    return "; ".join(parts)


def cmd_eval(args: argparse.Namespace) -> int:
    from netspec.backend import get_backend
    from netspec.data import load_dataset, read_encoding
    from netspec.training import evaluate
    from netspec.training.options import parse_data_source
    from netspec.weights import check_weights, load_weights

    code, program = _program(args.file)
    if program is None:
        return code
    try:
        model = program.model(args.model)  # type: ignore[attr-defined]
        spec = program.train(model.name)  # type: ignore[attr-defined]
        if spec is None:
            raise NetspecError(
                f"model '{model.name}' has no train section to say which data and loss to use"
            )
        source = parse_data_source(args.data) if args.data else spec.data
        weights = load_weights(args.weights)
        check_weights(model, weights, source=args.weights)
        compiled = get_backend(args.backend).compile(
            model, dtype=args.dtype, device=args.device, params=weights
        )
        data = load_dataset(
            source,
            input_shape=model.input.shape,
            output_shape=model.output_type.shape,
            loss_kind=spec.loss.kind,
            seed=spec.seed,
            data_dir=args.data_dir,
            dtype=args.dtype,
            base_dir=str(Path(args.file).parent),
            # A csv file is encoded as the model's training data was: same columns,
            # categories and class names (the statistics are in the weights).
            encoding=read_encoding(args.weights),
        )
    except NetspecError as error:
        print(f"netspec eval: error: {error}", file=sys.stderr)
        return EXIT_SPEC
    except KeyError as error:
        print(f"netspec eval: error: {error.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    split, name = (data.test, "test") if data.test is not None else (data.validation, "validation")
    if split is None:
        print(
            "netspec eval: error: the data source has no test or validation split", file=sys.stderr
        )
        return EXIT_SPEC
    metrics = evaluate(compiled, split, spec.loss, batch_size=args.batch_size)
    text = f"{name}: loss {metrics.loss:.4f}"
    if metrics.accuracy is not None:
        text += f", accuracy {metrics.accuracy * 100:.2f}%"
    print(f"{text} ({metrics.samples} samples)")
    return EXIT_OK


COMMANDS = {
    "train": cmd_train,
    "eval": cmd_eval,
    "check": cmd_check,
    "summary": cmd_summary,
    "schema": cmd_schema,
    "ir": cmd_ir,
    "compile": cmd_compile,
    "parity": cmd_parity,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `netspec` script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
