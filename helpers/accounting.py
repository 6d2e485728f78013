"""Privacy accounting: every way the kit turns mechanisms into (epsilon, delta), and the ledger.

Three families of accountant, from loosest to tightest, all for neighbouring datasets that
differ by one unit (a patient, unless a function says otherwise) added or removed:

- **Composition theorems** (:func:`basic_composition`, :func:`advanced_composition`): from the
  (epsilon, delta) of each release alone. Simple, and loose for many small releases.
- **Rényi DP** (:func:`rdp_sampled_gaussian`, :func:`rdp_to_dp`): the Gaussian mechanism's
  privacy loss is summarised by its Rényi divergence at several orders alpha; those add up
  exactly over releases and are converted to (epsilon, delta) once, at the end. The kit's own
  implementation, derived and explained in notebook 03; it matches TensorFlow Privacy.
- **Privacy loss distributions (PLD)** and **Gaussian DP**: the whole distribution of the
  privacy loss is composed numerically (Google's ``dp-accounting`` library, the one the field
  uses), or, for T Gaussian releases without subsampling, exactly: they compose into ONE
  Gaussian mechanism with sensitivity sqrt(T) (Dong, Roth and Su, "Gaussian Differential
  Privacy", JRSS B 2022, https://arxiv.org/abs/1905.02383), whose (epsilon, delta) curve is
  exact (Balle and Wang, ICML 2018). Tightest of the three, so the same guarantee needs less
  noise. (dp-accounting's PLD: S. Meiser and E. Mohammadi, CCS 2018; A. Koskela, J. Jälkö and
  A. Honkela, AISTATS 2020, https://arxiv.org/abs/1906.03049; V. Doroshenko, B. Ghazi, P.
  Kamath, R. Kumar and P. Manurangsi, "Connect the Dots", PETS 2022,
  https://arxiv.org/abs/2207.04380.)

:func:`epsilon_for` and :func:`noise_multiplier_for` take ``accountant="pld"`` (the default
everywhere in the kit) or ``"rdp"``, for DP-SGD and DP federated averaging alike.

:class:`PrivacyAccountant` is the ledger: it refuses any spend that would pass its budget,
records which accountant certified each charge, and counts exactly (no rounding tolerance).
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy import special

from helpers import dp
from helpers._validation import check_choice, check_integer, check_real
from helpers.dp import check_delta, check_epsilon

#: The accountants :func:`epsilon_for` and :func:`noise_multiplier_for` offer; the first is the default.
ACCOUNTANTS = ("pld", "rdp")
DEFAULT_ACCOUNTANT = "pld"

#: RDP orders searched by default: the list TensorFlow Privacy's compute_dp_sgd_privacy uses.
DEFAULT_ORDERS = tuple(
    [1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 3.5, 4.0, 4.5] + list(range(5, 64)) + [128, 256, 512]
)

#: PLD discretisation of the privacy loss (nats). dp-accounting's pessimistic estimate stays an
#: upper bound at any interval; 1e-3 is within 0.05 % of 1e-4 on the kit's settings, 10x faster.
PLD_DISCRETISATION = 1e-3

#: Noise multipliers are calibrated to this relative precision (the returned one is never below
#: the smallest that meets the target).
CALIBRATION_PRECISION = 1e-3


def check_accountant(accountant) -> str:
    """The accountant must be one of :data:`ACCOUNTANTS`."""
    return check_choice(accountant, "accountant", ACCOUNTANTS)


# ------------------------------------------------------------------- composition theorems


def basic_composition(epsilons, deltas=None) -> tuple[float, float]:
    """Sequential composition: running mechanisms one after another adds up epsilons and deltas.

    Reference: C. Dwork and A. Roth, "The Algorithmic Foundations of Differential Privacy",
    2014, Theorem 3.16, https://doi.org/10.1561/0400000042.
    """
    epsilons = [check_epsilon(e) for e in epsilons]
    deltas = [0.0] * len(epsilons) if deltas is None else [check_delta(d) for d in deltas]
    if len(deltas) != len(epsilons):
        raise ValueError(
            f"epsilons and deltas must have the same length; got {len(epsilons)} and {len(deltas)}"
        )
    return float(math.fsum(epsilons)), float(min(math.fsum(deltas), 1.0))


def advanced_composition(epsilon, delta, k, delta_prime) -> tuple[float, float]:
    """k-fold composition of an (epsilon, delta)-DP mechanism, the advanced bound.

    It is (eps', k delta + delta')-DP with
    eps' = sqrt(2 k ln(1/delta')) epsilon + k epsilon (e^epsilon - 1).
    Better than k epsilon for many small steps; worse for few or large ones. The theorem
    holds when the k mechanisms are chosen adaptively but k and epsilon are fixed in
    advance (choosing them as you go needs a privacy filter: R. Rogers, A. Roth, J. Ullman
    and S. Vadhan, "Privacy Odometers and Filters: Pay-as-you-Go Composition", NeurIPS 2016,
    https://arxiv.org/abs/1605.08294).

    Reference: C. Dwork, G. N. Rothblum and S. Vadhan, "Boosting and Differential Privacy",
    FOCS 2010, https://doi.org/10.1109/FOCS.2010.12 (Theorem 3.20 in Dwork & Roth 2014).
    """
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta)
    k = check_integer(k, "k", minimum=1)
    delta_prime = check_real(
        delta_prime, "delta_prime", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    if epsilon > 700:  # e^epsilon overflows a float; the bound would be astronomically loose
        raise ValueError(
            f"epsilon must be <= 700 for the advanced composition bound (e^epsilon overflows "
            f"beyond); got {epsilon:g}. Use basic_composition: it is far tighter there."
        )
    eps_total = math.sqrt(2 * k * math.log(1 / delta_prime)) * epsilon + k * epsilon * math.expm1(
        epsilon
    )
    if not math.isfinite(eps_total):
        raise ValueError(
            f"the advanced bound overflows for k={k}, epsilon={epsilon:g}; use basic_composition"
        )
    return float(eps_total), float(min(k * delta + delta_prime, 1.0))


# ------------------------------------------------------------------------------ Rényi DP


def _log_add(a: float, b: float) -> float:
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def _log_sub(a: float, b: float) -> float:
    """log(exp(a) - exp(b)) for a >= b."""
    if b == -np.inf:
        return a
    if a <= b:
        return -np.inf
    return a + math.log(-math.expm1(b - a))


def _log_a_int(q: float, sigma: float, alpha: int) -> float:
    """log A_alpha for integer alpha: a finite binomial sum (Mironov, Talwar & Zhang 2019, Sec. 3.3)."""
    log_a = -np.inf
    for i in range(alpha + 1):
        log_coef = (
            math.log(special.binom(alpha, i)) + i * math.log(q) + (alpha - i) * math.log1p(-q)
        )
        log_a = _log_add(log_a, log_coef + (i * i - i) / (2 * sigma**2))
    return log_a


def _log_erfc(x: float) -> float:
    return float(special.log_ndtr(-x * math.sqrt(2)) + math.log(2))


def _log_a_frac(q: float, sigma: float, alpha: float) -> float:
    """log A_alpha for fractional alpha: the convergent series of Mironov, Talwar & Zhang 2019, Sec. 3.3."""
    log_a0, log_a1 = -np.inf, -np.inf
    z0 = sigma**2 * math.log(1 / q - 1) + 0.5
    i = 0
    while True:
        coef = special.binom(alpha, i)
        log_coef = math.log(abs(coef))
        j = alpha - i
        log_t0 = log_coef + i * math.log(q) + j * math.log1p(-q)
        log_t1 = log_coef + j * math.log(q) + i * math.log1p(-q)
        log_e0 = math.log(0.5) + _log_erfc((i - z0) / (math.sqrt(2) * sigma))
        log_e1 = math.log(0.5) + _log_erfc((z0 - j) / (math.sqrt(2) * sigma))
        log_s0 = log_t0 + (i * i - i) / (2 * sigma**2) + log_e0
        log_s1 = log_t1 + (j * j - j) / (2 * sigma**2) + log_e1
        if coef > 0:
            log_a0, log_a1 = _log_add(log_a0, log_s0), _log_add(log_a1, log_s1)
        else:
            log_a0, log_a1 = _log_sub(log_a0, log_s0), _log_sub(log_a1, log_s1)
        i += 1
        if max(log_s0, log_s1) < -30 or i > 10_000:
            break
    return _log_add(log_a0, log_a1)


def _check_orders(orders) -> tuple:
    orders = tuple(float(a) for a in np.atleast_1d(orders))
    if not orders or any(not (a > 1 and math.isfinite(a)) for a in orders):
        raise ValueError(f"orders must be finite RDP orders alpha > 1; got {orders}")
    return orders


@functools.lru_cache(maxsize=100_000)
def _rdp_one_step(q: float, sigma: float, alpha: float) -> float:
    if q == 0:
        return 0.0
    if q == 1.0:
        return alpha / (2 * sigma**2)
    if float(alpha).is_integer():
        return _log_a_int(q, sigma, int(alpha)) / (alpha - 1)
    return _log_a_frac(q, sigma, alpha) / (alpha - 1)


def rdp_sampled_gaussian(q, noise_multiplier, steps, orders=DEFAULT_ORDERS) -> np.ndarray:
    """Rényi DP of ``steps`` compositions of the Poisson-subsampled Gaussian mechanism.

    Parameters
    ----------
    q : float in [0, 1], the probability that each record is in a batch.
    noise_multiplier : float > 0, noise std divided by the L2 clipping norm.
    steps : int >= 0, number of noisy gradient steps.
    orders : RDP orders alpha > 1.

    Returns the RDP epsilon at each order (RDP composes by addition over steps).

    Reference: I. Mironov, K. Talwar and L. Zhang, "Rényi Differential Privacy of the
    Sampled Gaussian Mechanism", 2019, https://arxiv.org/abs/1908.10530; with q = 1 it is
    the Gaussian mechanism's alpha / (2 sigma^2) (I. Mironov, "Rényi Differential Privacy",
    CSF 2017, https://arxiv.org/abs/1702.07476).
    """
    q = check_real(q, "q", low=0.0, high=1.0)
    sigma = check_real(noise_multiplier, "noise_multiplier", low=0.0, low_inclusive=False)
    steps = check_integer(steps, "steps", minimum=0)
    orders = _check_orders(orders)
    return np.array([_rdp_one_step(q, sigma, a) for a in orders]) * steps


def rdp_to_dp(orders, rdp, delta, conversion: str = "improved") -> tuple[float, float]:
    """Convert Rényi DP at several orders into (epsilon, delta)-DP; returns (epsilon, best order).

    conversion : "improved" (default) - epsilon = rdp + log((alpha - 1) / alpha)
        - (log delta + log alpha) / (alpha - 1) (C. Canonne, G. Kamath and T. Steinke,
        "The Discrete Gaussian for Differential Privacy", NeurIPS 2020, Proposition 12,
        https://arxiv.org/abs/2004.00010; B. Balle et al., "Hypothesis Testing
        Interpretations and Renyi Differential Privacy", AISTATS 2020,
        https://arxiv.org/abs/1905.09982); it is what TensorFlow Privacy / dp_accounting use.
        "mironov" - epsilon = rdp + log(1 / delta) / (alpha - 1) (I. Mironov, "Rényi
        Differential Privacy", CSF 2017, Proposition 3, https://arxiv.org/abs/1702.07476).
    """
    orders = np.asarray(_check_orders(orders))
    rdp = np.asarray(rdp, dtype=float)
    if rdp.shape != orders.shape or np.any(rdp < 0) or np.any(np.isnan(rdp)):
        raise ValueError("rdp must hold one non-negative value per order")
    delta = check_delta(delta, required=True)
    check_choice(conversion, "conversion", ("improved", "mironov"))
    if conversion == "mironov":
        eps = rdp + math.log(1 / delta) / (orders - 1)
    else:
        eps = rdp + np.log1p(-1 / orders) - (math.log(delta) + np.log(orders)) / (orders - 1)
    best = int(np.argmin(eps))
    return float(max(eps[best], 0.0)), float(orders[best])


# --------------------------------------------------------------- PLD and Gaussian DP


def gaussian_dp_epsilon(noise_multiplier, delta, steps) -> float:
    """Exact epsilon of ``steps`` Gaussian releases (no subsampling) with this noise multiplier.

    T releases, each adding N(0, (z C)^2) to a sum of sensitivity C, compose exactly into one
    Gaussian mechanism with sensitivity sqrt(T) C and the same noise (mu = sqrt(T) / z in
    Gaussian DP), whose epsilon at ``delta`` is exact (``dp.gaussian_epsilon``).
    """
    z = check_real(noise_multiplier, "noise_multiplier", low=0.0, low_inclusive=False)
    steps = check_integer(steps, "steps", minimum=1)
    return dp.gaussian_epsilon(z, math.sqrt(steps), check_delta(delta, required=True))


@functools.lru_cache(maxsize=4096)
def _pld_epsilon(noise_multiplier: float, delta: float, q: float, steps: int) -> float:
    import dp_accounting  # imported on first use: it is slower to import than the kit
    from dp_accounting.pld import pld_privacy_accountant

    accountant = pld_privacy_accountant.PLDAccountant(
        value_discretization_interval=PLD_DISCRETISATION
    )
    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(noise_multiplier))
    accountant.compose(event, steps)
    return float(accountant.get_epsilon(delta))


def epsilon_for(
    noise_multiplier, delta, sampling_rate, steps, accountant: str = DEFAULT_ACCOUNTANT
) -> float:
    """Epsilon of ``steps`` Poisson-subsampled Gaussian releases, certified by ``accountant``.

    Parameters
    ----------
    noise_multiplier : float > 0, the noise standard deviation divided by the sensitivity
        (the clip norm).
    delta : float in (0, 1).
    sampling_rate : float in (0, 1], the probability that each unit (patient, or hospital)
        takes part in a release, independently (Poisson sampling); 1 when every unit does.
    steps : int >= 1, the number of releases (DP-SGD steps, federated rounds).
    accountant : "pld" (default; exact Gaussian DP when sampling_rate is 1, dp-accounting's
        PLD otherwise) or "rdp" (the kit's Rényi DP accountant).

    Both are upper bounds on the true epsilon; PLD is the tighter.
    """
    z = check_real(noise_multiplier, "noise_multiplier", low=0.0, low_inclusive=False)
    delta = check_delta(delta, required=True)
    q = check_real(sampling_rate, "sampling_rate", low=0.0, high=1.0, low_inclusive=False)
    steps = check_integer(steps, "steps", minimum=1)
    accountant = check_accountant(accountant)
    if accountant == "rdp":
        return rdp_to_dp(DEFAULT_ORDERS, rdp_sampled_gaussian(q, z, steps), delta)[0]
    if q == 1.0:
        return gaussian_dp_epsilon(z, delta, steps)
    return _pld_epsilon(z, delta, q, steps)


@functools.lru_cache(maxsize=4096)
def _calibrate(epsilon: float, delta: float, q: float, steps: int, accountant: str) -> float:
    if accountant == "pld" and q == 1.0:
        # exact: the T-fold composition is one Gaussian with sensitivity sqrt(T)
        return dp.gaussian_sigma(math.sqrt(steps), epsilon, delta)

    def eps_of(z: float) -> float:
        return epsilon_for(z, delta, q, steps, accountant)

    low, high = 0.05, 1.0
    while eps_of(high) > epsilon:
        low, high = high, high * 2
        if high > 1e6:
            raise ValueError(
                f"no noise multiplier below 1e6 reaches epsilon={epsilon:g} at delta={delta:g} "
                f"over {steps} steps at sampling rate {q:g}"
            )
    while eps_of(low) <= epsilon and low > 1e-3:
        low /= 2
    while high / low > 1 + CALIBRATION_PRECISION:
        mid = math.sqrt(low * high)
        if eps_of(mid) > epsilon:
            low = mid
        else:
            high = mid
    return high


def noise_multiplier_for(
    epsilon, delta, sampling_rate, steps, accountant: str = DEFAULT_ACCOUNTANT
) -> float:
    """The smallest noise multiplier (to 0.1 %) that makes the releases (epsilon, delta)-DP.

    Same parameters as :func:`epsilon_for`. The result is verified: ``epsilon_for`` of it,
    under the same accountant, is at most ``epsilon``.
    """
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta, required=True)
    q = check_real(sampling_rate, "sampling_rate", low=0.0, high=1.0, low_inclusive=False)
    steps = check_integer(steps, "steps", minimum=1)
    accountant = check_accountant(accountant)
    z = _calibrate(epsilon, delta, q, steps, accountant)
    achieved = epsilon_for(z, delta, q, steps, accountant)
    for _ in range(8):  # an exact calibration can land a rounding error above the target
        if achieved <= epsilon:
            break
        z *= 1 + 1e-6
        achieved = epsilon_for(z, delta, q, steps, accountant)
    if not achieved <= epsilon:
        raise ValueError(
            f"calibration failed: noise multiplier {z} gives epsilon {achieved} > {epsilon} "
            f"({accountant})"
        )
    return z


def dpsgd_epsilon(
    n, batch_size, noise_multiplier, epochs, delta, accountant: str = DEFAULT_ACCOUNTANT
) -> float:
    """Epsilon of DP-SGD with Poisson sampling at rate batch_size / n for ceil(epochs n / batch_size) steps.

    With ``accountant="rdp"`` this is the computation of TensorFlow Privacy's
    ``compute_dp_sgd_privacy`` (https://github.com/tensorflow/privacy,
    tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy_lib.py).

    Parameters
    ----------
    n : int >= 1 training records.   batch_size : int in [1, n], the expected batch size.
    noise_multiplier : float > 0.    epochs : float > 0.   delta : float in (0, 1).
    accountant : "pld" (default) or "rdp".
    """
    n = check_integer(n, "n", minimum=1)
    batch_size = check_integer(batch_size, "batch_size", minimum=1, maximum=n)
    epochs = check_real(epochs, "epochs", low=0.0, low_inclusive=False)
    steps = int(math.ceil(epochs * n / batch_size))
    return epsilon_for(noise_multiplier, delta, batch_size / n, steps, accountant)


# ---------------------------------------------------------------------------- the ledger


class BudgetExceededError(RuntimeError):
    """A spend would take the total privacy loss past the budget; nothing was spent."""


@dataclass(frozen=True)
class Budget:
    """An (epsilon, delta) pair: what is spent or what remains."""

    epsilon: float
    delta: float


def _exact(value: float) -> Fraction:
    """A float as the decimal number it prints as (0.1 is exactly 1/10), as an exact fraction."""
    return Fraction(repr(float(value)))


@dataclass(frozen=True)
class _Totals:
    """Running exact totals of a ledger: sums, largest single spend, count."""

    epsilon: Fraction = Fraction(0)
    delta: Fraction = Fraction(0)
    largest_epsilon: float = 0.0
    largest_delta: float = 0.0
    count: int = 0

    def plus(self, epsilon: float, delta: float) -> _Totals:
        return _Totals(
            self.epsilon + _exact(epsilon),
            self.delta + _exact(delta),
            max(self.largest_epsilon, epsilon),
            max(self.largest_delta, delta),
            self.count + 1,
        )


#: What may certify a charge in the ledger: the mechanism's own (epsilon, delta), or an accountant.
CERTIFIERS = ("mechanism", "basic", "advanced", "rdp", "pld")


class PrivacyAccountant:
    """Keeps a ledger of privacy spends and refuses any spend that would exceed the budget.

    Parameters
    ----------
    epsilon_budget : float > 0, the total epsilon the data custodian allows.
    delta_budget : float in [0, 1), the total delta allowed (0 = pure DP only: then only
        spends with delta exactly 0 are accepted).
    composition : "basic" (epsilons and deltas add up) or "advanced" (the total epsilon is
        the smaller of the basic sum and the advanced bound of Dwork, Rothblum & Vadhan 2010
        applied with the largest epsilon and delta spent, which costs an extra
        ``delta_prime`` of delta). Caveat: that theorem assumes the number of releases and
        their epsilon are fixed before the first one; a ledger that decides as it goes is,
        strictly, a privacy filter (Rogers et al. 2016, see :func:`advanced_composition`),
        whose bound is somewhat larger. Use "advanced" for a planned series of releases.
    delta_prime : float in (0, 1), required with "advanced".

    ``spend(epsilon, delta, label, certified_by)`` checks first and raises
    ``BudgetExceededError`` before changing anything. Sums are exact (each amount counts as
    the decimal number it prints as), so no spend passes the budget by any tolerance, and a
    tiny spend after a nearly full budget still counts. The budget cannot be changed after
    construction, and spends from several threads are serialised by a lock.
    """

    def __init__(
        self,
        epsilon_budget,
        delta_budget=0.0,
        composition: str = "basic",
        delta_prime=None,
    ):
        epsilon_budget = check_real(epsilon_budget, "epsilon_budget", low=0.0, low_inclusive=False)
        delta_budget = check_real(
            delta_budget, "delta_budget", low=0.0, high=1.0, high_inclusive=False
        )
        check_choice(composition, "composition", ("basic", "advanced"))
        if composition == "advanced":
            if delta_prime is None:
                raise ValueError("composition='advanced' needs delta_prime in (0, 1)")
            delta_prime = check_real(
                delta_prime,
                "delta_prime",
                low=0.0,
                high=1.0,
                low_inclusive=False,
                high_inclusive=False,
            )
            if delta_prime > delta_budget:
                raise ValueError(
                    f"delta_prime must be <= delta_budget ({delta_budget}); got {delta_prime}"
                )
        elif delta_prime is not None:
            raise ValueError("delta_prime is only used with composition='advanced'")
        object.__setattr__(self, "_epsilon_budget", epsilon_budget)
        object.__setattr__(self, "_delta_budget", delta_budget)
        object.__setattr__(self, "_composition", composition)
        object.__setattr__(self, "_delta_prime", delta_prime)
        object.__setattr__(self, "_spends", [])
        object.__setattr__(self, "_totals", _Totals())
        object.__setattr__(self, "_lock", threading.Lock())

    def __setattr__(self, name, value):
        raise AttributeError(
            f"a PrivacyAccountant's budget and ledger cannot be changed after construction "
            f"(tried to set {name!r}); build a new accountant instead"
        )

    def __repr__(self) -> str:
        spent = self.spent
        return (
            f"PrivacyAccountant(epsilon_budget={self._epsilon_budget:g}, "
            f"delta_budget={self._delta_budget:g}, composition={self._composition!r}, "
            f"spent=({spent.epsilon:g}, {spent.delta:g}), spends={len(self._spends)})"
        )

    @property
    def epsilon_budget(self) -> float:
        return self._epsilon_budget

    @property
    def delta_budget(self) -> float:
        return self._delta_budget

    @property
    def composition(self) -> str:
        return self._composition

    @property
    def delta_prime(self) -> float | None:
        return self._delta_prime

    def _total_exact(self, spends) -> tuple[Fraction, Fraction]:
        """The exact total of ``spends`` under the composition rule (for the ledger's rows)."""
        totals = _Totals()
        for spend in spends:
            totals = totals.plus(spend[1], spend[2])
        return self._compose(totals)

    def _compose(self, totals: _Totals) -> tuple[Fraction, Fraction]:
        if totals.count == 0 or self._composition == "basic" or totals.largest_epsilon > 700:
            return totals.epsilon, totals.delta
        advanced_eps, _ = advanced_composition(
            totals.largest_epsilon, totals.largest_delta, totals.count, self._delta_prime
        )
        if _exact(advanced_eps) < totals.epsilon:
            return _exact(advanced_eps), totals.count * _exact(totals.largest_delta) + _exact(
                self._delta_prime
            )
        return totals.epsilon, totals.delta

    @property
    def spent(self) -> Budget:
        """The total privacy loss so far under the accountant's composition rule."""
        eps, delta = self._compose(self._totals)
        return Budget(float(eps), float(delta))

    @property
    def remaining(self) -> Budget:
        """Budget left (never negative)."""
        eps, delta = self._compose(self._totals)
        return Budget(
            float(max(_exact(self._epsilon_budget) - eps, 0)),
            float(max(_exact(self._delta_budget) - delta, 0)),
        )

    def _fits(self, totals: _Totals) -> bool:
        eps, delta = self._compose(totals)
        return eps <= _exact(self._epsilon_budget) and delta <= _exact(self._delta_budget)

    def can_spend(self, epsilon, delta=0.0) -> bool:
        """Whether ``spend(epsilon, delta)`` would succeed now."""
        epsilon, delta = check_epsilon(epsilon), check_delta(delta)
        with self._lock:
            return self._fits(self._totals.plus(epsilon, delta))

    def spend(self, epsilon, delta=0.0, label: str = "", certified_by: str = "mechanism") -> Budget:
        """Record a release costing (epsilon, delta); return what remains.

        ``certified_by`` says what established that cost: "mechanism" (the mechanism's own
        calibration, e.g. a Laplace release), or the accountant that composed it ("rdp",
        "pld", "basic", "advanced"). Raises BudgetExceededError (and records nothing) if the
        new total would pass the budget.
        """
        epsilon = check_epsilon(epsilon)
        delta = check_delta(delta)
        if not isinstance(label, str):
            raise TypeError(f"label must be a string; got {type(label).__name__}")
        certified_by = check_choice(certified_by, "certified_by", CERTIFIERS)
        with self._lock:
            after = self._totals.plus(epsilon, delta)
            if not self._fits(after):
                spent = self.spent
                raise BudgetExceededError(
                    f"spending epsilon={epsilon:g}, delta={delta:g} ({label or 'unlabelled'}) "
                    f"would exceed the budget (epsilon={self._epsilon_budget:g}, "
                    f"delta={self._delta_budget:g}); already spent epsilon={spent.epsilon:g}, "
                    f"delta={spent.delta:g}. Nothing was spent."
                )
            self._spends.append((label, epsilon, delta, certified_by))
            object.__setattr__(self, "_totals", after)
        return self.remaining

    @property
    def ledger(self) -> pd.DataFrame:
        """One row per spend: label, epsilon, delta, certified_by and the running totals after it."""
        rows = []
        totals = _Totals()
        for label, eps, delta, certified_by in self._spends:
            totals = totals.plus(eps, delta)
            total_eps, total_delta = self._compose(totals)
            rows.append(
                {
                    "label": label,
                    "epsilon": eps,
                    "delta": delta,
                    "certified_by": certified_by,
                    "total_epsilon": float(total_eps),
                    "total_delta": float(total_delta),
                }
            )
        return pd.DataFrame(
            rows,
            columns=["label", "epsilon", "delta", "certified_by", "total_epsilon", "total_delta"],
        )

    def __reduce__(self):
        raise TypeError("a PrivacyAccountant cannot be pickled: a copy would be a second ledger")

    def __copy__(self):
        raise TypeError("a PrivacyAccountant cannot be copied: a copy would be a second ledger")

    def __deepcopy__(self, memo):
        raise TypeError("a PrivacyAccountant cannot be copied: a copy would be a second ledger")
