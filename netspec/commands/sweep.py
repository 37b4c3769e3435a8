"""`netspec sweep SPEC --trials N`: a hyper-parameter sweep of a spec's search spaces."""

from __future__ import annotations

import argparse
import json
import sys

from netspec.errors import NetspecError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `sweep` subcommand."""
    from netspec._cli_parser import (
        _backend_options,
        _command,
        _non_negative,
        _positive,
        add_set_option,
    )

    parser = _command(
        commands,
        "sweep",
        "a hyper-parameter sweep of a spec's search spaces (Optuna)",
        "Sample the spec's search spaces (log_uniform, uniform, int_uniform, choice) trial "
        "by trial with Optuna and train each trial as an ordinary run in OUT/trial-NNNN; the "
        "median pruner stops poor trials early. The study lives in OUT/study.db: running the "
        "same command again resumes an interrupted sweep. Writes results.csv, results.json, "
        "best.net (the spec with the best values) and plots to OUT. Needs the sweep extra.",
    )
    parser.add_argument("file", metavar="SPEC", help="the .net file with search spaces")
    parser.add_argument(
        "--trials",
        type=_positive,
        required=True,
        help="trials in all, those of a resumed sweep included (required)",
    )
    parser.add_argument(
        "--jobs", type=_positive, default=1, help="trials run at once, each in its own process"
    )
    parser.add_argument(
        "--sampler",
        choices=("tpe", "random", "grid"),
        help="how values are chosen: tpe, random (from --seed and the trial number), or "
        "grid (every combination of choice and int_uniform values, in the order written) "
        "(default: tpe, or the resumed sweep's)",
    )
    parser.add_argument(
        "--objective",
        metavar="METRIC",
        help="the final metric to optimise, e.g. val_accuracy (maximised), val_loss "
        "(minimised) (default: val_accuracy for classification, else val_loss)",
    )
    parser.add_argument(
        "--folds",
        type=_positive,
        metavar="K",
        help="train each trial K times (k-fold cross-validation); the objective is the mean "
        "(default: one run per trial)",
    )
    parser.add_argument("--seed", type=_non_negative, help="the sampler's seed (default: 0)")
    parser.add_argument(
        "--no-prune", action="store_true", help="run every trial to its end (no pruning)"
    )
    parser.add_argument(
        "--prune-after",
        type=_non_negative,
        metavar="N",
        help="trials that complete before the pruner starts comparing (default: 5)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="the sweep directory (default: sweeps/<spec>-<time>)"
    )
    _backend_options(parser)
    parser.add_argument("--epochs", type=_positive, help="epochs per run (default: the spec's)")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where mnist/ is found (default: $NETSPEC_DATA_DIR, then the cache)",
    )
    add_set_option(parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="print no line per trial")


def run(args: argparse.Namespace) -> int:
    """Run or resume the sweep; print its notes, a line per trial and the sorted table."""
    from netspec._cli_parser import EXIT_OK, EXIT_SPEC
    from netspec.experiments.sweep import sweep
    from netspec.experiments.sweep.results import BEST_SPEC, table_text
    from netspec.search_space import search_spaces

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        result = sweep(
            args.file,
            trials=args.trials,
            jobs=args.jobs,
            sampler=args.sampler,
            objective=args.objective,
            folds=args.folds,
            seed=args.seed,
            prune=False if args.no_prune else None,
            prune_after=args.prune_after,
            out=args.out,
            model=args.model,
            overrides=args.set or None,
            say=None if args.quiet or args.json else say,
            backend=args.backend if args.backend != "numpy" else None,
            device=args.device if args.device != "cpu" else None,
            dtype=args.dtype if args.dtype != "float32" else None,
            epochs=args.epochs,
            data_dir=args.data_dir,
        )
        sites = search_spaces(args.file, overrides=result.settings.overrides)
    except KeyboardInterrupt:
        out = f" --out {args.out}" if args.out else " with --out DIR (its sweep directory)"
        print(
            f"netspec sweep: interrupted; finished trials are kept in the study. Run the same "
            f"command{out} again to resume",
            file=sys.stderr,
        )
        return 130
    except NetspecError as error:
        print(f"netspec sweep: error: {error}", file=sys.stderr)
        return EXIT_SPEC
    if args.json:
        print(json.dumps({"directory": str(result.directory), "best": result.best,
                          "trials": result.rows}, indent=2, default=str))  # fmt: skip
        return EXIT_OK
    print(table_text(result.rows, sites, result.settings.objective))
    if result.best is None:
        print(f"no trial completed; results in {result.directory}")
        return EXIT_OK
    print(
        f"best: trial {result.best['trial']}, {result.settings.objective} "
        f"{result.best['objective']:.4f}; {result.directory / BEST_SPEC} has its values"
    )
    print(f"sweep directory: {result.directory}")
    return EXIT_OK
