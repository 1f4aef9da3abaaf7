"""A local S3 server (moto_server on 127.0.0.1, a free port) and one local Ray per test module.

Skipped, with the reason, when requirements-scale.txt is not installed (scripts/test.sh installs it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """``http://127.0.0.1:PORT`` of a moto_server this test session started (stopped at the end)."""
    pytest.importorskip("moto", reason="pip install -r requirements-scale.txt")
    pytest.importorskip("boto3")
    port = _free_port()
    exe = Path(sys.executable).with_name("moto_server")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    process = subprocess.Popen([*command, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, **CREDENTIALS})
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("moto_server did not start")
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


def make_bucket(endpoint: str) -> str:
    import boto3

    name = f"fewshot-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """The usual AWS variables pointing at the local server (what a person sets for a real bucket)."""
    for key, value in {**CREDENTIALS, "AWS_ENDPOINT": s3_endpoint, "AWS_ALLOW_HTTP": "true"}.items():
        monkeypatch.setenv(key, value)
    return s3_endpoint


@pytest.fixture
def s3_workspace(s3_env, monkeypatch) -> str:
    """FEWSHOT_HOME in a fresh bucket on the local server."""
    uri = f"s3://{make_bucket(s3_env)}/workspace"
    monkeypatch.setenv("FEWSHOT_HOME", uri)
    return uri


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray (2 CPUs, no dashboard) per test module: starting it costs ~5 s."""
    pytest.importorskip("ray", reason="pip install -r requirements-scale.txt")
    from core.scale.ray_shards import connect_ray

    ray = connect_ray(None, num_cpus=2)
    yield ray
    from core.scale import clear_backends

    clear_backends()
    ray.shutdown()
