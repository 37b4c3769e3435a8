"""`netspec compare RUN_DIR...`: several runs' curves overlaid and their final metrics."""

from __future__ import annotations

import argparse
import json
import sys

from netspec.errors import NetspecError


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `compare` subcommand."""
    from netspec._cli_parser import _command

    parser = _command(
        commands,
        "compare",
        "several runs' curves overlaid, and their final metrics",
        "Overlay the loss and accuracy curves (train and validation, per epoch) of several "
        "training runs in one picture, each run labelled by the settings in which it differs "
        "from the others (read from run.json and ir.json), and print a table of each run's "
        "final metrics (its last completed epoch in metrics.jsonl).",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories to compare")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE.png",
        default="compare.png",
        help="the picture of the curves (needs matplotlib, from the train extra)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the table as JSON instead of text"
    )


def run(args: argparse.Namespace) -> int:
    """Read, label, plot and tabulate the runs; 1 for a directory that is not a run to
    compare (or a picture that cannot be written), with a message saying why."""
    from netspec._cli_parser import EXIT_OK, EXIT_SPEC
    from netspec.experiments import compare

    try:
        runs = compare.compare(args.runs)
        compare.plot(runs, args.output)
    except NetspecError as error:
        print(f"netspec compare: error: {error}", file=sys.stderr)
        return EXIT_SPEC
    if args.json:
        print(json.dumps({**compare.as_json(runs), "picture": args.output}, indent=2))
    else:
        print(compare.table(runs))
        print(f"wrote {args.output} (the curves of {len(runs)} runs)")
    return EXIT_OK
