"""`python -m fragcge`: the same as the `fragcge` command."""

import sys

from fragcge.cli import main

sys.exit(main())
