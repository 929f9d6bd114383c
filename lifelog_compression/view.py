"""``view``: a bundle (or a batch's output root) as one self-contained HTML page.

The page needs no network and no server: its script, style and data are
inline (no external script, font or stylesheet), and it works opened from
disk (file://). Frames are referenced by relative paths from the page's
folder (the default: the page is small, the bundle stays where it is) or
embedded as data: URIs (``embed=True``: one file to send, as large as the
frames). It shows a filmstrip in time order with the gaps marked, the
selected frame large with its requested and actual time, its capture time
(local, and UTC where known) and place, the bundle's notes, and the GPS
track as inline SVG with the selected frame's position marked; arrow keys
move the selection. A root gets a day view: its bundles in capture order,
one strip.

The page is written beside the bundle (``BUNDLE-view.html``), never inside
it (a bundle holds only what extraction wrote), written aside and renamed
into place; an existing file is replaced only with ``overwrite``. Nothing
optional is needed.
"""

from __future__ import annotations

import base64
import html
import json
import os
import secrets
from datetime import timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .bundle import frame_file, is_bundle, load_bundle_metadata, load_manifest
from .errors import BundleError, OutputError
from .info import batch_info, bundle_info
from .names import shown
from .telemetry.labels import local_time
from .telemetry.model import parse_time

# A step between frames longer than this many request intervals is a gap the
# strip marks (a frame the source could not give, a pause between recordings).
GAP_FACTOR = 1.5


def default_view_path(path: str | os.PathLike[str]) -> Path:
    """``<bundle or root>-view.html`` beside it (never inside a bundle)."""
    p = Path(path).resolve()
    return p.parent / f"{p.name}-view.html"


def _epoch_ms(text: str | None) -> float | None:
    """An RFC 3339 time as ms since the epoch; a zoneless one is read as if it
    were UTC (only to order and space frames of one camera clock)."""
    t = parse_time(text)
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp() * 1000


def _local_label(row_at: str | None, row_local: str | None, clock: dict[str, Any]) -> str:
    t = local_time(row_at, clock, row_local)
    if t is None:
        return ""
    text = t.isoformat(sep=" ", timespec="milliseconds")
    if t.tzinfo is None:
        return text + " (camera clock, zone unknown)"
    return text if isinstance(clock.get("utc_offset_min"), int) else text + " (UTC; local zone unknown)"


def _src(bundle: Path, row: Any, page_dir: Path, embed: bool) -> str | None:
    try:
        path = frame_file(bundle, row)
    except BundleError:
        return None
    if embed:
        try:
            return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            return None
    rel = os.path.relpath(path.resolve(), page_dir.resolve())
    return quote(Path(rel).as_posix())


def _bundle_data(bundle: Path, page_dir: Path, embed: bool, index: int) -> dict[str, Any]:
    meta = load_bundle_metadata(bundle)
    rows = load_manifest(bundle)
    info = bundle_info(bundle)
    clock = meta.raw.get("capture_clock") or {}
    frames = []
    for row in rows:
        obj = row.to_json()
        loc = row.location if isinstance(row.location, dict) else None
        frames.append(
            {
                "b": index,
                "id": row.frame_id,
                "src": _src(bundle, row, page_dir, embed),
                "req": row.requested_ts_ms,
                "act": row.actual_ts_ms,
                "utc": row.captured_at,
                "local": _local_label(row.captured_at, row.captured_local, clock),
                "abs": _epoch_ms(row.captured_at) if row.captured_at else _epoch_ms(row.captured_local),
                "lat": loc.get("lat") if loc else None,
                "lon": loc.get("lon") if loc else None,
                "dup": obj.get("duplicate_of"),
            }
        )
    return {
        "name": bundle.name,
        "source": info.source_relpath or info.source_file or "",
        "interval": int((meta.sampling or {}).get("requested_interval_ms", 1000) or 1000),
        "notes": [str(n) for n in meta.notes],
        "clock_notes": info.capture.notes,
        "clock": {
            "start_utc": info.capture.start_utc,
            "start_local": info.capture.start_local,
            "zone": info.capture.zone,
            "source": info.capture.source,
        },
        "distance_m": info.place.distance_m if info.place else None,
        "frames": frames,
    }


def _strip(bundles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The filmstrip's items in order: frames, a gap where the step from the
    previous frame exceeds GAP_FACTOR intervals, a bundle's start."""
    items: list[dict[str, Any]] = []
    last: dict[str, Any] | None = None
    number = 0
    for b, bundle in enumerate(bundles):
        if len(bundles) > 1:
            gap = None
            first = bundle["frames"][0] if bundle["frames"] else None
            if last is not None and first is not None and last["abs"] is not None and first["abs"] is not None:
                gap = first["abs"] - last["abs"]
            items.append({"kind": "bundle", "b": b, "gap_ms": gap})
        prev = None
        for f in bundle["frames"]:
            if prev is not None and f["act"] - prev["act"] > GAP_FACTOR * bundle["interval"]:
                items.append({"kind": "gap", "gap_ms": f["act"] - prev["act"]})
            items.append({"kind": "frame", "i": number})
            number += 1
            prev = f
        last = prev or last
    return items


def build_page(path: str | os.PathLike[str], page_dir: Path, *, embed: bool = False) -> str:
    """The viewer's HTML for the bundle or root at ``path``, with frame paths
    relative to ``page_dir`` (unless ``embed``)."""
    root = Path(path)
    if is_bundle(root):
        bundles = [root]
        title = root.name
    else:
        bundles = [Path(i.bundle_dir) for i in batch_info(root)]  # capture order; BundleError if none
        title = f"{root.name}: {len(bundles)} bundles"
    data = [_bundle_data(b, page_dir, embed, i) for i, b in enumerate(bundles)]
    frames = [f for d in data for f in d["frames"]]
    doc = {"title": title, "bundles": data, "frames": frames, "strip": _strip(data)}
    # </script> inside the data would end the script element early.
    payload = json.dumps(doc, ensure_ascii=True).replace("</", "<\\/")
    return _TEMPLATE.replace("%TITLE%", html.escape(title)).replace("%DATA%", payload)


def write_viewer(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    embed: bool = False,
    overwrite: bool = False,
) -> Path:
    """Writes the offline viewer of the bundle or batch root at ``path`` to
    ``out`` (default ``default_view_path(path)``) and returns its path.
    OutputError for a page inside a bundle or one that exists (without
    ``overwrite``); BundleError for a path that holds no bundle."""
    src = Path(path)
    if not is_bundle(src) and not src.is_dir():
        raise BundleError(f"{src}: not a bundle and not a folder")
    target = Path(out) if out is not None else default_view_path(src)
    for parent in [target.resolve().parent, *target.resolve().parents]:
        if is_bundle(parent):
            raise OutputError(
                f"{target}: inside the bundle {parent}, which holds only what extraction wrote: "
                "write the viewer beside it",
                "inside the bundle",
                str(target),
            )
    if target.exists() and not overwrite:
        raise OutputError(f"{target}: exists (overwrite=True replaces it)", "exists", str(target))
    page = build_page(src, target.resolve().parent, embed=embed)
    aside = target.parent / f".{target.name}.partial-{secrets.token_hex(4)}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        aside.write_text(page, encoding="utf-8")
        os.replace(aside, target)
    except OSError as e:
        aside.unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot write the viewer: {e.strerror}", "unwritable", str(target)) from e
    return target


# --- command line --------------------------------------------------------------


def register(sub: Any) -> None:
    """Adds ``view BUNDLE_OR_ROOT [OUT] [--embed] [--overwrite]`` to the CLI."""
    p = sub.add_parser(
        "view",
        help="an offline HTML viewer of a bundle (or a day of bundles)",
        description="Write one self-contained HTML page (no network, no external scripts or fonts; "
        "opens from disk) showing a bundle: a filmstrip by time with gaps, the selected frame large "
        "with its times and place, the GPS track, the notes; arrow keys move. For a folder of "
        "bundles (a batch's output root), a day view across them in capture order. Written beside "
        "the bundle (BUNDLE-view.html), never inside it.",
    )
    p.add_argument("path", metavar="BUNDLE_OR_ROOT", help="a bundle folder, or a folder holding bundles")
    p.add_argument("out", metavar="OUT", nargs="?", help="the HTML file to write (default: BUNDLE-view.html beside it)")
    p.add_argument(
        "--embed",
        action="store_true",
        help="put the frames inside the page (one file to send) instead of linking them relatively",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.set_defaults(func=_cmd_view)


def _cmd_view(args: Any) -> int:
    out = write_viewer(args.path, args.out, embed=args.embed, overwrite=args.overwrite)
    print(shown(f"wrote {out}"))
    return 0


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%TITLE%</title>
<style>
  :root { color-scheme: dark; }
  body { margin: 0; background: #1d1f21; color: #e6e6e6; font: 14px/1.4 system-ui, sans-serif; }
  header { padding: 8px 14px; background: #2a2d30; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  header .hint { color: #9aa; font-size: 12px; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) 320px; gap: 12px; padding: 12px 14px; }
  #big { width: 100%; max-height: 58vh; aspect-ratio: 16 / 9; background: #000; object-fit: contain; display: block; }
  #details { font-size: 13px; }
  #details dt { color: #9aa; margin-top: 6px; }
  #details dd { margin: 0; font-variant-numeric: tabular-nums; }
  #track { width: 100%; height: 240px; background: #15171a; border: 1px solid #333; display: block; }
  #track polyline { fill: none; stroke: #58a6ff; stroke-width: 2; vector-effect: non-scaling-stroke; }
  #track circle { fill: #ff5a36; stroke: #fff; stroke-width: 2; vector-effect: non-scaling-stroke; }
  #notes { font-size: 12px; color: #c8c8c8; padding-left: 18px; }
  #strip { position: relative; display: flex; gap: 4px; overflow-x: auto; padding: 8px 0; align-items: stretch; }
  .thumb { flex: none; width: 128px; cursor: pointer; border: 2px solid transparent; background: #000;
           position: relative; }
  .thumb img { width: 124px; height: 70px; object-fit: contain; display: block; }
  .thumb span { display: block; font-size: 11px; text-align: center; color: #bbb; }
  .thumb.selected { border-color: #ffd33d; }
  .thumb.dup { opacity: 0.45; }
  .thumb.dup::after { content: "duplicate"; position: absolute; top: 2px; left: 2px; font-size: 10px;
                      background: #7a5; color: #000; padding: 0 3px; }
  .gap { flex: none; width: 40px; display: flex; align-items: center; justify-content: center; text-align: center;
         font-size: 10px; color: #f0a; background: repeating-linear-gradient(45deg, #222, #222 4px, #2c2c2c 4px,
         #2c2c2c 8px); writing-mode: vertical-rl; }
  .bundle { flex: none; width: 22px; display: flex; align-items: center; justify-content: center; font-size: 10px;
            color: #ffd33d; border-left: 2px solid #ffd33d; writing-mode: vertical-rl; white-space: nowrap; }
  .missing { color: #f66; }
</style>
</head>
<body>
<header><h1 id="title"></h1><span class="hint">&larr; &rarr; previous / next frame &nbsp; Home / End first / last</span></header>
<main>
  <section>
    <img id="big" alt="">
    <div id="strip"></div>
  </section>
  <aside id="details">
    <dl>
      <dt>frame</dt><dd id="sel-frame"></dd>
      <dt>bundle</dt><dd id="sel-bundle"></dd>
      <dt>requested / actual time in the video</dt><dd><span id="sel-requested"></span> / <span id="sel-actual"></span></dd>
      <dt>captured (local)</dt><dd id="sel-local"></dd>
      <dt>captured (UTC)</dt><dd id="sel-utc"></dd>
      <dt>place</dt><dd id="sel-place"></dd>
      <dt>duplicate of</dt><dd id="sel-dup"></dd>
    </dl>
    <svg id="track" viewBox="0 0 1000 1000" preserveAspectRatio="xMidYMid meet" role="img"
         aria-label="GPS track"><polyline id="route" points=""></polyline><circle id="marker" r="16" cx="-100" cy="-100"></circle></svg>
    <ul id="notes"></ul>
  </aside>
</main>
<script type="application/json" id="bundle-data">%DATA%</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("bundle-data").textContent);
const frames = DATA.frames;
const strip = document.getElementById("strip");
const thumbs = [];
let selected = -1;

function clock(ms) {
  const neg = ms < 0; ms = Math.abs(ms);
  const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
  const pad = (n, w) => String(n).padStart(w, "0");
  return (neg ? "-" : "") + (h ? h + ":" + pad(m, 2) : m) + ":" + pad(s, 2) + "." + pad(ms % 1000, 3);
}
function span(ms) {
  if (ms === null || ms === undefined) return "";
  const s = Math.round(ms / 1000);
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

document.getElementById("title").textContent = DATA.title;
strip.dataset.count = String(frames.length);
for (const item of DATA.strip) {
  if (item.kind === "frame") {
    const f = frames[item.i];
    const el = document.createElement("div");
    el.className = "thumb" + (f.dup ? " dup" : "");
    el.dataset.index = String(item.i);
    el.dataset.actual = String(f.act);
    const img = document.createElement("img");
    img.loading = "lazy"; img.alt = f.id;
    if (f.src) img.src = f.src;
    const label = document.createElement("span");
    label.textContent = clock(f.act);
    el.append(img, label);
    el.addEventListener("click", () => select(item.i));
    strip.append(el);
    thumbs.push(el);
  } else if (item.kind === "gap") {
    const el = document.createElement("div");
    el.className = "gap"; el.title = "no frame for " + span(item.gap_ms);
    el.textContent = "gap " + span(item.gap_ms);
    strip.append(el);
  } else {
    const b = DATA.bundles[item.b];
    const el = document.createElement("div");
    el.className = "bundle"; el.dataset.bundle = String(item.b);
    el.textContent = b.name + (item.gap_ms !== null && item.gap_ms !== undefined ? " (after " + span(item.gap_ms) + ")" : "");
    strip.append(el);
  }
}

// The track: every located frame of the bundle, equirectangular with the
// longitude squeezed by cos(latitude), fitted into the square.
let project = null;
function drawTrack(b) {
  const pts = frames.filter(f => (DATA.bundles.length === 1 || f.b === b) && f.lat !== null && f.lon !== null);
  const route = document.getElementById("route");
  if (!pts.length) { route.setAttribute("points", ""); project = null; return; }
  const lat0 = pts.reduce((a, f) => a + f.lat, 0) / pts.length;
  const k = Math.cos(lat0 * Math.PI / 180);
  const xs = pts.map(f => f.lon * k), ys = pts.map(f => -f.lat);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const size = Math.max(x1 - x0, y1 - y0) || 1e-9;
  const scale = 900 / size, ox = 500 - (x0 + x1) / 2 * scale, oy = 500 - (y0 + y1) / 2 * scale;
  project = f => [f.lon * k * scale + ox, -f.lat * scale + oy];
  route.setAttribute("points", pts.map(f => project(f).map(v => v.toFixed(1)).join(",")).join(" "));
  route.dataset.bundle = String(b);
}

function showNotes(b) {
  const ul = document.getElementById("notes");
  ul.replaceChildren();
  const bundle = DATA.bundles[b];
  const lines = [...bundle.notes, ...bundle.clock_notes.map(n => "clock: " + n)];
  const c = bundle.clock;
  lines.unshift("capture clock from " + (c.source || "unknown") + (c.zone ? ", zone " + c.zone : "") +
                (bundle.distance_m !== null ? "; track " + Math.round(bundle.distance_m) + " m" : ""));
  for (const text of lines) { const li = document.createElement("li"); li.textContent = text; ul.append(li); }
}

let shownBundle = -1;
function select(i) {
  if (!frames.length) return;
  i = Math.max(0, Math.min(frames.length - 1, i));
  if (selected >= 0) thumbs[selected].classList.remove("selected");
  selected = i;
  const f = frames[i], el = thumbs[i];
  el.classList.add("selected");
  // Scroll the strip only (scrollIntoView would scroll the page too).
  if (el.offsetLeft < strip.scrollLeft || el.offsetLeft + el.offsetWidth > strip.scrollLeft + strip.clientWidth)
    strip.scrollLeft = el.offsetLeft - strip.clientWidth / 2;
  const big = document.getElementById("big");
  if (f.src) big.src = f.src; else big.removeAttribute("src");
  big.alt = f.id;
  const bundle = DATA.bundles[f.b];
  document.getElementById("sel-frame").textContent = f.id + " (" + (i + 1) + " of " + frames.length + ")";
  document.getElementById("sel-bundle").textContent = bundle.name + (bundle.source ? " from " + bundle.source : "");
  document.getElementById("sel-requested").textContent = clock(f.req);
  document.getElementById("sel-actual").textContent = clock(f.act);
  document.getElementById("sel-local").textContent = f.local || "unknown";
  document.getElementById("sel-utc").textContent = f.utc || "unknown (the camera clock's zone is not known)";
  const place = document.getElementById("sel-place");
  place.textContent = f.lat !== null ? f.lat.toFixed(6) + ", " + f.lon.toFixed(6) : "no GPS fix";
  document.getElementById("sel-dup").textContent = f.dup ? f.dup + " (same picture)" : "-";
  if (f.b !== shownBundle) { shownBundle = f.b; drawTrack(f.b); showNotes(f.b); }
  const marker = document.getElementById("marker");
  if (project && f.lat !== null) {
    const [x, y] = project(f);
    marker.setAttribute("cx", x.toFixed(1)); marker.setAttribute("cy", y.toFixed(1));
    marker.style.display = "";
  } else {
    marker.style.display = "none";
  }
  document.body.dataset.selected = String(i);
}

document.addEventListener("keydown", e => {
  const step = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1}[e.key];
  if (step) { select(selected + step); e.preventDefault(); }
  else if (e.key === "Home") { select(0); e.preventDefault(); }
  else if (e.key === "End") { select(frames.length - 1); e.preventDefault(); }
});
select(0);
</script>
</body>
</html>
"""
