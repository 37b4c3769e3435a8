"""`netspec predict SPEC [--weights FILE|RUN_DIR] INPUT... [--input VALUES]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netspec._cli_parser import EXIT_OK, EXIT_SPEC, EXIT_USAGE
from netspec.errors import NetspecError


def cmd_predict(args: argparse.Namespace) -> int:
    """Run the model on the inputs and print (or write) its answers."""
    from netspec.commands._shared import UsageError, choose_model, exit_code, read_program
    from netspec.predict.inputs import LiteralValues, Text
    from netspec.runs import build_run
    from netspec.weights import atomic_write_bytes, resolve_weights_path

    def fail(message: str, code: int) -> int:
        print(f"netspec predict: error: {message}", file=sys.stderr)
        return code

    code, program = read_program(args.file, args.set, "predict")
    if program is None:
        return code
    if args.format == "npy" and args.output is None and sys.stdout.isatty():
        return fail("--format npy writes binary data: give -o FILE.npy", EXIT_USAGE)
    try:
        model = choose_model(program, args.model)
        weights = None if args.weights is None else resolve_weights_path(args.weights)
        run = build_run(
            program,
            model,
            weights,
            train=program.train(model.name),
            backend=args.backend,
            dtype=args.dtype,
            device=args.device,
        )
        inputs = [
            *args.inputs,
            *(LiteralValues(text) for text in args.input or ()),
            *(Text(text) for text in args.text or ()),
        ]
        if not inputs:
            raise UsageError(
                "no inputs: give files (.npy, .npz, .csv, .png, .jpg) or --input VALUES"
            )
        prediction = run.predict(*inputs)
        data = prediction.render(args.format, args.top_k)
    except NetspecError as error:
        return fail(str(error), exit_code(error))
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return EXIT_OK
    try:
        atomic_write_bytes(Path(args.output), data)
    except OSError as error:
        return fail(f"cannot write {args.output}: {error.strerror or error}", EXIT_SPEC)
    print(f"wrote {args.output} ({len(prediction.labels)} predictions, {args.format})")
    return EXIT_OK
