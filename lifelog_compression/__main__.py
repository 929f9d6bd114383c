"""``python -m lifelog_compression``: see cli.py."""

from .cli import run

run()
