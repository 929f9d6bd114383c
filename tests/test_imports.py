"""What importing the package and starting the command line load: names load
on first use, and an `extract` run imports none of the other commands."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

import lifelog_compression as lc
from lifelog_compression.metadata import SourceHasher


def _modules_after(code: str) -> set[str]:
    """The package's modules loaded by ``code`` in a fresh interpreter."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code + "\nimport sys, json\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('lifelog_compression'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_every_public_name_resolves():
    for name in lc.__all__:
        assert getattr(lc, name) is not None, name
    assert set(lc.__all__) <= set(dir(lc))
    assert lc.extract_to_dir.__module__ == "lifelog_compression.api"
    assert lc.DEFAULT_RECIPE is lc.recipe.DEFAULT_RECIPE


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        lc.no_such_name  # noqa: B018


def test_import_loads_no_core_until_a_name_is_used():
    loaded = _modules_after("import lifelog_compression")
    assert "lifelog_compression._core" not in loaded
    assert "lifelog_compression.batch" not in loaded
    used = _modules_after("import lifelog_compression as lc; lc.extract_to_dir")
    assert {"lifelog_compression.api", "lifelog_compression._core"} <= used
    assert "lifelog_compression.batch" not in used


def test_extract_command_line_imports_no_other_command():
    loaded = _modules_after("from lifelog_compression.cli import _parser; _parser(only_extract=True)")
    assert not loaded & {
        "lifelog_compression.validate",
        "lifelog_compression.sheet",
        "lifelog_compression.telemetry.cli",
        "lifelog_compression.batch",
    }
    full = _modules_after("from lifelog_compression.cli import _parser; _parser().format_help()")
    assert {"lifelog_compression.validate", "lifelog_compression.sheet"} <= full


def test_hasher_reads_the_attributes_beside_the_hash(tmp_path):
    source = tmp_path / "clip.mp4"
    data = os.urandom(3 * (1 << 20) + 123)
    source.write_bytes(data)
    try:
        os.setxattr(source, "user.lifelog.test", b"kept")
        tagged = True
    except (OSError, AttributeError):  # a filesystem without user attributes: the rest still holds
        tagged = False
    hasher = SourceHasher(source)
    hasher.start()
    hasher.join()
    assert hasher.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert hasher.mdls is not None and isinstance(hasher.mdls[0], str)
    assert hasher.xattrs is not None
    if tagged:
        assert "user.lifelog.test: kept" in hasher.xattrs


def _package_imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in its text (at
    the top, inside a function, under TYPE_CHECKING). The package's
    __init__ is left out: it only hands names on, lazily."""
    import ast
    from pathlib import Path

    root = Path(lc.__file__).parent
    modules = {".".join(p.relative_to(root).with_suffix("").parts): p for p in root.rglob("*.py")}
    modules = {name.removesuffix(".__init__"): p for name, p in modules.items() if name != "__init__"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = (
            name.rsplit(".", 1)[0]
            if path.name != "__init__.py" and "." in name
            else (name if path.name == "__init__.py" else "")
        )
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    target = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").startswith("lifelog_compression."):
                    target = node.module.removeprefix("lifelog_compression.")
                else:
                    continue
                for alias in node.names:  # `from . import storage` names a module
                    sub = f"{target}.{alias.name}" if target else alias.name
                    found.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                found |= {
                    a.name.removeprefix("lifelog_compression.")
                    for a in node.names
                    if a.name.startswith("lifelog_compression.")
                }
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the path that closes it."""
    found, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(trail[trail.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_circle_finder_sees_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_circle():
    graph = _package_imports()
    assert {"batch", "cli", "api", "storage", "jobs"} <= set(graph)  # the reader found the modules
    assert "storage" in graph["api"] and "jobs" in graph["batch_child"]
    assert _circles(graph) == []


def test_nothing_below_the_command_line_imports_it():
    graph = _package_imports()
    above = {"__main__", "cli"}  # the entry point runs the command line
    assert not [m for m, imports in graph.items() if "cli" in imports and m not in above]
