"""helpers.dp: mechanism distributions, calibration, the accountant, the audit and validation.

Statistical tests use fixed seeds and state their tolerances; each would fail for a
mechanism with the wrong noise scale.
"""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from helpers import dp

N = 20_000  # samples per distribution test
ALPHA = 0.001  # KS tests fail only if p < 0.001 (a correct mechanism fails 1 run in 1000)


# ------------------------------------------------------------------ distributions


@pytest.mark.parametrize("sensitivity, epsilon", [(1.0, 1.0), (2.0, 0.5), (1.0, 5.0)])
def test_laplace_noise_has_scale_sensitivity_over_epsilon(sensitivity, epsilon):
    noisy = dp.laplace_mechanism(np.full(N, 10.0), sensitivity, epsilon, rng=1)
    scale = sensitivity / epsilon
    assert stats.kstest(noisy - 10.0, stats.laplace(scale=scale).cdf).pvalue > ALPHA
    # variance 2 b^2: the sample variance is within 5 % at this N
    assert np.var(noisy) == pytest.approx(2 * scale**2, rel=0.05)


def test_laplace_ks_test_rejects_the_wrong_scale():
    noisy = dp.laplace_mechanism(np.zeros(N), 1.0, 1.0, rng=1)
    assert stats.kstest(noisy, stats.laplace(scale=0.5).cdf).pvalue < ALPHA


def test_laplace_scalar_in_scalar_out_and_reproducible():
    a = dp.laplace_mechanism(3, 1, 1, rng=7)
    assert isinstance(a, float) and a == dp.laplace_mechanism(3, 1, 1, rng=7)


def test_analytic_gaussian_sigma_meets_delta_exactly():
    for epsilon in (0.1, 0.5, 1.0, 3.0, 10.0):
        sigma = dp.gaussian_sigma(1.0, epsilon, 1e-5)
        assert dp.gaussian_delta(sigma, 1.0, epsilon) <= 1e-5
        assert dp.gaussian_delta(sigma * 0.999, 1.0, epsilon) > 1e-5  # smallest such sigma
        assert dp.gaussian_epsilon(sigma, 1.0, 1e-5) == pytest.approx(epsilon, rel=1e-6)


def test_analytic_gaussian_matches_balle_wang_reference_and_beats_classic():
    # Balle & Wang (ICML 2018, https://arxiv.org/abs/1805.06530) Theorem 8 evaluated
    # independently with math.erfc, as TensorFlow Privacy's tests do.
    sigma, eps = 2.0, 0.8
    reference = 0.5 * math.erfc((eps * sigma - 0.5 / sigma) / math.sqrt(2)) - math.exp(
        eps
    ) * 0.5 * math.erfc((eps * sigma + 0.5 / sigma) / math.sqrt(2))
    assert dp.gaussian_delta(sigma, 1.0, eps) == pytest.approx(reference, rel=1e-10)
    for eps in (0.1, 0.5, 0.9):
        assert dp.gaussian_sigma(1, eps, 1e-5) < dp.gaussian_sigma(1, eps, 1e-5, "classic")


def test_classic_gaussian_bound_fails_for_large_epsilon():
    # sqrt(2 ln(1.25/delta))/epsilon at epsilon = 10 gives a delta above the target
    sigma = math.sqrt(2 * math.log(1.25e5)) / 10
    assert dp.gaussian_delta(sigma, 1.0, 10.0) > 1e-5
    with pytest.raises(ValueError, match="epsilon in \\(0, 1\\)"):
        dp.gaussian_sigma(1, 1.0, 1e-5, method="classic")


def test_gaussian_mechanism_noise_is_normal_with_the_analytic_sigma():
    sigma = dp.gaussian_sigma(1.0, 2.0, 1e-6)
    noisy = dp.gaussian_mechanism(np.zeros(N), 1.0, 2.0, 1e-6, rng=2)
    assert stats.kstest(noisy, stats.norm(scale=sigma).cdf).pvalue > ALPHA
    assert np.std(noisy) == pytest.approx(sigma, rel=0.03)
    assert stats.kstest(noisy, stats.norm(scale=sigma / 2).cdf).pvalue < ALPHA


def test_gaussian_noise_vector():
    noise = dp.gaussian_noise((4, N), 1.5, rng=3)
    assert noise.shape == (4, N) and np.std(noise) == pytest.approx(1.5, rel=0.02)
    with pytest.raises(ValueError, match="sigma"):
        dp.gaussian_noise(3, -1.0)


def test_clip_l2_bounds_the_norm_and_keeps_short_vectors():
    long = np.array([3.0, 4.0])
    np.testing.assert_allclose(dp.clip_l2(long, 1.0), [0.6, 0.8])
    np.testing.assert_array_equal(dp.clip_l2(np.array([0.3, 0.4]), 1.0), [0.3, 0.4])
    np.testing.assert_array_equal(dp.clip_l2(np.zeros(3), 1.0), np.zeros(3))
    with pytest.raises(ValueError, match="max_norm"):
        dp.clip_l2(long, 0.0)


@settings(max_examples=50, deadline=None)
@given(vector=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=20), bound=st.floats(1e-3, 1e3))
def test_clip_l2_never_exceeds_the_bound(vector, bound):
    assert np.linalg.norm(dp.clip_l2(np.array(vector), bound)) <= bound * (1 + 1e-9)


@pytest.mark.parametrize("epsilon, sensitivity", [(1.0, 1), (0.5, 2)])
def test_geometric_mechanism_matches_the_two_sided_geometric_pmf(epsilon, sensitivity):
    noisy = dp.geometric_mechanism(np.full(N, 100), epsilon, sensitivity, rng=4) - 100
    assert noisy.dtype.kind == "i"
    r = math.exp(-epsilon / sensitivity)
    ks = np.arange(-6, 7)
    expected = (1 - r) / (1 + r) * r ** np.abs(ks) * N
    observed = np.array([(noisy == k).sum() for k in ks])
    # chi-square on the central bins plus one tail bin
    observed = np.append(observed, N - observed.sum())
    expected = np.append(expected, N - expected.sum())
    assert stats.chisquare(observed, expected).pvalue > ALPHA
    assert isinstance(dp.geometric_mechanism(5, 1.0, rng=0), int)


def test_randomized_response_flip_rate_and_unbiased_estimate():
    eps = 1.0
    p_keep = math.exp(eps) / (1 + math.exp(eps))
    truth = (np.random.default_rng(0).random(N) < 0.3).astype(int)
    noisy = dp.randomized_response(truth, eps, rng=5)
    kept = (noisy == truth).sum()
    assert stats.binomtest(kept, N, p_keep).pvalue > ALPHA
    estimates = [
        dp.estimate_proportion(dp.randomized_response(truth, eps, rng=s), eps) for s in range(200)
    ]
    # the mean of 200 estimates is within 4 standard errors of the truth
    assert abs(np.mean(estimates) - truth.mean()) < 4 * np.std(estimates) / math.sqrt(200)


def test_randomized_response_accepts_booleans_rejects_other_values():
    assert set(dp.randomized_response(np.array([True, False]), 1.0, rng=0)) <= {0, 1}
    with pytest.raises(ValueError, match="0 and 1"):
        dp.randomized_response([0, 2], 1.0)


def test_exponential_mechanism_frequencies_match_its_probabilities():
    scores = np.array([10.0, 8.0, 3.0, 0.0])
    probs = dp.exponential_probabilities(scores, 1.0, 0.5)
    assert probs == pytest.approx(np.exp(0.25 * scores) / np.exp(0.25 * scores).sum())
    rng = np.random.default_rng(6)
    picks = np.array([dp.exponential_mechanism(scores, 1.0, 0.5, rng) for _ in range(5000)])
    observed = np.bincount(picks, minlength=4)
    assert stats.chisquare(observed, probs * 5000).pvalue > ALPHA


# ------------------------------------------------------------------ DP statistics


def test_dp_count_laplace_and_geometric():
    df = pd.DataFrame({"a": range(50)})
    counts = np.array([dp.dp_count(df, 1.0, rng=s) for s in range(2000)])
    assert counts.mean() == pytest.approx(50, abs=0.2) and np.var(counts) == pytest.approx(
        2, rel=0.15
    )
    assert isinstance(dp.dp_count(df, 1.0, rng=0, mechanism="geometric"), int)


def test_dp_sum_clips_to_the_declared_bounds():
    values = np.array([1.0, 2.0, 1000.0])  # 1000 is clipped to 10
    sums = np.array([dp.dp_sum(values, 0, 10, 5.0, rng=s) for s in range(2000)])
    assert sums.mean() == pytest.approx(13.0, abs=0.2)
    assert np.var(sums) == pytest.approx(2 * (10 / 5) ** 2, rel=0.15)


def test_dp_mean_is_close_for_large_data_and_within_bounds():
    values = np.random.default_rng(0).normal(120, 15, 5000)
    m = dp.dp_mean(values, 60, 220, 1.0, rng=1)
    assert abs(m - values.mean()) < 1.0
    tiny = dp.dp_mean([100.0], 60, 220, 0.01, rng=1)
    assert 60 <= tiny <= 220


def test_dp_histogram_categories_and_bins():
    cats = ["a", "b", "c"]
    hist = dp.dp_histogram(["a"] * 100 + ["b"] * 10, 2.0, categories=cats, rng=0)
    assert list(hist.index) == cats and abs(hist["a"] - 100) < 10 and abs(hist["c"]) < 10
    hist = dp.dp_histogram([-5, 0.5, 1.5, 99], 5.0, bins=2, lower=0, upper=2, rng=0)
    assert hist.sum() == pytest.approx(4, abs=5)  # the outliers are clipped into the end bins
    with pytest.raises(ValueError, match="exactly one"):
        dp.dp_histogram([1], 1.0)
    with pytest.raises(ValueError, match="lower and upper"):
        dp.dp_histogram([1], 1.0, bins=3)


# ------------------------------------------------------------------ the audit


AUDITED = {
    "laplace": (lambda d, rng: dp.laplace_mechanism(d, 1.0, 1.0, rng), 0.0, 1.0, 1.0, 0.0),
    "geometric": (lambda d, rng: dp.geometric_mechanism(d, 1.0, 1, rng), 0, 1, 1.0, 0.0),
    "gaussian": (lambda d, rng: dp.gaussian_mechanism(d, 1.0, 1.0, 1e-5, rng), 0.0, 1.0, 1.0, 1e-5),
    "randomized_response": (
        lambda d, rng: dp.randomized_response([d], 1.0, rng)[0],
        0,
        1,
        1.0,
        0.0,
    ),
    "exponential": (
        lambda d, rng: dp.exponential_mechanism(d, 1.0, 1.0, rng),
        np.array([3.0, 2.0, 1.0]),
        np.array([2.0, 3.0, 1.0]),
        1.0,
        0.0,
    ),
    "dp_count": (
        lambda d, rng: dp.dp_count(d, 1.0, rng),
        list(range(20)),
        list(range(21)),
        1.0,
        0.0,
    ),
    "dp_sum": (
        lambda d, rng: dp.dp_sum(d, 0, 10, 1.0, rng),
        [5.0] * 20,
        [5.0] * 20 + [10.0],
        1.0,
        0.0,
    ),
    "dp_mean": (
        lambda d, rng: dp.dp_mean(d, 0, 10, 1.0, rng),
        [5.0] * 5,
        [5.0] * 5 + [10.0],
        1.0,
        0.0,
    ),
    "dp_histogram bin": (
        lambda d, rng: dp.dp_histogram(d, 1.0, categories=["a", "b"], rng=rng).iloc[0],
        ["a"] * 5 + ["b"] * 5,
        ["a"] * 6 + ["b"] * 5,
        1.0,
        0.0,
    ),
}


@pytest.mark.parametrize("name", list(AUDITED))
def test_audit_passes_every_correct_mechanism(name):
    mechanism, d, d_prime, eps, delta = AUDITED[name]
    result = dp.empirical_epsilon(mechanism, d, d_prime, 20_000, rng=11, delta=delta)
    assert result.epsilon_lower <= eps


@pytest.mark.parametrize(
    "broken, delta, n",
    [
        # the broken twins: noise scale halved (a factor-of-two calibration bug)
        (lambda d, rng: d + rng.laplace(0, 0.5), 0.0, 20_000),
        (lambda d, rng: d + rng.normal(0, dp.gaussian_sigma(1, 1, 1e-5) / 2), 1e-5, 100_000),
        (lambda d, rng: dp.geometric_mechanism(d, 2.0, 1, rng), 0.0, 20_000),
    ],
    ids=["laplace", "gaussian", "geometric"],
)
def test_audit_catches_the_broken_twin_with_halved_noise(broken, delta, n):
    result = dp.empirical_epsilon(broken, 0, 1, n, rng=12, delta=delta)
    assert result.epsilon_lower > 1.0, result


def test_audit_lower_bound_is_close_for_laplace():
    result = dp.empirical_epsilon(AUDITED["laplace"][0], 0.0, 1.0, 50_000, rng=3)
    assert 0.85 < result.epsilon_lower <= 1.0


def test_audit_rejects_vector_outputs():
    with pytest.raises(ValueError, match="one number"):
        dp.empirical_epsilon(lambda d, rng: np.array([d, d]), 0.0, 1.0, 100, rng=0)


# ------------------------------------------------------------------ validation fuzzing

bad_epsilon = st.one_of(
    st.floats(max_value=0.0), st.just(math.inf), st.just(math.nan), st.just(-math.inf)
)
bad_delta = st.one_of(st.floats(max_value=-1e-300), st.floats(min_value=1.0), st.just(math.nan))
bad_sensitivity = bad_epsilon

CALLS_EPS = [
    lambda e: dp.laplace_mechanism(1.0, 1.0, e),
    lambda e: dp.gaussian_mechanism(1.0, 1.0, e, 1e-5),
    lambda e: dp.gaussian_sigma(1.0, e, 1e-5),
    lambda e: dp.geometric_mechanism(1, e),
    lambda e: dp.randomized_response([0, 1], e),
    lambda e: dp.estimate_proportion([0, 1], e),
    lambda e: dp.exponential_mechanism([1.0, 2.0], 1.0, e),
    lambda e: dp.dp_count([1], e),
    lambda e: dp.dp_sum([1.0], 0, 1, e),
    lambda e: dp.dp_mean([1.0], 0, 1, e),
    lambda e: dp.dp_histogram(["a"], e, categories=["a"]),
    lambda e: dp.gaussian_delta(1.0, 1.0, e),
]


@settings(max_examples=25, deadline=None)
@given(bad=bad_epsilon)
def test_every_public_function_rejects_a_bad_epsilon(bad):
    for call in CALLS_EPS:
        with pytest.raises(ValueError, match="epsilon"):
            call(bad)


@settings(max_examples=25, deadline=None)
@given(bad=bad_delta)
def test_bad_delta_always_raises(bad):
    for call in (
        lambda d: dp.gaussian_mechanism(1.0, 1.0, 1.0, d),
        lambda d: dp.gaussian_sigma(1.0, 1.0, d),
        lambda d: dp.empirical_epsilon(lambda x, r: x, 0, 1, 100, delta=d),
    ):
        with pytest.raises(ValueError, match="delta"):
            call(bad)
    with pytest.raises(ValueError, match="delta"):
        dp.gaussian_epsilon(1.0, 1.0, bad)
    with pytest.raises(ValueError, match="delta must be in \\(0, 1\\)"):
        dp.gaussian_mechanism(1.0, 1.0, 1.0, 0.0)  # the Gaussian mechanism needs delta > 0


@settings(max_examples=25, deadline=None)
@given(bad=bad_sensitivity)
def test_bad_sensitivity_always_raises(bad):
    for call in (
        lambda s: dp.laplace_mechanism(1.0, s, 1.0),
        lambda s: dp.gaussian_mechanism(1.0, s, 1.0, 1e-5),
        lambda s: dp.exponential_mechanism([1.0], s, 1.0),
    ):
        with pytest.raises(ValueError, match="sensitivity"):
            call(bad)


@settings(max_examples=25, deadline=None)
@given(lower=st.floats(-1e6, 1e6), width=st.floats(-1e6, 0.0))
def test_bounds_with_lower_not_below_upper_always_raise(lower, width):
    upper = lower + width
    for call in (
        lambda: dp.dp_sum([1.0], lower, upper, 1.0),
        lambda: dp.dp_mean([1.0], lower, upper, 1.0),
        lambda: dp.dp_histogram([1.0], 1.0, bins=2, lower=lower, upper=upper),
    ):
        with pytest.raises(ValueError, match="lower < upper"):
            call()


def test_other_validation_messages():
    with pytest.raises(ValueError, match="finite"):
        dp.laplace_mechanism(math.nan, 1, 1)
    with pytest.raises(TypeError, match="integer"):
        dp.geometric_mechanism(1.5, 1.0)
    with pytest.raises(ValueError, match="sensitivity must be >= 1"):
        dp.geometric_mechanism(1, 1.0, sensitivity=0)
    with pytest.raises(TypeError, match="rng"):
        dp.laplace_mechanism(1.0, 1.0, 1.0, rng="seed")
    with pytest.raises(ValueError, match="method"):
        dp.gaussian_sigma(1, 1, 1e-5, method="exact")
    with pytest.raises(ValueError, match="mechanism"):
        dp.dp_count([1], 1.0, mechanism="gaussian")
    with pytest.raises(ValueError, match="n_samples"):
        dp.empirical_epsilon(lambda x, r: x, 0, 1, 10)
    with pytest.raises(TypeError, match="callable"):
        dp.empirical_epsilon(3, 0, 1, 100)


def test_attack_bounds_match_the_hypothesis_testing_formula():
    # Kairouz et al. 2015: TPR - FPR <= (e^eps - 1 + 2 delta) / (e^eps + 1)
    assert dp.max_membership_advantage(1.0) == pytest.approx((math.e - 1) / (math.e + 1))
    assert dp.max_membership_advantage(1.0, 1e-5) == pytest.approx(0.4621225, abs=1e-7)
    assert dp.max_attacker_accuracy(1.0) == pytest.approx(math.e / (1 + math.e))
    assert dp.max_membership_advantage(50.0) <= 1.0 and dp.max_membership_advantage(1e-9) < 1e-8
    with pytest.raises(ValueError, match="epsilon"):
        dp.max_membership_advantage(0.0)
    with pytest.raises(ValueError, match="delta"):
        dp.max_attacker_accuracy(1.0, 1.0)
