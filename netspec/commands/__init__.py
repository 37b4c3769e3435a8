"""Commands of the `netspec` command line that live in modules of their own: each exposes
``add_parser(commands)`` (its argparse subparser) and ``run(args) -> int`` (its exit status)."""
