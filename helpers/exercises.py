"""The check functions that notebook exercises call.

Convention: an exercise's answer cell (tagged ``solution``) assigns the learner's answer
to a variable; the check cell passes it to a ``check_...`` function here. A check returns
a short "Correct" message or raises ``ExerciseNotSolved`` with a hint. In the learner
edition the answer cell holds ``...`` (Ellipsis), which every check reports as "not
answered yet" rather than as a wrong answer.

Every check starts by reading the answer with one of the ``require_...`` helpers below,
which refuse an answer of the wrong type with a hint: a number is a real number or numpy
scalar (never a bool, a string, None or a one-element array), a yes/no answer is ``bool``
or ``np.bool_``, a name is a ``str``, a vector is a 1-D array of real numbers. A hint says
what to look at, never the expected value. ``tests/test_exercise_checks.py`` holds, for every
check here, right answers of several natural types and plausible wrong ones; a new check
needs its entry there.

Each notebook has its own section below, in course order; checks compute the expected
answer from the same helpers the notebook uses, never from a hard-coded number.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from helpers import data, deid


class ExerciseNotSolved(AssertionError):
    """The answer is missing or wrong; the message says what to look at.

    In Jupyter the error shows as its message alone, never as a traceback: a traceback
    would print the check's source lines, and with them the reference computation.
    IPython asks an exception for ``_render_traceback_()`` before formatting one, and what
    it returns is also what nbclient stores as the error output (so a saved notebook and
    the book show only the hint too).
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class Correct(str):
    """A passing check's message: a ``str`` that Jupyter shows as plain text, without quotes."""

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def correct(exercise: str, detail: str = "") -> Correct:
    """The message a passing check returns."""
    return Correct(f"Correct: {exercise}" + (f" - {detail}" if detail else ""))


# --- reading an answer: one helper per answer type ----------------------------------------


def _shown(answer) -> str:
    """A short description of a wrong answer for a hint (its value, or its type)."""
    if isinstance(answer, np.ndarray | pd.Series | pd.DataFrame):
        return f"a {type(answer).__name__} of shape {answer.shape}"
    text = repr(answer)
    return text if len(text) <= 40 and "\n" not in text else f"a {type(answer).__name__}"


def require_answer(answer, exercise: str, what: str) -> None:
    """Raise a helpful ExerciseNotSolved when the answer cell still holds ``...`` or None."""
    if answer is Ellipsis or answer is None:
        raise ExerciseNotSolved(
            f"{exercise}: not answered yet. Replace the ... in the answer cell with {what}, "
            "run it, then run this check again."
        )


def _is_bool(answer) -> bool:
    return isinstance(answer, bool | np.bool_)


def require_number(answer, exercise: str, what: str) -> float:
    """The answer as a float when it is one finite real number (int, float, numpy scalar).

    A bool, a string, None, a list or an array (even of one element) is refused with a hint
    that names what was given, so ``True`` never passes for 1 and ``"0.5"`` never for 0.5.
    """
    require_answer(answer, exercise, what)
    if _is_bool(answer):
        raise ExerciseNotSolved(f"{exercise}: give {what}, not {answer!r}.")
    if isinstance(answer, np.ndarray | list | tuple | pd.Series):
        raise ExerciseNotSolved(
            f"{exercise}: give {what} as a single number; got {_shown(answer)} "
            "(take the element you mean, or float(...) of a single value)."
        )
    if not isinstance(answer, numbers.Real):
        raise ExerciseNotSolved(
            f"{exercise}: give {what} as a number; got {_shown(answer)}, a {type(answer).__name__}."
        )
    value = float(answer)
    if not math.isfinite(value):
        raise ExerciseNotSolved(f"{exercise}: give {what} as a finite number; got {answer!r}.")
    return value


def require_integer(answer, exercise: str, what: str) -> int:
    """The answer as an int when it is a whole number (3, np.int64(3) or 3.0)."""
    value = require_number(answer, exercise, what)
    if not value.is_integer():
        raise ExerciseNotSolved(f"{exercise}: give {what} as a whole number; got {answer!r}.")
    return int(value)


def require_bool(answer, exercise: str, what: str = "True or False") -> bool:
    """The answer as a bool when it is ``True``/``False`` (``bool`` or ``np.bool_``).

    ``1``, ``0``, ``"True"`` and ``"yes"`` are refused: a yes/no answer is a boolean.
    """
    require_answer(answer, exercise, what)
    if not _is_bool(answer):
        raise ExerciseNotSolved(f"{exercise}: answer {what}; got {_shown(answer)}.")
    return bool(answer)


def require_text(answer, exercise: str, what: str) -> str:
    """The answer when it is a string (``str`` or ``np.str_``), stripped of outer spaces."""
    require_answer(answer, exercise, what)
    if not isinstance(answer, str):
        raise ExerciseNotSolved(
            f"{exercise}: give {what} as a string in quotes; got {_shown(answer)}."
        )
    return answer.strip()


def require_vector(answer, exercise: str, what: str) -> np.ndarray:
    """The answer as a flat float array when it is a 1-D (or one-row) array or list of reals."""
    require_answer(answer, exercise, what)
    if _is_bool(answer) or isinstance(answer, str | numbers.Number):
        raise ExerciseNotSolved(f"{exercise}: give {what}; got {_shown(answer)}.")
    try:
        values = np.asarray(answer)
    except (TypeError, ValueError):
        values = np.asarray([], dtype=object)
    if values.dtype.kind not in "iuf" or values.ndim not in (1, 2) or values.size == 0:
        raise ExerciseNotSolved(
            f"{exercise}: give {what} as a numpy array of numbers; got {_shown(answer)}."
        )
    if values.ndim == 2 and 1 not in values.shape:
        raise ExerciseNotSolved(f"{exercise}: give {what} as one row; got shape {values.shape}.")
    values = values.astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ExerciseNotSolved(f"{exercise}: {what} must hold only finite numbers.")
    return values


def _close(value, expected, tolerance: float) -> bool:
    """Whether a number read by ``require_number`` lies within ``tolerance`` of ``expected``.

    Anything that is not a real number (a bool included) is never close.
    """
    if _is_bool(value) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value)) and abs(float(value) - float(expected)) <= tolerance


def _refuse_if_close(answer: float, expected: float, exercise: str, relative: float = 0.01) -> None:
    """Refuse an answer within ``relative`` of the expected value (a rounded or truncated one).

    Call it after the checks for recognised mistakes and before the generic hint: a value this
    close is the right method, rounded, and the learner should hear that, not a method hint.
    """
    if abs(answer - expected) <= relative * abs(expected):
        raise ExerciseNotSolved(
            f"{exercise}: close: give the unrounded value (the variable itself, not a number "
            "copied from a printout)."
        )


def _refuse_outside(answer: float, exercise: str, what: str, low: float = 0.0, high: float = 1.0):
    """Refuse a value outside [low, high] (a count or a percentage where a share is asked)."""
    if not low <= answer <= high:
        raise ExerciseNotSolved(
            f"{exercise}: {what} lies between {low:g} and {high:g}; got {answer!r} (a count "
            "or a percentage? divide by the total)."
        )


# --- notebook 00: welcome and data ----------------------------------------------------


def check_00_uniqueness_with_birth_year(answer, population: pd.DataFrame) -> str:
    """Exercise 00.1: share of patients unique on (zip5, birth year, sex)."""
    exercise = "Exercise 1 (uniqueness with birth year)"
    answer = require_number(answer, exercise, "a share between 0 and 1")
    expected = deid.uniqueness(
        population.assign(birth_year=population["birth_date"].dt.year),
        ["zip5", "birth_year", "sex"],
    )
    if _close(answer, expected, 0.0005):
        return correct(exercise, f"{expected:.1%} are unique; far fewer than with full dates")
    if _close(answer, expected * 100, 0.05):
        raise ExerciseNotSolved(f"{exercise}: give a share between 0 and 1, not a percentage.")
    if _close(answer, deid.uniqueness(population, ["zip5", "birth_date", "sex"]), 0.0005):
        raise ExerciseNotSolved(
            f"{exercise}: that is the uniqueness with full birth dates; keep only the year "
            "(.dt.year) in a birth_year column."
        )
    _refuse_outside(answer, exercise, "a share")
    _refuse_if_close(answer, expected, exercise)
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Add a birth_year column with .dt.year and pass "
        "['zip5', 'birth_year', 'sex'] to deid.uniqueness."
    )


def check_00_uniqueness_in_smaller_list(answer, population: pd.DataFrame, n_patients: int) -> str:
    """Exercise 00.3: share unique on (zip5, birth year, sex) among the first ``n_patients``."""
    exercise = "Exercise 3 (uniqueness in a smaller list)"
    answer = require_number(answer, exercise, "a share between 0 and 1")
    columns = ["zip5", "birth_year", "sex"]
    with_year = population.assign(birth_year=population["birth_date"].dt.year)
    expected = deid.uniqueness(with_year.head(n_patients), columns)
    everyone = deid.uniqueness(with_year, columns)
    if _close(answer, expected, 0.0005):
        return correct(
            exercise,
            f"{expected:.1%} of the first {n_patients:,} are unique, against {everyone:.1%} of "
            f"all {len(population):,}: with fewer people in the list, fewer share a combination. "
            "Uniqueness is a property of a record within a list, not of the person",
        )
    if _close(answer, expected * 100, 0.05):
        raise ExerciseNotSolved(f"{exercise}: give a share between 0 and 1, not a percentage.")
    if _close(answer, everyone, 0.0005):
        raise ExerciseNotSolved(
            f"{exercise}: that is the share among ALL patients (Exercise 1); count among only "
            "the first patients of the table (.head(...))."
        )
    if _close(answer, deid.uniqueness(population.head(n_patients), data.QUASI_IDENTIFIERS), 0.0005):
        raise ExerciseNotSolved(
            f"{exercise}: that uses full birth dates; use the birth_year column of Exercise 1."
        )
    _refuse_outside(answer, exercise, "a share")
    _refuse_if_close(answer, expected, exercise)
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Take the first {n_patients:,} rows of the table with its "
        "birth_year column and pass them, with ['zip5', 'birth_year', 'sex'], to deid.uniqueness."
    )


def check_00_largest_hospital(answer, population: pd.DataFrame) -> str:
    """Exercise 00.2: the hospital that treats the most synthetic patients."""
    exercise = "Exercise 2 (largest hospital)"
    answer = require_text(answer, exercise, "a hospital name")
    counts = population["hospital"].value_counts()
    expected = counts.idxmax()
    if answer == expected:
        return correct(exercise, expected)
    if answer not in data.HOSPITALS:
        raise ExerciseNotSolved(
            f"{exercise}: {answer!r} is not one of the hospital names in data.HOSPITALS; "
            "copy the name exactly as the population spells it."
        )
    if answer == counts.idxmin():
        raise ExerciseNotSolved(f"{exercise}: {answer!r} is the SMALLEST; look at the other end.")
    raise ExerciseNotSolved(f"{exercise}: {answer!r} is not the largest; try value_counts().")


def check_00_fewest_malignant(answer, parts, names) -> str:
    """Exercise 00.4: the hospital of a split with the fewest malignant cases to learn from."""
    exercise = "Exercise 4 (who has least to learn from?)"
    answer = require_text(answer, exercise, "a hospital name")
    names = list(names)
    if len(names) != len(parts):
        raise ValueError(f"names must give one name per part; got {len(names)} for {len(parts)}")
    cases = np.array([int(np.sum(y)) for _, y in parts])
    sizes = np.array([len(y) for _, y in parts])
    shares = cases / sizes
    if (cases == cases.min()).sum() > 1:
        raise ValueError("the fewest malignant cases must be at one hospital only")
    expected = names[int(np.argmin(cases))]
    if answer == expected:
        return correct(
            exercise,
            f"{expected}: {cases.min()} malignant case(s) among {sizes[np.argmin(cases)]} "
            "patients. Hospitals differ in size (quantity skew) as well as in case mix (label "
            "skew); what a model can learn depends on both",
        )
    if answer not in names:
        raise ExerciseNotSolved(
            f"{exercise}: {answer!r} is not one of the hospitals of the split; copy a name "
            "from the table exactly."
        )
    if answer == names[int(np.argmin(sizes))]:
        raise ExerciseNotSolved(
            f"{exercise}: {answer!r} has the fewest PATIENTS, but most of them may be "
            "malignant. Count each hospital's malignant cases (the sum of y_h)."
        )
    if answer == names[int(np.argmin(shares))]:
        raise ExerciseNotSolved(
            f"{exercise}: {answer!r} has the lowest SHARE of malignant cases; a model learns "
            "from the NUMBER of cases it sees. Multiply share by patients, or sum y_h."
        )
    raise ExerciseNotSolved(
        f"{exercise}: {answer!r} is not it. For each hospital, count the malignant cases "
        "(the sum of its labels y_h) and take the hospital with the fewest."
    )


# --- notebook 01: re-identification ---------------------------------------------------


def check_01_safe_harbor_uniqueness(answer, released: pd.DataFrame) -> str:
    """Exercise 01.1: share of Safe Harbor records unique on (zip3, birth_year, sex)."""
    exercise = "Exercise 1 (uniqueness after Safe Harbor)"
    answer = require_number(answer, exercise, "a share between 0 and 1")
    expected = deid.uniqueness(released, ["zip3", "birth_year", "sex"])
    if _close(answer, expected, 0.00005):
        return correct(
            exercise,
            f"{expected:.2%} of records are still unique. Fewer than with the raw three-digit "
            "ZIP and birth year: Safe Harbor merges small ZIP areas into 000 and removes the "
            "birth year of everyone aged 90 or over, exactly where records were rare",
        )
    if _close(answer, expected * 100, 0.005):
        raise ExerciseNotSolved(f"{exercise}: give a share between 0 and 1, not a percentage.")
    _refuse_outside(answer, exercise, "a share")
    _refuse_if_close(answer, expected, exercise)
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Pass the Safe Harbor release and "
        "['zip3', 'birth_year', 'sex'] to deid.uniqueness."
    )


def check_01_records_to_suppress(answer, table: pd.DataFrame, quasi_identifiers, k: int) -> str:
    """Exercise 01.2: how many records must be suppressed to make a table k-anonymous."""
    exercise = "Exercise 2 (suppress to reach k)"
    answer = require_integer(answer, exercise, "the number of records")
    classes = deid.equivalence_classes(table, quasi_identifiers)
    small = classes[classes["size"] < k]
    expected = int(small["size"].sum())
    if answer == expected:
        return correct(
            exercise,
            f"{expected} records in {len(small)} classes smaller than {k} "
            f"({expected / len(table):.2%} of the release): suppress them and every remaining "
            f"record hides among at least {k - 1} others",
        )
    if answer == len(small):
        raise ExerciseNotSolved(
            f"{exercise}: that is the number of CLASSES that are too small; count the RECORDS "
            "in them (add up their sizes)."
        )
    if answer == int(classes.loc[classes["size"] <= k, "size"].sum()):
        raise ExerciseNotSolved(
            f"{exercise}: a class of exactly {k} records already satisfies k = {k}; suppress "
            f"only classes smaller than {k}."
        )
    keys = table[list(quasi_identifiers)]
    if keys.isna().any().any():
        sizes = table.groupby(list(quasi_identifiers), observed=True).size()  # drops NA keys
        if answer == int(sizes[sizes < k].sum()):
            raise ExerciseNotSolved(
                f"{exercise}: did you drop the 90+ class? Their Safe Harbor birth_year is missing "
                "(<NA>), and groupby leaves out missing keys unless you pass dropna=False."
            )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. List the classes with deid.equivalence_classes, keep "
        f"those whose size is below {k}, and add up their sizes."
    )


def check_01_homogeneous_share(answer, table: pd.DataFrame, quasi_identifiers, sensitive) -> str:
    """Exercise 01.3: share of records in classes where everyone has the same diagnosis."""
    exercise = "Exercise 3 (homogeneity attack)"
    answer = require_number(answer, exercise, "a share between 0 and 1")
    classes = deid.equivalence_classes(table, quasi_identifiers, sensitive)
    expected = float(classes.loc[classes["distinct"] == 1, "size"].sum() / classes["size"].sum())
    if _close(answer, expected, 0.00005):
        return correct(exercise, f"{expected:.2%} of records have their diagnosis revealed")
    share_of_classes = float((classes["distinct"] == 1).mean())
    if _close(answer, share_of_classes, 0.00005):
        raise ExerciseNotSolved(
            f"{exercise}: that is the share of CLASSES; weight each class by its size to get "
            "the share of RECORDS."
        )
    _refuse_outside(answer, exercise, "a share")
    _refuse_if_close(answer, expected, exercise)
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Find the classes whose records all share one diagnosis, "
        "and weight each such class by its size."
    )


def check_01_differencing(answer, records: pd.DataFrame, target_id, code: str) -> str:
    """Exercise 01.4: the two exact counts of a differencing attack, [with, without the target]."""
    from helpers import attacks  # attacks is used by notebook 01's checks only

    exercise = "Exercise 4 (differencing attack)"
    given = answer  # a hint names what the learner gave (a list stays a list)
    answer = require_vector(answer, exercise, "the two counts [with the target, without]")
    result = attacks.differencing_attack(records, target_id, ("diagnosis_code", code))
    expected = np.array([result.count_with, result.count_without], dtype=float)
    if answer.size != 2:
        raise ExerciseNotSolved(
            f"{exercise}: give exactly two counts, [with the target, without]; got {answer.size}."
        )
    if np.array_equal(answer, expected):
        verdict = "has" if result.truth else "does not have"
        return correct(
            exercise,
            f"the counts differ by {result.difference:g}, so patient {target_id} {verdict} "
            f"{code}: two exact counts of thousands of patients were enough",
        )
    if np.array_equal(answer, expected[::-1]) and expected[0] != expected[1]:
        raise ExerciseNotSolved(
            f"{exercise}: the counts are swapped; put the count WITH patient {target_id} first."
        )
    if answer[0] == expected[0]:
        raise ExerciseNotSolved(
            f"{exercise}: the first count is right; for the second, leave patient {target_id} "
            "out of the table before counting."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {_shown(given)}. Count the patients with diagnosis_code == {code!r}, "
        f"then the same count over the table without patient {target_id}."
    )


# --- notebook 02: differential privacy foundations ------------------------------------


def check_02_randomized_response(answer, noisy_bits, epsilon) -> str:
    """Exercise 02.1: the unbiased estimate of the true share from randomized-response reports."""
    from helpers import dp

    exercise = "Exercise 1 (randomized response estimate)"
    answer = require_number(answer, exercise, "a share (a float)")
    expected = dp.estimate_proportion(noisy_bits, epsilon)
    if _close(answer, expected, 1e-6):
        return correct(exercise, f"estimated share {expected:.3f}")
    observed = float(np.mean(noisy_bits))
    if _close(answer, observed, 1e-6):
        raise ExerciseNotSolved(
            f"{exercise}: that is the share of noisy 'yes' answers, which is pulled towards 0.5; "
            "solve the equation for E[noisy share] above the exercise for the true share."
        )
    truth = math.exp(epsilon) / (1 + math.exp(epsilon))
    if _close(answer, (observed - truth) / (1 - 2 * truth), 1e-6):
        raise ExerciseNotSolved(
            f"{exercise}: p is the probability of telling the TRUTH, e^eps / (1 + e^eps), "
            "not of lying."
        )
    _refuse_if_close(answer, expected, exercise, relative=0.005)
    # within about three standard errors of the estimate: the truth, or the 0.12 it was drawn
    # with, rather than an estimate from the reports
    standard_error = math.sqrt(observed * (1 - observed) / np.size(noisy_bits)) / (2 * truth - 1)
    if abs(answer - expected) <= 3 * standard_error:
        raise ExerciseNotSolved(
            f"{exercise}: near, but not the estimate. The true answers (and the rate they were "
            "drawn with) are never collected; estimate from noisy_bits alone."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Start from the noisy share: take away the part of the "
        "'yes' answers that comes from lies, then rescale by how much the truth shows through."
    )


def check_02_laplace_release(answer, true_value, sensitivity, epsilon, seed: int) -> str:
    """Exercise 02.2: a Laplace-mechanism release written in numpy, with a fresh generator."""
    exercise = "Exercise 2 (write the Laplace mechanism)"
    answer = require_number(answer, exercise, "the released number (a float)")

    def release(scale):
        return float(true_value + np.random.default_rng(seed).laplace(0.0, scale))

    expected = release(sensitivity / epsilon)
    if _close(answer, expected, 1e-9 * max(1.0, abs(expected))):
        return correct(
            exercise,
            f"released {expected:.3f}; dp.laplace_mechanism with the same seed releases the "
            "same number, after checking its arguments",
        )
    if _close(answer, float(true_value), 1e-9):
        raise ExerciseNotSolved(
            f"{exercise}: that is the true value; a release adds Laplace noise to it."
        )
    if _close(answer, release(epsilon / sensitivity), 1e-9 * max(1.0, abs(answer))):
        raise ExerciseNotSolved(
            f"{exercise}: the scale is upside down: it is sensitivity / epsilon, so that less "
            "epsilon means MORE noise."
        )
    if _close(answer, release(1.0), 1e-9 * max(1.0, abs(answer))):
        raise ExerciseNotSolved(
            f"{exercise}: the noise must depend on epsilon: its scale is sensitivity / epsilon."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Make a fresh rng = np.random.default_rng({seed}), draw "
        "ONE rng.laplace(0.0, scale) with scale = sensitivity / epsilon, and add it to the "
        "true value."
    )


def check_02_sum_sensitivity(answer, lower, upper, max_contributions: int = 1) -> str:
    """Exercise 02.3: the sensitivity of a sum of values clipped to [lower, upper], when one
    patient contributes at most ``max_contributions`` values."""
    exercise = "Exercise 3 (sensitivity of a clipped sum)"
    answer = require_number(answer, exercise, "a number (the most one patient can change the sum)")
    per_value = max(abs(lower), abs(upper))
    expected = max_contributions * per_value
    if _close(answer, expected, 1e-9):
        return correct(
            exercise, f"adding or removing one patient moves the sum by at most {expected:g}"
        )
    if max_contributions > 1 and _close(answer, per_value, 1e-9):
        raise ExerciseNotSolved(
            f"{exercise}: that is what ONE encounter can change; the privacy unit is the "
            "patient, who may contribute several encounters."
        )
    if _close(answer, max_contributions * (upper - lower), 1e-9) or _close(
        answer, upper - lower, 1e-9
    ):
        raise ExerciseNotSolved(
            f"{exercise}: upper - lower is the sensitivity when a value is REPLACED; here one "
            "patient is added or removed, so the sum moves by that patient's whole values."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}; how large can one clipped value be, and how many values "
        "can one patient contribute?"
    )


def check_02_queries_in_budget(
    answer, epsilon_per_query, epsilon_budget, delta_budget, delta_prime
) -> str:
    """Exercise 02.4: how many equal queries fit a budget under advanced composition."""
    from helpers import accounting

    exercise = "Exercise 4 (queries within a budget)"
    answer = require_integer(answer, exercise, "the number of queries")
    accountant = accounting.PrivacyAccountant(
        epsilon_budget, delta_budget, composition="advanced", delta_prime=delta_prime
    )
    expected = 0
    while accountant.can_spend(epsilon_per_query):
        accountant.spend(epsilon_per_query)
        expected += 1
    basic = int(epsilon_budget / epsilon_per_query + 1e-9)
    if answer == expected:
        return correct(exercise, f"{expected} queries, against {basic} under basic composition")
    if answer == basic:
        raise ExerciseNotSolved(
            f"{exercise}: that is the count under BASIC composition (epsilons add up); "
            "use composition='advanced'."
        )
    if answer == expected + 1:
        raise ExerciseNotSolved(
            f"{exercise}: one too many: count only the spends the accountant accepted."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Make a PrivacyAccountant with composition='advanced' and "
        "spend epsilon_per_query while accountant.can_spend(...) is True; count the spends."
    )


def check_02_gaussian_sigma(answer, sensitivity, epsilon, delta) -> str:
    """Exercise 02.5: the analytic Gaussian noise scale for (epsilon, delta)."""
    from helpers import dp

    exercise = "Exercise 5 (Gaussian noise scale)"
    answer = require_number(answer, exercise, "a standard deviation (a float)")
    expected = dp.gaussian_sigma(sensitivity, epsilon, delta)
    classic = math.sqrt(2 * math.log(1.25 / delta)) * sensitivity / epsilon
    if _close(answer, expected, 1e-3 * expected):
        comparison = "smaller" if expected < classic else "larger"
        return correct(
            exercise,
            f"sigma = {expected:.3f}, {comparison} than the classic formula's {classic:.3f} "
            "(which is not proved at this epsilon)",
        )
    if _close(answer, classic, 1e-3 * classic):
        raise ExerciseNotSolved(
            f"{exercise}: that is the classic bound, which is proved only for epsilon < 1; use "
            "the analytic calibration dp.gaussian_sigma(sensitivity, epsilon, delta)."
        )
    slips = {  # the helper called with another sensitivity, epsilon or delta, or out of order
        (s, e, d)
        for s in (sensitivity, 1.0, 2 * sensitivity)
        for e in (epsilon, 1.0)
        for d in (delta, 1e-5, 1e-6, 1e-3)
    } | {(epsilon, sensitivity, delta)}
    for s, e, d in slips - {(sensitivity, epsilon, delta)}:
        try:
            sigma = dp.gaussian_sigma(s, e, d)
        except ValueError:
            continue
        if _close(answer, sigma, 1e-3 * sigma):
            raise ExerciseNotSolved(
                f"{exercise}: the call is right, one argument is not: check the sensitivity "
                f"({sensitivity:g}), epsilon ({epsilon:g}) and delta ({delta:g}), in that order."
            )
    _refuse_if_close(answer, expected, exercise)
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}; compute the analytic sigma with dp.gaussian_sigma for the "
        "exercise's sensitivity, epsilon and delta."
    )


# --- notebook 03: differentially private machine learning -----------------------------


def check_03_dpsgd_step(
    answer,
    weights,
    X_batch,
    y_batch,
    noise_multiplier,
    clip_norm,
    expected_batch_size,
    learning_rate,
    seed: int,
) -> str:
    """Exercise 03.1: one DP-SGD step written out (per-patient gradients, clip, noise, step)."""
    from helpers import dp, federated

    exercise = "Exercise 1 (write one DP-SGD step)"
    answer = require_vector(answer, exercise, "the new weights (coefficients, then intercept)")
    weights = np.asarray(weights, dtype=float)
    gradients = federated.per_patient_gradients(weights, X_batch, y_batch)

    def step(summed, noise_std, divide_by):
        noise = dp.gaussian_noise(weights.shape, noise_std, np.random.default_rng(seed))
        return weights - learning_rate * (summed + noise) / divide_by

    clipped_sum = dp.clip_l2(gradients, clip_norm, axis=1).sum(axis=0)
    expected = step(clipped_sum, noise_multiplier * clip_norm, expected_batch_size)
    if answer.shape != expected.shape:
        raise ExerciseNotSolved(
            f"{exercise}: give {expected.size} weights (one per feature, then the intercept); "
            f"got {answer.size}."
        )
    # rtol 1e-6 accepts a float32 copy of the right weights; every slip below moves them far more
    if np.allclose(answer, expected, rtol=1e-6, atol=1e-9):
        return correct(
            exercise,
            "clip each patient's gradient, add one Gaussian draw to the sum, divide by the "
            "EXPECTED batch size: that is every step of DPSGDLogisticRegression",
        )
    mistakes = {
        "the gradients were not clipped: clip each patient's gradient to clip_norm before "
        "summing": step(gradients.sum(axis=0), noise_multiplier * clip_norm, expected_batch_size),
        "clip each patient's gradient, not their sum: it is one patient's influence that "
        "must be bounded": step(
            dp.clip_l2(gradients.sum(axis=0), clip_norm),
            noise_multiplier * clip_norm,
            expected_batch_size,
        ),
        "the noise standard deviation is the noise multiplier TIMES the clip norm": step(
            clipped_sum, noise_multiplier, expected_batch_size
        ),
        "divide by the EXPECTED batch size (sampling rate x n), not by the batch's own size, "
        "which depends on who was sampled": step(
            clipped_sum, noise_multiplier * clip_norm, len(y_batch)
        ),
        "the step adds no noise: draw it with rng.normal(0, noise std, size) from a fresh "
        "generator": weights - learning_rate * clipped_sum / expected_batch_size,
    }
    for hint, wrong in mistakes.items():
        if np.allclose(answer, wrong, rtol=1e-9, atol=1e-12):
            raise ExerciseNotSolved(f"{exercise}: {hint}.")
    raise ExerciseNotSolved(
        f"{exercise}: not yet. Per patient: residual = sigmoid(x . w) - y, gradient = residual "
        "* [x, 1]; clip each to clip_norm; sum; add normal noise from a fresh generator; "
        "divide by the expected batch size; step."
    )


def check_03_dpsgd_epsilon(
    answer, n, batch_size, noise_multiplier, epochs, delta, previous_batch_size=None
) -> str:
    """Exercise 03.2: the epsilon a DP-SGD run spends, certified by the PLD accountant."""
    from helpers import accounting

    exercise = "Exercise 2 (the epsilon of a DP-SGD run)"
    answer = require_number(answer, exercise, "an epsilon (a float)")
    args = (n, batch_size, noise_multiplier, epochs, delta)
    expected = accounting.dpsgd_epsilon(*args, accountant="pld")
    if _close(answer, expected, 1e-3 * expected):
        detail = f"epsilon = {expected:.3f}"
        if previous_batch_size is not None:
            before = accounting.dpsgd_epsilon(
                n, previous_batch_size, noise_multiplier, epochs, delta, accountant="pld"
            )
            change = "more" if expected > before else "less"
            detail += (
                f", {change} than {before:.3f} with batches of {previous_batch_size}. Each "
                f"patient is still included about {epochs:g} times in expectation, but each step "
                f"now includes them with probability {batch_size / n:g} instead of "
                f"{previous_batch_size / n:g}: at the same noise multiplier that weakens the "
                "amplification by subsampling more than taking fewer steps saves"
            )
        return correct(exercise, detail)
    if previous_batch_size is not None:
        before = accounting.dpsgd_epsilon(
            n, previous_batch_size, noise_multiplier, epochs, delta, accountant="pld"
        )
        if _close(answer, before, 1e-3 * before):
            raise ExerciseNotSolved(
                f"{exercise}: that is the epsilon of the ORIGINAL batch size; use the new one."
            )
    rdp = accounting.dpsgd_epsilon(*args, accountant="rdp")
    if _close(answer, rdp, 1e-3 * rdp):
        raise ExerciseNotSolved(
            f"{exercise}: that is the RDP accountant's epsilon, a valid but looser bound; the "
            "exercise asks for the PLD accountant (the kit's default)."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Call accounting.dpsgd_epsilon(n, batch_size, "
        "noise_multiplier, epochs, delta) with the new batch size."
    )


def check_03_data_norm(answer, n_features) -> str:
    """Exercise 03.3: diffprivlib's data_norm for features declared to lie in [0, 1]."""
    exercise = "Exercise 3 (data_norm from declared bounds)"
    answer = require_number(answer, exercise, "a number (the largest possible L2 norm of one row)")
    expected = math.sqrt(n_features)
    if _close(answer, expected, 1e-6):
        return correct(
            exercise, f"sqrt({n_features}) = {expected:.3f}, known before seeing any patient"
        )
    if _close(answer, n_features, 1e-9):
        raise ExerciseNotSolved(
            f"{exercise}: {n_features} is the L1 norm bound; data_norm is an L2 norm."
        )
    if _close(answer, math.sqrt(n_features + 1), 1e-6):
        raise ExerciseNotSolved(
            f"{exercise}: diffprivlib adds the intercept's 1 itself; give the norm of the "
            "features alone."
        )
    _refuse_if_close(answer, expected, exercise)
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. A row with every one of the {n_features} features at its "
        "upper bound 1 has the largest L2 norm."
    )


def check_03_epsilon_for_ceiling(answer, tpr_ceiling, false_positive_rate, delta) -> str:
    """Exercise 03.4: the largest epsilon whose DP bound keeps TPR <= ceiling at a given FPR."""
    exercise = "Exercise 4 (choose epsilon for an attack ceiling)"
    answer = require_number(answer, exercise, "an epsilon (a positive number)")
    if not tpr_ceiling > delta + false_positive_rate:
        raise ValueError("tpr_ceiling must exceed false_positive_rate + delta")
    expected = math.log((tpr_ceiling - delta) / false_positive_rate)
    # an upper bound: rounding down (by up to 1e-4) is fine, rounding up is not; the 1e-6
    # relative slack above admits a float32 copy of the exact value
    if expected - 1e-4 <= answer <= expected * (1 + 1e-6):
        shown = math.floor(expected * 1e4) / 1e4  # printed rounded DOWN, so it is accepted too
        return correct(
            exercise,
            f"epsilon = {shown:.4f}: any attack on an ({shown:.2f}, {delta:g})-DP model "
            f"flags at most {tpr_ceiling:.1%} of members when it wrongly flags "
            f"{false_positive_rate:.1%} of non-members",
        )
    if _close(answer, math.log(tpr_ceiling / false_positive_rate), 1e-4):
        raise ExerciseNotSolved(
            f"{exercise}: the bound is TPR <= e^eps * FPR + delta: subtract delta before dividing."
        )
    if _close(answer, (tpr_ceiling - delta) / false_positive_rate, 1e-4) or _close(
        answer, tpr_ceiling / false_positive_rate, 1e-4
    ):
        raise ExerciseNotSolved(f"{exercise}: that is e^eps; take its logarithm.")
    if expected < answer <= 1.01 * expected:
        raise ExerciseNotSolved(
            f"{exercise}: close, but above the largest epsilon that keeps the ceiling: give the "
            "unrounded value; an upper bound may be rounded down, never up."
        )
    _refuse_if_close(answer, expected, exercise)
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Solve e^eps * FPR + delta = ceiling for eps."
    )


# --- notebook 04: federated learning --------------------------------------------------


def check_04_total_upload(answer, history: pd.DataFrame) -> str:
    """Exercise 04.1: total bytes all hospitals uploaded over a whole FedAvg run."""
    exercise = "Exercise 1 (communication cost)"
    answer = require_integer(answer, exercise, "a number of bytes (an int)")
    expected = int(history["bytes_up"].sum())
    if answer == expected:
        per_round = int(history["bytes_up"].iloc[-1])
        return correct(exercise, f"{expected} bytes: {per_round} bytes per round")
    if answer == int(history["bytes_up"].iloc[-1]):
        raise ExerciseNotSolved(f"{exercise}: that is one round; sum bytes_up over all rounds.")
    if answer == expected + int(history["bytes_down"].sum()):
        raise ExerciseNotSolved(f"{exercise}: count the uploads (bytes_up) only, not bytes_down.")
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. The history has a bytes_up column; add it up."
    )


def check_04_reconstructed_feature(answer, update, standardiser, feature: int) -> str:
    """Exercise 04.2: one raw feature of the patient behind a single-patient weight update."""
    from helpers import federated

    exercise = "Exercise 2 (invert an update)"
    answer = require_number(answer, exercise, "a number in the feature's original units")
    x = federated.gradient_inversion(update)
    raw = standardiser.mean + standardiser.scale * x
    expected = float(raw[feature])
    if _close(answer, expected, 1e-6 * max(1.0, abs(expected))):
        return correct(exercise, f"{expected:.4g}, exactly the patient's value")
    if _close(answer, float(x[feature]), 1e-6 * max(1.0, abs(float(x[feature])))):
        raise ExerciseNotSolved(
            f"{exercise}: that is the standardised value; undo the standardisation with "
            "mean + scale * x."
        )
    _refuse_if_close(answer, expected, exercise, relative=0.001)
    if _close(answer, expected, 0.1 * max(1.0, abs(expected))):
        raise ExerciseNotSolved(
            f"{exercise}: near, but the update gives THIS patient's value exactly; a value read "
            "from a table of the notebook belongs to another patient."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Recover the patient's standardised features from the "
        "update as section 8 does, then put feature 0 back into its original units."
    )


def check_04_malignant_share(answer, update, lr: float) -> str:
    """Exercise 04.3: a hospital's malignant share from the intercept of its first update."""
    exercise = "Exercise 3 (the case mix in an update)"
    answer = require_number(answer, exercise, "a share between 0 and 1")
    change = float(np.asarray(update, dtype=float).reshape(-1)[-1])
    # from zero weights every residual is p - y = 1/2 - y: the intercept moves by -lr (1/2 - share)
    expected = 0.5 + change / float(lr)
    if _close(answer, expected, 1e-7):  # a float32 copy is within 3e-8
        return correct(exercise, f"{expected!r}, exactly: no record needed, one number suffices")
    if _close(answer, round(expected, 2), 1e-12):
        raise ExerciseNotSolved(
            f"{exercise}: that is a rounded value read from a table; the update gives the share "
            "exactly. Use its last entry and the learning rate."
        )
    if _close(answer, 0.5 - change / float(lr), 1e-9) or _close(answer, 1 - expected, 1e-9):
        raise ExerciseNotSolved(
            f"{exercise}: check the sign: a step goes AGAINST the gradient, and the residual is "
            "p - y with p = 1/2 for every patient."
        )
    _refuse_outside(answer, exercise, "a share")
    _refuse_if_close(answer, expected, exercise)
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. From zero weights every predicted probability is 1/2; write "
        "the intercept's gradient, mean(1/2 - y), and solve the step for the share of y = 1."
    )


def check_04_personalised_mse(
    answer, hospital, test_data, global_weights, epochs: int, lr: float, alone_epochs: int = 200
) -> str:
    """Exercise 04.4: held-out MSE at one hospital after fine-tuning the federated model.

    ``alone_epochs`` is how long the hospital's local-only baseline trains (at ``lr``, with its
    own scaler, as ``federated.local_only_training`` does in notebook 04's section 6); the
    Correct message compares the fine-tuned model with it and with the federated model.
    """
    from helpers import federated

    exercise = "Exercise 4 (personalise the federated model)"
    answer = require_number(answer, exercise, "a mean squared error (a number)")
    tuned, _ = hospital.local_update(global_weights, epochs=epochs, lr=lr)
    expected = federated.loss(tuned, *test_data, model=hospital.model)
    before = federated.loss(global_weights, *test_data, model=hospital.model)
    if _close(answer, expected, 0.005 * max(1.0, abs(expected))):
        # the hospital's own scaler on its records gives the same standardised features
        # whichever affine scaling it holds them in, so this is section 6's "trained alone"
        alone = (
            federated.local_only_training(
                [hospital], epochs=alone_epochs, lr=lr, scaling="own", test_data=[test_data]
            )
            .table["loss"]
            .iloc[0]
        )
        than_alone = "better" if expected < alone else "worse"
        than_federated = "better" if expected < before else "worse"
        return correct(
            exercise,
            f"MSE {expected:.0f} after fine-tuning, against {before:.0f} for the federated model "
            f"and {alone:.0f} for the hospital trained alone: {than_federated} than the "
            f"federated model, {than_alone} than training alone",
        )
    if _close(answer, before, 0.005 * max(1.0, abs(before))):
        raise ExerciseNotSolved(
            f"{exercise}: that is the federated model BEFORE fine-tuning; run local_update "
            "first and score the weights it returns."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Start local_update from the federated weights with "
        f"epochs={epochs} and lr={lr}, then compute federated.loss on the hospital's "
        "held-out patients."
    )


def check_04_rounds_to_target(answer, history: pd.DataFrame, target: float) -> str:
    """Exercise 04.5: the first round whose global accuracy reaches ``target``."""
    exercise = "Exercise 5 (rounds to a target accuracy)"
    answer = require_integer(answer, exercise, "a round number (an int)")
    reached = history.loc[history["accuracy"] >= target, "round"]
    if reached.empty:
        raise ExerciseNotSolved(
            f"{exercise}: this run never reaches {target}; use more rounds or local epochs."
        )
    expected = int(reached.min())
    if answer == expected:
        return correct(exercise, f"round {expected}")
    if answer in set(reached.astype(int)):
        raise ExerciseNotSolved(
            f"{exercise}: round {answer} reaches the target, but an earlier round does too."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Filter history rows with accuracy >= {target} and take "
        "the smallest round."
    )


# --- notebook 05: homomorphic encryption ----------------------------------------------


def check_05_ciphertext_bytes(answer, key_bits: int) -> str:
    """Exercise 05.1: predicted bytes of one ciphertext under a ``key_bits``-bit Paillier key."""
    exercise = "Exercise 1 (ciphertext size)"
    answer = require_integer(answer, exercise, "a whole number of bytes")
    key_bits = int(key_bits)
    expected = 2 * key_bits // 8  # a number below n**2, which has twice the bits of n
    if answer == expected:
        return correct(exercise, f"{expected} bytes, {expected // 8}x the 8 bytes of a float64")
    if answer == expected // 2:
        raise ExerciseNotSolved(
            f"{exercise}: {answer!r} bytes is the size of n. A ciphertext lives modulo n**2."
        )
    if answer in (key_bits, 2 * key_bits):
        raise ExerciseNotSolved(f"{exercise}: that is a number of BITS; a byte holds 8 bits.")
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. A ciphertext is a number below n**2; n has {key_bits} "
        "bits. How many bits does n**2 have, and how many bytes is that?"
    )


def _toy_decrypt(c: int, p: int, q: int) -> dict:
    n = p * q
    lam = math.lcm(p - 1, q - 1)
    u = pow(c, lam, n * n)
    mu = pow(lam, -1, n)  # with g = n + 1, L(g^lambda mod n^2) = lambda mod n
    return {
        "right": (u - 1) // n * mu % n,
        "no mu": (u - 1) // n % n,
        "mod n": pow(c, lam, n),
        "c mod n": c % n,
    }


def check_05_toy_decrypt(answer, ciphertext: int, p: int, q: int) -> str:
    """Exercise 05.2: decrypt a toy Paillier ciphertext by hand (Dec = L(c^lambda mod n^2) mu mod n)."""
    exercise = "Exercise 2 (decrypt by hand)"
    answer = require_integer(answer, exercise, "the plaintext (a whole number)")
    options = _toy_decrypt(int(ciphertext), int(p), int(q))
    if answer == options["right"]:
        return correct(exercise, f"m = {options['right']}: L(c^lambda mod n^2) * mu mod n")
    if answer == options["no mu"]:
        raise ExerciseNotSolved(
            f"{exercise}: L(c^lambda mod n^2) is lambda * m mod n; multiply by mu = "
            "lambda^-1 mod n (pow(lam, -1, n)) and reduce mod n."
        )
    if answer in (options["mod n"], options["c mod n"]):
        raise ExerciseNotSolved(
            f"{exercise}: raise c to lambda modulo n**2, not modulo n: the message lives in the "
            "part that reduction mod n throws away."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Apply section 0's decryption formula to THIS ciphertext "
        "(not to an earlier example), with the toy key's lambda and mu, working modulo n**2 "
        "where the formula says so."
    )


def check_05_ciphertexts_per_hospital(
    answer, public_key, n_parties: int, value_bound: float, precision_bits: int, n_parameters: int
) -> str:
    """Exercise 05.3: ciphertexts one hospital sends when its update is packed."""
    from helpers import encryption

    exercise = "Exercise 3 (packing)"
    answer = require_integer(answer, exercise, "a whole number of ciphertexts")
    encoder = encryption.PackedEncoder(precision_bits, n_parties, value_bound, public_key)
    expected = encoder.n_ciphertexts(n_parameters)
    if answer == expected:
        return correct(
            exercise,
            f"{encoder.slots_per_ciphertext} slots of {encoder.slot_bits} bits per ciphertext, so "
            f"{expected} ciphertexts instead of {n_parameters}",
        )
    if answer == n_parameters:
        raise ExerciseNotSolved(f"{exercise}: {n_parameters} is the per-value count; pack them.")
    if answer == encoder.slots_per_ciphertext:
        raise ExerciseNotSolved(
            f"{exercise}: that is how many values fit in ONE ciphertext; how many ciphertexts "
            f"do {n_parameters} values need?"
        )
    many = 10 * n_parties
    if answer == encryption.PackedEncoder(
        precision_bits, many, value_bound, public_key
    ).n_ciphertexts(n_parameters):
        raise ExerciseNotSolved(
            f"{exercise}: that is the count for {many} hospitals (the follow-up question); "
            f"give the one for {n_parties}."
        )
    key_bits = encryption.key_bits_of(public_key)
    for other_bits in {2048, 3072, 4096} - {key_bits}:
        # phe's max_int is about n / 3, one or two bits short of the key's; try both
        for capacity in (other_bits - 3, other_bits - 2):
            slots = capacity // encoder.slot_bits
            if answer == -(-n_parameters // slots):
                raise ExerciseNotSolved(
                    f"{exercise}: that is the count for a {other_bits}-bit key; the exercise "
                    f"uses the notebook's {key_bits}-bit public_key."
                )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Work out how many bits one slot needs to hold a sum of "
        f"{n_parties} values, how many slots fit in one plaintext of this key, and how many "
        f"ciphertexts {n_parameters} values then need (encryption.PackedEncoder does this)."
    )


def check_05_dropouts_tolerated(answer, n_parties: int, threshold: int, dropped: int) -> str:
    """Exercise 05.4: how many more hospitals may drop out before a masked round fails."""
    exercise = "Exercise 4 (dropouts)"
    answer = require_integer(answer, exercise, "a whole number of hospitals")
    expected = n_parties - dropped - threshold
    if answer == expected:
        return correct(
            exercise, f"{expected}: the round needs {threshold} survivors to rebuild the masks"
        )
    if answer == n_parties - threshold:
        raise ExerciseNotSolved(
            f"{exercise}: some hospitals have already dropped out; count from the survivors."
        )
    if answer in (expected + 1, threshold - 1):
        raise ExerciseNotSolved(
            f"{exercise}: the server needs at least threshold shares, so at least threshold "
            "hospitals must still report after the new dropouts."
        )
    if answer == threshold:
        raise ExerciseNotSolved(
            f"{exercise}: {threshold} is how many hospitals must still REPORT; the question is "
            "how many more may go."
        )
    if answer == n_parties - dropped:
        raise ExerciseNotSolved(
            f"{exercise}: that is how many hospitals still report; some of them must stay."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. How many hospitals report now, and how many must still "
        "report for the server to rebuild the masks?"
    )


# --- notebook 06: the secure federated pipeline ---------------------------------------


def check_06_local_noise_std(answer, aggregator) -> str:
    """Exercise 06.1: standard deviation of the summed noise under local DP."""
    exercise = "Exercise 1 (local noise)"
    answer = require_number(answer, exercise, "a standard deviation (a positive number)")
    n_hospitals, noise_std = len(aggregator.plan.hospitals), aggregator.plan.noise_std
    expected = math.sqrt(n_hospitals) * noise_std
    if _close(answer, expected, 1e-9 + 1e-6 * expected):
        central = noise_std
        return correct(
            exercise,
            f"{expected:.4g}: sqrt({n_hospitals}) = "
            f"{expected / central:.2f} times the central noise",
        )
    if _close(answer, noise_std, 1e-12):
        raise ExerciseNotSolved(
            f"{exercise}: that is ONE hospital's noise; the sum holds "
            f"{n_hospitals} independent draws."
        )
    if _close(answer, n_hospitals * noise_std, 1e-12):
        raise ExerciseNotSolved(
            f"{exercise}: independent variances add, not standard deviations; "
            "take the square root of the summed variance."
        )
    if _close(answer, noise_std / math.sqrt(n_hospitals), 1e-9 + 1e-6 * expected) or _close(
        answer, noise_std / n_hospitals, 1e-12
    ):
        raise ExerciseNotSolved(
            f"{exercise}: that shrinks the noise; a SUM of independent draws is noisier than "
            "one draw, not less (it is an average whose noise shrinks)."
        )
    _refuse_if_close(answer, expected, exercise)
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. The sum holds {n_hospitals} independent draws of "
        "standard deviation noise_std: how do the variances of independent draws combine?"
    )


def check_06_other_hospital_update(
    answer, other_hospital, start_weights, epochs: int, lr: float
) -> str:
    """Exercise 06.2: a hospital recovers the other hospital's weights from a two-party sum."""
    exercise = "Exercise 2 (the curious hospital)"
    answer = require_vector(answer, exercise, "a weight vector (numpy array)")
    start = np.asarray(start_weights, dtype=float)
    expected, _ = other_hospital.local_update(start, epochs, lr)
    if answer.shape != expected.shape:
        raise ExerciseNotSolved(
            f"{exercise}: expected {expected.size} weights (coefficients and "
            f"intercept); got {answer.size}."
        )
    gap = float(np.max(np.abs(answer - expected)))
    if gap <= 1e-4:  # packing quantises to 2**-20 per value
        return correct(
            exercise,
            f"B's weights to within {gap:.1e}: with two parties, the "
            "sum is no secret from either of them",
        )
    if float(np.max(np.abs(answer - start))) <= 1e-12:
        raise ExerciseNotSolved(
            f"{exercise}: those are the weights the round STARTED from; B's update is what "
            "the global model minus A's share leaves."
        )
    raise ExerciseNotSolved(
        f"{exercise}: off by up to {gap:.3g}. The global model is "
        "(n_A w_A + n_B w_B) / (n_A + n_B); solve it for w_B."
    )


def check_06_membership_ceiling(answer, epsilon, delta) -> str:
    """Exercise 06.3: the largest membership advantage against an (epsilon, delta)-DP model."""
    from helpers import dp

    exercise = "Exercise 3 (a ceiling on membership inference)"
    answer = require_number(answer, exercise, "an advantage between 0 and 1")
    epsilon, delta = dp.check_epsilon(epsilon), dp.check_delta(delta)
    expected = dp.max_membership_advantage(epsilon, delta)
    # 5e-4 accepts the three decimals the message below prints (and a float32 copy)
    if _close(answer, expected, 5e-4):
        return correct(
            exercise,
            f"{expected:.3f}; a ceiling on every attack, which no "
            "measurement of one attack can give",
        )
    if _close(answer, math.exp(epsilon) - 1, 1e-3):
        raise ExerciseNotSolved(
            f"{exercise}: that is Yeom et al.'s looser bound e^eps - 1; use the tighter "
            "ceiling of section 5."
        )
    for other in {0.25, 1.0, 2.0, 2 * epsilon, epsilon / 2} - {epsilon}:
        if _close(answer, dp.max_membership_advantage(other, delta), 5e-4):
            raise ExerciseNotSolved(
                f"{exercise}: that is the ceiling at epsilon = {other:g}; use the board's "
                f"epsilon = {epsilon:g}."
            )
    if _close(answer, (1 + expected) / 2, 5e-4):
        raise ExerciseNotSolved(
            f"{exercise}: that is an attacker's ACCURACY; the exercise asks for the "
            "advantage, TPR - FPR."
        )
    _refuse_outside(answer, exercise, "an advantage")
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}; put the board's epsilon and delta into section 5's "
        "ceiling on the advantage."
    )


def check_06_noise_multiplier(answer, epsilon, delta, rounds) -> str:
    """Exercise 06.4: the predicted noise multiplier for more full-batch rounds at the same budget."""
    from helpers import accounting

    exercise = "Exercise 4 (more rounds, same budget)"
    answer = require_number(answer, exercise, "a noise multiplier (a positive number)")
    expected = accounting.noise_multiplier_for(epsilon, delta, 1.0, rounds)
    half = accounting.noise_multiplier_for(epsilon, delta, 1.0, max(1, rounds // 2))
    # both multipliers are calibrated to 0.1 % (accounting.CALIBRATION_PRECISION)
    if _close(answer, expected, 0.004 * expected):
        return correct(exercise, f"{expected:.2f}: the accountant agrees with your prediction")
    if _close(answer, 2 * half, 0.004 * expected):
        raise ExerciseNotSolved(
            f"{exercise}: doubling the multiplier over-pays. The rounds' noise variances add up; "
            "what multiplier makes the total behave like the 30-round run?"
        )
    if _close(answer, half, 0.004 * expected):
        raise ExerciseNotSolved(
            f"{exercise}: that is the multiplier for the fewer rounds; more releases need more noise."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. T rounds with multiplier z compose like one release with "
        "multiplier z / sqrt(T): keep that ratio fixed when T changes."
    )


# --- notebook 07: trade-offs ----------------------------------------------------------


def check_07_difference_resolved(answer, study, better: str, worse: str) -> str:
    """Exercise 07.1: whether the study's 95 % paired interval of a difference excludes 0."""
    exercise = "Exercise 1 (is it resolved?)"
    answer = require_bool(answer, exercise, "True or False (does the interval exclude 0?)")
    paired = study.compare(better, worse)
    expected = bool(paired["ci_low"] > 0 or paired["ci_high"] < 0)
    if answer == expected:
        verdict = "excludes" if expected else "includes"
        return correct(exercise, f"the paired interval {verdict} 0")
    if expected:
        raise ExerciseNotSolved(
            f"{exercise}: look at both ends of study.compare(...): when they have the same sign, "
            "the study resolves the difference."
        )
    raise ExerciseNotSolved(
        f"{exercise}: a mean difference is not enough; look at ci_low and ci_high of "
        "study.compare(...): do they lie on the same side of 0?"
    )


def check_07_scenario_pick(
    answer, study, max_loss: float, trusted, server_may_see_updates: bool
) -> str:
    """Exercise 07.2: the worksheet's first choice for a scenario given in words."""
    from helpers import evaluation  # evaluation sits on top of the technique modules

    exercise = "Exercise 2 (a third scenario)"
    answer = require_text(answer, exercise, "a configuration's name (a string)")
    scenario = evaluation.Scenario(
        "exercise",
        max_loss=max_loss,
        trusted=set(trusted),
        server_may_see_updates=server_may_see_updates,
    )
    picked = evaluation.shortlist(study, scenario)
    if picked.empty:
        raise ValueError("the exercise's scenario allows no configuration on this study")
    expected = picked.index[0]
    if answer == expected:
        return correct(exercise, f"{expected}: {picked.loc[expected, 'trusts']} trusted")
    names = {c.name for c in study.configurations}
    if answer not in names:
        raise ExerciseNotSolved(
            f"{exercise}: {answer!r} is not a configuration of the study; take the index of "
            "the first row that evaluation.shortlist returns."
        )
    if answer in picked.index:
        raise ExerciseNotSolved(
            f"{exercise}: {answer!r} qualifies, but it is not first: the shortlist prefers the "
            "smallest epsilon, then the smaller loss."
        )
    seeing = evaluation.Scenario(
        "x", max_loss=max_loss, trusted=set(trusted), server_may_see_updates=True
    )
    if not server_may_see_updates and answer in evaluation.shortlist(study, seeing).index:
        raise ExerciseNotSolved(
            f"{exercise}: in {answer!r} the server sees each hospital's update, which this "
            "network forbids: set server_may_see_updates=False."
        )
    raise ExerciseNotSolved(
        f"{exercise}: {answer!r} does not fit the scenario. Which party is trusted here? "
        "Encode it in trusted={...}, then take the first row of the shortlist."
    )


def check_07_splits_for_half_width(answer, n_splits: int) -> str:
    """Exercise 07.3: splits needed to halve a 1/sqrt(n) confidence interval."""
    from scipy import stats

    exercise = "Exercise 3 (how many splits?)"
    answer = require_integer(answer, exercise, "a whole number of splits")
    expected = 4 * n_splits

    def half_width(k):  # of a 95 % t interval of a mean over k splits, in units of the sd
        return stats.t.ppf(0.975, k - 1) / math.sqrt(k)

    # section 5 teaches that the t factor shrinks too: then fewer than 4n splits suffice
    exact = next(
        (k for k in range(n_splits + 1, expected) if half_width(k) <= half_width(n_splits) / 2),
        expected,  # a single split has no t interval
    )
    if min(exact, 0.95 * expected) <= answer <= 1.05 * expected:
        return correct(
            exercise,
            f"about {expected}: the width goes as 1/sqrt(n), so four times the splits "
            f"({exact} once the t factor's shrinking with more splits is counted too)",
        )
    if abs(answer - 2 * n_splits) <= 0.05 * 2 * n_splits:
        raise ExerciseNotSolved(
            f"{exercise}: doubling the splits narrows the interval by sqrt(2) only; what "
            "factor of splits gives a factor 2 in 1/sqrt(n)?"
        )
    if answer <= n_splits:
        raise ExerciseNotSolved(f"{exercise}: narrower intervals need MORE splits, not fewer.")
    if answer == n_splits**2:
        raise ExerciseNotSolved(
            f"{exercise}: that squares the number of splits; it is the factor (a half) whose "
            "square matters."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. The width is proportional to 1/sqrt(number of splits); "
        "by what factor must the splits grow for that to halve?"
    )
