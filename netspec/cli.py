"""The `netspec` command line. Exit codes: 0 clean, 1 spec errors, 2 usage errors."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from netspec._cli_parser import EXIT_OK, EXIT_SPEC, EXIT_USAGE, build_parser
from netspec.check.checker import DEFAULT_MAX_PARAMS
from netspec.commands import compare, fmt, gradcheck, inspect, lsp, sweep
from netspec.commands._shared import (
    choose_model,
    concrete_analysis,
    exit_code,
    find_model,
    read_analysis,
    read_program,
    use_color,
    write_output,
)
from netspec.errors import NetspecError
from netspec.ir import Program


def cmd_check(args: argparse.Namespace) -> int:
    worst = EXIT_OK
    reports = []
    for path in args.files:
        analysis = read_analysis(path, args.max_params, args.set)
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
                    "spaces": [site.model_dump(mode="json") for site in analysis.spaces],
                }
            )
            continue
        if analysis.diagnostics:
            print(analysis.render(color=use_color(args.color)), file=sys.stderr)
        if analysis.ok:
            print(f"{analysis.file}: ok ({analysis.counts()})")
    if args.format == "json":
        print(json.dumps(reports, indent=2))
    return worst


def cmd_summary(args: argparse.Namespace) -> int:
    from netspec.summary import spaces_table, summary_table

    analysis = read_analysis(args.file, args.max_params, args.set)
    if analysis is None:
        return EXIT_USAGE
    if analysis.diagnostics:
        print(analysis.render(color=use_color("auto")), file=sys.stderr)
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
    tables = [summary_table(m, bytes_per_value=width, train=program.train(m.name)) for m in models]
    if analysis.spaces:
        tables.insert(0, spaces_table(analysis.spaces))
    print("\n\n".join(tables))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from netspec.ir import Program

    print(json.dumps(Program.model_json_schema(), indent=args.indent))
    return EXIT_OK


def cmd_ir(args: argparse.Namespace) -> int:
    code, program = read_program(args.file, args.set, "ir")
    if program is None:
        return code
    what = "IR"
    if args.model is not None:
        try:
            model = find_model(program, args.model)
        except NetspecError as error:
            print(f"netspec ir: error: {error}", file=sys.stderr)
            return exit_code(error)
        prefix = f"{model.name}/"
        program = Program(
            version=program.version,
            models=(model,),
            trains=tuple(t for t in program.trains if t.model == model.name),
            source_map={k: v for k, v in program.source_map.items() if k.startswith(prefix)},
            overrides=program.overrides,
        )
        what = f"IR of model {model.name}"
    return write_output("ir", args.output, program.model_dump_json(indent=args.indent) + "\n", what)


def cmd_compile(args: argparse.Namespace) -> int:
    from netspec.codegen import generate

    def fail(message: str, code: int) -> int:
        print(f"netspec compile: error: {message}", file=sys.stderr)
        return code

    code, analysis = concrete_analysis(args.file, args.set, "compile")
    if analysis is None or analysis.program is None:
        return code
    try:
        model = choose_model(analysis.program, args.model)
        text = generate(
            analysis.program,
            args.backend,
            model=model.name,
            source_file=analysis.file,
            source_text=analysis.source,
        )
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("netspec.codegen"):
            raise
        return fail(f"no {args.backend} code generator is installed here", EXIT_SPEC)
    except NetspecError as error:
        return fail(str(error), exit_code(error))
    return write_output(
        "compile", args.output, text, f"{args.backend} module for model {model.name}"
    )


def cmd_export(args: argparse.Namespace) -> int:
    import importlib.util
    import time

    def fail(message: str, code: int) -> int:
        print(f"netspec export: error: {message}", file=sys.stderr)
        return code

    missing = [m for m in ("onnx",) if importlib.util.find_spec(m) is None]
    if missing:
        return fail("ONNX export needs the onnx package\n  help: pip install netspec[onnx]", 1)
    from netspec.export.onnx import export_onnx

    code, analysis = concrete_analysis(args.file, args.set, "export")
    if analysis is None or analysis.program is None:
        return code
    started = time.perf_counter()
    try:
        model = choose_model(analysis.program, args.model)
        output = args.output or f"{model.name}.onnx"
        result = export_onnx(
            analysis.program,
            output,
            model=model.name,
            weights=args.weights,
            opset=args.opset,
            dynamic_batch=args.dynamic_batch,
            batch=args.batch,
            dtype=args.dtype,
            seed=args.seed,
            spec_text=analysis.source,
        )
    except NetspecError as error:
        return fail(str(error), exit_code(error))
    except OSError as error:
        return fail(f"cannot write {error.filename or output}: {error.strerror}", EXIT_USAGE)
    batch = "dynamic" if args.dynamic_batch else str(args.batch)
    print(
        f"wrote {result.path} (ONNX opset {args.opset}, model {model.name}, {args.dtype}, "
        f"batch {batch}, {model.parameter_count:,} parameters, "
        f"{time.perf_counter() - started:.2f} s)"
    )
    if result.preprocessing is not None:
        print(f"wrote {result.preprocessing} (the preprocessing the run learnt)")
    return EXIT_OK


def cmd_parity(args: argparse.Namespace) -> int:
    from netspec.backend import BACKENDS
    from netspec.parity import run_parity

    code, program = read_program(args.file, args.set, "parity")
    if program is None:
        return code
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown or len(names) < 2:
        why = f"unknown backend {unknown[0]!r}" if unknown else "name at least two backends"
        print(f"netspec parity: error: {why}; choose from {', '.join(BACKENDS)}", file=sys.stderr)
        return EXIT_USAGE
    train = None if args.mode == "auto" else args.mode == "train"
    reports = []
    try:
        models = program.models if args.model is None else (find_model(program, args.model),)
    except NetspecError as error:
        print(f"netspec parity: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    for model in models:
        spec = program.train(model.name)
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
        # Each report as soon as it is ready: a spec of several models takes a while.
        print(("\n" if reports else "") + report.render(), flush=True)
        reports.append(report)
    return EXIT_OK if all(report.ok for report in reports) else EXIT_SPEC


def cmd_train(args: argparse.Namespace) -> int:
    from netspec.training import TrainingInterrupted, fit

    code, program = read_program(args.file, args.set, "train")
    if program is None:
        return code
    if args.folds is not None:  # k-fold cross-validation: one run per fold
        from netspec.commands import folds

        return folds.run(args, program)
    try:
        choose_model(program, args.model)
        result = fit(
            program,
            model=args.model,
            backend=args.backend,
            device=args.device,
            devices=args.devices,
            dtype=args.dtype,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            precision=args.precision,
            seed=args.seed,
            data=args.data,
            data_dir=args.data_dir,
            out=args.out,
            resume=args.resume,
            progress=not args.quiet,
            spec_path=args.file,
            tensorboard=args.tensorboard,
            nproc=args.nproc,
            sync_batchnorm=args.sync_batchnorm,
            master_port=args.master_port,
            compile=args.compile,
            threads=args.threads,
            eval_every=args.eval_every,
            test_at_end=args.test_at_end,
        )
    except TrainingInterrupted as stop:
        options = {"--model": args.model, "--backend": args.backend, "--device": args.device}
        options["--devices"] = str(args.devices) if args.devices > 1 else None
        options.update({"--dtype": args.dtype, "--data-dir": args.data_dir})
        options["--tensorboard"] = args.tensorboard
        options["--nproc"] = str(args.nproc) if args.nproc > 1 else None
        print(f"netspec train: {stop.report(args.file, options, args.quiet)}", file=sys.stderr)
        return 130
    except NetspecError as error:
        print(f"netspec train: error: {error}", file=sys.stderr)
        return exit_code(error)
    except OSError as error:  # the run directory turns its own into NetspecErrors; any other
        # (a data cache that cannot be written, say) still gets one line, not a traceback
        print(f"netspec train: error: {error.filename or ''}: {error.strerror}", file=sys.stderr)
        return EXIT_SPEC
    if os.environ.get("RANK", "0") != "0":  # a torchrun worker: rank 0 reports the run
        return EXIT_OK
    for note in result.notes if args.quiet else ():
        print(f"netspec train: {note}", file=sys.stderr)
    print(_final_line(result.final) if result.final else "trained (no validation or test split)")
    print(f"run directory: {result.run_dir}")
    return EXIT_OK


def _final_line(final: dict[str, float | None]) -> str:
    from netspec.training.metrics import describe as describe_metrics

    parts = []
    names = {"val": "validation", "test": "test", "val_ema": "validation (ema)"}
    for split in ("val", "test", "val_ema", "test_ema"):
        loss = final.get(f"{split}_loss")
        if loss is None:
            continue
        text = f"{names.get(split, 'test (ema)')} loss {loss:.4f}"
        accuracy = final.get(f"{split}_accuracy")
        if accuracy is not None:
            text += f", accuracy {accuracy * 100:.2f}%"
        parts.append(text + describe_metrics(final, split))
    return "; ".join(parts)


def cmd_eval(args: argparse.Namespace) -> int:
    from netspec.backend import get_backend
    from netspec.data import load_dataset, read_encoding
    from netspec.sampling import check_same_vocabulary
    from netspec.training import evaluate
    from netspec.training.checkpoint import verify_if_checkpoint
    from netspec.training.metrics import describe as describe_metrics
    from netspec.training.options import parse_data_source
    from netspec.weights import load_weights, resolve_weights_path, validate_weights

    code, program = read_program(args.file, args.set, "eval")
    if program is None:
        return code
    try:
        model = choose_model(program, args.model)
        spec = program.train(model.name)
        if spec is None:
            raise NetspecError(
                f"model '{model.name}' has no train section to say which data and loss to use"
            )
        source = parse_data_source(args.data) if args.data else spec.data
        path = resolve_weights_path(args.weights)  # a file, or a run directory
        verify_if_checkpoint(path)
        weights = validate_weights(
            model, load_weights(path), dtype=args.dtype, source=str(path), require="all"
        )
        compiled = get_backend(args.backend).compile(
            model, dtype=args.dtype, device=args.device, params=weights
        )
        data = load_dataset(
            source,
            input_shape=tuple(model.inputs[0].shape),
            inputs={spec.name: tuple(spec.shape) for spec in model.inputs},
            model=model.name,
            output_shape=model.output_type.shape,
            loss_kind=spec.loss.kind,
            seed=spec.seed,
            data_dir=args.data_dir,
            dtype=args.dtype,
            base_dir=str(Path(args.file).parent),
            # A csv file is encoded as the model's training data was: same columns,
            # categories and class names (the statistics are in the weights).
            encoding=read_encoding(path),
            target=spec.target,
            input_dtype=model.input.dtype,
            input_name=model.input.name,
        )
        if data.vocabulary is not None:
            check_same_vocabulary(path.parent, data.vocabulary)
    except NetspecError as error:
        print(f"netspec eval: error: {error}", file=sys.stderr)
        return exit_code(error)
    split, name = (data.test, "test") if data.test is not None else (data.validation, "validation")
    if split is None:
        print(
            "netspec eval: error: the data source has no test or validation split", file=sys.stderr
        )
        return EXIT_SPEC
    metrics = evaluate(compiled, split, spec.loss, batch_size=args.batch_size, metrics=spec.metrics)
    text = f"{name}: loss {metrics.loss:.4f}"
    if metrics.accuracy is not None:
        text += f", accuracy {metrics.accuracy * 100:.2f}%"
    text += describe_metrics(metrics.as_dict(name), name)
    print(f"{text} ({metrics.samples} samples)")
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from netspec.graph import SUFFIXES, build_graph, format_of, render, write

    def fail(message: str, code: int = EXIT_USAGE) -> int:
        print(f"netspec graph: error: {message}", file=sys.stderr)
        return code

    analysis = read_analysis(args.file, DEFAULT_MAX_PARAMS, args.set)
    if analysis is None:
        return EXIT_USAGE
    if analysis.program is None:
        print(analysis.render(color=use_color("auto")), file=sys.stderr)
        return EXIT_SPEC
    try:
        model = choose_model(analysis.program, args.model)
        output = args.output if args.output is not None else f"{model.name}.svg"
        chosen = args.format
        if output != "-" and Path(output).suffix.lower() in SUFFIXES:
            named = format_of(output)
            if chosen is not None and chosen != named:
                return fail(f"--format {chosen} does not match the file name {output!r}")
            chosen = named
        elif output != "-" and chosen is None:
            format_of(output)  # raises, naming the suffixes it accepts
        chosen = chosen or "svg"
        graph = build_graph(model, analysis.uses.get(model.name), analysis.sources)
        if output == "-":
            if chosen in ("png", "pdf") and sys.stdout.isatty():
                return fail(f"will not write {chosen.upper()} to a terminal; use -o FILE")
            sys.stdout.buffer.write(render(graph, chosen))
            sys.stdout.flush()
            return EXIT_OK
        write(graph, output, format=chosen)
    except NetspecError as error:
        return fail(str(error), EXIT_USAGE if not error.diagnostics else EXIT_SPEC)
    boxes = len(graph.clusters)
    print(
        f"wrote {output} ({chosen.upper()} of model {model.name}: {len(model.nodes)} nodes, "
        f"{boxes} block and repeat box{'es' if boxes != 1 else ''})"
    )
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    from netspec.sampling import sample

    try:
        text = sample(
            args.run,
            length=args.length,
            prompt=args.prompt,
            temperature=args.temperature,
            seed=args.seed,
            backend=args.backend,
        )
    except NetspecError as error:
        print(f"netspec sample: error: {error}", file=sys.stderr)
        return exit_code(error)
    print(text)
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    from netspec.predict.command import cmd_predict as run_predict

    return run_predict(args)


OUT_OF_MEMORY = (
    "netspec {command}: error: out of memory: the model's arrays (parameters, "
    "activations or data) do not fit in this machine's memory\n"
    "  help: `netspec summary SPEC` shows the parameter count and memory; use a smaller "
    "model, a smaller --batch-size, or a machine with more memory"
)

COMMANDS = {
    "train": cmd_train,
    "eval": cmd_eval,
    "predict": cmd_predict,
    "check": cmd_check,
    "summary": cmd_summary,
    "schema": cmd_schema,
    "ir": cmd_ir,
    "compile": cmd_compile,
    "export": cmd_export,
    "parity": cmd_parity,
    "graph": cmd_graph,
    "sample": cmd_sample,
    "fmt": fmt.run,
    "lsp": lsp.run,
    "compare": compare.run,
    "sweep": sweep.run,
    "gradcheck": gradcheck.run,
    "inspect": inspect.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `netspec` script.

    Without ``argv`` the command line is the process's own, which ends when this returns:
    the objects it made are then left to the end of the process rather than collected
    (``gc.freeze``), which saves most of a second of shutdown after torch or jax.
    """
    code = _command(argv)
    if argv is None:
        # The interpreter's last collection walks every object torch and jax made; the
        # process is ending and its files are written and closed, so skip that walk.
        gc.freeze()
    return code


def _command(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "predict" and not any(e.startswith("-") for e in extra):
        # argparse takes a command's positionals in one run: the input files of
        # `predict SPEC --weights RUN a.png b.png` come after an option.
        args.inputs = [*args.inputs, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"netspec {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except MemoryError:
        # A model under the parameter limit can still be larger than this machine's
        # memory; say so instead of printing a traceback.
        print(OUT_OF_MEMORY.format(command=args.command), file=sys.stderr)
        return EXIT_SPEC


if __name__ == "__main__":
    sys.exit(main())
