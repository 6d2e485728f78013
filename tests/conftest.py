"""Shared test setup: scripts/ importable, figures off-screen, property tests deterministic;
the Flower loopback scenarios started in the background as soon as they are collected."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import flower_loopback
import matplotlib
import pytest
from hypothesis import settings

matplotlib.use("Agg")
# Property tests draw the same examples on every run (deterministic CI) and have no
# per-example deadline (a loaded machine must not fail a correct test).
settings.register_profile("kit", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("kit")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


# --- the Flower loopback scenarios (tests/flower_loopback.py) ------------------------------
#
# They take minutes of mostly waiting, so they start in the background the moment they are
# collected, in one process of the session (the first xdist worker to collect them), and
# their tests run last, reading what the scenarios wrote to a folder the whole session
# shares. The controlling process makes that folder before any worker starts and removes it
# after every worker has finished.

_LOOPBACK_FOLDER = pytest.StashKey[str]()


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controlling process has set the folder
    given = os.environ.get(flower_loopback.FOLDER_ENV)
    if given:
        if not Path(given).is_dir() or any(Path(given).iterdir()):
            raise pytest.UsageError(
                f"{flower_loopback.FOLDER_ENV}={given} must be an existing, empty folder "
                "(or unset: the tests then make one)"
            )
        return
    folder = tempfile.mkdtemp(prefix="flower-loopback-")
    os.environ[flower_loopback.FOLDER_ENV] = folder  # inherited by the xdist workers
    config.stash[_LOOPBACK_FOLDER] = folder


def pytest_unconfigure(config):
    folder = config.stash.get(_LOOPBACK_FOLDER, None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(flower_loopback.FOLDER_ENV, None)


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected
def pytest_collection_modifyitems(session, config, items):
    """Notebooks first (the longest tests, so no worker is left with one at the end), the
    loopback tests last; start the loopback scenarios if any of their tests will run."""
    loopback = [item for item in items if item.get_closest_marker("loopback")]
    notebooks = [i for i in items if i.get_closest_marker("notebook") and i not in loopback]
    others = [i for i in items if i not in loopback and i not in notebooks]
    items[:] = notebooks + others + loopback
    if loopback and not config.option.collectonly:
        flower_loopback.launch_once()


def pytest_sessionfinish(session, exitstatus):
    # Interrupted, or stopped early (-x, --maxfail): the remaining scenarios are stopped.
    stopped = exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail
    flower_loopback.finish(abort=bool(stopped))
