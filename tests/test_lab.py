"""`make lab` starts JupyterLab at the course map (checked headless: start, fetch, stop)."""

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_serves_the_course_map(tmp_path):
    port, token = free_port(), secrets.token_hex(8)
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    env = os.environ | {"JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    process = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline, body = time.monotonic() + 90, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/?token={token}", timeout=5
                ) as response:
                    body, landing = response.read().decode(), response.url
                    break
            except OSError:
                time.sleep(1)
        assert body is not None, "JupyterLab did not answer within 90 s"
        assert "jupyter-config-data" in body
        assert "/lab/tree/notebooks/00_welcome_and_data.ipynb" in landing  # opens at the course map
        api = f"http://127.0.0.1:{port}/api/contents/notebooks/00_welcome_and_data.ipynb?token={token}"
        with urllib.request.urlopen(api, timeout=10) as response:
            assert response.status == 200  # the course map notebook is served
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
    assert "pip install" not in output, "make lab reinstalled although no requirements changed"
