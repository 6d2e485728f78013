"""Shared test setup: the scripts/ folder is importable, figures draw off-screen."""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
