"""`python -m interpreter COMMAND ...`: the `callkernel` command line."""

import sys

from interpreter.cli import main

sys.exit(main())
