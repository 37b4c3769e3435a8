"""Commands of the `netspec` tool that live in a module of their own: each exposes
``add_parser(commands)`` (its argparse subcommand) and ``run(args) -> int``."""
