"""The best PyAV script we could write for 1 fps sparse extraction.

    python benchmarks/competitors/pyav_sparse.py VIDEO OUT [--procs 2] [--threads 1]

What a capable user would do with PyAV alone:
1. one demux pass over the file (no decoding) lists every packet's times,
   keyframe flag and whether the picture is a reference (from the NAL header);
2. for each request, the keyframe nearest the request inside its +/-0.5 s
   window, else the frame nearest the request; targets are grouped by GOP;
3. the decoder gets only the packets it needs: the GOP's keyframe, then only
   reference pictures up to the last target of that GOP, and the targets
   (non-reference pictures that are not targets are never sent); it seeks to
   each GOP's keyframe when that is cheaper than demuxing forward;
4. the requests are split between ``--procs`` processes (forked after the
   index pass), each decoder with ``--threads`` threads (thread_type AUTO);
5. each target is scaled by swscale straight to full-range BT.601 4:2:0 at the
   fitted size, padded in numpy and encoded by libjpeg-turbo (simplejpeg)
   from the YUV planes: no RGB round trip.

benchmarks/floor.py reuses steps 1-4 with the targets `extract` reported and
no scaling or JPEG.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TOLERANCE_S, Output, canvas_planes, fit, request_times  # noqa: E402


@dataclass
class Packets:
    """The video stream's packets in decode order (from one demux pass)."""

    time_base: float
    is_mp4: bool
    dts: list[int] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    key: list[bool] = field(default_factory=list)
    ref: list[bool] = field(default_factory=list)
    start_pts: int = 0
    duration_s: float = 0.0


@dataclass
class Job:
    """One GOP's work: packets to send (decode-order indexes) and the targets it yields."""

    send: list[int]
    targets: dict[int, int]  # pts -> request index


def _length_size(extradata: bytes | None, codec: str) -> int | None:
    """NAL length field size from avcC/hvcC extradata (MP4); None for Annex B start codes (MPEG-TS)."""
    if not extradata or extradata[0] != 1:
        return None
    return (extradata[4 if codec == "h264" else 21] & 3) + 1


def _nal_headers(data: memoryview, length_size: int | None):
    """First bytes of each NAL unit in a packet."""
    n = len(data)
    if length_size:
        i = 0
        while i + length_size < n:
            size = int.from_bytes(data[i : i + length_size], "big")
            yield data[i + length_size]
            i += length_size + size
        return
    raw = bytes(data[:4096])  # the slice header is near the start; SEI may come first
    i = raw.find(b"\0\0\1")
    while 0 <= i < len(raw) - 3:
        yield raw[i + 3]
        i = raw.find(b"\0\0\1", i + 3)


def _is_reference(data: memoryview, codec: str, length_size: int | None) -> bool:
    """Whether the picture may be referenced (H.264 nal_ref_idc, HEVC sub-layer non-reference types)."""
    for header in _nal_headers(data, length_size):
        if codec == "h264":
            kind = header & 0x1F
            if kind in (1, 5):
                return (header >> 5) & 3 != 0
        else:
            kind = (header >> 1) & 0x3F
            if kind < 32:
                return not (kind <= 14 and kind % 2 == 0)
    return True


def index_packets(path: str) -> Packets:
    """One demux pass: times, keyframe and reference flags of every video packet."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        length_size = _length_size(stream.codec_context.extradata, codec)
        info = Packets(time_base=float(stream.time_base), is_mp4="mp4" in container.format.name)
        end = None
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            info.dts.append(packet.dts if packet.dts is not None else packet.pts)
            info.pts.append(packet.pts)
            info.key.append(packet.is_keyframe)
            info.ref.append(packet.is_keyframe or _is_reference(memoryview(packet), codec, length_size))
            stop = packet.pts + (packet.duration or 0)
            end = stop if end is None else max(end, stop)
    if not info.pts:
        raise SystemExit(f"{path}: no video packets")
    info.start_pts = min(info.pts)
    info.duration_s = (end - info.start_pts) * info.time_base
    return info


def choose_targets(info: Packets, requests: list[float]) -> list[int]:
    """Per request, the decode-order index of the picture to show."""
    order = sorted(range(len(info.pts)), key=info.pts.__getitem__)
    times = [info.pts[i] for i in order]
    keys = sorted((info.pts[i], i) for i in range(len(info.pts)) if info.key[i])
    key_times = [k[0] for k in keys]
    tol = TOLERANCE_S / info.time_base
    chosen = []
    for r in requests:
        t = info.start_pts + r / info.time_base
        lo, hi = bisect.bisect_left(key_times, t - tol), bisect.bisect_right(key_times, t + tol)
        if lo < hi:  # a keyframe in the window: nothing but it needs decoding
            chosen.append(min(keys[lo:hi], key=lambda k: abs(k[0] - t))[1])
            continue
        j = bisect.bisect_left(times, t)
        near = [k for k in (j - 1, j) if 0 <= k < len(times) and abs(times[k] - t) <= tol]
        chosen.append(order[min(near, key=lambda k: abs(times[k] - t))] if near else -1)
    return chosen


def plan_jobs(info: Packets, targets: list[int]) -> list[Job]:
    """Groups targets by GOP; per GOP the keyframe, the references up to the last target, the targets."""
    key_index = [i for i, k in enumerate(info.key) if k]
    groups: dict[int, dict[int, int]] = {}
    for request, t in enumerate(targets):
        if t < 0:
            continue
        g = key_index[bisect.bisect_right(key_index, t) - 1] if key_index and key_index[0] <= t else 0
        groups.setdefault(g, {})[t] = request
    jobs = []
    for g in sorted(groups):
        wanted = groups[g]
        last = max(wanted)
        send = [i for i in range(g, last + 1) if i == g or i in wanted or info.ref[i]]
        jobs.append(Job(send=send, targets={info.pts[i]: r for i, r in wanted.items()}))
    return jobs


def run_jobs(path: str, info: Packets, jobs: list[Job], threads: int, on_frame) -> int:
    """Decodes the jobs' packets in order; calls on_frame(frame, request) per target. Returns frames decoded."""
    by_dts = {d: i for i, d in enumerate(info.dts)}
    decoded = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        # A decoder of its own: PyAV's seek flushes the stream's decoder, which
        # would drop the frames still in flight (frame threads, B-frame delay).
        ctx = av.CodecContext.create(stream.codec_context.name, "r")
        ctx.extradata = stream.codec_context.extradata
        ctx.thread_type = "AUTO"
        ctx.thread_count = threads
        wanted: dict[int, int] = {}
        packets = None
        position = -1  # decode-order index of the last packet demuxed

        def take(frames):
            nonlocal decoded
            for frame in frames:
                decoded += 1
                request = wanted.pop(frame.pts, None)
                if request is not None:
                    on_frame(frame, request)

        for job in jobs:
            first, last = job.send[0], job.send[-1]
            wanted.update(job.targets)
            send = set(job.send)
            # Demuxing forward is cheaper than a seek over a short gap; an MP4 seek is an index look-up.
            gap_s = (info.dts[first] - info.dts[max(position, 0)]) * info.time_base
            backoff = 0.0
            if packets is None or first <= position or (gap_s > 0 and (info.is_mp4 or gap_s > 2.0)):
                packets = None
            while True:
                if packets is None:
                    target = info.pts[first] - int(backoff / info.time_base)
                    container.seek(target, stream=stream, backward=True)
                    packets = container.demux(stream)
                    position = -1
                overshot = False
                for packet in packets:
                    i = by_dts.get(packet.dts if packet.dts is not None else packet.pts)
                    if i is None or packet.size == 0:
                        continue
                    if position == -1 and i > first:
                        overshot = True  # the seek landed after the keyframe (MPEG-TS): go further back
                        break
                    position = i
                    if i in send:
                        take(ctx.decode(packet))
                    if i >= last:
                        break
                if not overshot:
                    break
                packets, backoff = None, backoff + 1.0
        take(ctx.decode(None))
    return decoded


def split(jobs: list[Job], parts: int) -> list[list[Job]]:
    """Contiguous shares of about equal packet counts."""
    total = sum(len(j.send) for j in jobs)
    shares, current, done = [], [], 0
    for job in jobs:
        current.append(job)
        done += len(job.send)
        if done >= total * (len(shares) + 1) / parts and len(shares) < parts - 1:
            shares.append(current)
            current = []
    shares.append(current)
    return [s for s in shares if s]


def run_parallel(path: str, info: Packets, jobs: list[Job], procs: int, threads: int, make_on_frame) -> list:
    """Runs shares of the jobs in forked processes; returns what each make_on_frame(...).result() gave."""
    shares = split(jobs, procs)
    if len(shares) <= 1:
        sink = make_on_frame()
        decoded = run_jobs(path, info, jobs, threads, sink)
        return [(decoded, sink.result())]
    children = []
    for share in shares:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            status = 1
            try:
                sink = make_on_frame()
                decoded = run_jobs(path, info, share, threads, sink)
                with os.fdopen(write, "w") as f:
                    json.dump([decoded, sink.result()], f)
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        children.append((pid, read))
    results = []
    for pid, read in children:
        with os.fdopen(read) as f:
            text = f.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not text:
            raise SystemExit(f"a worker process failed (status {status})")
        results.append(tuple(json.loads(text)))
    return results


class JpegSink:
    """Scales a target to the canvas, encodes it, writes it; remembers its time."""

    def __init__(self, output: Output, info: Packets):
        import simplejpeg  # noqa: F401  (imported here: floor.py does not need it)

        self.output, self.info, self.rect = output, info, None
        self.times: dict[int, float] = {}

    def __call__(self, frame, request: int) -> None:
        import numpy as np
        import simplejpeg

        if self.rect is None:
            self.rect = fit(frame.width, frame.height)
        _, _, w, h = self.rect
        small = frame.reformat(
            width=w,
            height=h,
            format="yuv420p",
            dst_colorspace="ITU601",
            dst_color_range="JPEG",
            interpolation="BILINEAR",
        )
        planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in small.planes]
        y, u, v = canvas_planes(*planes, self.rect)
        actual = (frame.pts - self.info.start_pts) * self.info.time_base
        self.output.write(request, actual, simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality=80))
        self.times[request] = actual

    def result(self) -> dict:
        return {str(k): v for k, v in self.times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video")
    parser.add_argument("out")
    parser.add_argument("--procs", type=int, default=2, help="processes splitting the requests")
    parser.add_argument("--threads", type=int, default=1, help="decoder threads per process (0: auto)")
    args = parser.parse_args()
    started = time.perf_counter()
    info = index_packets(args.video)
    requests = request_times(info.duration_s)
    jobs = plan_jobs(info, choose_targets(info, requests))
    output = Output(args.out, requests)
    results = run_parallel(args.video, info, jobs, args.procs, args.threads, lambda: JpegSink(output, info))
    for _, times in results:
        for k, v in times.items():
            output.actual[int(k)] = v
    output.finish()
    print(json.dumps({"frames_decoded": sum(r[0] for r in results), "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
