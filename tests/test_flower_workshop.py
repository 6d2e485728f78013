"""The Flower workshop app on a real loopback deployment: one SuperLink, two SuperNodes.

Starts ``flower-superlink`` and two ``flower-supernode`` processes on 127.0.0.1 (free ports,
each SuperNode playing its own hospital via --node-config), runs the app in
workshop/flower with ``flwr run`` and checks that the final global model equals the kit's
in-process ``federated_averaging`` on the same split. Every process it starts (and their
children) is stopped afterwards, also when the test fails. Offline: telemetry, the update
check and runtime dependency installation are switched off; FLWR_HOME is a temporary folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "workshop" / "flower"
sys.path.insert(0, str(APP))

pytest.importorskip("flwr", reason="the workshop needs requirements-flower.txt installed")

from helpers.federated import federated_averaging, federated_standardisation  # noqa: E402
from hospital_flower.task import load_hospital, standardiser_from_moments  # noqa: E402

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ROUNDS = 3
LOCAL_EPOCHS = 4
LR = 0.5
SPLIT_SEED = 2024
START_TIMEOUT = 30  # seconds for the SuperLink to listen
RUN_TIMEOUT = 150  # seconds for `flwr run` to finish the whole run


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _children() -> dict[int, list[int]]:
    """parent pid -> child pids, from /proc (Linux)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Deployment:
    """The processes of one loopback deployment; stop() ends every one of them."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.home = workdir / "flwr_home"
        self.home.mkdir()
        self.env = {
            **os.environ,
            "FLWR_HOME": str(self.home),
            # SuperExec and the app processes are found on PATH: use this interpreter's.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.procs: list[subprocess.Popen] = []
        self.known: set[int] = set()
        self.logs: dict[str, Path] = {}

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(BIN / args[0]), *args[1:]],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.workdir,
                start_new_session=True,
            )
        self.procs.append(proc)
        self.known.add(proc.pid)
        return proc

    def remember_children(self) -> None:
        for proc in self.procs:
            self.known.update(_descendants(proc.pid))

    def tail(self, lines: int = 40) -> str:
        parts = []
        for name, log in self.logs.items():
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
            parts.append(f"--- {name}\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self) -> list[int]:
        """Terminate every started process and its descendants; return any still alive."""
        self.remember_children()
        # SuperNodes first, then the SuperLink; SuperExec children watch their parent.
        for proc in reversed(self.procs):
            for pid in [*_descendants(proc.pid), proc.pid]:
                if _alive(pid):
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        while time.monotonic() < deadline and any(_alive(p) for p in self.known):
            time.sleep(0.2)
        for pid in self.known:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        time.sleep(0.5)
        return sorted(p for p in self.known if _alive(p))


@pytest.fixture
def deployment(tmp_path):
    dep = Deployment(tmp_path)
    try:
        yield dep
    finally:
        survivors = dep.stop()
    assert not survivors, f"processes still running after shutdown: {survivors}"


def _reference(num_partitions: int):
    hospitals = [
        load_hospital(i, num_partitions, split_seed=SPLIT_SEED) for i in range(num_partitions)
    ]
    standardiser = federated_standardisation(hospitals)
    return hospitals, standardiser


def test_standardiser_matches_the_in_process_one():
    hospitals, reference = _reference(3)
    fresh = [load_hospital(i, 3, split_seed=SPLIT_SEED) for i in range(3)]
    counts = np.array([h.n_samples for h in fresh])
    moments = np.array([h.local_statistics()[0] for h in fresh])
    pooled = (counts[:, None] * moments).sum(axis=0) / counts.sum()
    ours = standardiser_from_moments(pooled, fresh[0].n_features)
    np.testing.assert_allclose(ours.mean, reference.mean, rtol=1e-12)
    np.testing.assert_allclose(ours.scale, reference.scale, rtol=1e-12)
    with pytest.raises(ValueError, match="pooled"):
        standardiser_from_moments(pooled[:-1], fresh[0].n_features)


def test_each_partition_is_a_different_hospital():
    parts = [load_hospital(i, 2, split_seed=SPLIT_SEED) for i in range(2)]
    assert [h.name for h in parts] == ["H1", "H2"]
    assert sum(h.n_samples for h in parts) == 569
    with pytest.raises(ValueError, match="partition_id"):
        load_hospital(2, 2)
    with pytest.raises(ValueError, match="dataset"):
        load_hospital(0, 2, dataset="mnist")


def test_loopback_federation_matches_in_process_fedavg(deployment, tmp_path):
    link_port = _free_port()
    deployment.start(
        "superlink",
        [
            "flower-superlink",
            "--insecure",  # loopback test only; see docs/workshop_flower.md for TLS
            "--host", "127.0.0.1",
            "--port", str(link_port),
            "--disable-runtime-dependency-installation",
        ],
    )
    deadline = time.monotonic() + START_TIMEOUT
    while not _listening(link_port):
        assert time.monotonic() < deadline, "SuperLink did not start\n" + deployment.tail()
        assert deployment.procs[0].poll() is None, "SuperLink exited\n" + deployment.tail()
        time.sleep(0.3)
    for partition in range(2):
        deployment.start(
            f"supernode{partition}",
            [
                "flower-supernode",
                "--insecure",
                "--superlink", f"127.0.0.1:{link_port}",
                "--port", str(_free_port()),
                "--node-config", f"partition-id={partition} num-partitions=2",
            ],
        )
    (deployment.home / "config.toml").write_text(
        '[superlink]\ndefault = "loopback"\n\n'
        f'[superlink.loopback]\naddress = "127.0.0.1:{link_port}"\ninsecure = true\n'
    )
    output = tmp_path / "final_model.npz"
    overrides = (
        f"num-server-rounds={ROUNDS} local-epochs={LOCAL_EPOCHS} lr={LR} "
        f"split-seed={SPLIT_SEED} min-hospitals=2 wait-seconds=60 "
        f'output="{output}"'
    )
    try:
        run = subprocess.run(
            [str(BIN / "flwr"), "run", str(APP), "loopback", "--run-config", overrides,
             "--stream"],
            env=deployment.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    finally:
        deployment.remember_children()
    assert run.returncode == 0, run.stdout + run.stderr + deployment.tail()
    assert output.exists(), run.stdout[-3000:] + deployment.tail()

    saved = np.load(output)
    hospitals, standardiser = _reference(2)
    reference = federated_averaging(hospitals, ROUNDS, LOCAL_EPOCHS, LR, rng=SPLIT_SEED)

    np.testing.assert_allclose(saved["feature_mean"], standardiser.mean, rtol=1e-12)
    np.testing.assert_allclose(saved["feature_scale"], standardiser.scale, rtol=1e-12)
    # Flower averages as sum(w_i * n_i / n), the kit as sum(n_i * w_i) / n: equal up to
    # floating-point rounding.
    np.testing.assert_allclose(saved["weights"], reference.weights, rtol=1e-9, atol=1e-12)
    assert list(saved["trained_hospitals"]) == [2] * ROUNDS
    # The server's count-weighted accuracy of the final model is the pooled accuracy.
    assert saved["accuracy"][-1] == pytest.approx(reference.history["accuracy"].iloc[-1])
    assert saved["accuracy"][-1] > 0.9

    # The comparison can fail: one round fewer gives a clearly different model.
    hospitals, _ = _reference(2)
    fewer = federated_averaging(hospitals, ROUNDS - 1, LOCAL_EPOCHS, LR, rng=SPLIT_SEED)
    assert not np.allclose(saved["weights"], fewer.weights, rtol=1e-6, atol=1e-9)
