"""``python -m lifelog_compression``: see cli.py."""

import os
import sys

from .cli import main

code = main()
if sys.argv[1:2] == ["extract"]:
    # An extraction has written, closed and renamed everything by now; tearing
    # down the interpreter (its modules, FFmpeg's libraries) would add about
    # 30 ms to every file for nothing.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:   # a reader that went away (a closed pipe): nothing more to tell it
            pass
    os._exit(code)
sys.exit(code)
