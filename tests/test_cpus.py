"""Worker counts follow the CPUs the process may use (csrc/cpus.c): the
affinity mask (taskset) and the cgroup CPU quota, not the machine's count."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from truth import assert_true_to_source

from lifelog_compression import _core


def extract_json(clip, out, prefix=()):
    run = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "lifelog_compression",
            "extract",
            "--json",
            "--quiet",
            str(clip.path),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_default_is_the_affinity_mask_at_most():
    assert 1 <= _core.usable_cpus() <= len(os.sched_getaffinity(0))


def test_taskset_one_cpu_gives_one_decoding_thread(clip, tmp_path):
    c = clip("h264_bframes_mp4")
    result = extract_json(c, tmp_path / "b", prefix=("taskset", "-c", "0"))
    assert result["decode_threads"] == 1
    bundle = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert bundle["producer"]["decode_threads"] == 1
    assert len(assert_true_to_source(tmp_path / "b", c)) == 6


def test_explicit_workers_are_recorded(clip, tmp_path):
    c = clip("h264_bframes_mp4")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "lifelog_compression",
            "extract",
            "--json",
            "--quiet",
            "--workers",
            "3",
            str(c.path),
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["decode_threads"] == 3
    assert_true_to_source(tmp_path / "b", c)


def cgroup_v1_cpu_listed() -> bool:
    with open("/proc/self/cgroup") as f:
        return any("cpu" in line.split(":")[1].split(",") for line in f if line.count(":") >= 2)


# Half a CPU of quota, written into a private mount namespace (unshare -m):
# the files the process reads are real cgroup-format files at the real paths,
# and the host's cgroups are not touched.
QUOTAS = {
    "v2": ("/sys/fs/cgroup", "echo '50000 100000' > /sys/fs/cgroup/cpu.max"),
    "v1": (
        "/sys/fs/cgroup/cpu",
        "echo 50000 > /sys/fs/cgroup/cpu/cpu.cfs_quota_us && echo 100000 > /sys/fs/cgroup/cpu/cpu.cfs_period_us",
    ),
}


@pytest.mark.parametrize("version", sorted(QUOTAS))
def test_cgroup_quota_limits_the_threads(version, clip, tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) to give the test process a cgroup quota of its own")
    if version == "v1" and not cgroup_v1_cpu_listed():
        pytest.skip("this kernel runs no cgroup v1 cpu controller")
    c = clip("h264_bframes_mp4")
    mount, write = QUOTAS[version]
    out = tmp_path / "b"
    script = (
        f"mount -t tmpfs none {mount} && {write} && exec {sys.executable} -m lifelog_compression extract "
        f"--json --quiet {c.path} {out}"
    )
    run = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["decode_threads"] == 1
    assert len(assert_true_to_source(out, c)) == 6
