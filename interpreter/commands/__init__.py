"""The `callkernel` subcommands, one module each; `cli.py` wires them to argparse."""
