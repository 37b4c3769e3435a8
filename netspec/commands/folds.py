"""`netspec train SPEC --folds K`: k-fold cross-validation from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from netspec._cli_parser import EXIT_OK, EXIT_SPEC, EXIT_USAGE
from netspec.errors import NetspecError

if TYPE_CHECKING:
    from netspec.training import TrainResult


def run(args: argparse.Namespace, program: object) -> int:
    """Train ``args.folds`` folds of the checked ``program`` and print each fold's final
    validation metrics and their mean ± std; the summary is in ``OUT/folds.json``."""
    from netspec.commands._shared import choose_model, exit_code
    from netspec.training import TrainingInterrupted
    from netspec.training.folds import (
        SUMMARY_FILE,
        check_folds,
        cross_validate,
        describe,
        fold_line,
        table,
    )

    if args.resume is not None:
        print(
            "netspec train: error: --resume continues one run; --folds starts new runs "
            "(one per fold, under --out)",
            file=sys.stderr,
        )
        return EXIT_USAGE

    def done(index: int, result: TrainResult) -> None:
        print(f"fold {index}/{args.folds}: {fold_line(result.final)}", flush=True)

    try:
        check_folds(args.folds, "--folds")
        choose_model(program, args.model)  # type: ignore[arg-type]
        outcome = cross_validate(
            program,  # type: ignore[arg-type]
            folds=args.folds,
            out=args.out,
            model=args.model,
            on_fold=done,
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
            progress=not args.quiet,
            spec_path=args.file,
            threads=args.threads,
            eval_every=args.eval_every,
            test_at_end=args.test_at_end,
        )
    except TrainingInterrupted as stop:
        where = f" in {stop.run_dir}" if stop.run_dir is not None else ""
        print(f"netspec train: interrupted{where}; cross-validation stopped", file=sys.stderr)
        return 130
    except NetspecError as error:
        print(f"netspec train: error: {error}", file=sys.stderr)
        return exit_code(error)
    except OSError as error:
        print(f"netspec train: error: {error.filename or ''}: {error.strerror}", file=sys.stderr)
        return EXIT_SPEC
    print(table(outcome))
    summary = "; ".join(p for p in (describe(outcome.metrics, s) for s in ("val", "test")) if p)
    print(f"{args.folds}-fold cross-validation: {summary}")
    print(f"run directory: {outcome.run_dir} (summary in {SUMMARY_FILE})")
    return EXIT_OK
