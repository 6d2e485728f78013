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
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Add a birth_year column with .dt.year and pass "
        "['zip5', 'birth_year', 'sex'] to deid.uniqueness."
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


def check_00_label_skew(answer, parts) -> str:
    """Exercise 00.3: the largest share of malignant cases at any one hospital."""
    exercise = "Exercise 3 (label skew)"
    answer = require_number(answer, exercise, "a share between 0 and 1")
    shares = [float(np.mean(y)) for _, y in parts]
    expected = max(shares)
    if _close(answer, expected, 0.0005):
        return correct(exercise, f"one hospital sees {expected:.0%} malignant cases")
    if _close(answer, expected * 100, 0.05):
        raise ExerciseNotSolved(f"{exercise}: give a share between 0 and 1, not a percentage.")
    if _close(answer, min(shares), 0.0005):
        raise ExerciseNotSolved(f"{exercise}: that is the SMALLEST share; take the largest.")
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. For each (X_h, y_h) in parts, y_h.mean() is the share "
        "of malignant cases; take the largest."
    )


# --- notebook 01: re-identification ---------------------------------------------------


def check_01_safe_harbor_uniqueness(answer, released: pd.DataFrame) -> str:
    """Exercise 01.1: share of Safe Harbor records unique on (zip3, birth_year, sex)."""
    exercise = "Exercise 1 (uniqueness after Safe Harbor)"
    answer = require_number(answer, exercise, "a share between 0 and 1")
    expected = deid.uniqueness(released, ["zip3", "birth_year", "sex"])
    if _close(answer, expected, 0.00005):
        return correct(exercise, f"{expected:.2%} of records are still unique")
    if _close(answer, expected * 100, 0.005):
        raise ExerciseNotSolved(f"{exercise}: give a share between 0 and 1, not a percentage.")
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Pass the Safe Harbor release and "
        "['zip3', 'birth_year', 'sex'] to deid.uniqueness."
    )


def check_01_k_of_generalisation(answer, table: pd.DataFrame, quasi_identifiers) -> str:
    """Exercise 01.2: the k of a generalised table."""
    exercise = "Exercise 2 (k of a generalisation)"
    answer = require_integer(answer, exercise, "an integer k")
    expected = deid.k_anonymity(table, quasi_identifiers)
    if answer == expected:
        if expected == 1:
            return correct(exercise, "k = 1: at least one record is alone in its class")
        return correct(exercise, f"k = {expected}: every record hides among {expected - 1} others")
    if answer == int(deid.equivalence_classes(table, quasi_identifiers)["size"].max()):
        raise ExerciseNotSolved(
            f"{exercise}: that is the LARGEST class; k is the size of the smallest one."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. k is the size of the SMALLEST equivalence class: "
        "deid.k_anonymity(table, quasi_identifiers) (not the mean or the largest class)."
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
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Use deid.equivalence_classes(table, quasi_identifiers, "
        "sensitive); add up 'size' where 'distinct' == 1 and divide by the number of records."
    )


def check_01_differencing(answer, records: pd.DataFrame, target_id, code: str) -> str:
    """Exercise 01.4: whether the target patient has the diagnosis, from two counts."""
    from helpers import attacks  # attacks is used by notebook 01's checks only

    exercise = "Exercise 4 (differencing attack)"
    answer = require_bool(answer, exercise, "True or False")
    expected = attacks.differencing_attack(records, target_id, ("diagnosis_code", code)).truth
    if answer == bool(expected):
        return correct(exercise, "two exact counts were enough to learn one patient's diagnosis")
    raise ExerciseNotSolved(
        f"{exercise}: not quite. Count the patients with diagnosis_code == {code!r}, then the "
        f"same count without patient {target_id}; a difference of 1 means they have it."
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
    if _close(answer, float(np.mean(noisy_bits)), 1e-6):
        raise ExerciseNotSolved(
            f"{exercise}: that is the share of noisy 'yes' answers, which is biased towards 0.5; "
            "undo the flipping with dp.estimate_proportion(noisy_bits, epsilon)."
        )
    raise ExerciseNotSolved(f"{exercise}: got {answer!r}; use dp.estimate_proportion.")


def check_02_sum_sensitivity(answer, lower, upper) -> str:
    """Exercise 02.2: the sensitivity of a sum of values clipped to [lower, upper]."""
    exercise = "Exercise 2 (sensitivity of a clipped sum)"
    answer = require_number(answer, exercise, "a number (the most one patient can change the sum)")
    expected = max(abs(lower), abs(upper))
    if _close(answer, expected, 1e-9):
        return correct(
            exercise, f"adding or removing one patient moves the sum by at most {expected:g}"
        )
    if _close(answer, upper - lower, 1e-9):
        raise ExerciseNotSolved(
            f"{exercise}: upper - lower is the sensitivity when one patient's value is REPLACED; "
            "here one patient is added or removed, so the sum moves by that patient's whole value."
        )
    raise ExerciseNotSolved(f"{exercise}: got {answer!r}; how large can one clipped value be?")


def check_02_queries_in_budget(
    answer, epsilon_per_query, epsilon_budget, delta_budget, delta_prime
) -> str:
    """Exercise 02.3: how many equal queries fit a budget under advanced composition."""
    from helpers import accounting

    exercise = "Exercise 3 (queries within a budget)"
    answer = require_integer(answer, exercise, "a whole number of queries")
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
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Make a PrivacyAccountant with composition='advanced' and "
        "spend epsilon_per_query while accountant.can_spend(...) is True; count the spends."
    )


def check_02_gaussian_sigma(answer, sensitivity, epsilon, delta) -> str:
    """Exercise 02.4: the analytic Gaussian noise scale for (epsilon, delta)."""
    from helpers import dp

    exercise = "Exercise 4 (Gaussian noise scale)"
    answer = require_number(answer, exercise, "a standard deviation (a float)")
    expected = dp.gaussian_sigma(sensitivity, epsilon, delta)
    if _close(answer, expected, 1e-3 * expected):
        return correct(exercise, f"sigma = {expected:.3f}")
    classic = math.sqrt(2 * math.log(1.25 / delta)) * sensitivity / epsilon
    if _close(answer, classic, 1e-3 * classic):
        raise ExerciseNotSolved(
            f"{exercise}: that is the classic bound, which is proved only for epsilon < 1; use "
            "the analytic calibration dp.gaussian_sigma(sensitivity, epsilon, delta)."
        )
    raise ExerciseNotSolved(f"{exercise}: got {answer!r}; use dp.gaussian_sigma.")


# --- notebook 03: differentially private machine learning -----------------------------


def check_03_dpsgd_epsilon(answer, n, batch_size, noise_multiplier, epochs, delta) -> str:
    """Exercise 03.1: the epsilon that DP-SGD spends, from its RDP accountant."""
    from helpers import accounting

    exercise = "Exercise 1 (the epsilon of a DP-SGD run)"
    answer = require_number(answer, exercise, "an epsilon (a float)")
    steps = math.ceil(epochs * n / batch_size)
    rdp = accounting.rdp_sampled_gaussian(batch_size / n, noise_multiplier, steps)
    expected = accounting.rdp_to_dp(accounting.DEFAULT_ORDERS, rdp, delta)[0]
    if _close(answer, expected, 1e-3 * expected):
        return correct(exercise, f"epsilon = {expected:.3f}")
    mironov = accounting.rdp_to_dp(accounting.DEFAULT_ORDERS, rdp, delta, "mironov")[0]
    if _close(answer, mironov, 1e-3 * mironov):
        raise ExerciseNotSolved(
            f"{exercise}: that uses Mironov's original RDP conversion, which is valid but looser; "
            "use the default (improved) conversion."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Call accounting.dpsgd_epsilon(n, batch_size, "
        "noise_multiplier, epochs, delta, accountant='rdp')."
    )


def check_03_data_norm(answer, n_features) -> str:
    """Exercise 03.2: diffprivlib's data_norm for features declared to lie in [0, 1]."""
    exercise = "Exercise 2 (data_norm from declared bounds)"
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
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. A row with every one of the {n_features} features at its "
        "upper bound 1 has the largest L2 norm."
    )


def check_03_membership_auc(answer, model, members, non_members) -> str:
    """Exercise 03.3: the AUC of the loss-threshold membership-inference attack."""
    from helpers import dp_learning

    exercise = "Exercise 3 (membership inference AUC)"
    answer = require_number(answer, exercise, "an AUC between 0 and 1")
    expected = dp_learning.membership_inference(model, members, non_members).auc
    if _close(answer, expected, 1e-9):
        if abs(expected - 0.5) < 0.05:
            verdict = "close to chance: little leaks"
        elif expected > 0.5:
            verdict = "above chance: it leaks"
        else:
            verdict = "below chance: sampling noise with so few patients, not a leak"
        return correct(exercise, f"AUC = {expected:.3f} ({verdict})")
    if _close(answer, 1 - expected, 1e-9):
        raise ExerciseNotSolved(
            f"{exercise}: members are the training patients; swap the two sets."
        )
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Use dp_learning.membership_inference(model, members, "
        "non_members).auc."
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
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Divide the coefficient part of the update by its last "
        "entry (federated.gradient_inversion), then undo the standardisation."
    )


def check_04_malignant_share(answer, update, lr: float) -> str:
    """Exercise 04.3: a hospital's malignant share from the intercept of its first update."""
    exercise = "Exercise 3 (the case mix in an update)"
    answer = require_number(answer, exercise, "a share between 0 and 1")
    change = float(np.asarray(update, dtype=float).reshape(-1)[-1])
    # from zero weights every residual is p - y = 1/2 - y: the intercept moves by -lr (1/2 - share)
    expected = 0.5 + change / float(lr)
    if _close(answer, expected, 1e-9):
        return correct(exercise, f"{expected:.4f}, exactly: no record needed, one number suffices")
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
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. From zero weights every predicted probability is 1/2; write "
        "the intercept's gradient, mean(1/2 - y), and solve the step for the share of y = 1."
    )


def check_04_personalised_mse(
    answer, hospital, test_data, global_weights, epochs: int, lr: float
) -> str:
    """Exercise 04.3: held-out MSE at one hospital after fine-tuning the federated model."""
    from helpers import federated

    exercise = "Exercise 3 (personalise the federated model)"
    answer = require_number(answer, exercise, "a mean squared error (a number)")
    tuned, _ = hospital.local_update(global_weights, epochs=epochs, lr=lr)
    expected = federated.loss(tuned, *test_data, model=hospital.model)
    before = federated.loss(global_weights, *test_data, model=hospital.model)
    if _close(answer, expected, 0.005 * max(1.0, abs(expected))):
        return correct(exercise, f"MSE {expected:.0f}, down from {before:.0f} before fine-tuning")
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
    """Exercise 04.4: the first round whose global accuracy reaches ``target``."""
    exercise = "Exercise 4 (rounds to a target accuracy)"
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
        f"{exercise}: got {answer!r}. Compute u = pow(c, lam, n * n), then L(u) = (u - 1) // n, "
        "then multiply by mu = pow(lam, -1, n) and take the result mod n."
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
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Build encryption.PackedEncoder({precision_bits}, "
        f"{n_parties}, {value_bound}, public_key) and look at slots_per_ciphertext "
        "(or n_ciphertexts)."
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
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. The round completes while at least threshold hospitals "
        "report: survivors now, minus the threshold."
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
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. Add the {n_hospitals} variances "
        "noise_std**2 and take the square root."
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
    if _close(answer, expected, 1e-6):
        return correct(
            exercise,
            f"{expected:.3f}; a ceiling on every attack, which no "
            "measurement of one attack can give",
        )
    if _close(answer, math.exp(epsilon) - 1, 1e-6):
        raise ExerciseNotSolved(
            f"{exercise}: that is Yeom et al.'s looser bound e^eps - 1; use "
            "(e^eps - 1 + 2 delta) / (e^eps + 1)."
        )
    raise ExerciseNotSolved(f"{exercise}: got {answer!r}; use (e^eps - 1 + 2 delta) / (e^eps + 1).")


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
    exercise = "Exercise 3 (how many splits?)"
    answer = require_integer(answer, exercise, "a whole number of splits")
    expected = 4 * n_splits
    if abs(answer - expected) <= 0.05 * expected:
        return correct(
            exercise, f"about {expected}: the width goes as 1/sqrt(n), so four times the splits"
        )
    if abs(answer - 2 * n_splits) <= 0.05 * 2 * n_splits:
        raise ExerciseNotSolved(
            f"{exercise}: doubling the splits narrows the interval by sqrt(2) only; what "
            "factor of splits gives a factor 2 in 1/sqrt(n)?"
        )
    if answer <= n_splits:
        raise ExerciseNotSolved(f"{exercise}: narrower intervals need MORE splits, not fewer.")
    raise ExerciseNotSolved(
        f"{exercise}: got {answer!r}. The width is proportional to 1/sqrt(number of splits); "
        "solve 1/sqrt(k n) = (1/2) (1/sqrt(n)) for k."
    )
