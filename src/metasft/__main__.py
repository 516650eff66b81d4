"""`python -m metasft`: the `metasft` command (metasft.cli)."""

import sys

from metasft.cli import main

sys.exit(main())
