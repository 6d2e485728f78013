"""The small shared pieces: input validation, claims, the figure style, the progress bar."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import _validation as v
from helpers import claims, exercises, plotting
from helpers.progress import progress


def test_check_rng_accepts_seed_generator_none_and_rejects_others():
    generator = np.random.default_rng(1)
    assert v.check_rng(generator) is generator
    assert v.check_rng(3).integers(1000) == np.random.default_rng(3).integers(1000)
    assert isinstance(v.check_rng(None), np.random.Generator)
    with pytest.raises(TypeError, match="rng must be"):
        v.check_rng("3")
    with pytest.raises(ValueError, match="non-negative"):
        v.check_rng(-1)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_real_accepts_exactly_the_finite_values_in_range(x):
    inside = math.isfinite(x) and 0 < x <= 1
    if inside:
        assert v.check_real(x, "p", 0, 1, low_inclusive=False) == x
    else:
        with pytest.raises(ValueError, match=r"p must be .*\(0, 1\]"):
            v.check_real(x, "p", 0, 1, low_inclusive=False)


def test_check_integer_and_choice_messages():
    with pytest.raises(TypeError, match="rounds must be an integer"):
        v.check_integer(2.0, "rounds")
    with pytest.raises(TypeError):
        v.check_integer(True, "rounds")
    with pytest.raises(ValueError, match="rounds must be >= 1; got 0"):
        v.check_integer(0, "rounds", minimum=1)
    with pytest.raises(ValueError, match="method must be one of 'a', 'b'; got 'c'"):
        v.check_choice("c", "method", ["a", "b"])


def test_claim_passes_within_tolerance_and_fails_outside(monkeypatch, tmp_path):
    monkeypatch.setenv(claims.LOG_VARIABLE, str(tmp_path / "claims.jsonl"))
    assert claims.claim("rate", 0.8712, 0.87, tolerance=0.005) is None
    with pytest.raises(claims.ClaimMismatchError, match="states rate = 0.9"):
        claims.claim("rate", 0.8712, 0.9, tolerance=0.005)
    with pytest.raises(claims.ClaimMismatchError):
        claims.claim("rate", float("nan"), 0.9, tolerance=1)
    claims.claim("winner", "I10", "I10")
    assert len((tmp_path / "claims.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize("tolerance", [-1, float("inf"), float("nan"), True, "0.1", None])
def test_claim_refuses_a_tolerance_that_would_accept_anything(tolerance):
    with pytest.raises((TypeError, ValueError), match="tolerance"):
        claims.claim("rate", 1, 1, tolerance=tolerance)


@pytest.mark.parametrize(
    "value, stated",
    [(1, True), (True, 1), ("0.5", 0.5), (0.5, "0.5"), (None, 0), ([1], 1), (0.0, False)],
)
def test_claim_does_not_confuse_types(value, stated):
    assert not claims.agrees(value, stated, 0.5)


def test_claim_accepts_numpy_scalars_and_lists():
    assert claims.agrees(np.float64(0.9651), 0.965, 0.0005)
    assert claims.agrees(np.True_, True) and claims.agrees(np.str_("H4"), "H4")
    assert claims.agrees([np.int64(76), 75], [76, 75])


def test_new_figure_demands_a_title_and_labels():
    plotting.use_kit_style()
    fig, ax = plotting.new_figure("Title", "Age (years)", "Patients (count)")
    ax.plot([0, 1], [0, 1], label="line")
    plotting.finish(ax)
    assert ax.get_title() == "Title" and ax.get_legend() is not None
    plt.close(fig)
    with pytest.raises(ValueError, match="ylabel must be a non-empty string"):
        plotting.new_figure("Title", "x", " ")


def test_progress_is_transparent_when_disabled_and_counts_when_enabled(capsys):
    items = [1, 2, 3]
    assert progress(items, enabled=False) is items
    assert list(progress(items, enabled=True, desc="rounds")) == items
    err = capsys.readouterr().err  # outside a Jupyter kernel: a text bar on stderr
    assert "rounds" in err and "3/3" in err and "it/s" not in err


def test_exercise_checks_explain_a_missing_answer():
    with pytest.raises(exercises.ExerciseNotSolved, match="not answered yet"):
        exercises.require_answer(..., "Exercise 1", "a number")
