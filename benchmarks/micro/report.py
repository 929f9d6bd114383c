"""The micro-benchmarks' medians as a table in docs/benchmarks.md.

    .venv/bin/python -m pytest benchmarks/micro -q --benchmark-timer=time.process_time \
        --benchmark-json benchmarks/.cache/micro.json
    .venv/bin/python benchmarks/micro/report.py benchmarks/.cache/micro.json [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import panel_report  # noqa: E402


def table(doc: dict) -> str:
    cells: dict[str, dict[str, float]] = {}
    for bench in doc["benchmarks"]:
        match = re.match(r"(test_\w+)\[(\w+)(?:-(\w+))?\]", bench["name"])
        if not match:
            continue
        test, shape, variant = match.groups()
        cells.setdefault(test + (f" ({variant.lower()})" if variant else ""), {})[shape] = bench["stats"]["median"]
    shapes = sorted({s for row in cells.values() for s in row})
    lines = ["| stage (one frame, one thread) | " + " | ".join(shapes) + " |", "|---|" + "---:|" * len(shapes)]
    for name, row in cells.items():
        lines.append(
            f"| `{name}` | " + " | ".join(f"{row[s] * 1000:.1f} ms" if s in row else "-" for s in shapes) + " |"
        )
    when = doc.get("datetime", "")[:16].replace("T", " ")
    timer = doc.get("benchmarks", [{}])[0].get("options", {}).get("timer", "")
    return (
        f"Medians ({timer}), measured {when} UTC (load average then: "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
        + ").\n\n"
        + "\n".join(lines)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", type=Path)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    text = table(json.loads(args.json.read_text()))
    print(text)
    if args.write_docs:
        panel_report.write_block("micro", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
