"""``python -m lifelog_compression``: see cli.py."""

import sys

from .cli import main

sys.exit(main())
