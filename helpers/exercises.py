"""The check functions that notebook exercises call.

Convention: an exercise's answer cell (tagged ``solution``) assigns the learner's answer
to a variable; the check cell passes it to a ``check_...`` function here. A check returns
a short "Correct" message or raises ``ExerciseNotSolved`` with a hint. In the learner
edition the answer cell holds ``...`` (Ellipsis), which every check reports as "not
answered yet" rather than as a wrong answer.

Each notebook has its own section below, in course order; checks compute the expected
answer from the same helpers the notebook uses, never from a hard-coded number.
"""

from __future__ import annotations

import math

import pandas as pd

from helpers import data, deid


class ExerciseNotSolved(AssertionError):
    """The answer is missing or wrong; the message says what to look at."""


def require_answer(answer, exercise: str, what: str) -> None:
    """Raise a helpful ExerciseNotSolved when the answer cell still holds ``...`` or None."""
    if answer is Ellipsis or answer is None:
        raise ExerciseNotSolved(
            f"{exercise}: not answered yet. Replace the ... in the answer cell with {what}, "
            "run it, then run this check again."
        )


def correct(exercise: str, detail: str = "") -> str:
    """The message a passing check returns."""
    return f"Correct: {exercise}" + (f" - {detail}" if detail else "")


def _close(answer, expected, tolerance: float) -> bool:
    try:
        return math.isfinite(float(answer)) and abs(float(answer) - expected) <= tolerance
    except (TypeError, ValueError):
        return False


# --- notebook 00: welcome and data ----------------------------------------------------


def check_00_uniqueness_with_birth_year(answer, population: pd.DataFrame) -> str:
    """Exercise 00.1: share of patients unique on (zip5, birth year, sex)."""
    exercise = "Exercise 1 (uniqueness with birth year)"
    require_answer(answer, exercise, "a share between 0 and 1")
    expected = deid.uniqueness(
        population.assign(birth_year=population["birth_date"].dt.year),
        ["zip5", "birth_year", "sex"],
    )
    if _close(answer, expected, 0.0005):
        return correct(exercise, f"{expected:.1%} are unique; far fewer than with full dates")
    if _close(answer, expected * 100, 0.05):
        raise ExerciseNotSolved(f"{exercise}: give a share between 0 and 1, not a percentage.")
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Add a birth_year column with .dt.year and pass "
        "['zip5', 'birth_year', 'sex'] to deid.uniqueness."
    )


def check_00_largest_hospital(answer, population: pd.DataFrame) -> str:
    """Exercise 00.2: the hospital that treats the most synthetic patients."""
    exercise = "Exercise 2 (largest hospital)"
    require_answer(answer, exercise, "a hospital name (a string)")
    expected = population["hospital"].value_counts().idxmax()
    if answer == expected:
        return correct(exercise, expected)
    if answer not in data.HOSPITALS:
        raise ExerciseNotSolved(f"{exercise}: {answer!r} is not one of {data.HOSPITALS}.")
    raise ExerciseNotSolved(f"{exercise}: {answer!r} is not the largest; try value_counts().")


def check_00_label_skew(answer, parts) -> str:
    """Exercise 00.3: the largest share of malignant cases at any one hospital."""
    exercise = "Exercise 3 (label skew)"
    require_answer(answer, exercise, "a share between 0 and 1")
    expected = max(float(y.mean()) for _, y in parts)
    if _close(answer, expected, 0.0005):
        return correct(exercise, f"one hospital sees {expected:.0%} malignant cases")
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. For each (X_h, y_h) in parts, y_h.mean() is the share "
        "of malignant cases; take the largest."
    )


# --- notebook 01: re-identification ---------------------------------------------------

# --- notebook 02: differential privacy foundations ------------------------------------

# --- notebook 03: differentially private machine learning -----------------------------

# --- notebook 04: federated learning --------------------------------------------------

# --- notebook 05: homomorphic encryption ----------------------------------------------

# --- notebook 06: the secure federated pipeline ---------------------------------------

# --- notebook 07: trade-offs ----------------------------------------------------------
