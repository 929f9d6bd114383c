"""Optional dependencies: imported when a feature needs them, and when one is
missing the error names the extra that installs it (exit code 17), not a
traceback or "internal error"."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

# Import name -> the name pip knows it by.
_DISTRIBUTIONS = {"numpy": "numpy", "PIL": "Pillow", "pyarrow": "pyarrow"}


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Imports ``module`` (e.g. "numpy", "PIL.Image", "pyarrow.parquet") or
    raises MissingDependencyError saying what ``purpose`` needs and which
    ``pip install 'lifelog-compression[extra]'`` brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{purpose} needs {_DISTRIBUTIONS.get(top, top)}, which is not installed: "
            f"pip install 'lifelog-compression[{extra}]'",
            "missing dependency",
            None,
        ) from e
