"""The fixture videos the tests use, by name: small, generated at test time by
the ffmpeg CLI from frames that carry their own index (fixtures.draw_frame)."""

CATALOGUE = {
    # B-frames and a GOP (3 s) longer than the +/-0.5 s window: decode forward.
    "h264_bframes_mp4": dict(suffix=".mp4", codec="libx264", bframes=3, gop=90, seconds=6.0),
    # GOP 0.5 s: every request has a keyframe in its window.
    "hevc_mp4": dict(suffix=".mp4", codec="libx265", gop=15, seconds=5.0),
    "vp9_webm": dict(suffix=".webm", codec="libvpx-vp9", gop=30, seconds=4.0),
    "av1_mkv": dict(suffix=".mkv", codec="libaom-av1", gop=30, seconds=3.0),
    "mpeg2_ts": dict(suffix=".ts", codec="mpeg2video", gop=15, seconds=5.0),
    "mjpeg_avi": dict(suffix=".avi", codec="mjpeg", seconds=4.0),
    "hevc_10bit_mp4": dict(suffix=".mp4", codec="libx265", pix_fmt="yuv420p10le", gop=30, seconds=4.0),
    "h264_444_mp4": dict(suffix=".mp4", codec="libx264", pix_fmt="yuv444p", gop=30, seconds=3.0),
    "odd_size_mp4": dict(suffix=".mp4", codec="libx264", pix_fmt="yuv444p", width=321, height=243, seconds=3.0),
    "rotate90_mp4": dict(suffix=".mp4", codec="libx264", rotate=90, gop=30, seconds=3.0),
    "rotate180_mp4": dict(suffix=".mp4", codec="libx264", rotate=180, gop=30, seconds=3.0),
    "rotate270_mp4": dict(suffix=".mp4", codec="libx264", rotate=270, gop=30, seconds=3.0),
    "sar2_mp4": dict(suffix=".mp4", codec="libx264", sar=(2, 1), gop=30, seconds=3.0),
    "start_offset_mp4": dict(suffix=".mp4", codec="libx264", start_offset_s=3.0, gop=30, seconds=4.0),
    "start_offset_ts": dict(suffix=".ts", codec="libx264", start_offset_s=3.0, gop=30, seconds=4.0),
    # Variable frame rate: frames 10..20 of every 30 are missing (0.37 s gaps).
    "vfr_mp4": dict(
        suffix=".mp4", codec="libx264", drop_pattern=[i for i in range(300) if 10 <= i % 30 <= 20], gop=30, seconds=5.0
    ),
    "short_mp4": dict(suffix=".mp4", codec="libx264", seconds=0.4),
    # One keyframe every 10 s: everything after 0 is decoded forward, nothing twice.
    "long_gop_mp4": dict(suffix=".mp4", codec="libx264", bframes=2, gop=300, seconds=10.0),
    # Pro and camcorder formats: 10-bit 4:2:2 ProRes in MOV, interlaced H.264 in
    # MPEG-TS (.MTS, as AVCHD writes), 4:4:4 HEVC in Matroska.
    "prores_mov": dict(suffix=".mov", codec="prores_ks", pix_fmt="yuv422p10le", seconds=3.0),
    "interlaced_mts": dict(
        suffix=".mts",
        container="mpegts",
        codec="libx264",
        seconds=3.0,
        extra_args=("-flags", "+ildct+ilme", "-x264-params", "interlaced=1"),
    ),
    "hevc444_mkv": dict(suffix=".mkv", codec="libx265", pix_fmt="yuv444p", seconds=3.0),
    "faststart_mp4": dict(suffix=".mp4", codec="libx264", gop=30, seconds=6.0, extra_args=("-movflags", "+faststart")),
}
