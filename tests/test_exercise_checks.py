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

from helpers import accounting, data, deid, dp, dp_learning, encryption, exercises, federated
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


def _members():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=60) > 0).astype(int)
    model = LogisticRegression(C=100.0).fit(X[:30], y[:30])
    return model, (X[:30], y[:30]), (X[30:], y[30:])


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
    return Entry("number", expected, (people,), mistakes=[100 * expected, full_dates])


def _00_largest():
    counts = population()["hospital"].value_counts()
    return Entry(
        "text",
        counts.idxmax(),
        (population(),),
        mistakes=[counts.idxmin(), counts.idxmax().lower(), "St Mary", counts.index[1]],
    )


def _00_label_skew():
    parts = [
        (np.zeros((15, 2)), np.r_[np.ones(11), np.zeros(4)]),  # 0.7333
        (np.zeros((20, 2)), np.r_[np.ones(7), np.zeros(13)]),  # 0.35
        (np.zeros((12, 2)), np.r_[np.ones(1), np.zeros(11)]),  # 0.0833
    ]
    shares = [float(y.mean()) for _, y in parts]
    return Entry(
        "number",
        max(shares),
        (parts,),
        mistakes=[
            min(shares),
            100 * max(shares),
            float(np.mean(np.concatenate([y for _, y in parts]))),
        ],
        typed=[0.733],
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


def _01_k():
    table = _classes([3, 4, 7], [1, 2, 3])
    return Entry(
        "integer",
        3,
        (table, ["zip3", "age_band"]),
        mistakes=[7, 14 / 3, 2, 14],  # largest class, mean size, k - 1, number of records
    )


def _01_homogeneous():
    table = _classes([3, 4, 7, 6], [1, 2, 1, 3])
    # classes with one diagnosis: sizes 3 and 7, so 10 of 20 records; 2 of 4 classes would be 0.5
    table = pd.concat([table, _classes([5], [1]).assign(zip3="099")], ignore_index=True)
    classes = deid.equivalence_classes(table, ["zip3", "age_band"], "diagnosis")
    expected = float(classes.loc[classes["distinct"] == 1, "size"].sum() / classes["size"].sum())
    share_of_classes = float((classes["distinct"] == 1).mean())
    return Entry(
        "number",
        expected,
        (table, ["zip3", "age_band"], "diagnosis"),
        mistakes=[share_of_classes, 100 * expected, 1 - expected],
    )


def _01_differencing():
    people = population()
    target = people.loc[people["diagnosis_code"] != "E11", "patient_id"].iloc[0]
    # The target does NOT have E11: np.False_ is a right answer, True and 1 are wrong.
    return Entry(
        "bool", False, (people, target, "E11"), mistakes=["False", "no", 0, np.int64(0), 1.0]
    )


def _02_randomized_response():
    bits = np.random.default_rng(11).integers(0, 2, size=300)
    expected = dp.estimate_proportion(bits, 0.5)
    return Entry("number", expected, (bits, 0.5), mistakes=[float(bits.mean())])


def _02_sum_sensitivity():
    return Entry("number", 180.0, (20, 180), mistakes=[160.0, 20.0, 90.0], typed=[180])


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
        mistakes=[classic, sensitivity / epsilon],
    )


def _03_dpsgd_epsilon():
    args = (10_000, 100, 1.1, 5, 1e-5)
    rdp = accounting.rdp_sampled_gaussian(100 / 10_000, 1.1, 500)
    mironov = accounting.rdp_to_dp(accounting.DEFAULT_ORDERS, rdp, 1e-5, "mironov")[0]
    expected = accounting.dpsgd_epsilon(*args, accountant="rdp")
    return Entry("number", expected, args, mistakes=[mironov])


def _03_data_norm():
    return Entry("number", math.sqrt(12), (12,), mistakes=[12, 144, 6.0], typed=[3.4641016])


def _03_membership_auc():
    model, members, non_members = _members()
    auc = dp_learning.membership_inference(model, members, non_members).auc
    assert abs(auc - 0.5) > 0.01, "the fixture's AUC must tell members from non-members"
    return Entry("number", auc, (model, members, non_members), mistakes=[1 - auc, 0.5])


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
        mistakes=[1.5, 4.0, 120.0],  # standardised value, the other feature, the mean
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
        mistakes=[round(share, 2), 1 - share, update[-1], -update[-1] / 0.5],
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
        mistakes=[without_mu, c % n, pow(c, lam, n), m + n],
    )


def _05_packing():
    args = (public_key(), 10, 8.0, 24, 1000)
    encoder = encryption.PackedEncoder(24, 10, 8.0, public_key())
    expected = encoder.n_ciphertexts(1000)
    return Entry(
        "integer", expected, args, mistakes=[1000, encoder.slots_per_ciphertext, expected + 1]
    )


def _05_dropouts():
    return Entry(
        "integer", 2, (), {"n_parties": 7, "threshold": 4, "dropped": 1}, mistakes=[3, 6, 4, 5]
    )


def _06_local_noise():
    plan = types.SimpleNamespace(hospitals=("H1", "H2", "H3", "H4", "H5"), noise_std=0.8)
    aggregator = types.SimpleNamespace(plan=plan)
    return Entry("number", math.sqrt(5) * 0.8, (aggregator,), mistakes=[0.8, 4.0, 3.2])


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
    return Entry(
        "number",
        dp.max_membership_advantage(epsilon, delta),
        (),
        {"epsilon": epsilon, "delta": delta},
        mistakes=[math.exp(epsilon) - 1, dp.max_attacker_accuracy(epsilon, delta)],
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
    return Entry("integer", 120, (), {"n_splits": 30}, mistakes=[60, 30, 15, 900, 90, 42])


REGISTRY = {
    "check_00_uniqueness_with_birth_year": _00_uniqueness,
    "check_00_largest_hospital": _00_largest,
    "check_00_label_skew": _00_label_skew,
    "check_01_safe_harbor_uniqueness": _01_safe_harbor,
    "check_01_k_of_generalisation": _01_k,
    "check_01_homogeneous_share": _01_homogeneous,
    "check_01_differencing": _01_differencing,
    "check_02_randomized_response": _02_randomized_response,
    "check_02_sum_sensitivity": _02_sum_sensitivity,
    "check_02_queries_in_budget": _02_queries,
    "check_02_gaussian_sigma": _02_gaussian_sigma,
    "check_03_dpsgd_epsilon": _03_dpsgd_epsilon,
    "check_03_data_norm": _03_data_norm,
    "check_03_membership_auc": _03_membership_auc,
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
