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

from helpers._validation import (
    RandomState,
    check_choice,
    check_integer,
    check_real,
    check_real_array,
    check_rng,
)

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
    """Bounds must be finite reals with lower < upper (and upper - lower a finite float)."""
    lower = check_real(lower, "lower")
    upper = check_real(upper, "upper")
    if not lower < upper:
        raise ValueError(f"bounds must satisfy lower < upper; got lower={lower}, upper={upper}")
    if not math.isfinite(upper - lower):
        raise ValueError(
            f"upper - lower must be a finite float (it sets the noise); got lower={lower}, "
            f"upper={upper}, whose difference overflows"
        )
    return lower, upper


def _check_value(value, name: str):
    """A finite real number or array of them; returns (float or float ndarray, is_scalar)."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        value = check_real(value, name)  # the fast path: mechanisms run in loops
        return value, True
    return check_real_array(value, name), False


def _check_data(values, name: str) -> np.ndarray:
    """A one-dimensional array of finite reals (a Series, list or array)."""
    array = np.atleast_1d(check_real_array(values, name))
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    return array


def _noise_scale(numerator: float, epsilon: float, what: str) -> float:
    """numerator / epsilon as a noise scale, refused (naming ``what``) beyond float range."""
    scale = numerator / epsilon
    if not math.isfinite(scale) or scale > _MAX_NOISE_SCALE:
        raise ValueError(
            f"{what} = {numerator:g} / {epsilon:g} is too large a noise scale for floating-point "
            f"noise (at most {_MAX_NOISE_SCALE:g}); use a larger epsilon or a smaller sensitivity"
        )
    if scale < _MIN_NOISE_SCALE:
        raise ValueError(
            f"{what} = {numerator:g} / {epsilon:g} is too small a noise scale for floating-point "
            f"noise (at least {_MIN_NOISE_SCALE:g}: smaller samples are denormal, coarsely "
            "rounded and vanish when added); rescale the data"
        )
    return scale


def _release(noisy, scalar: bool, what: str):
    """Return a noisy release, refusing a non-finite one (an overflow of value + noise)."""
    if not np.all(np.isfinite(noisy)):
        raise ValueError(
            f"the noisy {what} is not finite: the true value plus noise of this scale "
            "overflows float range; rescale the data or use a larger epsilon"
        )
    return float(noisy) if scalar else noisy


#: Largest and smallest noise scale (std or Laplace b) drawn: samples stay far from float
#: overflow, and far above the denormal numbers, which carry too few bits to be noise.
_MAX_NOISE_SCALE = 1e300
_MIN_NOISE_SCALE = 1e-300


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

    Returns a float for a scalar ``value``, else an array of the same shape. A release that
    would not be finite (``sensitivity / epsilon`` beyond 1e300, or value + noise
    overflowing) raises ValueError instead.

    Reference: C. Dwork, F. McSherry, K. Nissim and A. Smith, "Calibrating Noise to
    Sensitivity in Private Data Analysis", TCC 2006, https://doi.org/10.1007/11681878_14.
    """
    value, scalar = _check_value(value, "value")
    scale = _noise_scale(
        check_sensitivity(sensitivity), check_epsilon(epsilon), "sensitivity / epsilon"
    )
    rng = check_rng(rng)
    with np.errstate(over="ignore"):  # an overflow is refused by _release
        noisy = value + rng.laplace(0.0, scale, size=None if scalar else np.shape(value))
    return _release(noisy, scalar, "value")


# Unit roundoff of a double: every rounding error below is a small multiple of it.
_U = 2.0**-53


def _gaussian_delta_logs(sigma: float, sensitivity: float, epsilon: float):
    """log Phi(a - b) and epsilon + log Phi(-a - b), with bounds on their rounding errors.

    a = D / (2 s), b = e s / D. Each log carries an absolute error bound from (i) rounding
    a, b and their sum (propagated through d log Phi(x) / dx <= |x| + 2, a bound on the
    inverse Mills ratio) and (ii) a generous 16 ulps for scipy's log_ndtr.
    """
    a = sensitivity / (2.0 * sigma)
    b = epsilon * sigma / sensitivity
    x, y = a - b, -a - b
    error_x = 4.0 * _U * (abs(a) + abs(b))  # the same bound holds for y
    with np.errstate(over="ignore", invalid="ignore"):
        log_first = float(special.log_ndtr(x))
        log_ndtr_y = float(special.log_ndtr(y))
        log_second = epsilon + log_ndtr_y
        error_first = 16 * _U * max(1.0, abs(log_first)) + (abs(x) + 2.0) * error_x
        error_second = (
            16 * _U * max(1.0, abs(log_ndtr_y))
            + (abs(y) + 2.0) * error_x
            + _U * (epsilon + abs(log_ndtr_y))
        )
    return log_first, error_first, log_second, error_second


def _difference_of_exps(log_p: float, log_q: float) -> float:
    """exp(log_p) - exp(log_q), >= 0, without cancellation or overflow (0 if q >= p)."""
    if not log_q < log_p or math.isnan(log_p):
        return 0.0
    if log_p > 709.0:  # exp overflows; delta <= 1 anyway, so this never bounds a real delta
        return math.inf
    return math.exp(log_p) * -math.expm1(log_q - log_p)


def gaussian_delta(sigma, sensitivity, epsilon) -> float:
    """The exact (smallest) delta for which Gaussian noise of std ``sigma`` is (epsilon, delta)-DP.

    delta = Phi(D/(2s) - e s/D) - exp(e) Phi(-D/(2s) - e s/D) with D = sensitivity, s = sigma,
    e = epsilon (Balle & Wang, Theorem 8), computed in log space so large epsilon neither
    overflows nor cancels two tiny numbers. Floating point still leaves an error where the
    two terms nearly agree; ``gaussian_sigma`` and ``gaussian_epsilon`` therefore calibrate
    against an upper bound of this value that allows for every rounding (assuming scipy's
    ``log_ndtr`` is accurate to 16 ulps), not against it.

    Reference: B. Balle and Y.-X. Wang, "Improving the Gaussian Mechanism for Differential
    Privacy: Analytical Calibration and Optimal Denoising", ICML 2018,
    https://arxiv.org/abs/1805.06530.
    """
    sigma = check_real(sigma, "sigma", low=0.0, low_inclusive=False)
    sensitivity = check_sensitivity(sensitivity)
    epsilon = check_epsilon(epsilon)
    log_first, _, log_second, _ = _gaussian_delta_logs(sigma, sensitivity, epsilon)
    return float(min(_difference_of_exps(log_first, log_second), 1.0))


def _gaussian_delta_upper(sigma: float, sensitivity: float, epsilon: float) -> float:
    """An upper bound on ``gaussian_delta`` allowing for rounding (inf if none is known).

    The first term is rounded up and the second down by their error bounds. With a large
    epsilon the second term's bound may be useless; then the bound is Phi(a - b) itself,
    still a valid (if loose) delta.
    """
    log_first, error_first, log_second, error_second = _gaussian_delta_logs(
        sigma, sensitivity, epsilon
    )
    if not math.isfinite(error_first):
        return math.inf  # the first term cannot be bounded: no guarantee from this sigma
    if not math.isfinite(error_second):
        log_second = -math.inf
    upper = _difference_of_exps(log_first + error_first, log_second - error_second)
    return upper * (1.0 + 16 * _U)


def gaussian_sigma(sensitivity, epsilon, delta, method: str = "analytic") -> float:
    """Noise std for the Gaussian mechanism to be (epsilon, delta)-DP.

    Parameters
    ----------
    sensitivity : float > 0, L2 sensitivity.
    epsilon : float > 0.   delta : float in (0, 1).
    method : "analytic" (default) - the smallest sigma whose delta, bounded from above
        including floating-point rounding, is at most ``delta``; found by bisection (Balle &
        Wang, ICML 2018, https://arxiv.org/abs/1805.06530) and verified before it is
        returned. Valid for every epsilon; where rounding blurs the answer (tiny epsilon
        and delta, or epsilon beyond about 1e14) the sigma returned is conservative (a
        little more noise than the optimum), and where no sigma can be verified (epsilon
        around 1e300) it raises ValueError. "classic" - sigma = sqrt(2 ln(1.25/delta))
        sensitivity / epsilon (Dwork & Roth, "The Algorithmic Foundations of Differential
        Privacy", 2014, Theorem A.1, https://doi.org/10.1561/0400000042); proved only for
        epsilon < 1, so it raises ValueError for epsilon >= 1.
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
        sigma = math.sqrt(2 * math.log(1.25 / delta)) * sensitivity / epsilon
    elif 1e-200 <= sensitivity <= 1e200:
        sigma = _analytic_sigma(sensitivity, epsilon, delta)
    else:  # delta depends on sigma / sensitivity only: calibrate at 1, then scale
        sigma = sensitivity * _analytic_sigma(1.0, epsilon, delta)
    if not (math.isfinite(sigma) and _MIN_NOISE_SCALE <= sigma <= _MAX_NOISE_SCALE):
        raise ValueError(
            f"the Gaussian noise for sensitivity={sensitivity:g}, epsilon={epsilon:g}, "
            f"delta={delta:g} would have std {sigma:g}, outside the floating-point noise "
            f"this kit draws ([{_MIN_NOISE_SCALE:g}, {_MAX_NOISE_SCALE:g}]); rescale the data "
            "or change epsilon or delta"
        )
    if method == "analytic":
        for _ in range(8):  # scaling rounds sigma: step up until it verifies as it is used
            if _gaussian_delta_upper(sigma, sensitivity, epsilon) <= delta:
                return sigma
            sigma = math.nextafter(sigma, math.inf)
        raise ValueError(  # pragma: no cover - the unit calibration leaves a wide margin
            f"the Gaussian calibration could not be verified for sensitivity={sensitivity:g}"
        )
    return sigma


@functools.lru_cache(maxsize=1024)
def _analytic_sigma(sensitivity: float, epsilon: float, delta: float) -> float:
    """Bisection behind ``gaussian_sigma`` (cached: mechanisms are called in loops)."""

    def satisfied(sigma: float) -> bool:
        return _gaussian_delta_upper(sigma, sensitivity, epsilon) <= delta

    # delta(sigma) decreases in sigma: bracket, then bisect on a log scale.
    low, high = sensitivity * 1e-3, sensitivity
    while not satisfied(high):
        low, high = high, high * 2
        if high > _MAX_NOISE_SCALE:
            raise ValueError(
                f"no Gaussian noise of std up to {_MAX_NOISE_SCALE:g} gives a verified delta "
                f"<= {delta:g} for sensitivity={sensitivity:g}, epsilon={epsilon:g}: use a "
                "larger epsilon or delta or a smaller sensitivity (and an epsilon below 1e27, "
                "beyond which rounding hides the answer)"
            )
    while satisfied(low) and low > max(1e-12, sensitivity * 1e-150):
        high, low = low, low / 2
    for _ in range(200):
        mid = math.sqrt(low * high)
        if not 0.0 < mid < math.inf:  # the product under- or overflowed
            mid = math.sqrt(low) * math.sqrt(high)
        if satisfied(mid):
            high = mid
        else:
            low = mid
        if high / low < 1 + 1e-12:
            break
    if not satisfied(high):  # pragma: no cover - the loop keeps `high` on the satisfied side
        raise RuntimeError("Gaussian calibration failed to verify its own sigma")
    return high


def max_membership_advantage(epsilon, delta=0.0) -> float:
    """The largest advantage (true-positive minus false-positive rate) of ANY attack that
    tells two neighbouring datasets apart from an (epsilon, delta)-DP output:
    ``(e^epsilon - 1 + 2 delta) / (e^epsilon + 1)``.

    It bounds membership inference and the differencing attack alike. Computed without
    overflow for any epsilon (it tends to 1). Reference: P. Kairouz, S. Oh and P.
    Viswanath, "The Composition Theorem for Differential Privacy", ICML 2015,
    https://arxiv.org/abs/1311.0776 (the hypothesis-testing view of DP).
    """
    epsilon, delta = check_epsilon(epsilon), check_delta(delta)
    if epsilon <= 1.0:
        grown = math.expm1(epsilon)  # accurate for small epsilon
        return (grown + 2 * delta) / (grown + 2)
    shrunk = math.exp(-epsilon)  # divide through by e^epsilon: no overflow
    return (1 - shrunk + 2 * delta * shrunk) / (1 + shrunk)


def max_attacker_accuracy(epsilon, delta=0.0) -> float:
    """The best accuracy of guessing a 50/50 secret (is the patient in? which diagnosis?) from
    an (epsilon, delta)-DP output: ``(1 + max_membership_advantage) / 2``, which is
    ``e^epsilon / (1 + e^epsilon)`` when delta = 0."""
    return (1.0 + max_membership_advantage(epsilon, delta)) / 2.0


def gaussian_epsilon(sigma, sensitivity, delta) -> float:
    """The smallest epsilon for which Gaussian noise of std ``sigma`` is (epsilon, delta)-DP.

    The inverse of ``gaussian_sigma`` (analytic calibration, Balle & Wang, ICML 2018,
    https://arxiv.org/abs/1805.06530), useful to report what a given noise level buys. Like
    ``gaussian_sigma`` it bisects on a rounding-proof upper bound of delta, so the epsilon
    returned is never too small; ValueError if no epsilon up to 1e27 can be verified.
    """
    sigma = check_real(sigma, "sigma", low=0.0, low_inclusive=False)
    sensitivity = check_sensitivity(sensitivity)
    delta = check_delta(delta, required=True)

    def satisfied(epsilon: float) -> bool:
        return _gaussian_delta_upper(sigma, sensitivity, epsilon) <= delta

    if satisfied(1e-12):
        return 1e-12
    low, high = 1e-12, 1.0
    while not satisfied(high):
        low, high = high, high * 2
        if high > 1e27:
            raise ValueError(
                f"noise of std sigma={sigma:g} for sensitivity={sensitivity:g} gives no "
                f"epsilon below 1e27 that can be verified at delta={delta:g}; the noise is "
                "too small to be a meaningful guarantee"
            )
    for _ in range(200):
        mid = 0.5 * (low + high)
        if satisfied(mid):
            high = mid
        else:
            low = mid
        if high - low < 1e-12 * high:
            break
    return high


def gaussian_noise(shape, sigma, rng: RandomState = None) -> np.ndarray:
    """Draw N(0, sigma^2) noise of the given shape (for mechanisms that set sigma themselves).

    Used by DP-SGD and DP federated aggregators, which choose sigma as a noise multiplier
    times a clipping norm and account for it with an RDP accountant.
    """
    sigma = check_real(sigma, "sigma", low=0.0, high=_MAX_NOISE_SCALE)
    rng = check_rng(rng)
    return rng.normal(0.0, sigma, size=shape)


def clip_l2(vector, max_norm, axis: int | None = None) -> np.ndarray:
    """Scale ``vector`` down (never up) so its L2 norm is at most ``max_norm``.

    Clipping bounds one contributor's influence, which is what makes the L2 sensitivity of
    a sum of clipped vectors equal to ``max_norm`` (DP-SGD, DP federated averaging).
    With ``axis`` (e.g. 1 for a patients x features array of per-patient gradients) each
    slice along that axis is clipped separately.
    """
    vector = check_real_array(vector, "vector")
    max_norm = check_real(max_norm, "max_norm", low=0.0, low_inclusive=False)
    keep = axis is not None
    with np.errstate(over="ignore", divide="ignore"):
        norms = np.linalg.norm(vector, axis=axis, keepdims=keep)
        factor = np.minimum(1.0, max_norm / np.maximum(norms, 1e-300))
    overflowed = ~np.isfinite(norms)
    if np.any(overflowed):  # a norm beyond float range: norm = largest * (norm of vector / largest)
        largest = np.max(np.abs(vector), axis=axis, keepdims=keep)
        unit = np.linalg.norm(
            vector / np.where(largest > 0, largest, 1.0), axis=axis, keepdims=keep
        )
        factor = np.where(overflowed, np.minimum(1.0, (max_norm / largest) / unit), factor)
    return vector * factor


def gaussian_mechanism(value, sensitivity, epsilon, delta, rng: RandomState = None):
    """Release ``value`` + Gaussian noise calibrated analytically: (epsilon, delta)-DP.

    Parameters
    ----------
    value : float or array; for an array ``sensitivity`` is its L2 sensitivity.
    sensitivity : float > 0, L2 sensitivity.
    epsilon : float > 0 (any size: the analytic calibration is valid for epsilon >= 1 too).
    delta : float in (0, 1).
    rng : Generator, int seed or None.

    A release that would not be finite raises ValueError instead.

    Reference: B. Balle and Y.-X. Wang, "Improving the Gaussian Mechanism for Differential
    Privacy: Analytical Calibration and Optimal Denoising", ICML 2018,
    https://arxiv.org/abs/1805.06530.
    """
    value, scalar = _check_value(value, "value")
    sigma = gaussian_sigma(sensitivity, epsilon, delta)
    rng = check_rng(rng)
    with np.errstate(over="ignore"):  # an overflow is refused by _release
        noisy = value + rng.normal(0.0, sigma, size=None if scalar else np.shape(value))
    return _release(noisy, scalar, "value")


#: Smallest success probability p = 1 - exp(-epsilon / sensitivity) the geometric sampler
#: serves. numpy draws a geometric variable as a float and converts it; above 2**53 the
#: float is no longer an exact integer (and numpy saturates at 2**63 - 1), so the noise
#: would carry the count's low bits through. With p at least 50 ln 2 / 2**53 a draw
#: exceeds 2**53 with probability at most 2**-50.
GEOMETRIC_MIN_P = 50 * math.log(2) / 2**53

#: Largest |count| the geometric mechanism adds noise to (int64 arithmetic never wraps).
_MAX_COUNT = 2**62


def geometric_mechanism(count, epsilon, sensitivity=1, rng: RandomState = None):
    """Release an integer ``count`` + two-sided geometric noise: epsilon-DP, output stays integer.

    P(noise = k) is proportional to exp(-epsilon |k| / sensitivity). Drawn as the difference
    of two geometric variables, so no floating-point sample is released.

    Parameters
    ----------
    count : int or integer array, the true count(s), |count| <= 2**62.
    epsilon : float > 0; epsilon / sensitivity must be at least about 3.85e-15
        (``GEOMETRIC_MIN_P``): below it numpy's sampler cannot draw exact integers and the
        mechanism refuses (ValueError) rather than release a count with too little noise.
    sensitivity : int in [1, 2**53], how much one record can change the count (1 for a count).
    rng : Generator, int seed or None.

    Reference: A. Ghosh, T. Roughgarden and M. Sundararajan, "Universally Utility-Maximizing
    Privacy Mechanisms", STOC 2009, https://doi.org/10.1145/1536414.1536464.
    """
    scalar = isinstance(count, numbers.Integral) and not isinstance(count, bool)
    if scalar:
        count = int(count)
        too_large = abs(count) > _MAX_COUNT
    else:
        array = np.asarray(count)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise TypeError("count must be an integer or an array of integers")
        too_large = array.size and (array.max() > _MAX_COUNT or array.min() < -_MAX_COUNT)
        count = array.astype(np.int64) if not too_large else array
    if too_large:
        raise ValueError(f"count must be an integer of magnitude at most 2**62; got {count!r}")
    epsilon = check_epsilon(epsilon)
    sensitivity = check_integer(sensitivity, "sensitivity", minimum=1, maximum=2**53)
    p = -math.expm1(-epsilon / sensitivity)  # success probability 1 - exp(-eps/sens)
    if p < GEOMETRIC_MIN_P:
        raise ValueError(
            f"epsilon / sensitivity must be >= {GEOMETRIC_MIN_P:.3g} for the geometric "
            f"sampler to draw exact integer noise; got epsilon={epsilon:g}, "
            f"sensitivity={sensitivity}"
        )
    rng = check_rng(rng)
    shape = None if scalar else np.shape(count)
    noise = rng.geometric(p, size=shape) - rng.geometric(p, size=shape)
    return int(count + int(noise)) if scalar else count + noise


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
    pi_hat = (mean(noisy) - (1 - p)) / (2p - 1), with 2p - 1 = tanh(eps / 2) computed
    directly (no cancellation at small epsilon). It is unbiased and may fall outside [0, 1]
    for small samples (clip it yourself when reporting). An epsilon so small that the
    estimate is not a finite number raises ValueError.
    """
    noisy_bits = _check_bits(noisy_bits, "noisy_bits")
    epsilon = check_epsilon(epsilon)
    if noisy_bits.size == 0:
        raise ValueError("noisy_bits must hold at least one report")
    flip = float(special.expit(-epsilon))  # 1 - p
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        estimate = (noisy_bits.mean() - flip) / math.tanh(epsilon / 2)
    if not math.isfinite(estimate):
        raise ValueError(
            f"epsilon={epsilon:g} is too small to estimate a proportion from "
            f"{noisy_bits.size} reports: the estimate is not a finite number"
        )
    return float(estimate)


def _keep_probability(epsilon: float) -> float:
    return 1.0 / (1.0 + math.exp(-epsilon))  # epsilon > 0: exp never overflows


def _check_bits(bits, name: str = "bits") -> np.ndarray:
    array = np.asarray(bits)
    if array.dtype == bool:
        return array.astype(int)
    if array.dtype.kind not in "iufO" or (array.size and not np.isin(array, (0, 1)).all()):
        raise ValueError(f"{name} must hold only 0 and 1 (or booleans)")
    return array.astype(int)


def exponential_probabilities(scores, sensitivity, epsilon) -> np.ndarray:
    """The exponential mechanism's selection probabilities: proportional to exp(eps u / (2 du)).

    Parameters
    ----------
    scores : array of utilities u (higher is better), one per candidate.
    sensitivity : float > 0, how much one record can change any score (du).
    epsilon : float > 0.

    Computed from the scores minus their maximum, so large scores do not overflow;
    ValueError if epsilon / (2 sensitivity) or the spread of the scores is beyond float
    range (the probabilities would not be numbers).
    """
    scores = _check_data(scores, "scores")
    if scores.size == 0:
        raise ValueError("scores must hold at least one candidate")
    sensitivity = check_sensitivity(sensitivity)
    epsilon = check_epsilon(epsilon)
    with np.errstate(over="ignore", invalid="ignore"):
        logits = epsilon * scores / (2 * sensitivity)
    if np.all(np.isfinite(logits)):
        return special.softmax(logits)  # softmax subtracts the largest logit itself
    # Logits beyond float range: shift the scores first (softmax is shift-invariant).
    factor = epsilon / (2 * sensitivity)
    if not math.isfinite(factor):
        raise ValueError(
            f"epsilon / (2 sensitivity) must be a finite float; got epsilon={epsilon!r}, "
            f"sensitivity={sensitivity!r}"
        )
    with np.errstate(over="ignore"):
        spread = scores - scores.max()
    if not np.all(np.isfinite(spread)):
        raise ValueError("scores must differ by less than float range (their spread overflows)")
    with np.errstate(over="ignore", under="ignore"):
        return special.softmax(spread * factor)


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
    if isinstance(data, (str, bytes)) or not hasattr(data, "__len__"):
        raise TypeError(
            f"data must be a DataFrame, Series, array or list of records; got {type(data).__name__}"
        )
    count = len(data)
    if mechanism == "geometric":
        return geometric_mechanism(int(count), epsilon, 1, rng)
    return laplace_mechanism(float(count), 1.0, epsilon, rng)


def dp_sum(values, lower, upper, epsilon, rng: RandomState = None) -> float:
    """A DP sum of values declared to lie in [lower, upper]; values outside are CLIPPED to it.

    The bounds must come from domain knowledge (e.g. a plausible range of systolic blood
    pressure), never from the data: data-dependent bounds leak. One record changes the sum
    by at most max(|lower|, |upper|), the Laplace sensitivity used here.

    ``values`` must be real numbers (booleans, text and missing values are refused).
    """
    values = _check_data(values, "values")
    lower, upper = check_bounds(lower, upper)
    epsilon = check_epsilon(epsilon)
    scale = _noise_scale(max(abs(lower), abs(upper)), epsilon, "max(|lower|, |upper|) / epsilon")
    rng = check_rng(rng)
    with np.errstate(over="ignore"):  # an overflowing sum is refused by _release
        total = float(np.clip(values, lower, upper).sum())
    return _release(total + rng.laplace(0.0, scale), True, "sum")


def dp_mean(values, lower, upper, epsilon, rng: RandomState = None) -> float:
    """A DP mean of values declared to lie in [lower, upper] (outside values are CLIPPED).

    Half of epsilon buys a noisy sum of the values shifted to [0, upper - lower], half a
    noisy count; the ratio is shifted back and clipped to [lower, upper]. Shifting keeps
    the sum's sensitivity at upper - lower whatever the sign of the bounds.

    ``values`` must be real numbers (booleans, text and missing values are refused).
    """
    values = _check_data(values, "values")
    lower, upper = check_bounds(lower, upper)
    epsilon = check_epsilon(epsilon)
    sum_scale = _noise_scale(2 * (upper - lower), epsilon, "2 (upper - lower) / epsilon")
    count_scale = _noise_scale(2.0, epsilon, "2 / epsilon")
    rng = check_rng(rng)
    with np.errstate(over="ignore"):  # an overflowing sum is refused by _release
        shifted = np.clip(values, lower, upper) - lower
        total = float(shifted.sum())
    noisy_sum = _release(total + rng.laplace(0.0, sum_scale), True, "sum")
    noisy_count = float(values.size) + rng.laplace(0.0, count_scale)
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
    bins; the values must then be real numbers).

    Returns a Series of noisy counts indexed by category or bin interval.
    """
    epsilon = check_epsilon(epsilon)
    check_choice(mechanism, "mechanism", ("laplace", "geometric"))
    rng = check_rng(rng)
    if (categories is None) == (bins is None):
        raise ValueError("give exactly one of categories or bins")
    if categories is not None:
        if isinstance(categories, (str, bytes)):
            raise TypeError("categories must be a list of category values, not one string")
        categories = list(categories)
        if not categories or len(set(categories)) != len(categories):
            raise ValueError("categories must be a non-empty list of distinct values")
        if isinstance(values, (str, bytes, pd.DataFrame)) or np.ndim(values) != 1:
            raise ValueError("values must be one-dimensional: one category per record")
        counts = pd.Series(np.asarray(values, dtype=object)).value_counts()
        true = np.array([int(counts.get(c, 0)) for c in categories])
        index = pd.Index(categories, name="category")
    else:
        bins = check_integer(bins, "bins", minimum=1)
        if lower is None or upper is None:
            raise ValueError("numeric bins need declared lower and upper bounds")
        lower, upper = check_bounds(lower, upper)
        data = np.clip(_check_data(values, "values"), lower, upper)
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
    mechanism : callable (data, rng) -> one finite number (an int, float or 0/1 bit); a
        non-finite or non-numeric output raises (ValueError / TypeError).
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
            if isinstance(out, np.ndarray):
                out = out.item()
            if not isinstance(out, (numbers.Real, np.bool_)):
                raise TypeError(
                    f"mechanism must return a real number (or a 0/1 bit); run {i} returned "
                    f"{type(out).__name__} {out!r}"
                )
            outputs[i] = float(out)
            if not math.isfinite(outputs[i]):
                # A NaN would fall in no event and make any mechanism look private.
                raise ValueError(
                    f"mechanism returned {out!r} on run {i}; an audit needs finite outputs "
                    "(a mechanism that outputs NaN or infinity is refused, not scored)"
                )
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
