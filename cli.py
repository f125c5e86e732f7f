"""`python cli.py COMMAND ...` from a checkout: the same as the `callkernel` command.

The command line lives in the package (interpreter/cli.py), which is what the
installed console script runs; this file only makes it runnable from the root.
"""

from __future__ import annotations

import sys

from interpreter.cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
