"""Shared test setup: scripts/ importable, figures off-screen, property tests deterministic."""

import os
import sys
from pathlib import Path

import matplotlib
from hypothesis import settings

matplotlib.use("Agg")
# Property tests draw the same examples on every run (deterministic CI) and have no
# per-example deadline (a loaded machine must not fail a correct test).
settings.register_profile("kit", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("kit")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
