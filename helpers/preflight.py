"""Check that this machine can run the kit, and say how to fix what it cannot.

Run ``python -m helpers.preflight`` (``make lab`` and notebook 00 run it first). Each
check gives ok, warning or error with a plain-language fix; the exit status is 1 when
any check is an error.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Only the standard library at import time: the preflight must run, and say what to fix, on a
# machine where the kit's packages (pandas included) are missing.

MINIMUM_PYTHON = (3, 11)

#: Distribution name -> import name, for every runtime package the notebooks use.
REQUIRED_PACKAGES = {
    "jupyterlab": "jupyterlab",
    "numpy": "numpy",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "scikit-learn": "sklearn",
    "scipy": "scipy",
    "diffprivlib": "diffprivlib",
    "phe": "phe",
    "gmpy2": "gmpy2",
    "dp-accounting": "dp_accounting",
}

REINSTALL = "run `make lab` again (it reinstalls from requirements.txt), or `pip install -r requirements.txt`"


@dataclass(frozen=True)
class Finding:
    """One preflight check: its status ('ok', 'warning' or 'error'), what it found, the fix."""

    check: str
    status: str
    message: str
    fix: str = ""


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def pinned_versions(requirements: Path | None = None) -> dict[str, str]:
    """Package -> pinned version from requirements.txt (empty if the file is not found)."""
    path = requirements or Path(__file__).resolve().parent.parent / "requirements.txt"
    pins = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[name.strip().lower()] = version.strip()
    return pins


def _installed(name: str, version_of: Callable[[str], str]) -> str | None:
    try:
        return version_of(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _phe_uses_gmpy2() -> bool:
    try:
        from phe import util
    except ImportError:
        return False
    return bool(getattr(util, "HAVE_GMP", False))


def run_checks(
    version_of: Callable[[str], str] = importlib.metadata.version,
    python_version: tuple[int, ...] = tuple(sys.version_info[:3]),
    phe_has_gmpy2: Callable[[], bool] = _phe_uses_gmpy2,
    pins: dict[str, str] | None = None,
) -> list[Finding]:
    """Run every check and return the findings (arguments let tests fake a machine)."""
    pins = pinned_versions() if pins is None else pins
    findings = []

    wanted = ".".join(map(str, MINIMUM_PYTHON))
    have = ".".join(map(str, python_version))
    if tuple(python_version[:2]) >= MINIMUM_PYTHON:
        findings.append(Finding("python", "ok", f"Python {have}"))
    else:
        findings.append(
            Finding(
                "python",
                "error",
                f"Python {have} is older than {wanted}",
                f"install Python {wanted} or newer and run `make lab PYTHON=python3.12` (or the newer one)",
            )
        )

    versions = {}
    for name in REQUIRED_PACKAGES:
        version = _installed(name, version_of)
        versions[name] = version
        if version is None:
            findings.append(Finding(name, "error", f"{name} is not installed", REINSTALL))
        elif name in pins and version != pins[name]:
            findings.append(
                Finding(
                    name,
                    "warning",
                    f"{name} {version} is installed; the kit is tested with {pins[name]}",
                    REINSTALL,
                )
            )
        else:
            findings.append(Finding(name, "ok", f"{name} {version}"))

    sklearn, dpl = versions.get("scikit-learn"), versions.get("diffprivlib")
    if sklearn and dpl and _version_tuple(dpl) <= (0, 6, 6) and _version_tuple(sklearn) >= (1, 8):
        problem = (
            "fails to import (\"cannot import name 'DOUBLE'\")"
            if _version_tuple(sklearn) >= (1, 9)
            else "LogisticRegression raises (\"unexpected keyword argument 'multi_class'\")"
        )
        findings.append(
            Finding(
                "scikit-learn + diffprivlib",
                "error",
                f"diffprivlib {dpl} with scikit-learn {sklearn}: {problem}",
                "install scikit-learn below 1.8: pip install 'scikit-learn==1.7.2' (as requirements.txt pins)",
            )
        )
    if versions.get("phe") and not phe_has_gmpy2():
        findings.append(
            Finding(
                "phe + gmpy2",
                "warning",
                "phe runs without gmpy2, about 8x slower: the encryption notebook will crawl",
                "pip install gmpy2 (as requirements.txt pins); on macOS `brew install gmp` first if it fails to build",
            )
        )
    return findings


def findings_table(findings: list[Finding]):
    """The findings as a pandas DataFrame, for notebooks to display."""
    import pandas as pd

    return pd.DataFrame([f.__dict__ for f in findings]).set_index("check")


def main() -> int:
    """Print the findings; return 1 when any is an error."""
    findings = run_checks()
    width = max(len(f.check) for f in findings)
    for f in findings:
        print(f"{f.status.upper():8} {f.check:{width}}  {f.message}")
        if f.fix:
            print(f"{'':8} {'':{width}}  fix: {f.fix}")
    errors = sum(f.status == "error" for f in findings)
    print("preflight: " + ("all good" if not errors else f"{errors} problem(s) to fix first"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
