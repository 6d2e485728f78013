"""Every exercise check accepts right answers of any natural type and refuses plausible wrong ones.

REGISTRY holds one entry per ``check_...`` function of ``helpers.exercises``: tiny fixture
inputs, the expected answer (computed here, independently of the check), its kind, and the
mistakes its hints name. From each entry the tests derive

- right answers of several natural types (``0.25`` and ``np.float64(0.25)``; ``3``,
  ``np.int64(3)`` and ``3.0``; ``False`` and ``np.False_``; a list and an array; ...),
  every one of which must pass;
- wrong answers: ``True``, ``False``, ``None``, ``...``, ``0``, ``1``, the right value as a
  string and as a one-element array, NaN, the neighbouring exercise's answer and the
  entry's named mistakes, every one of which must raise ``ExerciseNotSolved`` (never another
  error, whose traceback would show the check's source) with a one-line hint that names the
  exercise and does not contain the expected value.

A new check in helpers.exercises fails ``test_every_check_has_a_registry_entry`` until it
has an entry here, with its wrong answers.
"""

from __future__ import annotations

import functools
import inspect
import math
import types
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from helpers import accounting, data, deid, dp, encryption, exercises, federated
from helpers.exercises import ExerciseNotSolved

KINDS = ("number", "integer", "bool", "text", "vector")


@dataclass
class Entry:
    """One check's test material. ``inputs``/``kwargs`` are what follows the answer."""

    kind: str
    expected: object
    inputs: tuple = ()
    kwargs: dict = field(default_factory=dict)
    #: Wrong answers a learner plausibly gives, e.g. the mistake a hint names.
    mistakes: list = field(default_factory=list)
    #: Extra right answers (e.g. the value rounded as the notebook prints it).
    typed: list = field(default_factory=list)
    #: How the reference solution is written (its formula or call): no hint may contain it.
    solution: list = field(default_factory=list)


# --- tiny fixtures (built once per test process) -----------------------------------------


@functools.cache
def population() -> pd.DataFrame:
    """240 synthetic patients with the columns the checks read (unequal hospital sizes)."""
    rng = np.random.default_rng(7)
    n = 240
    weights = np.array([5.0, 3.0, 2.0, 1.5, 1.0])
    birth = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 365 * 60, n), unit="D")
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:06d}" for i in range(n)],
            "zip5": rng.choice(["02139", "02140", "02141", "10001", "10002", "94110"], n),
            "birth_date": birth,
            "sex": rng.choice(["F", "M"], n),
            "hospital": rng.choice(data.HOSPITALS, n, p=weights / weights.sum()),
            "diagnosis_code": rng.choice(["E11", "I10", "J45"], n),
            "systolic_bp": rng.normal(125.0, 15.0, n).round(1),
        }
    )


@functools.cache
def public_key():
    return encryption.generate_keypair(2048)[0]


def _classes(sizes, distinct_diagnoses) -> pd.DataFrame:
    """A generalised table with equivalence classes of the given sizes on (zip3, age_band)."""
    rows = []
    for number, (size, distinct) in enumerate(zip(sizes, distinct_diagnoses, strict=True)):
        for i in range(size):
            rows.append(
                {"zip3": f"02{number}", "age_band": "40-49", "diagnosis": f"D{i % distinct}"}
            )
    return pd.DataFrame(rows)


def _linear_hospital(seed: int, n: int = 24) -> federated.Hospital:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = X @ np.array([3.0, -2.0]) + 5.0 + rng.normal(size=n)
    return federated.Hospital(X, y, name=f"H{seed}", model="linear")


# --- the registry: one entry per check ---------------------------------------------------


def _00_uniqueness():
    people = population()
    expected = deid.uniqueness(
        people.assign(birth_year=people["birth_date"].dt.year), ["zip5", "birth_year", "sex"]
    )
    full_dates = deid.uniqueness(people, ["zip5", "birth_date", "sex"])
    return Entry(
        "number",
        expected,
        (people,),
        # a percentage of another share, a count, a rounded value
        mistakes=[100 * expected, full_dates, 100 * full_dates, 57, round(expected, 2) + 0.001],
    )


def _00_smaller_list():
    people = population().assign(birth_year=population()["birth_date"].dt.year)
    columns = ["zip5", "birth_year", "sex"]
    expected = deid.uniqueness(people.head(60), columns)
    everyone = deid.uniqueness(people, columns)
    full_dates = deid.uniqueness(people.head(60), ["zip5", "birth_date", "sex"])
    assert abs(expected - everyone) > 0.01, "the fixture must tell the two lists apart"
    return Entry(
        "number",
        expected,
        (population(), 60),
        mistakes=[everyone, full_dates, 100 * expected, deid.uniqueness(people.head(6), columns)],
    )


def _00_largest():
    counts = population()["hospital"].value_counts()
    return Entry(
        "text",
        counts.idxmax(),
        (population(),),
        mistakes=[counts.idxmin(), counts.idxmax().lower(), "St Mary", counts.index[1]],
    )


def _00_fewest_malignant():
    # The smallest hospital is not the one with fewest malignant cases, and neither is the
    # one with the lowest share: A has 3 of 100 (3 %), B 1 of 10 (10 %), C 9 of 9.
    parts = [
        (np.zeros((100, 2)), np.r_[np.ones(3), np.zeros(97)]),
        (np.zeros((10, 2)), np.r_[np.ones(1), np.zeros(9)]),
        (np.zeros((9, 2)), np.ones(9)),
    ]
    names = ["A General", "B Clinic", "C Centre"]
    return Entry(
        "text",
        "B Clinic",
        (parts, names),
        mistakes=["A General", "C Centre", "b clinic", "Hillcrest Regional", "B"],
    )


def _01_safe_harbor():
    people = population()
    released = pd.DataFrame(
        {
            "zip3": people["zip5"].str[:3],
            "birth_year": people["birth_date"].dt.year,
            "sex": people["sex"],
        }
    )
    expected = deid.uniqueness(released, ["zip3", "birth_year", "sex"])
    return Entry("number", expected, (released,), mistakes=[100 * expected])


def _01_suppress():
    # classes of 2, 3, 4, 5 and 7 records, and 2 records whose age_band is missing (as Safe
    # Harbor's birth_year is for the 90+): to reach k = 5 suppress 2 + 3 + 4 + 2 = 11 records
    table = _classes([2, 3, 4, 5, 7, 2], [1, 1, 2, 2, 3, 1])
    table.loc[table["zip3"] == "025", "age_band"] = None
    return Entry(
        "integer",
        11,
        (table, ["zip3", "age_band"], 5),
        # classes too small, records in classes <= k, the smallest class, k itself, the
        # count without the missing-key class (pandas' groupby drops it by default)
        mistakes=[4, 16, 2, 5, 11.5, 23, 9],
    )


def _01_homogeneous():
    table = _classes([3, 4, 7, 6], [1, 2, 1, 3])
    # classes with one diagnosis: sizes 3, 7 and 9, so 19 of 29 records; 3 of 5 classes is 0.6
    table = pd.concat([table, _classes([9], [1]).assign(zip3="099")], ignore_index=True)
    classes = deid.equivalence_classes(table, ["zip3", "age_band"], "diagnosis")
    expected = float(classes.loc[classes["distinct"] == 1, "size"].sum() / classes["size"].sum())
    share_of_classes = float((classes["distinct"] == 1).mean())
    return Entry(
        "number",
        expected,
        (table, ["zip3", "age_band"], "diagnosis"),
        mistakes=[share_of_classes, 100 * expected, 1 - expected, 19, round(expected, 2)],
        solution=["'distinct' == 1", "divide by the number of records"],
    )


def _01_differencing():
    people = population()
    target = people.loc[people["diagnosis_code"] == "E11", "patient_id"].iloc[0]
    with_target = int((people["diagnosis_code"] == "E11").sum())
    expected = np.array([with_target, with_target - 1], dtype=float)
    return Entry(
        "vector",
        expected,
        (people, target, "E11"),
        mistakes=[
            np.array([with_target, with_target]),  # forgot to leave the target out
            expected[::-1],  # swapped
            np.array([1.0, 0.0]),  # the difference as two bits
            np.array([len(people), len(people) - 1]),  # counted everyone, not the diagnosis
            [with_target - 1, with_target - 2],
        ],
    )


def _02_randomized_response():
    bits = np.random.default_rng(11).integers(0, 2, size=300)
    expected = dp.estimate_proportion(bits, 0.5)
    p = math.exp(0.5) / (1 + math.exp(0.5))
    flipped = (bits.mean() - p) / (1 - 2 * p)  # p taken as the probability of lying
    return Entry(
        "number",
        expected,
        (bits, 0.5),
        # the noisy share, p as the lying probability, rounded, a value near the estimate
        # (like the true share the clinic never collects)
        mistakes=[float(bits.mean()), flipped, round(expected, 2), expected + 0.05],
        solution=["(2p - 1)", "(observed share - (1 - p))", "1 - p_truth"],
    )


def _02_laplace_release():
    true_count, sensitivity, epsilon, seed = 95.0, 1.0, 0.5, 7

    def release(scale):
        return true_count + np.random.default_rng(seed).laplace(0.0, scale)

    expected = release(sensitivity / epsilon)
    reused = np.random.default_rng(seed)
    reused.laplace(0.0, 1.0)  # a generator that was already used once
    return Entry(
        "number",
        expected,
        (true_count, sensitivity, epsilon, seed),
        mistakes=[
            true_count,
            release(epsilon / sensitivity),
            release(1.0),
            true_count + reused.laplace(0.0, sensitivity / epsilon),
            true_count + np.random.default_rng(seed).normal(0.0, sensitivity / epsilon),
        ],
    )


def _02_sum_sensitivity():
    # values clipped to [60, 250], at most 3 encounters per patient
    return Entry(
        "number",
        750.0,
        (60, 250),
        {"max_contributions": 3},
        mistakes=[250.0, 570.0, 190.0, 3.0, 60.0],
        typed=[750],
    )


def _02_queries():
    budget, per_query, delta, delta_prime = 1.0, 0.02, 1e-5, 1e-6
    accountant = accounting.PrivacyAccountant(
        budget, delta, composition="advanced", delta_prime=delta_prime
    )
    expected = 0
    while accountant.can_spend(per_query):
        accountant.spend(per_query)
        expected += 1
    basic = round(budget / per_query)
    assert expected != basic, "the fixture must tell advanced from basic composition"
    return Entry(
        "integer",
        expected,
        (per_query, budget, delta, delta_prime),
        mistakes=[basic, expected + 1, expected - 1, expected + 0.5],
    )


def _02_gaussian_sigma():
    sensitivity, epsilon, delta = 0.5, 3.0, 1e-6
    classic = math.sqrt(2 * math.log(1.25 / delta)) * sensitivity / epsilon
    return Entry(
        "number",
        dp.gaussian_sigma(sensitivity, epsilon, delta),
        (sensitivity, epsilon, delta),
        # the classic bound, no calibration, the helper with sensitivity 1 or delta 1e-5
        mistakes=[
            classic,
            sensitivity / epsilon,
            dp.gaussian_sigma(1.0, epsilon, delta),
            dp.gaussian_sigma(sensitivity, epsilon, 1e-5),
        ],
        solution=["gaussian_sigma(0.5, 3.0, 1e-6)"],
    )


def _03_dpsgd_epsilon():
    args = (10_000, 200, 1.1, 5, 1e-5)
    expected = accounting.dpsgd_epsilon(*args, accountant="pld")
    rdp = accounting.dpsgd_epsilon(*args, accountant="rdp")
    before = accounting.dpsgd_epsilon(10_000, 100, 1.1, 5, 1e-5, accountant="pld")
    steps = math.ceil(5 * 10_000 / 200)
    mironov = accounting.rdp_to_dp(
        accounting.DEFAULT_ORDERS,
        accounting.rdp_sampled_gaussian(200 / 10_000, 1.1, steps),
        1e-5,
        "mironov",
    )[0]
    return Entry(
        "number",
        expected,
        args,
        {"previous_batch_size": 100},
        mistakes=[rdp, before, mironov, 2 * before],
    )


def _03_dpsgd_step():
    rng = np.random.default_rng(5)
    weights = np.array([0.3, -0.2, 0.1, 0.05])
    X_batch = rng.normal(0.0, 3.0, size=(5, 3))  # large enough that every gradient is clipped
    y_batch = np.array([1, 0, 1, 1, 0])
    z, clip, expected_batch, lr, seed = 1.3, 0.5, 8.0, 0.7, 3
    X1 = np.column_stack([X_batch, np.ones(5)])
    residual = 1 / (1 + np.exp(-(X1 @ weights))) - y_batch
    gradients = residual[:, None] * X1
    norms = np.linalg.norm(gradients, axis=1, keepdims=True)
    assert (norms > clip).all(), "the fixture must clip every gradient"
    clipped = gradients * np.minimum(1.0, clip / norms)

    def step(total, noise_std, divide_by):
        noise = np.random.default_rng(seed).normal(0.0, noise_std, size=4)
        return weights - lr * (total + noise) / divide_by

    total = gradients.sum(axis=0)
    right = step(clipped.sum(axis=0), z * clip, expected_batch)
    return Entry(
        "vector",
        right,
        (weights, X_batch, y_batch, z, clip, expected_batch, lr, seed),
        mistakes=[
            step(total, z * clip, expected_batch),  # no clipping
            step(total * min(1.0, clip / np.linalg.norm(total)), z * clip, expected_batch),
            step(clipped.sum(axis=0), z, expected_batch),  # noise std z, not z C
            step(clipped.sum(axis=0), z * clip, 5),  # the batch's own size
            weights - lr * clipped.sum(axis=0) / expected_batch,  # no noise
            weights,
            right[:3],  # intercept missing
        ],
        typed=[right.astype(np.float32)],
    )


def _03_data_norm():
    return Entry(
        "number",
        math.sqrt(12),
        (12,),
        mistakes=[12, 144, 6.0, math.sqrt(13), 3.46, 3.465],  # the last two rounded
        typed=[3.4641016, np.float32(math.sqrt(12))],
    )


def _03_epsilon_for_ceiling():
    tpr, fpr, delta = 0.01, 0.001, 1e-3
    largest = math.log((tpr - delta) / fpr)  # 2.19722...
    return Entry(
        "number",
        largest,
        (tpr, fpr, delta),
        # ... and rounded UP (above the largest allowed), rounded down too far
        mistakes=[math.log(tpr / fpr), (tpr - delta) / fpr, tpr / fpr, math.log(tpr), 2.1973, 2.19],
        typed=[2.1972, np.float32(largest), math.floor(largest * 1e4) / 1e4],
    )


def _history():
    return pd.DataFrame(
        {
            "round": range(7),
            "accuracy": [0.50, 0.71, 0.86, 0.912, 0.93, 0.95, 0.96],
            "bytes_up": [0, 416, 416, 416, 416, 416, 416],
            "bytes_down": [0, 208, 208, 208, 208, 208, 208],
        }
    )


def _04_total_upload():
    history = _history()
    return Entry("integer", 2496, (history,), mistakes=[416, 2496 + 1248, 1248])


def _04_reconstructed():
    x, residual, lr = np.array([1.5, -0.5]), 0.3, 0.1
    update = -lr * residual * np.r_[x, 1.0]
    scaler = federated.Standardiser(np.array([120.0, 5.0]), np.array([15.0, 2.0]))
    return Entry(
        "number",
        142.5,
        (update, scaler),
        {"feature": 0},
        # standardised value, the other feature, the mean, another patient's nearby value
        mistakes=[1.5, 4.0, 120.0, 142.5 * 1.04],
        solution=["gradient_inversion"],
    )


def _04_malignant_share():
    y = np.array([1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1], dtype=float)  # share 8/13
    X = np.random.default_rng(0).normal(size=(13, 2))
    update, _ = federated.Hospital(X, y, "h").local_update(np.zeros(3), epochs=1, lr=0.5)
    share = float(y.mean())
    return Entry(
        "number",
        share,
        (update,),
        {"lr": 0.5},
        mistakes=[round(share, 2), round(share, 4), 1 - share, update[-1], -update[-1] / 0.5, 8],
        typed=[np.float32(share)],
    )


def _04_personalised():
    hospital, held_out = _linear_hospital(1), _linear_hospital(2)
    X_test, y_test = held_out._data()
    start = np.zeros(3)
    tuned, _ = hospital.local_update(start, epochs=5, lr=0.1)
    expected = federated.loss(tuned, X_test, y_test, model="linear")
    before = federated.loss(start, X_test, y_test, model="linear")
    return Entry(
        "number",
        expected,
        (hospital, (X_test, y_test), start),
        {"epochs": 5, "lr": 0.1},
        mistakes=[before],
    )


def _04_rounds():
    return Entry("integer", 3, (_history(),), {"target": 0.9}, mistakes=[2, 4, 6, 0.912])


def _05_ciphertext_bytes():
    return Entry("integer", 1024, (), {"key_bits": 4096}, mistakes=[512, 4096, 8192, 768, 8])


def _05_toy_decrypt():
    p, q = 11, 13
    n = p * q
    m, r = 42, 17
    c = pow(n + 1, m, n * n) * pow(r, n, n * n) % (n * n)
    lam = math.lcm(p - 1, q - 1)
    without_mu = (pow(c, lam, n * n) - 1) // n % n
    return Entry(
        "integer",
        m,
        (),
        {"ciphertext": c, "p": p, "q": q},
        mistakes=[without_mu, c % n, pow(c, lam, n), m + n, 12],
        solution=["pow(c, lam", "(u - 1) // n"],
    )


def _05_packing():
    args = (public_key(), 10, 8.0, 24, 1000)
    encoder = encryption.PackedEncoder(24, 10, 8.0, public_key())
    expected = encoder.n_ciphertexts(1000)
    hundred = encryption.PackedEncoder(24, 100, 8.0, public_key()).n_ciphertexts(1000)
    # the notebook's 3072-bit key: phe's max_int has 3070 or 3071 bits, so 3069 or 3070 of
    # capacity; either gives the same count at these slot sizes
    other_key = math.ceil(1000 / ((3072 - 3) // encoder.slot_bits))
    assert len({expected, hundred, other_key}) == 3, "the fixture must tell the slips apart"
    return Entry(
        "integer",
        expected,
        args,
        mistakes=[1000, encoder.slots_per_ciphertext, expected + 1, hundred, other_key],
        solution=["PackedEncoder(24, 10", "n_ciphertexts"],
    )


def _05_dropouts():
    return Entry(
        "integer",
        2,
        (),
        {"n_parties": 7, "threshold": 4, "dropped": 1},
        mistakes=[3, 6, 4, 5],
        solution=["minus the threshold", "7 - 1 - 4"],
    )


def _06_local_noise():
    plan = types.SimpleNamespace(hospitals=("H1", "H2", "H3", "H4", "H5"), noise_std=0.8)
    aggregator = types.SimpleNamespace(plan=plan)
    return Entry(
        "number",
        math.sqrt(5) * 0.8,
        (aggregator,),
        mistakes=[0.8, 4.0, 3.2, 0.8 / math.sqrt(5), 1.79],  # the last one rounded
        solution=["Add the 5 variances", "sqrt(5) * noise_std", "sqrt(len("],
    )


def _06_other_hospital():
    other, start = _linear_hospital(4), np.zeros(3)
    expected, _ = other.local_update(start, 3, 0.2)
    mine, _ = _linear_hospital(5).local_update(start, 3, 0.2)
    return Entry(
        "vector",
        expected,
        (other, start, 3, 0.2),
        mistakes=[start, mine, expected[:2], np.r_[expected, 0.0], [str(v) for v in expected]],
    )


def _06_membership_ceiling():
    epsilon, delta = 0.5, 1e-5
    ceiling = dp.max_membership_advantage(epsilon, delta)
    return Entry(
        "number",
        ceiling,
        (),
        {"epsilon": epsilon, "delta": delta},
        mistakes=[
            math.exp(epsilon) - 1,
            dp.max_attacker_accuracy(epsilon, delta),
            dp.max_membership_advantage(1.0, delta),  # the study's epsilon, not the board's
            24.49,  # a percentage
            0.24,
        ],
        typed=[round(ceiling, 3), np.float32(ceiling)],  # as the Correct message prints it
        solution=["(e^eps - 1 + 2 delta) / (e^eps + 1)", "2 * DELTA"],
    )


def _06_noise_multiplier():
    half = accounting.noise_multiplier_for(1.0, 1e-5, 1.0, 30)
    return Entry(
        "number",
        accounting.noise_multiplier_for(1.0, 1e-5, 1.0, 60),
        (),
        {"epsilon": 1.0, "delta": 1e-5, "rounds": 60},
        mistakes=[2 * half, half],
    )


@functools.cache
def _small_study():
    """A stand-in Study: six configurations on six splits (the worksheet reads only these)."""
    from helpers import evaluation

    def nothing(td, rng):
        return evaluation.Outcome(np.zeros(3))

    specs = {  # name: (epsilon, trusts, server sees updates, accuracy)
        "FedAvg": (None, {"server"}, True, 0.950),
        "FedAvg + Paillier + central DP (eps=1)": (1.0, {"key holder"}, False, 0.930),
        "FedAvg + masking + central DP (eps=1)": (1.0, {"server"}, False, 0.930),
        "FedAvg + masking + central DP (eps=2)": (2.0, {"server"}, False, 0.935),
        "FedAvg + silo DP (eps=0.5)": (0.5, set(), True, 0.925),
        "FedAvg + masking + silo DP (eps=2)": (2.0, set(), False, 0.928),
    }
    configurations, rows = [], []
    offsets = [0.004, -0.003, 0.002, -0.001, 0.0, -0.002]
    for k, (name, (epsilon, trusts, sees, accuracy)) in enumerate(specs.items()):
        configurations.append(
            evaluation.Configuration(
                name,
                nothing,
                "x",
                epsilon=epsilon,
                delta=None if epsilon is None else 1e-5,
                family=name.split(" (")[0],
                trusts=trusts,
                server_sees_updates=sees,
            )
        )
        for split, offset in enumerate(offsets):
            rows.append(
                {
                    "configuration": name,
                    "family": name.split(" (")[0],
                    "split": split,
                    "draw": 0,
                    "epsilon": epsilon,
                    "delta": None if epsilon is None else 1e-5,
                    "accuracy": accuracy + offset + 0.001 * ((split * (k + 1)) % 3),
                    "mia_advantage": 0.01,
                    "seconds": 0.01,
                    "bytes": 100,
                }
            )
    costs = pd.DataFrame(
        columns=["configuration", "cost_key", "split", "seconds", "bytes", "weight_gap"]
    )
    return evaluation.Study(pd.DataFrame(rows), costs, configurations)


def _07_resolved():
    study = _small_study()
    better, worse = "FedAvg + masking + central DP (eps=1)", "FedAvg + silo DP (eps=0.5)"
    paired = study.compare(better, worse)
    expected = bool(paired["ci_low"] > 0 or paired["ci_high"] < 0)
    assert expected, "the fixture's difference must be resolved"
    return Entry("bool", expected, (study, better, worse))


def _07_scenario_pick():
    study = _small_study()
    return Entry(
        "text",
        "FedAvg + masking + central DP (eps=1)",
        (study,),
        {"max_loss": 0.04, "trusted": ("server",), "server_may_see_updates": False},
        mistakes=[
            "FedAvg + Paillier + central DP (eps=1)",  # scenario A's key holder
            "FedAvg + masking + silo DP (eps=2)",  # scenario B's pick
            "FedAvg + silo DP (eps=0.5)",  # the server would see updates
            "FedAvg + masking + central DP (eps=2)",  # qualifies, but a larger epsilon
            "FedAvg",
            "central DP",
        ],
    )


def _07_splits():
    from scipy import stats

    def half_width(k):
        return stats.t.ppf(0.975, k - 1) / math.sqrt(k)

    # with the t factor, as notebook 07's section 5 teaches: the fewest splits whose interval
    # is at most half as wide as with 30
    exact = min(k for k in range(31, 200) if half_width(k) <= half_width(30) / 2)
    assert exact == 113
    return Entry(
        "integer",
        120,
        (),
        {"n_splits": 30},
        mistakes=[60, 30, 15, 900, 90, 42, exact - 1],
        typed=[exact, 118],
        solution=["1/sqrt(k n)", "4 * len(SPLITS)"],
    )


REGISTRY = {
    "check_00_uniqueness_with_birth_year": _00_uniqueness,
    "check_00_uniqueness_in_smaller_list": _00_smaller_list,
    "check_00_largest_hospital": _00_largest,
    "check_00_fewest_malignant": _00_fewest_malignant,
    "check_01_safe_harbor_uniqueness": _01_safe_harbor,
    "check_01_records_to_suppress": _01_suppress,
    "check_01_homogeneous_share": _01_homogeneous,
    "check_01_differencing": _01_differencing,
    "check_02_randomized_response": _02_randomized_response,
    "check_02_laplace_release": _02_laplace_release,
    "check_02_sum_sensitivity": _02_sum_sensitivity,
    "check_02_queries_in_budget": _02_queries,
    "check_02_gaussian_sigma": _02_gaussian_sigma,
    "check_03_dpsgd_epsilon": _03_dpsgd_epsilon,
    "check_03_dpsgd_step": _03_dpsgd_step,
    "check_03_data_norm": _03_data_norm,
    "check_03_epsilon_for_ceiling": _03_epsilon_for_ceiling,
    "check_04_total_upload": _04_total_upload,
    "check_04_reconstructed_feature": _04_reconstructed,
    "check_04_malignant_share": _04_malignant_share,
    "check_04_personalised_mse": _04_personalised,
    "check_04_rounds_to_target": _04_rounds,
    "check_05_ciphertext_bytes": _05_ciphertext_bytes,
    "check_05_toy_decrypt": _05_toy_decrypt,
    "check_05_dropouts_tolerated": _05_dropouts,
    "check_05_ciphertexts_per_hospital": _05_packing,
    "check_06_local_noise_std": _06_local_noise,
    "check_06_other_hospital_update": _06_other_hospital,
    "check_06_membership_ceiling": _06_membership_ceiling,
    "check_06_noise_multiplier": _06_noise_multiplier,
    "check_07_difference_resolved": _07_resolved,
    "check_07_scenario_pick": _07_scenario_pick,
    "check_07_splits_for_half_width": _07_splits,
}
NAMES = sorted(REGISTRY)


@functools.cache
def entry(name: str) -> Entry:
    built = REGISTRY[name]()
    assert built.kind in KINDS, f"{name}: unknown kind {built.kind!r}"
    return built


# --- answers derived from an entry ---------------------------------------------------------


def right_answers(e: Entry) -> list:
    x = e.expected
    if e.kind == "number":
        found = [float(x), np.float64(x)]
        if float(x).is_integer():
            found += [int(x), np.int64(int(x))]
    elif e.kind == "integer":
        found = [int(x), np.int64(x), np.int32(x), float(x), np.float64(x)]
    elif e.kind == "bool":
        found = [bool(x), np.bool_(x)]
    elif e.kind == "text":
        found = [str(x), np.str_(x)]
    else:
        found = [np.asarray(x), list(np.asarray(x)), np.asarray(x).reshape(1, -1)]
    return found + list(e.typed)


def _same(answer, expected) -> bool:
    """Whether a wrong-answer candidate is in fact the right value (then it is not wrong)."""
    if isinstance(answer, bool | np.bool_) or isinstance(expected, bool | np.bool_):
        return (
            isinstance(answer, bool | np.bool_)
            and isinstance(expected, bool | np.bool_)
            and (bool(answer) == bool(expected))
        )
    if isinstance(answer, int | float | np.number) and isinstance(
        expected, int | float | np.number
    ):
        return math.isclose(float(answer), float(expected), rel_tol=1e-9, abs_tol=1e-12)
    return False


def wrong_answers(name: str) -> list:
    e = entry(name)
    x = e.expected
    shown = str(x) if e.kind != "vector" else str(list(np.asarray(x)))
    found = [True, False, np.True_, np.False_, 0, 1, "", float("nan"), float("inf")]
    if e.kind != "text":
        found.append(shown)  # the right value, typed as a string
    if e.kind in ("number", "integer"):
        found += [np.array([x]), [x], (x,), pd.Series([x]), str(x)]
    if e.kind == "vector":
        found += [float(np.asarray(x)[0]), np.asarray(x) > 0, np.full_like(np.asarray(x), np.nan)]
    found += [neighbour_answer(name)] + list(e.mistakes)
    return [w for w in found if not _same(w, x)]


def neighbour_answer(name: str):
    """The expected answer of the adjacent exercise of the same notebook."""
    notebook = name.split("_")[1]
    same = [n for n in NAMES if n.split("_")[1] == notebook]
    index = same.index(name)
    other = same[index - 1] if index else same[min(1, len(same) - 1)]
    return entry(other).expected if other != name else None


def _call(name: str, answer):
    e = entry(name)
    return getattr(exercises, name)(answer, *e.inputs, **e.kwargs)


def _secret_forms(expected) -> set[str]:
    """How the expected value would be written into a hint: forms with at least 3 digits."""
    if isinstance(expected, bool | np.bool_ | str | np.ndarray):
        return set()
    value = float(expected)
    forms = {repr(value), f"{value:.3g}", f"{value:.4g}", f"{value:.3f}", f"{value:.4f}"}
    forms |= {f"{value:.1%}", f"{value:.2%}"}
    if value.is_integer():
        forms.add(str(int(value)))
    return {f for f in forms if sum(ch.isdigit() for ch in f) >= 3}


def _describe(answer) -> str:
    return f"{type(answer).__name__} {answer!r}"[:80]


# --- the tests ---------------------------------------------------------------------------


def test_every_check_has_a_registry_entry():
    checks = {
        n for n, f in inspect.getmembers(exercises, inspect.isfunction) if n.startswith("check_")
    }
    assert checks - set(REGISTRY) == set(), "add an entry (with its wrong answers) to REGISTRY"
    assert set(REGISTRY) - checks == set(), "REGISTRY names a check that no longer exists"


@pytest.mark.parametrize("name", NAMES)
def test_right_answers_of_every_natural_type_pass(name):
    for answer in right_answers(entry(name)):
        result = _call(name, answer)
        assert isinstance(result, str) and result.startswith("Correct"), _describe(answer)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_answers_are_refused_with_a_hint_that_does_not_give_the_answer(name):
    e = entry(name)
    secrets = _secret_forms(e.expected)
    if e.kind == "text":
        secrets = {str(e.expected)}
    for answer in wrong_answers(name):
        with pytest.raises(ExerciseNotSolved) as raised:
            _call(name, answer)
        message = str(raised.value)
        assert message.startswith("Exercise "), message
        assert "\n" not in message and len(message) <= 320, f"hint too long: {message}"
        own = repr(answer) + str(answer)  # echoing the learner's own input is not a leak
        leaked = [s for s in secrets if s in message and s not in own]
        assert not leaked, f"{_describe(answer)}: the hint gives the answer {leaked}: {message}"
        recipe = [s for s in e.solution if s.lower() in message.lower()]
        assert not recipe, f"{_describe(answer)}: the hint gives the solution {recipe}: {message}"


@pytest.mark.parametrize(
    "leak", ["survivors now, minus the threshold", "the answer is 2.000", "try 7 - 1 - 4"]
)
def test_the_leak_guard_fails_a_hint_that_gives_the_answer(monkeypatch, leak):
    """The test above is real: a hint holding the value or the recipe of the answer fails it."""

    def leaky(answer, **kwargs):
        raise ExerciseNotSolved(f"Exercise 4 (dropouts): got {answer!r}; {leak}.")

    monkeypatch.setattr(exercises, "check_05_dropouts_tolerated", leaky)
    with pytest.raises(AssertionError, match="gives the"):
        test_wrong_answers_are_refused_with_a_hint_that_does_not_give_the_answer(
            "check_05_dropouts_tolerated"
        )


def _hint(name: str, answer) -> str:
    with pytest.raises(ExerciseNotSolved) as raised:
        _call(name, answer)
    return str(raised.value)


def _rounded_up(value: float, digits: int) -> float:
    return math.ceil(value * 10**digits) / 10**digits


@pytest.mark.parametrize(
    "name, answer, says",
    [
        # within rounding of the answer: the method is right, the value is rounded
        ("check_00_uniqueness_with_birth_year", lambda x: round(x, 2) + 0.001, "close"),
        ("check_01_homogeneous_share", lambda x: round(x, 2), "close"),
        ("check_02_randomized_response", lambda x: round(x, 2), "close"),
        ("check_03_data_norm", lambda x: 3.465, "close"),
        ("check_04_malignant_share", lambda x: round(x, 4), "close"),
        # an upper bound rounded up is refused, and says why
        ("check_03_epsilon_for_ceiling", lambda x: _rounded_up(x, 3), "never up"),
        # out of range: a count or a percentage where a share is asked
        ("check_00_uniqueness_with_birth_year", lambda x: 57, "between 0 and 1"),
        ("check_01_homogeneous_share", lambda x: 19, "between 0 and 1"),
        ("check_06_membership_ceiling", lambda x: 100 * x, "between 0 and 1"),
        # recognised slips
        ("check_01_records_to_suppress", lambda x: 9, "dropna=False"),
        ("check_02_randomized_response", lambda x: x + 0.05, "never collected"),
        ("check_02_gaussian_sigma", lambda x: 2 * x, "check the sensitivity"),
        ("check_04_reconstructed_feature", lambda x: 1.04 * x, "another patient"),
        ("check_05_dropouts_tolerated", lambda x: 4, "REPORT"),
        ("check_06_local_noise_std", lambda x: 0.8 / math.sqrt(5), "noisier"),
        ("check_06_membership_ceiling", lambda x: dp.max_membership_advantage(1.0, 1e-5), "board"),
        ("check_07_splits_for_half_width", lambda x: 900, "squares"),
    ],
)
def test_recognised_mistakes_get_their_own_hint(name, answer, says):
    assert says in _hint(name, answer(entry(name).expected))


def test_packing_slips_are_named():
    e = entry("check_05_ciphertexts_per_hospital")
    hundred, other_key = e.mistakes[-2:]
    assert "100 hospitals" in _hint("check_05_ciphertexts_per_hospital", hundred)
    assert "3072-bit key" in _hint("check_05_ciphertexts_per_hospital", other_key)


def test_a_hint_names_the_type_the_learner_gave():
    e = entry("check_01_differencing")
    with_target = int(e.expected[0])
    message = _hint("check_01_differencing", [with_target + 5, with_target + 4])
    assert f"[{with_target + 5}, {with_target + 4}]" in message and "ndarray" not in message


def test_personalised_mse_states_the_comparison_it_asks_about():
    e = entry("check_04_personalised_mse")
    hospital, test, start = e.inputs
    alone = (
        federated.local_only_training(
            [hospital], epochs=200, lr=0.1, scaling="own", test_data=[test]
        )
        .table["loss"]
        .iloc[0]
    )
    before = federated.loss(start, *test, model="linear")
    message = _call("check_04_personalised_mse", e.expected)
    assert f"{before:.0f} for the federated model" in message
    assert f"{alone:.0f} for the hospital trained alone" in message
    verdict = "better" if e.expected < alone else "worse"
    assert f"{verdict} than training alone" in message


@pytest.mark.parametrize("name", NAMES)
def test_an_unanswered_exercise_says_so(name):
    for placeholder in (..., None):
        with pytest.raises(ExerciseNotSolved, match="not answered yet"):
            _call(name, placeholder)


def test_the_registry_fixtures_make_zero_and_one_wrong():
    """0 and 1 are among the wrong answers, so no fixture may have them as its answer."""
    for name in NAMES:
        e = entry(name)
        if e.kind in ("number", "integer"):
            assert not _same(0, e.expected) and not _same(1, e.expected), name


def test_exercise_not_solved_renders_as_its_hint_alone():
    error = ExerciseNotSolved("Exercise 9 (x): got 2. Look at the y column.")
    assert error._render_traceback_() == [
        "ExerciseNotSolved: Exercise 9 (x): got 2. Look at the y column."
    ]


def test_a_passing_check_displays_without_quotes():
    from IPython.lib.pretty import pretty

    message = exercises.correct("Exercise 9 (x)", "well done")
    assert message == "Correct: Exercise 9 (x) - well done"
    assert pretty(message) == "Correct: Exercise 9 (x) - well done"


@pytest.mark.parametrize(
    "reader, good, bad",
    [
        (
            "require_number",
            [2, 2.5, np.float32(2.5), np.int8(2)],
            [True, np.True_, "2", [2], np.array([2.0]), np.array(2.0), float("nan"), {}, 2j],
        ),
        ("require_integer", [3, np.int64(3), 3.0], [3.5, True, "3", np.array([3])]),
        ("require_bool", [True, np.False_], [1, 0, "True", "yes", np.array([True])]),
        ("require_text", ["H1", np.str_("H1")], [1, b"H1", ["H1"], True]),
        (
            "require_vector",
            [[1.0, 2.0], np.arange(3), np.ones((1, 3))],
            [1.0, "12", [True, False], np.ones((2, 2)), ["1", "2"], [], [np.nan, 1.0]],
        ),
    ],
)
def test_answer_readers_accept_natural_types_and_refuse_the_rest(reader, good, bad):
    reader = getattr(exercises, reader)
    for answer in good:
        reader(answer, "Exercise 9 (x)", "a value")
    for answer in bad:
        with pytest.raises(ExerciseNotSolved, match=r"^Exercise 9 \(x\): "):
            reader(answer, "Exercise 9 (x)", "a value")
