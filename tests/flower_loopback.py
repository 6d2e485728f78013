"""Real loopback deployments of the workshop app, run in the background of the test session.

Each scenario starts ``flower-superlink`` and ``flower-supernode`` processes on 127.0.0.1
(on free ports from tests/ports.py) and runs the app with ``flwr run``.
They run in a background thread that ``tests/conftest.py`` starts once per test session,
as soon as the loopback tests are collected, so that they overlap with the rest of the
suite: the SecAgg+ scenario first, the other two while it waits for Flower to notice its
killed SuperNode. Each scenario stops every process it started (and their children) as
soon as its run ends, then writes ``result.json`` beside its logs; the loopback tests in
``test_flower_workshop.py`` (scheduled last) read those files, on any pytest-xdist worker.
Offline: telemetry, the update check and runtime dependency installation are switched
off; FLWR_HOME is a folder of the scenario's own.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sysconfig
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ports import free_port

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "workshop" / "flower"
BIN = Path(sysconfig.get_path("scripts"))  # this environment's flwr, flower-* commands
# The run settings every workshop test shares, in process and on loopback.
LOCAL_EPOCHS = 4
LR = 0.5
SPLIT_SEED = 2024
#: The folder the scenarios write to; tests/conftest.py sets it for the whole session.
FOLDER_ENV = "KIT_LOOPBACK_DIR"

START_TIMEOUT = 60  # seconds for a SuperLink to listen
RUN_TIMEOUT = 600  # seconds for one `flwr run` to finish (generous: the machine is shared)


#: Tries to start a server on a fresh port when its port was taken before it could bind.
START_ATTEMPTS = 3


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
    """The processes of one loopback deployment; stop() ends every one of them.

    ``tls``: None (``--insecure``) or the folder holding ``ca.crt``, ``server.pem`` and
    ``server.key`` for the SuperLink (SuperNodes and ``flwr`` get only ``ca.crt``).
    """

    def __init__(self, workdir: Path, tls: Path | None = None):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.home = workdir / "flwr_home"
        self.home.mkdir()
        self.tls = tls
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
        self.procs: dict[str, subprocess.Popen] = {}
        self.known: set[int] = set()
        self.logs: dict[str, Path] = {}
        self.port = 0

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
        self.procs[name] = proc
        self.known.add(proc.pid)
        return proc

    def _security(self, role: str) -> list[str]:
        if self.tls is None:
            return ["--insecure"]  # loopback tests only; see docs/workshop_flower.md for TLS
        if role == "superlink":
            return [
                "--ssl-ca-certfile",
                str(self.tls / "ca.crt"),
                "--ssl-certfile",
                str(self.tls / "server.pem"),
                "--ssl-keyfile",
                str(self.tls / "server.key"),
            ]
        return ["--root-certificates", str(self.tls / "ca.crt")]

    def _start_listening(self, name: str, args_for_port, next_port=free_port) -> int:
        """Start ``args_for_port(port)`` as ``name`` and wait until it listens on the port.

        If the port was taken before the server could bind it, the server exits with
        "address already in use"; it is started again on the port ``next_port()`` gives."""
        for attempt in range(1, START_ATTEMPTS + 1):
            port = next_port()
            proc = self.start(name, args_for_port(port))
            deadline = time.monotonic() + START_TIMEOUT
            while not _listening(port):
                if proc.poll() is not None:
                    break
                assert time.monotonic() < deadline, f"{name} did not start\n" + self.tail()
                time.sleep(0.2)
            else:
                return port
            log = self.text(name)
            if "address already in use" not in log.lower() or attempt == START_ATTEMPTS:
                raise AssertionError(f"{name} exited (attempt {attempt})\n" + self.tail())
            self.logs[name].rename(self.logs[name].with_suffix(f".attempt{attempt}.log"))
        raise AssertionError("unreachable")

    def start_superlink(self) -> None:
        self.port = self._start_listening(
            "superlink",
            lambda port: [
                "flower-superlink",
                *self._security("superlink"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--disable-runtime-dependency-installation",
            ],
        )
        connection = (
            "insecure = true"
            if self.tls is None
            else f'root-certificates = "{self.tls / "ca.crt"}"'
        )
        (self.home / "config.toml").write_text(
            '[superlink]\ndefault = "loopback"\n\n'
            f'[superlink.loopback]\naddress = "127.0.0.1:{self.port}"\n{connection}\n'
        )

    def start_supernode(self, partition: int, num_partitions: int, extra: str = "") -> None:
        """Start a SuperNode and wait until its own API listens (it then connects)."""
        self._start_listening(
            f"supernode{partition}",
            lambda port: [
                "flower-supernode",
                *self._security("supernode"),
                "--superlink",
                f"127.0.0.1:{self.port}",
                "--port",
                str(port),
                "--node-config",
                f"partition-id={partition} num-partitions={num_partitions} {extra}".strip(),
            ],
        )

    def run(self, overrides: str) -> subprocess.Popen:
        """Start ``flwr run`` of the workshop app; its output goes to run.log."""
        command = ["flwr", "run", str(APP), "loopback", "--run-config", overrides, "--stream"]
        return self.start("run", command)

    def text(self, name: str) -> str:
        log = self.logs.get(name)
        return log.read_text(errors="replace") if log and log.exists() else ""

    def remember_children(self) -> None:
        for proc in self.procs.values():
            self.known.update(_descendants(proc.pid))

    def kill(self, name: str) -> None:
        """SIGKILL a process and its children at once: a laptop that vanishes."""
        proc = self.procs[name]
        self.remember_children()
        for pid in [proc.pid, *_descendants(proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        parts = []
        for name in list(self.logs):
            text = self.text(name).splitlines()[-lines:]
            parts.append(f"--- {name}\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self) -> list[int]:
        """Terminate every started process and its descendants; return any still alive."""
        self.remember_children()
        # flwr run, SuperNodes, then the SuperLink; SuperExec children watch their parent.
        for proc in reversed(list(self.procs.values())):
            for pid in [*_descendants(proc.pid), proc.pid]:
                if _alive(pid):
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
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
        for proc in self.procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        time.sleep(0.5)
        return sorted(p for p in self.known if _alive(p))


# --- the scenarios ---------------------------------------------------------------------------


class NoOpenSSL(Exception):
    """openssl is missing, so no certificate can be made (the TLS test skips)."""


def certificate_commands(with_heading: bool = False) -> str:
    """The README's make-certificates block (the commands the instructor runs)."""
    block = re.search(
        r"```bash\n(# make-certificates[^\n]*\n)(.*?)```", (APP / "README.md").read_text(), re.S
    )
    assert block, "the README's make-certificates block is missing"
    return block.group(1) + block.group(2) if with_heading else block.group(2)


def _certificates(folder: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1, made by the README's own commands."""
    folder.mkdir(parents=True)
    script = certificate_commands(with_heading=True).replace("IP=INSTRUCTOR_IP", "IP=127.0.0.1")
    if shutil.which("openssl") is None:
        raise NoOpenSSL("openssl is not installed")
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert {"ca.crt", "server.pem", "server.key"} <= {p.name for p in folder.iterdir()}
    return folder


def _overrides(**settings) -> str:
    parts = []
    for key, value in settings.items():
        key = key.replace("_", "-")
        parts.append(f'{key}="{value}"' if isinstance(value, str) else f"{key}={value}")
    return " ".join(parts)


def _run(dep: Deployment, output: Path, hospitals: int, **settings) -> subprocess.Popen:
    """``flwr run`` with the shared settings, waiting for ``hospitals`` SuperNodes."""
    return dep.run(
        _overrides(
            local_epochs=LOCAL_EPOCHS,
            lr=LR,
            split_seed=SPLIT_SEED,
            min_hospitals=hospitals,
            wait_seconds=120,
            round_timeout=RUN_TIMEOUT,
            evaluate_every=0,
            output=str(output),
            **settings,
        )
    )


def _wait(run: subprocess.Popen, result: dict) -> None:
    try:
        run.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    result["returncode"] = run.poll()


def _deployed(workdir: Path, result: dict, hospitals: int, tls=None, faults=None) -> Deployment:
    """A SuperLink and ``hospitals`` SuperNodes; ``faults[partition]``: that one misbehaves."""
    dep = result["deployment"] = Deployment(workdir, tls=tls)
    dep.start_superlink()

    def start(partition: int) -> None:
        fault = (faults or {}).get(partition)
        dep.start_supernode(partition, hospitals, f'fault="{fault}"' if fault else "")

    with ThreadPoolExecutor(hospitals) as pool:  # side by side: each waits until it listens
        list(pool.map(start, range(hospitals)))
    return dep


def secure_with_a_dropout(workdir: Path, result: dict) -> None:
    """SecAgg+ over three SuperNodes, features scaled by public bounds (the secure
    standardisation sum is the same secure_mean as a round's, tested in process): round 1
    with all three, then hospital 3 killed in round 2 after sharing its keys."""
    dep = _deployed(workdir, result, 3)
    run = _run(
        dep,
        workdir / "final_model.npz",
        3,
        num_server_rounds=2,
        secure_aggregation="secaggplus",
        standardisation="public",
    )
    deadline = time.monotonic() + RUN_TIMEOUT
    while run.poll() is None and time.monotonic() < deadline:
        # Its SuperNode logs "[RUN .., ROUND 2]" and "Receiving: train message" for each
        # SecAgg+ stage; the third of round 2 asks for its masked vector. Killed then (with
        # its children, as a laptop that vanishes), it has shared its keys but never sends
        # the vector: the other two must unmask their sum without it. (Flower notices a
        # vanished SuperNode by its missed heartbeats, within a minute.)
        round_two = dep.text("supernode2").split("ROUND 2]", 1)
        if (
            "killed" not in result
            and len(round_two) == 2
            and round_two[1].count("Receiving: train") >= 3
        ):
            dep.kill("supernode2")
            result["killed"] = True
        time.sleep(0.2)
    result["returncode"] = run.poll()


def hostile_over_tls(workdir: Path, result: dict) -> None:
    """Over TLS: two honest hospitals and three that send NaN, 10**9 and a negative count."""
    faults = {2: "nan", 3: "huge-count", 4: "negative-count"}
    dep = _deployed(workdir, result, 5, tls=_certificates(workdir / "tls"), faults=faults)
    _wait(_run(dep, workdir / "final_model.npz", 5, num_server_rounds=1), result)


#: The central-DP scenario's noise multiplier and rounds (its test recomputes epsilon).
CENTRAL_DP = {"noise_multiplier": 1.5, "rounds": 1}


def central_dp(workdir: Path, result: dict) -> None:
    """Central DP over two SuperNodes: the printed epsilon is the accountant's."""
    dep = _deployed(workdir, result, 2)
    run = _run(
        dep,
        workdir / "final_model.npz",
        2,
        standardisation="public",
        num_server_rounds=CENTRAL_DP["rounds"],
        central_dp="gaussian",
        dp_noise_multiplier=CENTRAL_DP["noise_multiplier"],
        dp_epsilon=20.0,
    )
    _wait(run, result)


SCENARIOS = {f.__name__: f for f in (secure_with_a_dropout, hostile_over_tls, central_dp)}
#: These start once the dropout scenario has killed its SuperNode: Flower then waits for the
#: missed heartbeats (flwr.common.constant: HEARTBEAT_DEFAULT_INTERVAL 30 s times
#: HEARTBEAT_PATIENCE 2, so up to a minute), and they use that idle minute instead of
#: competing for the CPU with the SecAgg+ exchanges before it.
AFTER_THE_KILL = ("hostile_over_tls", "central_dp")


# --- one background runner per test session --------------------------------------------------


class Runner:
    """Every scenario, side by side, in a background thread; ``finish()`` waits or stops."""

    def __init__(self, root: Path):
        self.root = root
        self.started = time.monotonic()
        self.results: dict[str, dict] = {}  # each holds its "deployment" once started
        self.aborting = threading.Event()
        self.thread = threading.Thread(target=self._run_all, daemon=True)
        self.thread.start()

    def _run_all(self) -> None:
        with ThreadPoolExecutor(len(SCENARIOS)) as pool:
            list(pool.map(self._run_one, SCENARIOS))

    def _run_one(self, name: str) -> None:
        workdir = self.root / name
        result = self.results[name] = {}
        try:
            if name in AFTER_THE_KILL:
                self._wait_for_the_kill()
            if self.aborting.is_set():
                raise RuntimeError("the test session ended before this scenario started")
            SCENARIOS[name](workdir, result)
        except NoOpenSSL as reason:
            result["skip"] = str(reason)
        except BaseException:  # reported by the scenario's own test
            result["error"] = traceback.format_exc()
        record = {k: v for k, v in result.items() if k != "deployment"}
        dep = result.get("deployment")
        try:
            if dep is not None:
                record["tail"] = dep.tail(80)
                record["commands"] = {n: [str(a) for a in p.args] for n, p in dep.procs.items()}
                record["survivors"] = dep.stop()
        except BaseException:
            record["error"] = record.get("error", "") + traceback.format_exc()
        finally:
            record["seconds"] = round(time.monotonic() - self.started, 1)
            workdir.mkdir(parents=True, exist_ok=True)
            partial = workdir / "result.json.partial"
            partial.write_text(json.dumps(record))
            partial.rename(workdir / "result.json")  # atomic: all of it or nothing

    def _wait_for_the_kill(self, longest: float = 120.0) -> None:
        deadline = time.monotonic() + longest
        while time.monotonic() < deadline and not self.aborting.is_set():
            dropout = self.results.get("secure_with_a_dropout", {})
            if dropout.get("killed") or "returncode" in dropout or "error" in dropout:
                return
            time.sleep(0.5)

    def finish(self, abort: bool) -> None:
        """Wait for the scenarios (or, with ``abort``, stop every deployment at once)."""
        if not abort:
            self.thread.join(timeout=2 * RUN_TIMEOUT)
        if self.thread.is_alive():
            self.aborting.set()  # no scenario starts from now on
            self._stop_all()
            self.thread.join(timeout=60)
            self._stop_all()

    def _stop_all(self) -> None:
        deployments = [r["deployment"] for r in list(self.results.values()) if "deployment" in r]
        with ThreadPoolExecutor(max(1, len(deployments))) as pool:
            list(pool.map(Deployment.stop, deployments))


_RUNNER: Runner | None = None


def launch_once() -> None:
    """Start the scenarios unless another process of this session (an xdist worker) has."""
    global _RUNNER
    root = Path(os.environ[FOLDER_ENV])
    with open(root / "launch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = root / "launched"
        if marker.exists():
            return
        marker.write_text(str(os.getpid()))
    _RUNNER = Runner(root)


def finish(abort: bool = False) -> None:
    """At the end of this process's session: wait for (or abort) the scenarios it started."""
    if _RUNNER is not None:
        _RUNNER.finish(abort)


def result(name: str) -> dict:
    """The scenario's result.json (waiting for it), with ``folder`` and each log's text."""
    root = os.environ.get(FOLDER_ENV)
    assert root, f"{FOLDER_ENV} is not set (tests/conftest.py sets it for the session)"
    folder = Path(root) / name
    path = folder / "result.json"
    deadline = time.monotonic() + 2 * RUN_TIMEOUT + 120
    launched = Path(root) / "launched"
    while not path.exists():
        assert time.monotonic() < deadline, f"the loopback scenario {name} never finished"
        assert launched.exists(), "the loopback scenarios were never started"
        assert _alive(int(launched.read_text())), "the process running the scenarios died"
        time.sleep(0.5)
    record = json.loads(path.read_text())
    record["folder"] = folder
    record["logs"] = {p.stem: p.read_text(errors="replace") for p in folder.glob("*.log")}
    return record
