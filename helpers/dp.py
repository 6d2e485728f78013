"""Differential privacy: mechanisms, parameter validation, DP statistics, the audit.

Composition, Rényi DP, PLD and the privacy ledger live in ``helpers.accounting``.

Privacy parameters are validated everywhere with the same messages: epsilon finite and
> 0; delta in [0, 1) (in (0, 1) where a mechanism needs it); sensitivity finite and > 0;
bounds with lower < upper.

Neighbouring datasets: unless a docstring says otherwise, two datasets are neighbours when
one is the other with one patient's record added or removed ("add/remove" adjacency).

Floating point: the noise here is drawn with numpy's floating-point samplers, which is
fine for teaching but, as Mironov showed ("On Significance of the Least Significant Bits
for Differential Privacy", CCS 2012, https://doi.org/10.1145/2382196.2382264), the low
bits of a textbook floating-point Laplace sample can reveal the true value. Production
releases should use a library with hardened samplers (notebook 02 explains).
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from helpers._validation import RandomState, check_choice, check_integer, check_real, check_rng

# ---------------------------------------------------------------------------- validation


def check_epsilon(epsilon) -> float:
    """Epsilon must be a finite real number > 0."""
    return check_real(epsilon, "epsilon", low=0.0, low_inclusive=False)


def check_delta(delta, required: bool = False) -> float:
    """Delta must be in [0, 1); in (0, 1) when ``required`` (e.g. the Gaussian mechanism)."""
    return check_real(
        delta, "delta", low=0.0, high=1.0, low_inclusive=not required, high_inclusive=False
    )


def check_sensitivity(sensitivity) -> float:
    """Sensitivity must be a finite real number > 0."""
    return check_real(sensitivity, "sensitivity", low=0.0, low_inclusive=False)


def check_bounds(lower, upper) -> tuple[float, float]:
    """Bounds must be finite reals with lower < upper."""
    lower = check_real(lower, "lower")
    upper = check_real(upper, "upper")
    if not lower < upper:
        raise ValueError(f"bounds must satisfy lower < upper; got lower={lower}, upper={upper}")
    return lower, upper


def _check_value(value, name: str = "value"):
    """A finite real number or array of them; returns (float or float ndarray, is_scalar)."""
    if isinstance(value, bool) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise TypeError(f"{name} must be numeric, not boolean")
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite; got {value}")
        return value, True
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a real number or an array of them") from error
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must hold only finite numbers")
    return array, False


def _check_data(values, name: str = "values") -> np.ndarray:
    """A one-dimensional array of finite reals (a Series, list or array)."""
    array, _ = _check_value(values, name)
    array = np.atleast_1d(array)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    return array


# ---------------------------------------------------------------------------- mechanisms


def laplace_mechanism(value, sensitivity, epsilon, rng: RandomState = None):
    """Release ``value`` + Laplace(sensitivity / epsilon) noise: epsilon-DP.

    Parameters
    ----------
    value : float or array, the true answer(s). For an array, ``sensitivity`` is the L1
        sensitivity of the whole vector (how much the vector can move, summed over entries).
    sensitivity : float > 0, L1 sensitivity (same units as ``value``).
    epsilon : float > 0.
    rng : Generator, int seed or None.

    Returns a float for a scalar ``value``, else an array of the same shape.

    Reference: C. Dwork, F. McSherry, K. Nissim and A. Smith, "Calibrating Noise to
    Sensitivity in Private Data Analysis", TCC 2006, https://doi.org/10.1007/11681878_14.
    """
    value, scalar = _check_value(value)
    scale = check_sensitivity(sensitivity) / check_epsilon(epsilon)
    rng = check_rng(rng)
    noisy = value + rng.laplace(0.0, scale, size=None if scalar else np.shape(value))
    return float(noisy) if scalar else noisy


def gaussian_delta(sigma, sensitivity, epsilon) -> float:
    """The exact (smallest) delta for which Gaussian noise of std ``sigma`` is (epsilon, delta)-DP.

    delta = Phi(D/(2s) - e s/D) - exp(e) Phi(-D/(2s) - e s/D) with D = sensitivity, s = sigma,
    e = epsilon (Balle & Wang, Theorem 8), computed in log space so large epsilon does not
    overflow.

    Reference: B. Balle and Y.-X. Wang, "Improving the Gaussian Mechanism for Differential
    Privacy: Analytical Calibration and Optimal Denoising", ICML 2018,
    https://arxiv.org/abs/1805.06530.
    """
    sigma = check_real(sigma, "sigma", low=0.0, low_inclusive=False)
    sensitivity = check_sensitivity(sensitivity)
    epsilon = check_epsilon(epsilon)
    a = sensitivity / (2 * sigma)
    b = epsilon * sigma / sensitivity
    first = special.ndtr(a - b)
    second = math.exp(epsilon + special.log_ndtr(-a - b))
    return float(max(first - second, 0.0))


def gaussian_sigma(sensitivity, epsilon, delta, method: str = "analytic") -> float:
    """Noise std for the Gaussian mechanism to be (epsilon, delta)-DP.

    Parameters
    ----------
    sensitivity : float > 0, L2 sensitivity.
    epsilon : float > 0.   delta : float in (0, 1).
    method : "analytic" (default) - the smallest sigma with ``gaussian_delta(sigma) <= delta``,
        found by bisection (Balle & Wang, ICML 2018, https://arxiv.org/abs/1805.06530); valid
        for every epsilon. "classic" - sigma = sqrt(2 ln(1.25/delta)) sensitivity / epsilon
        (Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", 2014, Theorem
        A.1, https://doi.org/10.1561/0400000042); proved only for epsilon < 1, so it raises
        ValueError for epsilon >= 1.
    """
    sensitivity = check_sensitivity(sensitivity)
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta, required=True)
    check_choice(method, "method", ("analytic", "classic"))
    if method == "classic":
        if epsilon >= 1:
            raise ValueError(
                f"the classic Gaussian bound needs epsilon in (0, 1); got {epsilon}. "
                "Use method='analytic', which is valid for every epsilon."
            )
        return math.sqrt(2 * math.log(1.25 / delta)) * sensitivity / epsilon
    return _analytic_sigma(sensitivity, epsilon, delta)


@functools.lru_cache(maxsize=1024)
def _analytic_sigma(sensitivity: float, epsilon: float, delta: float) -> float:
    """Bisection behind ``gaussian_sigma`` (cached: mechanisms are called in loops)."""
    # delta(sigma) decreases in sigma: bracket, then bisect on a log scale.
    low, high = sensitivity * 1e-3, sensitivity
    while gaussian_delta(high, sensitivity, epsilon) > delta:
        low, high = high, high * 2
    while gaussian_delta(low, sensitivity, epsilon) <= delta and low > 1e-12:
        high, low = low, low / 2
    for _ in range(200):
        mid = math.sqrt(low * high)
        if gaussian_delta(mid, sensitivity, epsilon) > delta:
            low = mid
        else:
            high = mid
        if high / low < 1 + 1e-12:
            break
    return high  # the side that satisfies delta


def max_membership_advantage(epsilon, delta=0.0) -> float:
    """The largest advantage (true-positive minus false-positive rate) of ANY attack that
    tells two neighbouring datasets apart from an (epsilon, delta)-DP output:
    ``(e^epsilon - 1 + 2 delta) / (e^epsilon + 1)``.

    It bounds membership inference and the differencing attack alike. Reference: P. Kairouz,
    S. Oh and P. Viswanath, "The Composition Theorem for Differential Privacy", ICML 2015,
    https://arxiv.org/abs/1311.0776 (the hypothesis-testing view of DP).
    """
    epsilon, delta = check_epsilon(epsilon), check_delta(delta)
    return (math.expm1(epsilon) + 2 * delta) / (math.exp(epsilon) + 1)


def max_attacker_accuracy(epsilon, delta=0.0) -> float:
    """The best accuracy of guessing a 50/50 secret (is the patient in? which diagnosis?) from
    an (epsilon, delta)-DP output: ``(1 + max_membership_advantage) / 2``, which is
    ``e^epsilon / (1 + e^epsilon)`` when delta = 0."""
    return (1.0 + max_membership_advantage(epsilon, delta)) / 2.0


def gaussian_epsilon(sigma, sensitivity, delta) -> float:
    """The smallest epsilon for which Gaussian noise of std ``sigma`` is (epsilon, delta)-DP.

    The inverse of ``gaussian_sigma`` (analytic calibration, Balle & Wang, ICML 2018,
    https://arxiv.org/abs/1805.06530), useful to report what a given noise level buys.
    """
    sigma = check_real(sigma, "sigma", low=0.0, low_inclusive=False)
    sensitivity = check_sensitivity(sensitivity)
    delta = check_delta(delta, required=True)
    if gaussian_delta(sigma, sensitivity, 1e-12) <= delta:
        return 1e-12
    low, high = 1e-12, 1.0
    while gaussian_delta(sigma, sensitivity, high) > delta:
        low, high = high, high * 2
    for _ in range(200):
        mid = 0.5 * (low + high)
        if gaussian_delta(sigma, sensitivity, mid) > delta:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * high:
            break
    return high


def gaussian_noise(shape, sigma, rng: RandomState = None) -> np.ndarray:
    """Draw N(0, sigma^2) noise of the given shape (for mechanisms that set sigma themselves).

    Used by DP-SGD and DP federated aggregators, which choose sigma as a noise multiplier
    times a clipping norm and account for it with an RDP accountant.
    """
    sigma = check_real(sigma, "sigma", low=0.0)
    rng = check_rng(rng)
    return rng.normal(0.0, sigma, size=shape)


def clip_l2(vector, max_norm, axis: int | None = None) -> np.ndarray:
    """Scale ``vector`` down (never up) so its L2 norm is at most ``max_norm``.

    Clipping bounds one contributor's influence, which is what makes the L2 sensitivity of
    a sum of clipped vectors equal to ``max_norm`` (DP-SGD, DP federated averaging).
    With ``axis`` (e.g. 1 for a patients x features array of per-patient gradients) each
    slice along that axis is clipped separately.
    """
    vector, _ = _check_value(vector, "vector")
    max_norm = check_real(max_norm, "max_norm", low=0.0, low_inclusive=False)
    vector = np.asarray(vector, dtype=np.float64)
    norms = np.linalg.norm(vector, axis=axis, keepdims=axis is not None)
    return vector * np.minimum(1.0, max_norm / np.maximum(norms, 1e-300))


def gaussian_mechanism(value, sensitivity, epsilon, delta, rng: RandomState = None):
    """Release ``value`` + Gaussian noise calibrated analytically: (epsilon, delta)-DP.

    Parameters
    ----------
    value : float or array; for an array ``sensitivity`` is its L2 sensitivity.
    sensitivity : float > 0, L2 sensitivity.
    epsilon : float > 0 (any size: the analytic calibration is valid for epsilon >= 1 too).
    delta : float in (0, 1).
    rng : Generator, int seed or None.

    Reference: B. Balle and Y.-X. Wang, "Improving the Gaussian Mechanism for Differential
    Privacy: Analytical Calibration and Optimal Denoising", ICML 2018,
    https://arxiv.org/abs/1805.06530.
    """
    value, scalar = _check_value(value)
    sigma = gaussian_sigma(sensitivity, epsilon, delta)
    rng = check_rng(rng)
    noisy = value + rng.normal(0.0, sigma, size=None if scalar else np.shape(value))
    return float(noisy) if scalar else noisy


def geometric_mechanism(count, epsilon, sensitivity=1, rng: RandomState = None):
    """Release an integer ``count`` + two-sided geometric noise: epsilon-DP, output stays integer.

    P(noise = k) is proportional to exp(-epsilon |k| / sensitivity). Drawn as the difference
    of two geometric variables, so no floating-point sample is released.

    Parameters
    ----------
    count : int or integer array, the true count(s).
    epsilon : float > 0.
    sensitivity : int >= 1, how much one record can change the count (1 for a count).
    rng : Generator, int seed or None.

    Reference: A. Ghosh, T. Roughgarden and M. Sundararajan, "Universally Utility-Maximizing
    Privacy Mechanisms", STOC 2009, https://doi.org/10.1145/1536414.1536464.
    """
    scalar = isinstance(count, numbers.Integral) and not isinstance(count, bool)
    if not scalar:
        array = np.asarray(count)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise TypeError("count must be an integer or an array of integers")
    epsilon = check_epsilon(epsilon)
    sensitivity = check_integer(sensitivity, "sensitivity", minimum=1)
    rng = check_rng(rng)
    p = -math.expm1(-epsilon / sensitivity)  # success probability 1 - exp(-eps/sens)
    shape = None if scalar else np.shape(count)
    noise = rng.geometric(p, size=shape) - rng.geometric(p, size=shape)
    return int(count + noise) if scalar else np.asarray(count) + noise


def randomized_response(bits, epsilon, rng: RandomState = None) -> np.ndarray:
    """Each person reports their true bit with probability e^eps / (1 + e^eps), else flips it.

    Local DP: every report is epsilon-DP on its own, so nobody has to trust the collector.

    Parameters
    ----------
    bits : array of 0/1 (or booleans), one per respondent.
    epsilon : float > 0.
    rng : Generator, int seed or None.

    Returns the noisy bits as an int array.

    Reference: S. L. Warner, "Randomized Response: A Survey Technique for Eliminating Evasive
    Answer Bias", JASA 60(309), 1965, https://doi.org/10.1080/01621459.1965.10480775.
    """
    bits = _check_bits(bits)
    epsilon = check_epsilon(epsilon)
    rng = check_rng(rng)
    keep = rng.random(bits.shape) < _keep_probability(epsilon)
    return np.where(keep, bits, 1 - bits)


def estimate_proportion(noisy_bits, epsilon) -> float:
    """Unbiased estimate of the true share of 1s from randomized-response reports.

    With p = e^eps / (1 + e^eps): E[mean(noisy)] = (1 - p) + (2p - 1) pi, so
    pi_hat = (mean(noisy) - (1 - p)) / (2p - 1). It is unbiased and may fall outside [0, 1]
    for small samples (clip it yourself when reporting).
    """
    noisy_bits = _check_bits(noisy_bits, "noisy_bits")
    epsilon = check_epsilon(epsilon)
    if noisy_bits.size == 0:
        raise ValueError("noisy_bits must hold at least one report")
    p = _keep_probability(epsilon)
    return float((noisy_bits.mean() - (1 - p)) / (2 * p - 1))


def _keep_probability(epsilon: float) -> float:
    return 1.0 / (1.0 + math.exp(-epsilon))


def _check_bits(bits, name: str = "bits") -> np.ndarray:
    array = np.asarray(bits)
    if array.dtype == bool:
        return array.astype(int)
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return array.astype(int)


def exponential_probabilities(scores, sensitivity, epsilon) -> np.ndarray:
    """The exponential mechanism's selection probabilities: proportional to exp(eps u / (2 du)).

    Parameters
    ----------
    scores : array of utilities u (higher is better), one per candidate.
    sensitivity : float > 0, how much one record can change any score (du).
    epsilon : float > 0.
    """
    scores = _check_data(scores, "scores")
    if scores.size == 0:
        raise ValueError("scores must hold at least one candidate")
    logits = check_epsilon(epsilon) * scores / (2 * check_sensitivity(sensitivity))
    return special.softmax(logits)


def exponential_mechanism(scores, sensitivity, epsilon, rng: RandomState = None) -> int:
    """Pick a candidate index with probability proportional to exp(eps u / (2 du)): epsilon-DP.

    Use it to release a choice (e.g. the most common diagnosis) rather than a number.

    Reference: F. McSherry and K. Talwar, "Mechanism Design via Differential Privacy",
    FOCS 2007, https://doi.org/10.1109/FOCS.2007.66.
    """
    probabilities = exponential_probabilities(scores, sensitivity, epsilon)
    rng = check_rng(rng)
    return int(rng.choice(probabilities.size, p=probabilities))


# ------------------------------------------------------------------------ DP statistics


def dp_count(data, epsilon, rng: RandomState = None, mechanism: str = "laplace"):
    """A DP count of the records (rows) in ``data``: sensitivity 1 under add/remove.

    Parameters
    ----------
    data : DataFrame, Series, array or list; its length is the count.
    epsilon : float > 0.
    rng : Generator, int seed or None.
    mechanism : "laplace" (a float) or "geometric" (an integer).
    """
    check_choice(mechanism, "mechanism", ("laplace", "geometric"))
    try:
        count = len(data)
    except TypeError as error:
        raise TypeError("data must be a DataFrame, Series, array or list") from error
    if mechanism == "geometric":
        return geometric_mechanism(int(count), epsilon, 1, rng)
    return laplace_mechanism(float(count), 1.0, epsilon, rng)


def dp_sum(values, lower, upper, epsilon, rng: RandomState = None) -> float:
    """A DP sum of values declared to lie in [lower, upper]; values outside are CLIPPED to it.

    The bounds must come from domain knowledge (e.g. a plausible range of systolic blood
    pressure), never from the data: data-dependent bounds leak. One record changes the sum
    by at most max(|lower|, |upper|), the Laplace sensitivity used here.
    """
    values = _check_data(values)
    lower, upper = check_bounds(lower, upper)
    clipped = np.clip(values, lower, upper)
    return laplace_mechanism(float(clipped.sum()), max(abs(lower), abs(upper)), epsilon, rng)


def dp_mean(values, lower, upper, epsilon, rng: RandomState = None) -> float:
    """A DP mean of values declared to lie in [lower, upper] (outside values are CLIPPED).

    Half of epsilon buys a noisy sum of the values shifted to [0, upper - lower], half a
    noisy count; the ratio is shifted back and clipped to [lower, upper]. Shifting keeps
    the sum's sensitivity at upper - lower whatever the sign of the bounds.
    """
    values = _check_data(values)
    lower, upper = check_bounds(lower, upper)
    epsilon = check_epsilon(epsilon)
    rng = check_rng(rng)
    shifted = np.clip(values, lower, upper) - lower
    noisy_sum = laplace_mechanism(float(shifted.sum()), upper - lower, epsilon / 2, rng)
    noisy_count = laplace_mechanism(float(values.size), 1.0, epsilon / 2, rng)
    mean = lower + noisy_sum / max(noisy_count, 1.0)
    return float(np.clip(mean, lower, upper))


def dp_histogram(
    values,
    epsilon,
    categories=None,
    bins: int | None = None,
    lower=None,
    upper=None,
    rng: RandomState = None,
    mechanism: str = "laplace",
) -> pd.Series:
    """A DP histogram: every bin's count gets independent noise of scale 1 / epsilon.

    One record falls in exactly one bin, so adding or removing it changes one count by 1
    (L1 sensitivity 1) and the whole histogram is epsilon-DP.

    Give either ``categories`` (declared in advance - listing the categories seen in the
    data would leak which rare ones occur; values not among them are not counted) or
    numeric ``bins`` with ``lower`` and ``upper`` (values outside are CLIPPED into the end
    bins).

    Returns a Series of noisy counts indexed by category or bin interval.
    """
    epsilon = check_epsilon(epsilon)
    check_choice(mechanism, "mechanism", ("laplace", "geometric"))
    rng = check_rng(rng)
    if (categories is None) == (bins is None):
        raise ValueError("give exactly one of categories or bins")
    if categories is not None:
        categories = list(categories)
        if not categories or len(set(categories)) != len(categories):
            raise ValueError("categories must be a non-empty list of distinct values")
        counts = pd.Series(np.asarray(values, dtype=object)).value_counts()
        true = np.array([int(counts.get(c, 0)) for c in categories])
        index = pd.Index(categories, name="category")
    else:
        bins = check_integer(bins, "bins", minimum=1)
        if lower is None or upper is None:
            raise ValueError("numeric bins need declared lower and upper bounds")
        lower, upper = check_bounds(lower, upper)
        data = np.clip(_check_data(values), lower, upper)
        true, edges = np.histogram(data, bins=bins, range=(lower, upper))
        index = pd.IntervalIndex.from_breaks(edges, closed="left", name="bin")
    if mechanism == "geometric":
        noisy = geometric_mechanism(true.astype(np.int64), epsilon, 1, rng)
    else:
        noisy = laplace_mechanism(true.astype(float), 1.0, epsilon, rng)
    return pd.Series(noisy, index=index, name="noisy_count")


# --------------------------------------------------------------------------- the audit


@dataclass(frozen=True)
class AuditResult:
    """What ``empirical_epsilon`` found.

    epsilon_lower: a lower bound on the mechanism's true epsilon holding with probability
    at least ``confidence``; a mechanism whose claimed epsilon is below it is broken.
    """

    epsilon_lower: float
    epsilon_point: float
    event: str
    p_lower: float
    q_upper: float
    n_samples: int
    confidence: float


def _clopper_pearson(successes, trials, alpha, side):
    """One-sided Clopper-Pearson bound at level 1 - alpha (exact binomial)."""
    successes = np.asarray(successes, dtype=float)
    if side == "lower":
        return np.where(
            successes > 0, stats.beta.ppf(alpha, successes, trials - successes + 1), 0.0
        )
    return np.where(
        successes < trials, stats.beta.ppf(1 - alpha, successes + 1, trials - successes), 1.0
    )


def empirical_epsilon(
    mechanism,
    dataset,
    neighbour,
    n_samples: int = 50_000,
    rng: RandomState = None,
    delta: float = 0.0,
    confidence: float = 0.95,
    n_thresholds: int = 200,
) -> AuditResult:
    """Audit a mechanism: a statistically sound lower bound on its epsilon from samples.

    The mechanism is run ``n_samples`` times on ``dataset`` and on its ``neighbour``.
    The first half of the samples picks an event S = {output >= t} or {output <= t} and a
    direction; the held-out half bounds P = P[M(D) in S] from below and Q = P[M(D') in S]
    from above with one-sided Clopper-Pearson intervals (Bonferroni: each at level
    (1 - confidence) / 2). Any (epsilon, delta)-DP mechanism has P <= e^epsilon Q + delta,
    so epsilon >= ln((P - delta) / Q) with probability at least ``confidence``.
    Choosing the event on separate samples keeps the bound valid.

    Parameters
    ----------
    mechanism : callable (data, rng) -> one number (an int, float or 0/1 bit).
    dataset, neighbour : two neighbouring inputs (differing in one record).
    n_samples : int >= 100, runs per input.
    rng : Generator, int seed or None.
    delta : float in [0, 1), the delta the mechanism claims.
    confidence : float in (0, 1).
    n_thresholds : int >= 1, candidate thresholds (quantiles of the selection outputs).

    Reference: the approach of M. Jagielski, J. Ullman and A. Oprea, "Auditing Differentially
    Private Machine Learning: How Private is Private SGD?", NeurIPS 2020,
    https://arxiv.org/abs/2006.07709, and Z. Ding et al., "Detecting Violations of
    Differential Privacy", CCS 2018, https://doi.org/10.1145/3243734.3243818.
    """
    if not callable(mechanism):
        raise TypeError("mechanism must be a callable (data, rng) -> number")
    n_samples = check_integer(n_samples, "n_samples", minimum=100)
    delta = check_delta(delta)
    confidence = check_real(
        confidence, "confidence", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    n_thresholds = check_integer(n_thresholds, "n_thresholds", minimum=1)
    rng = check_rng(rng)

    def run(data):
        outputs = np.empty(n_samples)
        for i in range(n_samples):
            out = mechanism(data, rng)
            if np.ndim(out) != 0:
                raise ValueError(
                    "mechanism must return one number; audit a statistic of vector outputs"
                )
            outputs[i] = float(out)
        return outputs

    a, b = run(dataset), run(neighbour)
    half = n_samples // 2
    alpha = (1 - confidence) / 2

    def events(x_sel):
        pooled = np.concatenate(x_sel)
        distinct = np.unique(pooled)
        if distinct.size <= n_thresholds:  # discrete outputs (counts, bits, indices)
            return distinct
        return np.unique(np.quantile(pooled, np.linspace(0, 1, n_thresholds + 2)[1:-1]))

    def bound(first, second, thresholds, n):
        """For each threshold and side: lower bound on ln((P - delta) / Q), first vs second."""
        results = []
        for side in (">=", "<="):
            if side == ">=":
                hits_p = (first[:, None] >= thresholds[None, :]).sum(axis=0)
                hits_q = (second[:, None] >= thresholds[None, :]).sum(axis=0)
            else:
                hits_p = (first[:, None] <= thresholds[None, :]).sum(axis=0)
                hits_q = (second[:, None] <= thresholds[None, :]).sum(axis=0)
            p_low = _clopper_pearson(hits_p, n, alpha, "lower")
            q_high = _clopper_pearson(hits_q, n, alpha, "upper")
            with np.errstate(divide="ignore", invalid="ignore"):
                lb = np.where(
                    p_low - delta > 0, np.log(np.maximum(p_low - delta, 1e-300) / q_high), -np.inf
                )
                point = np.log(
                    np.maximum(hits_p / n - delta, 1e-300) / np.maximum(hits_q / n, 1e-300)
                )
            results.append((side, lb, point, p_low, q_high))
        return results

    thresholds = events([a[:half], b[:half]])
    best = None
    for first_sel, second_sel, first_test, second_test, order in (
        (a[:half], b[:half], a[half:], b[half:], "M(D)"),
        (b[:half], a[:half], b[half:], a[half:], "M(D')"),
    ):
        for side, lb, _point, _p, _q in bound(first_sel, second_sel, thresholds, half):
            i = int(np.argmax(lb))
            if best is None or lb[i] > best[0]:
                best = (lb[i], side, thresholds[i], first_test, second_test, order)
    _, side, t, first_test, second_test, order = best
    n_test = n_samples - half
    ((_, lb, point, p_low, q_high),) = [
        r for r in bound(first_test, second_test, np.array([t]), n_test) if r[0] == side
    ]
    lower = float(max(lb[0], 0.0)) if np.isfinite(lb[0]) else 0.0
    other = "M(D')" if order == "M(D)" else "M(D)"
    return AuditResult(
        epsilon_lower=lower,
        epsilon_point=float(point[0]),
        event=f"P[{order} {side} {t:.4g}] vs P[{other} {side} {t:.4g}]",
        p_lower=float(p_low[0]),
        q_upper=float(q_high[0]),
        n_samples=n_samples,
        confidence=confidence,
    )
