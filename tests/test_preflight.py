"""helpers.preflight: a machine that cannot run the kit is caught, with a fix."""

import importlib.metadata
import subprocess
import sys

import pytest

from helpers import preflight

GOOD = {
    "jupyterlab": "4.6.6",
    "numpy": "2.4.6",
    "pandas": "3.1.1",
    "matplotlib": "3.11.2",
    "scikit-learn": "1.7.2",
    "scipy": "1.17.1",
    "diffprivlib": "0.6.6",
    "phe": "1.5.0",
    "gmpy2": "2.3.2",
    "dp-accounting": "0.6.0",
}


def fake_versions(**overrides):
    versions = GOOD | {k.replace("_", "-"): v for k, v in overrides.items()}

    def version_of(name):
        if versions.get(name) is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return versions[name]

    return version_of


def run(python=(3, 11, 7), gmp=True, **overrides):
    findings = preflight.run_checks(
        version_of=fake_versions(**overrides),
        python_version=python,
        phe_has_gmpy2=lambda: gmp,
        pins=dict(GOOD),
    )
    return {f.check: f for f in findings}


def test_a_good_machine_passes():
    findings = run()
    assert all(f.status == "ok" for f in findings.values())


def test_this_machine_passes():
    # make test installs requirements.txt, so the real machine must be all good
    statuses = {f.check: f.status for f in preflight.run_checks()}
    assert "error" not in statuses.values(), statuses


def test_old_python_is_an_error_with_a_fix():
    finding = run(python=(3, 10, 12))["python"]
    assert finding.status == "error" and "3.10.12" in finding.message and "3.11" in finding.fix


@pytest.mark.parametrize("sklearn, symptom", [("1.9.1", "DOUBLE"), ("1.8.0", "multi_class")])
def test_scikit_learn_too_new_for_diffprivlib_is_caught(sklearn, symptom):
    finding = run(scikit_learn=sklearn)["scikit-learn + diffprivlib"]
    assert finding.status == "error"
    assert symptom in finding.message and "1.7.2" in finding.fix


def test_phe_without_gmpy2_is_a_warning():
    finding = run(gmp=False)["phe + gmpy2"]
    assert finding.status == "warning" and "gmpy2" in finding.fix


def test_missing_package_is_an_error():
    finding = run(phe=None)["phe"]
    assert finding.status == "error" and "not installed" in finding.message


def test_version_other_than_the_pin_is_a_warning():
    finding = run(numpy="1.26.4")["numpy"]
    assert finding.status == "warning" and "2.4.6" in finding.message


def test_pins_are_read_from_requirements():
    pins = preflight.pinned_versions()
    assert pins["scikit-learn"].startswith("1.7") and "diffprivlib" in pins


def test_main_prints_and_returns_status(capsys):
    assert preflight.main() == 0
    assert "preflight: all good" in capsys.readouterr().out


def test_without_pandas_the_preflight_prints_the_fix_not_a_traceback():
    """`python -m helpers.preflight` on a machine where pandas is missing (simulated)."""
    script = (
        "import importlib.metadata as md, runpy, sys\n"
        "sys.modules['pandas'] = None  # import pandas now fails\n"
        "real = md.version\n"
        "def version(name):\n"
        "    if name == 'pandas':\n"
        "        raise md.PackageNotFoundError(name)\n"
        "    return real(name)\n"
        "md.version = version\n"
        "runpy.run_module('helpers.preflight', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=preflight_root()
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == 1
    assert "ERROR    pandas" in done.stdout and "fix: run `make lab` again" in done.stdout


def preflight_root():
    from pathlib import Path

    return Path(preflight.__file__).resolve().parent.parent
