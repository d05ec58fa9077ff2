"""`python -m a2f_core.cli`: the `a2f` command."""

import sys

from a2f_core.cli.main import main

sys.exit(main())
