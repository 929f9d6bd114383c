"""Real servers on loopback for the storage and distributed tests: nginx (from
Debian; HTTP range reads, with an access log of every Range header) and
moto's standalone S3 server (from PyPI). Each is started once per test session
on a free port and stopped at its end; the client side is the real stack
(libavformat's http protocol, fsspec/s3fs/botocore) pointed at them the
standard way (plain URLs, AWS_ENDPOINT_URL and the credential variables)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s} s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class HttpServer:
    """nginx serving ``root`` at ``base_url``; ``requests()`` parses its access log."""

    root: Path
    base_url: str
    access_log: Path

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def requests_settled(self, name: str, timeout: float = 5.0) -> list[dict]:
        """requests(name) once it lists one: nginx logs a request when it ends,
        which for a client that hung up early can be just after it returned."""
        deadline = time.monotonic() + timeout
        while not (rows := self.requests(name)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return rows

    def requests(self, name: str | None = None) -> list[dict]:
        """One dict per request so far: method, path, range ('-' if none), status, body_bytes."""
        rows = []
        for line in self.access_log.read_text().splitlines():
            method, path, rng, status, sent = line.split(" ")
            if name is None or path == f"/{name}":
                rows.append(
                    {"method": method, "path": path, "range": rng, "status": int(status), "body_bytes": int(sent)}
                )
        return rows


NGINX_CONF = """\
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format ranges '$request_method $uri $http_range $status $body_bytes_sent';
    access_log {tmp}/access.log ranges;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ video/mp4 mp4; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        # /slow/NAME serves NAME at 100 KB/s per request: a file that takes seconds.
        location /slow/ {{ alias {root}/; limit_rate 100k; }}
        # /nohead/NAME refuses HEAD, as a presigned S3 GET URL does.
        location /nohead/ {{ alias {root}/; if ($request_method = HEAD) {{ return 403; }} }}
    }}
}}
"""


@pytest.fixture(scope="session")
def http_server(tmp_path_factory) -> HttpServer:
    """nginx on a free loopback port, serving a fresh folder."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = tmp_path_factory.mktemp("nginx")
    root = tmp / "www"
    root.mkdir()
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root))
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)], stderr=subprocess.PIPE)
    _wait_for_port(port, proc, "nginx")
    yield HttpServer(root, f"http://127.0.0.1:{port}", tmp / "access.log")
    _stop(proc)


@dataclass
class S3Server:
    endpoint_url: str

    def client(self):
        import boto3

        return boto3.client("s3")

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    """moto's S3 server on a free loopback port. The process's environment
    points every botocore client at it, as a user points it at MinIO or
    Ceph: AWS_ENDPOINT_URL and the credential variables (children inherit it:
    the CLI in subprocesses, the Ray workers started after this fixture)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port, proc, "moto server")
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in [*env, "AWS_PROFILE", "AWS_SESSION_TOKEN"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(env)
    yield S3Server(env["AWS_ENDPOINT_URL"])
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _stop(proc)
