"""helpers.dp: mechanism distributions, calibration, the accountant, the audit and validation.

Statistical tests use fixed seeds and state their tolerances; each would fail for a
mechanism with the wrong noise scale.
"""

import math
from decimal import Decimal, localcontext

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

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
    # A correct mechanism must pass at any sample size; the broken twins below show the
    # audit's power. The histogram builds a pandas Series per call (about 1 ms), so it gets
    # fewer runs to keep make test fast.
    n_samples = 5_000 if name == "dp_histogram bin" else 20_000
    result = dp.empirical_epsilon(mechanism, d, d_prime, n_samples, rng=11, delta=delta)
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


# ------------------------------------------------------------------ edge paths (issue 12)


def _exact_normal_cdf(x) -> Decimal:
    """Phi(x) for |x| <= 12 from the Taylor series of erf at 160 digits (about 100 exact)."""
    with localcontext() as context:
        context.prec = 160
        z = Decimal(x) / Decimal(2).sqrt()
        assert abs(z) <= 9, "the series is exact only for |x| <= 12"
        term = total = z
        n = 0
        while abs(term) > Decimal(10) ** -150:
            n += 1
            term *= -z * z / n
            total += term / (2 * n + 1)
        return (1 + 2 / _PI.sqrt() * total) / 2


_PI = Decimal("3.141592653589793238462643383279502884197169399375105820974944592307816406286209")


def _exact_gaussian_delta(sigma, sensitivity, epsilon) -> Decimal:
    """Balle & Wang's delta without floating point (it cancels catastrophically in doubles).

    Exact where a - b >= -12; below, the upper bound Phi(-12) (about 1.8e-33)."""
    with localcontext() as context:
        context.prec = 160
        s, d, e = Decimal(sigma), Decimal(sensitivity), Decimal(epsilon)
        a, b = d / (2 * s), e * s / d
        if a - b < -12:  # delta <= Phi(a - b) <= Phi(-12), about 1.8e-33: an upper bound
            return _exact_normal_cdf(-12)
        return _exact_normal_cdf(a - b) - e.exp() * _exact_normal_cdf(-a - b)


# (epsilon, delta) pairs where the old calibration returned a sigma whose exact delta was
# above the target (cancellation in gaussian_delta), and ordinary ones.
GAUSSIAN_CASES = [
    (1e-15, 1e-15), (1e-12, 1e-12), (1e-10, 1e-5), (1e-8, 1e-8), (1e-4, 1e-5),
    (0.01, 1e-15), (0.5, 1e-5), (1.0, 1e-5), (5.0, 1e-10), (50.0, 0.1),
]  # fmt: skip


@pytest.mark.parametrize("epsilon, delta", GAUSSIAN_CASES)
def test_gaussian_sigma_gives_an_exact_delta_at_most_the_target(epsilon, delta):
    sigma = dp.gaussian_sigma(1.0, epsilon, delta)
    assert _exact_gaussian_delta(sigma, 1.0, epsilon) <= Decimal(delta)
    # the inverse is never too small either: its epsilon holds exactly for this sigma
    inverse = dp.gaussian_epsilon(sigma, 1.0, delta)
    assert _exact_gaussian_delta(sigma, 1.0, inverse) <= Decimal(delta)


def test_the_exact_delta_check_catches_an_undershooting_sigma():
    sigma = dp.gaussian_sigma(1.0, 1.0, 1e-5)
    assert _exact_gaussian_delta(sigma * (1 - 1e-6), 1.0, 1.0) > Decimal(1e-5)


def test_gaussian_sigma_at_a_huge_epsilon_is_a_verified_number_not_a_math_range_error():
    sigma = dp.gaussian_sigma(1, 1e19, 1e-5)
    assert 0 < sigma < 1e-9
    # delta <= Phi(a - b) always (the second term is >= 0): check that bound exactly.
    a_minus_b = Decimal(1) / (2 * Decimal(sigma)) - Decimal(10) ** 19 * Decimal(sigma)
    assert _exact_normal_cdf(a_minus_b) <= Decimal(1e-5)
    for epsilon in (1e25, 1e100):
        assert math.isfinite(dp.gaussian_sigma(1, epsilon, 1e-5))


def test_max_membership_advantage_does_not_overflow():
    assert dp.max_membership_advantage(1000) == 1.0
    assert dp.max_attacker_accuracy(10**4) == 1.0
    assert dp.max_membership_advantage(1e-300) == pytest.approx(5e-301)
    assert dp.max_membership_advantage(30.0, 0.2) == pytest.approx(
        (math.expm1(30.0) + 0.4) / (math.exp(30.0) + 1), rel=1e-15
    )


HUGE = 10**400

HUGE_PARAMETERS = [
    ("epsilon", lambda h: dp.laplace_mechanism(1.0, 1.0, h)),
    ("sensitivity", lambda h: dp.laplace_mechanism(1.0, h, 1.0)),
    ("value", lambda h: dp.laplace_mechanism(h, 1.0, 1.0)),
    ("epsilon", lambda h: dp.gaussian_mechanism(1.0, 1.0, h, 1e-5)),
    ("delta", lambda h: dp.gaussian_sigma(1.0, 1.0, h)),
    ("sensitivity", lambda h: dp.gaussian_sigma(h, 1.0, 1e-5)),
    ("sigma", lambda h: dp.gaussian_delta(h, 1.0, 1.0)),
    ("sigma", lambda h: dp.gaussian_epsilon(h, 1.0, 1e-5)),
    ("epsilon", lambda h: dp.max_membership_advantage(h)),
    ("epsilon", lambda h: dp.geometric_mechanism(3, h)),
    ("sensitivity", lambda h: dp.geometric_mechanism(3, 1.0, h)),
    ("count", lambda h: dp.geometric_mechanism(h, 1.0)),
    ("epsilon", lambda h: dp.randomized_response([0, 1], h)),
    ("epsilon", lambda h: dp.estimate_proportion([0, 1], h)),
    ("sensitivity", lambda h: dp.exponential_probabilities([1.0, 2.0], h, 1.0)),
    ("epsilon", lambda h: dp.dp_count([1, 2], h)),
    ("upper", lambda h: dp.dp_sum([1.0], 0.0, h, 1.0)),
    ("lower", lambda h: dp.dp_mean([1.0], -h, 1.0, 1.0)),
    ("upper", lambda h: dp.dp_histogram([1.0], 1.0, bins=2, lower=0.0, upper=h)),
    ("values", lambda h: dp.dp_mean([1.0, h], 0.0, 2.0, 1.0)),
    ("max_norm", lambda h: dp.clip_l2([1.0], h)),
    ("sigma", lambda h: dp.gaussian_noise(3, h)),
    ("delta", lambda h: dp.empirical_epsilon(lambda x, r: x, 0, 1, 100, delta=h)),
]


@pytest.mark.parametrize(
    "name, call", HUGE_PARAMETERS, ids=[f"{i}-{n}" for i, (n, _) in enumerate(HUGE_PARAMETERS)]
)
def test_integers_beyond_float_range_get_the_kits_value_error_naming_the_parameter(name, call):
    for huge in (HUGE, -HUGE):
        with pytest.raises(ValueError, match=name):
            call(huge)


def test_the_geometric_sampler_saturates_below_its_limit_so_the_mechanism_refuses():
    # Why the limit: numpy draws a geometric variable as a float and saturates at 2**63 - 1;
    # the difference of two saturated draws is 0, which would release the exact count.
    draws = np.random.default_rng(0).geometric(1e-20, size=8)
    assert (draws == np.iinfo(np.int64).max).sum() >= 2
    for call in (
        lambda: dp.geometric_mechanism(10, 1e-19),
        lambda: dp.geometric_mechanism(np.array([10, 20]), 1.0, sensitivity=2**53),
        lambda: dp.dp_count([1, 2, 3], 1e-19, mechanism="geometric"),
        lambda: dp.dp_histogram(["a"], 1e-18, categories=["a"], mechanism="geometric"),
    ):
        with pytest.raises(ValueError, match="epsilon / sensitivity"):
            call()
    assert isinstance(dp.geometric_mechanism(10, 2 * dp.GEOMETRIC_MIN_P, rng=0), int)
    with pytest.raises(ValueError, match="2\\*\\*62"):
        dp.geometric_mechanism(np.array([2**63 - 1]), 1.0)


def test_releases_are_finite_or_refused():
    with pytest.raises(ValueError, match="sensitivity / epsilon"):
        dp.laplace_mechanism(1.0, 1e300, 1e-300)
    with pytest.raises(ValueError, match="sensitivity=1e\\+299"):
        dp.gaussian_mechanism(1.0, 1e299, 1e-5, 1e-5)
    outcomes = []
    for seed in range(20):  # value at the top of float range: half the noise overflows
        try:
            outcomes.append(dp.laplace_mechanism(np.finfo(float).max, 1e300, 1.0, rng=seed))
        except ValueError as error:
            assert "not finite" in str(error)
            outcomes.append(None)
    assert None in outcomes and all(o is None or math.isfinite(o) for o in outcomes)


def test_estimate_proportion_never_returns_inf_or_nan():
    assert math.isfinite(dp.estimate_proportion([1, 1, 1, 0], 1e-300))
    assert dp.estimate_proportion([1, 0], 1e-300) == 0.0  # half the reports are 1: no signal
    with pytest.raises(ValueError, match="epsilon=.* too small"):
        dp.estimate_proportion([1, 1, 1, 0], 1e-320)
    # tanh(eps / 2) keeps the small-epsilon estimate accurate (2p - 1 cancels)
    bits = np.array([1] * 60 + [0] * 40)
    expected = (0.6 - special.expit(-1e-9)) / math.tanh(5e-10)
    assert dp.estimate_proportion(bits, 1e-9) == pytest.approx(expected, rel=1e-12)


def test_exponential_probabilities_are_numbers_or_refused():
    p = dp.exponential_probabilities([1e300, 0.0], 1e-300, 10.0)
    np.testing.assert_array_equal(p, [1.0, 0.0])
    np.testing.assert_array_equal(dp.exponential_probabilities([1e308, 1e308], 1.0, 10.0), 0.5)
    with pytest.raises(ValueError, match="spread"):
        dp.exponential_probabilities([1e308, -1e308], 1.0, 10.0)
    with pytest.raises(ValueError, match="epsilon / \\(2 sensitivity\\)"):
        dp.exponential_probabilities([1.0, 2.0], 1e-308, 1e308)


def test_dp_statistics_name_the_callers_parameters_not_internal_quantities():
    with pytest.raises(ValueError, match="upper - lower") as error:
        dp.dp_mean([1.0, 2.0], -1e308, 1e308, 1.0)
    assert "sensitivity" not in str(error.value) and "value must" not in str(error.value)
    with pytest.raises(ValueError, match="^values must hold only finite numbers"):
        dp.dp_mean([1.0, math.nan], 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="upper - lower"):
        dp.dp_mean([1.0], 0.0, 1e300, 1e-300)
    with pytest.raises(ValueError, match="\\|upper\\|"):
        dp.dp_sum([1.0], 0.0, 1e300, 1e-300)


@pytest.mark.parametrize(
    "bad",
    [[True, False], ["1.5", "2"], pd.Series([True, False]), [1.0, None], [1 + 2j],
     np.array(["1", "2"]), pd.Series(["a", "b"]), pd.Series([1, 2], dtype="category"),
     pd.to_datetime(pd.Series(["2020-01-01"]))],
    ids=["bools", "text", "bool-series", "none", "complex", "text-array", "text-series",
         "category", "dates"],
)  # fmt: skip
def test_dp_statistics_refuse_data_that_are_not_real_numbers(bad):
    for call in (
        lambda v: dp.dp_sum(v, 0.0, 1.0, 1.0),
        lambda v: dp.dp_mean(v, 0.0, 1.0, 1.0),
        lambda v: dp.dp_histogram(v, 1.0, bins=2, lower=0.0, upper=1.0),
        lambda v: dp.laplace_mechanism(v, 1.0, 1.0),
        lambda v: dp.gaussian_mechanism(v, 1.0, 1.0, 1e-5),
        lambda v: dp.clip_l2(v, 1.0),
        lambda v: dp.exponential_probabilities(v, 1.0, 1.0),
    ):
        with pytest.raises((TypeError, ValueError), match="values|value|vector|scores"):
            call(bad)
    with pytest.raises(TypeError, match="data must be"):
        dp.dp_count("three", 1.0)


def test_the_audit_refuses_a_mechanism_that_outputs_nan_instead_of_calling_it_private():
    with pytest.raises(ValueError, match="finite outputs"):
        dp.empirical_epsilon(lambda d, rng: math.nan, 0, 1, 100, rng=0)
    with pytest.raises(ValueError, match="finite outputs"):
        dp.empirical_epsilon(lambda d, rng: d if rng.random() < 0.5 else math.inf, 0, 1, 100, rng=0)
    with pytest.raises(TypeError, match="real number"):
        dp.empirical_epsilon(lambda d, rng: str(d), 0, 1, 100, rng=0)
