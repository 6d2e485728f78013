"""The Flower workshop app (workshop/flower): in process, and on a real loopback deployment.

The fast tests call the app's ServerApp and ClientApp functions in this process, with a
stand-in Grid that hands each message to the ClientApp of its destination node. The slow test
starts ``flower-superlink`` and two ``flower-supernode`` processes on 127.0.0.1 (free ports,
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
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "workshop" / "flower"
sys.path.insert(0, str(APP))

pytest.importorskip("flwr", reason="the workshop needs requirements-flower.txt installed")

from flwr.app import Context, MessageType, RecordDict  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402
from hospital_flower import client_app, server_app  # noqa: E402
from hospital_flower.task import load_hospital, standardiser_from_moments  # noqa: E402

from helpers.federated import federated_averaging, federated_standardisation  # noqa: E402

BIN = Path(sysconfig.get_path("scripts"))  # this environment's flwr, flower-* commands
ROUNDS = 2
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


# --- in process: the app's functions with a stand-in Grid -------------------------------

HANDLERS = {
    MessageType.QUERY: client_app.feature_moments,
    MessageType.TRAIN: client_app.train,
    MessageType.EVALUATE: client_app.evaluate,
}


def _run_config(**overrides):
    config = {
        "dataset": "breast_cancer",
        "scheme": "iid",
        "split-seed": SPLIT_SEED,
        "num-server-rounds": ROUNDS,
        "local-epochs": LOCAL_EPOCHS,
        "lr": LR,
        "min-hospitals": 2,
        "wait-seconds": 5,
        "evaluate-every": 1,
        "output": "",
    }
    config.update(overrides)
    return config


class LocalGrid:
    """Delivers every message to the ClientApp of its destination node, in this process."""

    def __init__(self, partitions, run_config, num_partitions=None):
        total = num_partitions or len(partitions)
        self.contexts = {
            1000 + i: Context(
                run_id=1,
                node_id=1000 + i,
                node_config={"partition-id": p, "num-partitions": total},
                state=RecordDict(),
                run_config=run_config,
            )
            for i, p in enumerate(partitions)
        }
        self.sent = []

    def get_node_ids(self):
        return list(self.contexts)

    def send_and_receive(self, messages, *, timeout=None):
        replies = []
        for message in messages:
            self.sent.append(message)
            context = self.contexts[message.metadata.dst_node_id]
            replies.append(HANDLERS[message.metadata.message_type](message, context))
        return replies


@pytest.fixture
def task_identity(monkeypatch):
    # Flower sets this in its app processes; Messages cannot be built without it.
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)


def _server_context(run_config):
    return Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=run_config)


@pytest.mark.parametrize("scheme", ["iid", "quantity_skew"])
def test_server_app_in_process_matches_federated_averaging(task_identity, tmp_path, scheme):
    output = tmp_path / "model.npz"
    config = _run_config(scheme=scheme, output=str(output), **{"min-hospitals": 3})
    server_app.main(LocalGrid([0, 1, 2], config), _server_context(config))
    saved = np.load(output)
    hospitals = [load_hospital(i, 3, scheme=scheme, split_seed=SPLIT_SEED) for i in range(3)]
    federated_standardisation(hospitals)
    reference = federated_averaging(hospitals, ROUNDS, LOCAL_EPOCHS, LR, rng=SPLIT_SEED)
    np.testing.assert_allclose(saved["weights"], reference.weights, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        saved["accuracy"], reference.history["accuracy"].iloc[1:], rtol=1e-12
    )
    assert list(saved["trained_hospitals"]) == [3] * ROUNDS
    assert str(saved["model"]) == "logistic"


def test_an_unweighted_server_would_be_caught(task_identity, tmp_path, monkeypatch):
    # A deliberately broken aggregation (plain mean, ignoring patient counts) must not pass
    # the comparison above on hospitals of different sizes.
    output = tmp_path / "model.npz"
    config = _run_config(scheme="quantity_skew", output=str(output), **{"min-hospitals": 3})
    original = client_app.train

    def equal_counts(message, context):
        reply = original(message, context)
        reply.content["metrics"]["num-examples"] = 1  # every hospital weighs the same
        return reply

    monkeypatch.setitem(HANDLERS, MessageType.TRAIN, equal_counts)
    server_app.main(LocalGrid([0, 1, 2], config), _server_context(config))
    hospitals = [
        load_hospital(i, 3, scheme="quantity_skew", split_seed=SPLIT_SEED) for i in range(3)
    ]
    assert len({h.n_samples for h in hospitals}) == 3
    federated_standardisation(hospitals)
    reference = federated_averaging(hospitals, ROUNDS, LOCAL_EPOCHS, LR, rng=SPLIT_SEED)
    assert not np.allclose(np.load(output)["weights"], reference.weights, rtol=1e-6)


def test_only_aggregates_leave_a_hospital(task_identity):
    config = _run_config(**{"num-server-rounds": 1})
    grid = LocalGrid([0, 1], config)
    server_app.main(grid, _server_context(config))
    hospital = load_hospital(0, 2, split_seed=SPLIT_SEED)
    d = hospital.n_features
    node = grid.get_node_ids()[0]
    for message in grid.sent:
        if message.metadata.dst_node_id != node:
            continue
        reply = HANDLERS[message.metadata.message_type](message, grid.contexts[node])
        arrays = [
            a for rec in reply.content.array_records.values() for a in rec.to_numpy_ndarrays()
        ]
        metrics = set(next(iter(reply.content.metric_records.values())))
        kind = message.metadata.message_type
        if kind == MessageType.QUERY:
            assert [a.shape for a in arrays] == [(2 * d,)]  # moments, never rows
            assert metrics == {"num-examples", "n-features", "partition-id", "num-partitions"}
        elif kind == MessageType.TRAIN:
            assert [a.shape for a in arrays] == [(d + 1,)]  # the weights
            assert metrics == {"num-examples", "local-loss"}
        else:
            assert arrays == []
            assert metrics == {"num-examples", "accuracy", "loss"}
    assert {m.metadata.message_type for m in grid.sent} == {
        MessageType.QUERY,
        MessageType.TRAIN,
        MessageType.EVALUATE,
    }


def test_evaluation_only_every_few_rounds(task_identity, tmp_path):
    output = tmp_path / "model.npz"
    config = _run_config(output=str(output), **{"num-server-rounds": 3, "evaluate-every": 2})
    grid = LocalGrid([0, 1], config)
    server_app.main(grid, _server_context(config))
    accuracy = np.load(output)["accuracy"]
    assert np.isnan(accuracy[0]) and not np.isnan(accuracy[1:]).any()
    evaluations = [m for m in grid.sent if m.metadata.message_type == MessageType.EVALUATE]
    assert len(evaluations) == 2 * 2  # rounds 2 and 3, two hospitals each
    with pytest.raises(ValueError, match="evaluate-every"):
        server_app.HospitalFedAvg(num_rounds=3, evaluate_every=0)


def test_two_laptops_playing_one_hospital_are_refused(task_identity):
    config = _run_config()
    with pytest.raises(RuntimeError, match="different hospital"):
        server_app.main(LocalGrid([1, 1], config), _server_context(config))
    with pytest.raises(RuntimeError, match="different hospital"):
        grid = LocalGrid([0, 1], config)
        grid.contexts[1001].node_config["num-partitions"] = 3
        server_app.main(grid, _server_context(config))


def test_server_gives_up_when_too_few_hospitals_connect(task_identity):
    config = _run_config(**{"min-hospitals": 3, "wait-seconds": 0})
    with pytest.raises(RuntimeError, match="only 2 of min-hospitals=3"):
        server_app.main(LocalGrid([0, 1], config), _server_context(config))


@pytest.mark.parametrize(
    "key, value, error",
    [
        ("num-server-rounds", 0, ValueError),
        ("min-hospitals", 0, ValueError),
        ("wait-seconds", -1, ValueError),
        ("local-epochs", 0, ValueError),
        ("lr", 0.0, ValueError),
        ("lr", "fast", TypeError),
        ("evaluate-every", 0, ValueError),
        ("scheme", "by_zip", ValueError),
        ("dataset", "mnist", ValueError),
    ],
)
def test_bad_run_config_is_refused_before_any_message(task_identity, key, value, error):
    config = _run_config(**{key: value})
    grid = LocalGrid([0, 1], config)
    with pytest.raises(error, match=key):
        server_app.main(grid, _server_context(config))
    assert grid.sent == []


def test_supernode_without_node_config_says_what_to_add(task_identity):
    config = _run_config()
    grid = LocalGrid([0, 1], config)
    grid.contexts[1000] = Context(
        run_id=1, node_id=1000, node_config={}, state=RecordDict(), run_config=config
    )
    with pytest.raises(ValueError, match="partition-id"):
        server_app.main(grid, _server_context(config))


# --- on a real loopback deployment --------------------------------------------------------


@pytest.mark.slow
def test_loopback_federation_matches_in_process_fedavg(deployment, tmp_path):
    link_port = _free_port()
    deployment.start(
        "superlink",
        [
            "flower-superlink",
            "--insecure",  # loopback test only; see docs/workshop_flower.md for TLS
            "--host",
            "127.0.0.1",
            "--port",
            str(link_port),
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
                "--superlink",
                f"127.0.0.1:{link_port}",
                "--port",
                str(_free_port()),
                "--node-config",
                f"partition-id={partition} num-partitions=2",
            ],
        )
    (deployment.home / "config.toml").write_text(
        '[superlink]\ndefault = "loopback"\n\n'
        f'[superlink.loopback]\naddress = "127.0.0.1:{link_port}"\ninsecure = true\n'
    )
    output = tmp_path / "final_model.npz"
    overrides = (
        f"num-server-rounds={ROUNDS} local-epochs={LOCAL_EPOCHS} lr={LR} "
        f"split-seed={SPLIT_SEED} min-hospitals=2 wait-seconds=60 evaluate-every={ROUNDS} "
        f'output="{output}"'
    )
    try:
        run = subprocess.run(
            [str(BIN / "flwr"), "run", str(APP), "loopback", "--run-config", overrides, "--stream"],
            env=deployment.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"flwr run did not finish in {RUN_TIMEOUT} s\n" + deployment.tail())
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
    # Evaluated only after the last round (evaluate-every = ROUNDS keeps the test short).
    assert np.isnan(saved["accuracy"][:-1]).all()

    # The comparison can fail: one round fewer gives a clearly different model.
    hospitals, _ = _reference(2)
    fewer = federated_averaging(hospitals, ROUNDS - 1, LOCAL_EPOCHS, LR, rng=SPLIT_SEED)
    assert not np.allclose(saved["weights"], fewer.weights, rtol=1e-6, atol=1e-9)
