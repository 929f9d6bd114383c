"""The panel's results as Markdown tables, and their place in docs/benchmarks.md."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
COLUMNS = [
    ("pyav", "best PyAV script"),
    ("ffmpeg", "ffmpeg CLI, best recipe"),
    ("decord", "decord 0.6"),
    ("opencv", "OpenCV"),
]
TARGETS = {"pyav": 1.4, "ffmpeg": 1.3}


def _ours_s(clip: dict) -> float | None:
    runs = [c["ours_s"] for c in clip["competitors"].values() if c.get("ours_s")]
    return statistics.median(runs) if runs else None


def _title(clip: dict) -> str:
    """The shape's name and the length of the clip actually run (--quick runs short ones)."""
    shape = clip["shape"]
    return f"{shape['title']} [{shape['seconds']} s clip, {clip['shape']['mb']} MB]"


def _cell(c: dict | None) -> str:
    if c is None:
        return "not run"
    if c["failed"]:
        return f"fails the check ({c['failed'][:90]})"
    ratio = c["ratio"]
    who = f"we are {ratio:.2f}x faster" if ratio >= 1 else f"**it is {1 / ratio:.2f}x faster**"
    cpu = f", CPU {c['theirs_cpu_s']:.2f} s" if c.get("theirs_cpu_s") else ""
    return f"{c['theirs_s']:.2f} s against {c['ours_s']:.2f} s ({who}{cpu})" + (
        f" `{c['variant']}`" if c["competitor"] in ("ffmpeg", "opencv") else ""
    )


def speed_table(report: dict) -> str:
    lines = [
        "| clip | `extract` | " + " | ".join(t for _, t in COLUMNS) + " | decode-only floor (share of ours) |",
        "|---|---:|" + "---|" * len(COLUMNS) + "---|",
    ]
    for key, clip in report["clips"].items():
        if clip["shape"]["memory_only"]:
            continue
        comps = clip["competitors"]
        floor = comps.get("floor")
        if floor and not floor["failed"] and floor["ratio"]:
            floor_cell = f"{floor['theirs_s']:.2f} s ({floor['ratio'] * 100:.0f} %)"
        else:
            floor_cell = "not run" if floor is None else f"failed: {floor['failed'][:80]}"
        ours = _ours_s(clip)
        cpu = [c["ours_cpu_s"] for c in comps.values() if c.get("ours_cpu_s")]
        ours_cell = f"{ours:.2f} s (CPU {statistics.median(cpu):.2f} s)" if ours and cpu else "-"
        lines.append(f"| {_title(clip)} | {ours_cell} | ")
        lines[-1] += " | ".join(_cell(comps.get(k)) for k, _ in COLUMNS) + f" | {floor_cell} |"
    return "\n".join(lines)


def memory_table(report: dict) -> str:
    lines = [
        "| clip | `extract` | " + " | ".join(t for _, t in COLUMNS) + " | floor |",
        "|---|---:|" + "---:|" * (len(COLUMNS) + 1),
    ]
    for clip in report["clips"].values():
        comps = clip["competitors"]
        if clip["shape"]["memory_only"]:
            lines.append(
                f"| {_title(clip)}, `extract` in {clip['ours']['seconds']:.1f} s | "
                f"{clip['ours']['peak_mb']} MB |" + " |" * (len(COLUMNS) + 1)
            )
            continue
        ours = max([c["ours_peak_mb"] for c in comps.values()] + [clip["ours"]["first_run_peak_mb"]])
        cells = [
            f"{comps[k]['theirs_peak_mb']} MB" if k in comps and not comps[k]["failed"] else "-"
            for k, _ in COLUMNS + [("floor", "")]
        ]
        lines.append(f"| {_title(clip)} | {ours} MB | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(report: dict) -> str:
    """Each target of issue 15 with the figure measured."""
    clips = [c for c in report["clips"].values() if not c["shape"]["memory_only"]]
    out = []
    for comp, goal in TARGETS.items():
        ratios = [
            (c["competitors"][comp]["ratio"], c["shape"]["key"])
            for c in clips
            if comp in c["competitors"] and c["competitors"][comp]["ratio"]
        ]
        cpu = [
            (c["competitors"][comp]["theirs_cpu_s"] / c["competitors"][comp]["ours_cpu_s"], c["shape"]["key"])
            for c in clips
            if c["competitors"].get(comp, {}).get("ours_cpu_s")
        ]
        if ratios:
            low = min(ratios)
            by_cpu = (
                f" (by CPU time, less sensitive to the load: lowest {min(cpu)[0]:.2f}x, {min(cpu)[1]})" if cpu else ""
            )
            out.append(
                f"- at least {goal}x faster than the {dict(COLUMNS)[comp]} on every clip: lowest "
                f"{low[0]:.2f}x ({low[1]}) -> {'met' if low[0] >= goal else 'NOT met'}{by_cpu}"
            )
    gopro = [c for c in clips if c["shape"]["key"] == "gopro" and c["competitors"].get("ffmpeg", {}).get("ratio")]
    if gopro:
        r = gopro[0]["competitors"]["ffmpeg"]["ratio"]
        out.append(f"- GoPro-like clip at least 3.5x the ffmpeg CLI: {r:.2f}x -> {'met' if r >= 3.5 else 'NOT met'}")
    shares = [
        (c["competitors"]["floor"]["ratio"], c["shape"]["key"])
        for c in clips
        if c["competitors"].get("floor", {}).get("ratio")
    ]
    if shares:
        low = min(shares)
        out.append(
            f"- floor at least 90 % of our wall time: lowest {low[0] * 100:.0f} % ({low[1]}) -> "
            f"{'met' if low[0] >= 0.9 else 'NOT met'}"
        )
    peaks = [
        max(
            [c.get("ours_peak_mb", 0) for c in clip["competitors"].values()]
            + [clip["ours"].get("peak_mb", 0), clip["ours"]["first_run_peak_mb"]]
        )
        for clip in report["clips"].values()
    ]
    if peaks:
        out.append(
            f"- peak memory at most 300 MB: highest {max(peaks)} MB -> {'met' if max(peaks) <= 300 else 'NOT met'}"
        )
    mem = [c for c in report["clips"].values() if c["shape"]["memory_only"]]
    if len(mem) == 2:
        a, b = (c["ours"]["peak_mb"] for c in mem)
        out.append(
            f"- memory flat in duration: {a} MB ({mem[0]['shape']['seconds']} s) -> {b} MB "
            f"({mem[1]['shape']['seconds']} s)"
        )
    return "\n".join(out)


def markdown(report: dict) -> str:
    load = ", ".join(f"{x:.1f}" for x in report["load_before"])
    head = (
        f"Measured {report['date']} on {report['cores']} cores, load average before the run {load}"
        f"{' (QUICK: short clips)' if report['quick'] else ''}; medians of {report['repeat']} paired runs "
        f"({report['slow_repeat']} for decord and OpenCV)."
    )
    return "\n\n".join(
        [
            head,
            "Wall time: the competitor's median against `extract`'s median in the same pairs; the ratio is the "
            "median of the pairs' ratios (the `extract` column: median of all its runs on that clip):",
            speed_table(report),
            "Peak memory (RSS of the whole process tree):",
            memory_table(report),
            "Targets of issue 15:",
            targets(report),
        ]
    )


def write_block(name: str, text: str, path: Path = DOCS) -> None:
    """Replaces the text between ``<!-- NAME:begin ... -->`` and ``<!-- NAME:end -->`` (appends both if absent)."""
    doc = path.read_text()
    begin = re.compile(r"<!-- " + re.escape(name) + r":begin[^>]*-->")
    end = f"<!-- {name}:end -->"
    found = begin.search(doc)
    if found and end in doc[found.end() :]:
        stop = doc.index(end, found.end())
        doc = doc[: found.end()] + "\n" + text + "\n" + doc[stop:]
    else:
        doc = doc.rstrip() + f"\n\n<!-- {name}:begin -->\n{text}\n{end}\n"
    path.write_text(doc)


def write_docs(report: dict, path: Path = DOCS) -> None:
    """The panel's tables into docs/benchmarks.md (a --quick run into a block of its own)."""
    write_block("panel-quick" if report["quick"] else "panel", markdown(report), path)
