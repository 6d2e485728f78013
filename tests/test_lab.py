"""`make lab`: the learner's own working copy of the learner edition, whose edits survive every
update, served by JupyterLab (checked headless: start, fetch, edit, restart, fetch, stop)."""

import json
import os
import re
import secrets
import signal
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
import working_copy as wc
from ports import free_port

ROOT = Path(__file__).resolve().parent.parent
FIRST = "notebooks/00_welcome_and_data.ipynb"
#: Seconds for `make lab` to answer: generous, as the rest of the suite shares the machine.
LAB_START_TIMEOUT = 240


# --- the working copy: created once, updated without ever losing an edit --------------------


def _kit(root: Path, **notebooks: list[str]) -> Path:
    """A tiny kit: notebooks/<name>.ipynb, each a list of code cell sources."""
    for name, sources in notebooks.items():
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_markdown_cell(f"# {name}")] + [
            nbformat.v4.new_code_cell(s) for s in sources
        ]
        (root / "notebooks").mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, root / "notebooks" / f"{name}.ipynb")
    (root / "helpers").mkdir(exist_ok=True)
    (root / "helpers" / "tool.py").write_text("def tool():\n    return 1\n")
    return root


def _edit(path: Path, source: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(notebook, path)


def _sources(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells]


def test_the_first_run_creates_the_copy_and_later_runs_keep_the_learners_edits(tmp_path):
    kit, work = _kit(tmp_path / "kit", **{"00_a": ["x = 1"], "01_b": ["y = 2"]}), tmp_path / "w"
    first = wc.sync(work, kit)
    assert sorted(first["added"]) == ["notebooks/00_a.ipynb", "notebooks/01_b.ipynb"]
    _edit(work / "notebooks/00_a.ipynb", "answer = 42  # mine")
    mine = (work / "notebooks/00_a.ipynb").read_bytes()
    second = wc.sync(work, kit)
    assert second["kept"] == ["notebooks/00_a.ipynb"]
    assert (work / "notebooks/00_a.ipynb").read_bytes() == mine, "an edit was overwritten"
    # Running cells is not editing: outputs and counts do not make a notebook "edited".
    ran = nbformat.read(work / "notebooks/01_b.ipynb", as_version=4)
    ran.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2")]
    ran.cells[1].execution_count = 1
    nbformat.write(ran, work / "notebooks/01_b.ipynb")
    assert "notebooks/01_b.ipynb" in wc.sync(work, kit)["unchanged"]
    # Reference files are the kit's: rewritten each time, read-only.
    assert (work / "helpers/tool.py").read_text().startswith("def tool")
    assert not (work / "helpers/tool.py").stat().st_mode & stat.S_IWUSR


def test_a_kit_update_never_overwrites_an_edited_notebook(tmp_path, capsys):
    kit, work = _kit(tmp_path / "kit", **{"00_a": ["x = 1"], "01_b": ["y = 2"]}), tmp_path / "w"
    wc.sync(work, kit)
    _edit(work / "notebooks/00_a.ipynb", "answer = 42  # mine")
    # A `git pull` changes both notebooks and adds a third.
    _kit(kit, **{"00_a": ["x = 10"], "01_b": ["y = 20"], "02_c": ["z = 3"]})
    report = wc.sync(work, kit)
    assert report["added"] == ["notebooks/02_c.ipynb"]
    assert report["updated"] == ["notebooks/01_b.ipynb"], "an unedited notebook is updated"
    assert _sources(work / "notebooks/01_b.ipynb")[1] == "y = 20"
    (entry,) = report["beside"]
    mine, new = entry.split(" -> ")
    assert mine == "notebooks/00_a.ipynb" and new.startswith("notebooks/00_a.updated-")
    assert _sources(work / mine)[1:] == ["x = 1", "answer = 42  # mine"], "yours is unchanged"
    assert _sources(work / new)[1] == "x = 10", "the kit's new version is beside it"
    lines = wc.summary(work, report)
    assert "you edited notebooks/00_a.ipynb" in lines[1] and new in lines[1]
    # Run again: nothing more is written, the learner's file is still theirs.
    again = wc.sync(work, kit)
    assert again["beside"] == [entry] and _sources(work / mine)[-1] == "answer = 42  # mine"


def test_a_notebook_of_unknown_origin_counts_as_edited(tmp_path):
    kit, work = _kit(tmp_path / "kit", **{"00_a": ["x = 1"]}), tmp_path / "w"
    wc.sync(work, kit)
    (work / wc.MANIFEST).unlink()  # the record is lost: nothing proves the file is as generated
    _kit(kit, **{"00_a": ["x = 10"]})
    report = wc.sync(work, kit)
    assert report["updated"] == [] and len(report["beside"]) == 1
    assert _sources(work / "notebooks/00_a.ipynb")[1] == "x = 1"


# --- make lab, served headless ------------------------------------------------------------


class Lab:
    """`make lab ...` in a process group, answering on a free port with a random token."""

    def __init__(self, tmp_path: Path, *make_args: str):
        self.port, self.token = free_port(), secrets.token_hex(8)
        args = (
            f"--no-browser --ip=127.0.0.1 --port={self.port} --IdentityProvider.token={self.token}"
        )
        env = os.environ | {"JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}", *make_args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.landing, self.page = None, None
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(self.url("/"), timeout=5) as response:
                    self.page, self.landing = response.read().decode(), response.url
                    break
            except OSError:
                time.sleep(1)
        if self.page is None:
            self.stop()
            pytest.fail(
                f"JupyterLab did not answer within {LAB_START_TIMEOUT} s:\n{self.output[-3000:]}"
            )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}?token={self.token}"

    def contents(self, rel: str) -> dict:
        with urllib.request.urlopen(self.url(f"/api/contents/{rel}"), timeout=10) as response:
            return json.load(response)

    def save(self, rel: str, model: dict) -> None:
        body = json.dumps({"type": "notebook", "format": "json", "content": model}).encode()
        request = urllib.request.Request(self.url(f"/api/contents/{rel}"), body, method="PUT")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 201)

    def stop(self) -> str:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.output, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.output, _ = self.process.communicate()
        return self.output


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.slow
def test_make_lab_opens_the_learners_own_copy_and_keeps_their_edits(tmp_path):
    work = tmp_path / "work"
    lab = Lab(tmp_path, f"WORK={work}")
    try:
        assert "jupyter-config-data" in lab.page
        assert f"/lab/tree/{FIRST}" in lab.landing  # opens at the first notebook
        config = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', lab.page, re.S)
        config = json.loads(config.group(1))
        assert config["news"] == {"disabled": True}, "no news feed fetched"
        url = lab.url("/lab/api/settings/@jupyterlab/apputils-extension:notification")
        with urllib.request.urlopen(url, timeout=10) as response:
            fetch_news = json.load(response)["schema"]["properties"]["fetchNews"]["default"]
        assert fetch_news == "false", "no 'Jupyter news' prompt for a student (overrides.d)"
        served = lab.contents(FIRST)["content"]
        assert served["metadata"]["kit"]["edition"] == "learner"
        cells = served["cells"]
        assert not [c for c in cells if {"solution", "instructor"} & set(_tags(c))]
        assert any("answer" in _tags(c) for c in cells), "the exercises are stubs to fill in"
        stub = next(c for c in cells if "answer" in _tags(c))
        stub["source"] = "answer_1 = 0.25  # my answer"
        lab.save(FIRST, served)  # as JupyterLab saves it
    finally:
        first_output = lab.stop()
    assert "pip install" not in first_output, "make lab reinstalled though nothing changed"
    assert "your working copy" in first_output
    lab = Lab(tmp_path, f"WORK={work}")  # the second `make lab`
    try:
        cells = lab.contents(FIRST)["content"]["cells"]
        assert "answer_1 = 0.25  # my answer" in [c["source"] for c in cells], "the edit is lost"
    finally:
        lab.stop()


def test_make_lab_editions_open_the_right_folder():
    def dry_run(*args):
        done = subprocess.run(
            ["make", "--no-print-directory", "-n", "lab", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        return done.returncode, done.stdout + done.stderr

    code, learner = dry_run()
    assert code == 0 and "scripts/working_copy.py" in learner and 'root_dir="work"' in learner
    code, instructor = dry_run("EDITION=instructor")
    assert code == 0 and "--ServerApp.root_dir=." in instructor
    assert "working_copy" not in instructor
    code, _ = dry_run("EDITION=student")
    assert code == 0  # make -n prints the refusal; running it exits 2
    done = subprocess.run(
        ["make", "--no-print-directory", "lab", "EDITION=student"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "EDITION must be learner" in done.stdout + done.stderr
