"""Notebooks 00-03: their prose numbers are claimed, and their conclusions survive re-seeding.

The notebooks state measured results (a ranking of accountants, an attack that works and one
that fails, a curve that rises with the cohort). Each conclusion is re-computed here on seeds
the notebooks never use, with the notebooks' own code where they define it (the DP-SGD loop of
notebook 03 is read from the committed notebook and executed, not copied), and asserted with
the margin the prose claims. The settings are the notebooks' own, shrunk only where a test must
stay fast (fewer clinics or splits); each test says what it shrinks.
"""

from __future__ import annotations

import ast
import functools
import math

import nbformat
import numpy as np
import pytest
from scipy import special, stats
from sklearn.model_selection import train_test_split
from test_tradeoff_notebooks import _unchecked_numbers

import notebooks as nb
from helpers import accounting, attacks, data, dp, dp_learning

PATHS = {
    "00": nb.ROOT / "notebooks" / "00_welcome_and_data.ipynb",
    "01": nb.ROOT / "notebooks" / "01_reidentification.ipynb",
    "02": nb.ROOT / "notebooks" / "02_dp_foundations.ipynb",
    "03": nb.ROOT / "notebooks" / "03_dp_machine_learning.ipynb",
}
#: Numbers in the prose that are not results: values quoted from the literature (Sweeney's 87 %,
#: Golle's 63 %), thresholds stated with a boolean claim ("over 80 %"), section numbers of the
#: rule (164.514), parameters the code sets (epsilons, deltas, rates, the 12 % share the survey
#: is drawn with, the 5 % suppression budget, the 95 % confidence level), constants of formulas
#: (1.25, 1.96, 0.25) and the 50 % that noisy answers drift towards; and the mantissa of
#: 2.27e-05 (claimed whole).
NOT_RESULTS = {
    "00": {63.0, 80.0, 87.0},
    "01": {5.0, 63.0, 87.0, 164.514},
    "02": {0.005, 0.01, 0.12, 0.25, 1.25, 1.96, 2.27, 50.0, 95.0},
    "03": {0.001, 0.02, 0.25},
}


@functools.cache
def notebook(key: str):
    return nbformat.read(PATHS[key], as_version=4)


@pytest.mark.parametrize("key", sorted(PATHS))
def test_every_claim_ran_and_every_prose_number_is_claimed(key):
    executed = notebook(key)
    assert len(nb.claim_calls(executed)) >= 10
    assert not nb.claims_not_checked(executed)
    unchecked = _unchecked_numbers(executed, NOT_RESULTS[key])
    assert not unchecked, f"numbers in notebook {key}'s prose without a matching claim: {unchecked}"


@pytest.mark.parametrize("key", sorted(PATHS))
def test_the_notebook_keeps_its_time_budget_and_teaches_before_the_helper(key):
    kit = notebook(key).metadata["kit"]
    assert kit["budget_seconds"] <= 30
    assert kit["teaching_minutes"] + kit["exercise_minutes"] <= 105
    checks = sum("exercises.check_" in c.source for c in nb.code_cells(notebook(key)))
    assert checks >= 3, "at least three exercises per notebook"


# --------------------------------------------------------------- the notebooks' own code


def notebook_function(key: str, name: str):
    """The function ``name`` exactly as the committed notebook defines it, compiled here."""
    found = [
        node
        for cell in nb.code_cells(notebook(key))
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    assert len(found) == 1, f"notebook {key} defines {name} exactly once"
    namespace = {"np": np, "math": math, "special": special, "dp": dp, "accounting": accounting}
    exec(compile(ast.Module(found, type_ignores=[]), f"notebook {key}: {name}", "exec"), namespace)
    return namespace[name]


@functools.cache
def cancer():
    """The breast-cancer data scaled by its published bounds into [-0.5, 0.5], as notebook 03."""
    X, y = data.breast_cancer()
    bounds = data.breast_cancer_bounds()
    lower, upper = bounds["lower"].to_numpy(), bounds["upper"].to_numpy()
    scaled = np.clip((X.to_numpy() - lower) / (upper - lower), 0.0, 1.0) - 0.5
    return scaled, y.to_numpy()


def _splits(seed: int, n_splits: int):
    X, y = cancer()
    seeds = np.random.default_rng(seed).integers(2**31 - 1, size=n_splits)
    pairs = [
        train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=int(s))
        for s in seeds
    ]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _accuracy(weights, rows):
    X, y = cancer()
    logits = np.einsum("snd,srd->srn", X[rows], weights[..., :-1]) + weights[..., None, -1]
    return ((logits > 0) == (y[rows][:, None, :] == 1)).mean(axis=-1)[:, 0]


def _mean_and_half(values):
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return values.mean(), half


# --------------------------------------------------------------- notebook 03


@pytest.mark.parametrize(
    "seed, epsilon, clip_norm, batch_size", [(7, 2.0, 0.5, 16), (11, 0.5, 1.0, 64)]
)
def test_the_notebook_loop_is_dpsgd_logistic_regression(seed, epsilon, clip_norm, batch_size):
    dp_sgd = notebook_function("03", "dp_sgd")
    X, y = cancer()
    X_train, y_train = X[:300], y[:300]
    helper = dp_learning.DPSGDLogisticRegression(
        epsilon=epsilon,
        delta=1e-5,
        clip_norm=clip_norm,
        batch_size=batch_size,
        epochs=5,
        rng=seed,
    ).fit(X_train, y_train)
    ours = dp_sgd(
        X_train,
        y_train,
        np.ones((1, len(y_train)), bool),
        helper.noise_multiplier_,
        clip_norm,
        batch_size / len(y_train),
        helper.steps_,
        helper.learning_rate,
        np.random.default_rng(seed),
    )[0]
    np.testing.assert_allclose(
        ours, np.r_[helper.coef_[0], helper.intercept_], rtol=1e-9, atol=1e-12
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [101])
def test_the_accountant_lever_on_other_seeds(seed):
    """Section 2: basic composition costs > 20 points at eps 1; PLD's smaller noise multiplier
    buys about a quarter of a point at eps 1 (paired, common random numbers, 4 sets of 30
    splits as the notebook: between 0.1 and 0.4 points pooled, positive on every set) and a
    positive gain at eps 0.5 (one set); the tight accountants stay within 3 points of the
    noiseless loop."""
    dp_sgd = notebook_function("03", "dp_sgd")
    composed_epsilon = notebook_function("03", "composed_epsilon")
    X, y = cancer()
    train_rows, test_rows = _splits(seed, 4 * 30)
    n = train_rows.shape[1]
    q, steps, delta = 32 / n, math.ceil(50 * n / 32), 1e-5
    every = np.ones((30, 1, n), bool)
    stream = np.random.default_rng(seed).integers(2**31 - 1, size=4)

    def accuracy(multiplier, clip=1.0, split_set=0):
        rows = slice(30 * split_set, 30 * split_set + 30)
        weights = dp_sgd(
            X[train_rows[rows]],
            y[train_rows[rows]],
            every,
            multiplier,
            clip,
            q,
            steps,
            0.5,
            np.random.default_rng(stream[split_set]),  # common random numbers across accountants
        )
        return _accuracy(weights, test_rows[rows])

    rdp_z, pld_z = (
        accounting.noise_multiplier_for(1.0, delta, q, steps, name) for name in ("rdp", "pld")
    )
    gains = np.stack(
        [accuracy(pld_z, split_set=s) - accuracy(rdp_z, split_set=s) for s in range(4)]
    )
    assert (gains.mean(axis=1) > 0).all(), f"PLD's gain per set of 30: {gains.mean(axis=1)}"
    assert 0.001 < gains.mean() < 0.004, f"PLD's gain over 120 splits: {gains.mean():.4f}"

    rdp_half = accuracy(accounting.noise_multiplier_for(0.5, delta, q, steps, "rdp"))
    pld_half = accuracy(accounting.noise_multiplier_for(0.5, delta, q, steps, "pld"))
    assert (pld_half - rdp_half).mean() > 0, "PLD's smaller noise did not help at eps 0.5"

    pld = accuracy(pld_z)
    assert accuracy(0.0, np.inf).mean() - pld.mean() < 0.03
    basic_z = next(
        z for z in np.geomspace(50, 400, 60) if composed_epsilon(z, q, steps, delta, "basic") <= 1.0
    )
    basic = accuracy(basic_z)
    loss, half = _mean_and_half(basic - pld)
    assert loss + half < -0.20
    mean, half = _mean_and_half(basic)
    assert mean - half < 1 - y.mean(), "basic composition should be no better than guessing benign"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [303, 404])
def test_lira_succeeds_against_small_non_private_models_and_not_against_dp(seed):
    """Section 5 on other deals of the patients into clinics, the notebook's own design (11
    clinics of 50, 80 models each): at 0.1 % FPR LiRA against the fitted non-private models
    finds more than ten times chance, against DP-SGD's schedule without noise less than that
    but more than three times chance, and against DP-SGD at eps 1 it stays below the DP bound
    (also at 1 % FPR); the loss-threshold attack stays below 0.3 %."""
    dp_sgd = notebook_function("03", "dp_sgd")
    X, y = cancer()
    rng = np.random.default_rng(seed)
    clinics, models, size = 11, 80, 50
    members_of = rng.permutation(len(y))[: clinics * size].reshape(clinics, size)
    Xc, yc = X[members_of], y[members_of]
    inside = rng.random((clinics, models, size)) < 0.5

    def confidences(*training):
        weights = dp_sgd(Xc, yc, inside, *training, rng)
        logits = np.einsum("cnd,cmd->cmn", Xc, weights[..., :-1]) + weights[..., None, -1]
        return np.where(yc[:, None, :] == 1, logits, -logits)

    def lira(c):
        return np.stack([dp_learning.lira_scores(c[k], inside[k]) for k in range(clinics)])

    def rate(scores, fpr):
        return attacks.membership_power(scores[inside], scores[~inside], fpr)

    fitted = confidences(0.0, np.inf, 1.0, 400, 1.5)
    schedule = confidences(0.0, np.inf, 0.2, 250, 0.5)
    private = lira(
        confidences(accounting.noise_multiplier_for(1.0, 1e-5, 0.2, 250), 1.0, 0.2, 250, 0.5)
    )
    found = rate(lira(fitted), 0.001)
    assert found > 10 * 0.001
    assert 3 * 0.001 < rate(lira(schedule), 0.001) < found
    for fpr in (0.01, 0.001):
        assert rate(private, fpr) < math.exp(1.0) * fpr + 1e-5
    assert rate(fitted, 0.001) < 0.003  # the global threshold names nobody reliably


@pytest.mark.slow
def test_small_cohorts_pay_most_on_another_seed():
    """Section 4: at a fixed sampling rate the gap to the noiseless loop is large at 100
    patients and small at 1,500, and DP-SGD gains more than 0.2 in between. Shrunk: a smaller
    population (12,000), 4 cohorts per size, the two end sizes."""
    dp_sgd = notebook_function("03", "dp_sgd")
    rng = np.random.default_rng(505)
    adults = data.synthetic_population(12_000, rng=rng).query("age >= 18").reset_index(drop=True)
    bounds = {
        "age": (18, 105),
        "bmi": (12, 70),
        "hba1c": (4, 14),
        "systolic_bp": (60, 250),
        "total_cholesterol": (2, 10),
    }
    X = np.column_stack(
        [
            (np.clip(adults[c].to_numpy(), lo, hi) - lo) / (hi - lo) - 0.5
            for c, (lo, hi) in bounds.items()
        ]
    )
    y = (adults["diagnosis_code"] == "E11").to_numpy().astype(int)
    held_out, pool = np.arange(len(y) - 3_000, len(y)), np.arange(len(y) - 3_000)
    z = accounting.noise_multiplier_for(1.0, 1e-5, 0.02, 500)

    def balanced(weights):
        predicted = (X[held_out] @ weights[:, 0, :-1].T + weights[:, 0, -1] > 0).T
        truth = y[held_out] == 1
        return (
            0.5 * (predicted[:, truth].mean(axis=1) + (~predicted[:, ~truth]).mean(axis=1))
        ).mean()

    result = {}
    for n in (100, 1_500):
        cohorts = np.stack([rng.choice(pool, size=n, replace=False) for _ in range(4)])
        every = np.ones((4, 1, n), bool)
        result[n] = {
            name: balanced(dp_sgd(X[cohorts], y[cohorts], every, m, c, 0.02, 500, 8.0, rng))
            for name, (m, c) in {"dp": (z, 1.0), "plain": (0.0, np.inf)}.items()
        }
    assert result[100]["plain"] - result[100]["dp"] > 0.1
    assert result[1_500]["plain"] - result[1_500]["dp"] < 0.06
    assert result[1_500]["dp"] - result[100]["dp"] > 0.2


@pytest.mark.slow
def test_dpsgd_beats_diffprivlib_at_small_epsilon_on_other_splits():
    """Section 3 on 5 splits the notebook does not use: at eps 1 and 2 DP-SGD's worst run beats
    diffprivlib's better mean (C = 1 or 0.1); C = 0.1 beats C = 1 at eps 2; at eps 8 the gap
    is a few points (< 0.07)."""
    dp_sgd = notebook_function("03", "dp_sgd")
    X, y = cancer()
    train_rows, test_rows = _splits(606, 5)
    n = train_rows.shape[1]
    q, steps = 32 / n, math.ceil(50 * n / 32)
    rng = np.random.default_rng(606)
    for epsilon in (1.0, 2.0, 8.0):
        z = accounting.noise_multiplier_for(epsilon, 1e-5, q, steps)
        weights = dp_sgd(
            X[train_rows], y[train_rows], np.ones((5, 1, n), bool), z, 1.0, q, steps, 0.5, rng
        )
        ours = _accuracy(weights, test_rows)
        theirs = {
            C: np.mean(
                [
                    dp_learning.diffprivlib_logistic_regression(
                        epsilon, math.sqrt(30), rng=rng, C=C
                    )
                    .fit(X[tr] + 0.5, y[tr])
                    .score(X[te] + 0.5, y[te])
                    for tr, te in zip(train_rows, test_rows, strict=True)
                ]
            )
            for C in (1.0, 0.1)
        }
        if epsilon < 8:
            assert ours.min() > max(theirs.values()), f"eps {epsilon}: {ours}, {theirs}"
        else:
            assert ours.mean() - max(theirs.values()) < 0.07
        if epsilon == 2.0:
            assert theirs[0.1] > theirs[1.0]


@pytest.mark.slow
def test_the_clip_norm_curve_has_a_flat_top_that_holds_the_public_bound():
    """Section 7 on 5 other splits: the best clip norm of the notebook's grid lies between 0.3
    and the bound known in advance, 0.5 * sqrt(30 * 0.25 + 1) = 1.46, where the intervals of
    0.3, 1 and 1.46 overlap; C = 0.1 and C = 10 both lose more than 5 points against it."""
    dp_sgd = notebook_function("03", "dp_sgd")
    X, y = cancer()
    train_rows, test_rows = _splits(707, 5)
    n = train_rows.shape[1]
    q, steps = 32 / n, math.ceil(50 * n / 32)
    z = accounting.noise_multiplier_for(1.0, 1e-5, q, steps)
    rng = np.random.default_rng(707)
    bound = 0.5 * math.sqrt(30 * 0.25 + 1)
    accuracy = {
        C: _accuracy(
            dp_sgd(
                X[train_rows], y[train_rows], np.ones((5, 1, n), bool), z, C, q, steps, 0.5, rng
            ),
            test_rows,
        )
        for C in (0.1, 0.3, 1.0, bound, 3.0, 10.0)
    }
    means = {C: a.mean() for C, a in accuracy.items()}
    best = max(means, key=means.get)
    assert 0.3 <= best <= bound, means
    assert max(means[0.1], means[10.0]) < means[best] - 0.05, means
    top = [_mean_and_half(accuracy[C]) for C in (0.3, 1.0, bound)]
    assert max(m - h for m, h in top) < min(m + h for m, h in top), "the top's intervals overlap"


# --------------------------------------------------------------- notebook 02


@pytest.mark.parametrize("epsilon", [0.25, 1.0, 2.0])
def test_the_optimal_differencing_attack_has_its_exact_accuracy_below_the_bound(epsilon):
    """Section 6: thresholding one Laplace count at c + 1/2 is right 1 - exp(-eps/2)/2 of the
    time (a binomial test at 20,000 trials), which is below e^eps / (1 + e^eps); notebook 01's
    two-count attack is right 1 - exp(-eps/2)(1 + eps/4)/2 of the time, less still."""
    rng = np.random.default_rng(int(epsilon * 1000))
    trials, others = 20_000, 11
    has = rng.random(trials) < 0.5
    released = others + has + rng.laplace(0.0, 1 / epsilon, trials)
    correct = int(((released > others + 0.5) == has).sum())
    exact = 1 - 0.5 * math.exp(-epsilon / 2)
    assert stats.binomtest(correct, trials, exact).pvalue > 1e-4
    assert exact < dp.max_attacker_accuracy(epsilon)
    # notebook 01's attack: two noisy counts, their difference thresholded at 1/2
    difference = has + rng.laplace(0.0, 1 / epsilon, trials) - rng.laplace(0.0, 1 / epsilon, trials)
    two_answers = 1 - 0.5 * math.exp(-epsilon / 2) * (1 + epsilon / 4)
    correct = int(((difference >= 0.5) == has).sum())
    assert stats.binomtest(correct, trials, two_answers).pvalue > 1e-4
    assert two_answers < exact


def test_randomized_response_intervals_cover_at_their_level():
    """Section 2: the coins-only 95 % interval covers the respondents' share ~95 % of the time."""
    rng = np.random.default_rng(808)
    truth = (rng.random(2_000) < 0.12).astype(int)
    for epsilon in (0.5, 2.0):
        p = math.exp(epsilon) / (1 + math.exp(epsilon))
        half = 1.96 * math.sqrt(p * (1 - p) / truth.size) / (2 * p - 1)
        estimates = np.array(
            [
                dp.estimate_proportion(dp.randomized_response(truth, epsilon, rng=rng), epsilon)
                for _ in range(2_000)
            ]
        )
        coverage = np.mean(np.abs(estimates - truth.mean()) <= half)
        assert abs(coverage - 0.95) < 0.015, (epsilon, coverage)
