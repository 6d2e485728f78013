"""Differentially private model training: DP-SGD with an RDP accountant, diffprivlib wrappers,
privacy-utility sweeps and the loss-threshold membership-inference attack.

Neighbouring datasets differ by adding or removing one patient (as in ``helpers.dp``).
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from diffprivlib import models as dpl_models
from diffprivlib.accountant import BudgetAccountant
from scipy import special
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from helpers import dp, federated
from helpers._progress import progress as progress_bar
from helpers._validation import RandomState, check_choice, check_integer, check_real, check_rng
from helpers.dp import check_delta, check_epsilon

#: RDP orders searched by default: the list TensorFlow Privacy's compute_dp_sgd_privacy uses.
DEFAULT_ORDERS = tuple(
    [1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 3.5, 4.0, 4.5] + list(range(5, 64)) + [128, 256, 512]
)

# ------------------------------------------------------------------ the RDP accountant


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


def _check_orders(orders) -> tuple:
    orders = tuple(float(a) for a in np.atleast_1d(orders))
    if not orders or any(not (a > 1 and math.isfinite(a)) for a in orders):
        raise ValueError("orders must be finite RDP orders alpha > 1")
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


def dpsgd_epsilon(
    n,
    batch_size,
    noise_multiplier,
    epochs,
    delta,
    orders=DEFAULT_ORDERS,
    conversion: str = "improved",
) -> float:
    """Epsilon of DP-SGD with Poisson sampling at rate batch_size / n for ceil(epochs n / batch_size) steps.

    The same computation as TensorFlow Privacy's ``compute_dp_sgd_privacy``
    (https://github.com/tensorflow/privacy, tensorflow_privacy/privacy/analysis/
    compute_dp_sgd_privacy_lib.py), with this module's RDP accountant.

    Parameters
    ----------
    n : int >= 1 training records.   batch_size : int in [1, n], the expected batch size.
    noise_multiplier : float > 0.    epochs : float > 0.   delta : float in (0, 1).
    """
    n = check_integer(n, "n", minimum=1)
    batch_size = check_integer(batch_size, "batch_size", minimum=1, maximum=n)
    epochs = check_real(epochs, "epochs", low=0.0, low_inclusive=False)
    q = batch_size / n
    steps = int(math.ceil(epochs * n / batch_size))
    rdp = rdp_sampled_gaussian(q, noise_multiplier, steps, orders)
    return rdp_to_dp(orders, rdp, delta, conversion)[0]


def noise_multiplier_for(epsilon, delta, q, steps, orders=DEFAULT_ORDERS) -> float:
    """The smallest noise multiplier (to 0.1 %) for which ``steps`` sampled Gaussian steps at rate q are (epsilon, delta)-DP."""
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta, required=True)
    q = check_real(q, "q", low=0.0, high=1.0, low_inclusive=False)
    steps = check_integer(steps, "steps", minimum=1)

    def eps_of(z):
        return rdp_to_dp(orders, rdp_sampled_gaussian(q, z, steps, orders), delta)[0]

    low, high = 0.05, 1.0
    while eps_of(high) > epsilon:
        low, high = high, high * 2
        if high > 1e6:
            raise ValueError("no noise multiplier below 1e6 reaches this epsilon")
    while high / low > 1.001:
        mid = math.sqrt(low * high)
        if eps_of(mid) > epsilon:
            low = mid
        else:
            high = mid
    return high


# ------------------------------------------------------------------ DP-SGD logistic regression


class DPSGDLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression trained with DP-SGD in numpy (binary labels 0/1).

    Each step: sample a batch (Poisson, rate q = batch_size / n; or the full data), compute
    per-example gradients of the logistic loss, clip each to L2 norm ``clip_norm``, sum,
    add N(0, (noise_multiplier * clip_norm)^2) noise, divide by the expected batch size and
    step. The noise multiplier is the smallest that makes the whole run (epsilon, delta)-DP
    under the RDP accountant of this module. The released model is the average of the
    iterates of the last half of training (post-processing, so free in privacy).

    Parameters
    ----------
    epsilon : float > 0.   delta : float in (0, 1) or None (then min(1e-5, 0.1 / n), well
        below 1/n: a delta near 1/n would allow leaking one whole record).
    clip_norm : float > 0, per-example gradient L2 bound. Choose it without looking at the
        private data (from public data or a rule of thumb), as notebook 03 explains.
    epochs : float > 0.   batch_size : int >= 1, the expected batch size (capped at n), or
        None for the full data every step.
    learning_rate : float > 0.   l2 : float >= 0, ridge penalty (data-independent).
    sampling : "poisson" (each record joins each batch independently with probability
        q = batch_size / n, which the accountant assumes) or "full" (full-batch gradient
        descent, q = 1). Fixed-size shuffled batches are not offered: the Poisson analysis
        does not cover them.

    The defaults (50 epochs, batch 32, learning rate 0.5, clip 1) were chosen by hand on the
    breast-cancer data scaled to [-0.5, 0.5]; tuning on private data itself costs privacy
    (N. Papernot and T. Steinke, "Hyperparameter Tuning with Renyi Differential Privacy",
    ICLR 2022, https://arxiv.org/abs/2110.03620). The dataset size n is treated as public
    (the gradient sum is divided by the expected batch size q n), as in Opacus and TF Privacy.
    rng : Generator, int seed or None.

    Attributes after fit: coef_, intercept_, epsilon_ (spent), delta_, noise_multiplier_,
    steps_, classes_.

    Reference: M. Abadi et al., "Deep Learning with Differential Privacy", CCS 2016,
    https://arxiv.org/abs/1607.00133; accounting: Mironov, Talwar & Zhang 2019,
    https://arxiv.org/abs/1908.10530.
    """

    def __init__(
        self,
        epsilon=1.0,
        delta=None,
        clip_norm=1.0,
        epochs=50,
        batch_size=32,
        learning_rate=0.5,
        l2=0.0,
        sampling="poisson",
        rng=None,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.clip_norm = clip_norm
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.l2 = l2
        self.sampling = sampling
        self.rng = rng

    def fit(self, X, y):
        X, y = _check_xy(X, y)
        n, d = X.shape
        epsilon = check_epsilon(self.epsilon)
        delta = min(1e-5, 0.1 / n) if self.delta is None else check_delta(self.delta, required=True)
        clip = check_real(self.clip_norm, "clip_norm", low=0.0, low_inclusive=False)
        epochs = check_real(self.epochs, "epochs", low=0.0, low_inclusive=False)
        lr = check_real(self.learning_rate, "learning_rate", low=0.0, low_inclusive=False)
        l2 = check_real(self.l2, "l2", low=0.0)
        check_choice(self.sampling, "sampling", ("poisson", "full"))
        rng = check_rng(self.rng)
        if self.sampling == "full" or self.batch_size is None:
            q, steps = 1.0, max(1, int(math.ceil(epochs)))
        else:
            batch = min(check_integer(self.batch_size, "batch_size", minimum=1), n)
            q, steps = batch / n, int(math.ceil(epochs * n / batch))
        z = noise_multiplier_for(epsilon, delta, q, steps)
        expected_batch = q * n
        w = np.zeros(d + 1)
        average, n_averaged = np.zeros(d + 1), 0
        for t in range(steps):
            rows = np.flatnonzero(rng.random(n) < q) if q < 1 else np.arange(n)
            clipped_sum = np.zeros(d + 1)
            if rows.size:  # a Poisson batch may be empty
                per_patient = federated.per_patient_gradients(w, X[rows], y[rows])
                clipped_sum = dp.clip_l2(per_patient, clip, axis=1).sum(axis=0)
            noisy = (clipped_sum + dp.gaussian_noise(d + 1, z * clip, rng)) / expected_batch
            w -= lr * (noisy + l2 * np.append(w[:-1], 0.0))
            if t >= steps // 2:
                average += w
                n_averaged += 1
        w = average / n_averaged
        self.coef_ = w[None, :-1]
        self.intercept_ = w[-1:]
        self.classes_ = np.array([0, 1])
        self.noise_multiplier_ = z
        self.steps_ = steps
        self.delta_ = delta
        self.epsilon_ = rdp_to_dp(DEFAULT_ORDERS, rdp_sampled_gaussian(q, z, steps), delta)[0]
        return self

    def decision_function(self, X):
        X = np.asarray(X, dtype=float)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        p = special.expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)


def _check_xy(X, y):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
        raise ValueError("X must be 2-D with one row per label in y")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold binary labels 0 and 1")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must hold only finite numbers")
    return X, y.astype(float)


def dp_logistic_regression(
    X,
    y,
    epsilon,
    delta=None,
    clip_norm=1.0,
    epochs=50,
    batch_size=32,
    learning_rate=0.5,
    l2=0.0,
    sampling="poisson",
    rng: RandomState = None,
) -> DPSGDLogisticRegression:
    """Fit a DP-SGD logistic regression (see ``DPSGDLogisticRegression``) and return it."""
    return DPSGDLogisticRegression(
        epsilon, delta, clip_norm, epochs, batch_size, learning_rate, l2, sampling, rng
    ).fit(X, y)


# ------------------------------------------------------------------ diffprivlib wrappers


class _QuietFit:
    """Silence two known harmless warnings of diffprivlib 0.6 fits (nothing else)."""

    def fit(self, X, y, sample_weight=None):
        with warnings.catch_warnings():
            # diffprivlib passes options to scipy's L-BFGS-B that scipy 1.16 deprecates
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*L-BFGS-B.*")
            # on a noisy (perturbed) objective lbfgs may stop at max_iter; the model is still DP
            warnings.filterwarnings("ignore", message=".*failed to converge.*")
            return super().fit(X, y, sample_weight)


class _DiffprivlibLogisticRegression(_QuietFit, dpl_models.LogisticRegression):
    pass


class _DiffprivlibGaussianNB(_QuietFit, dpl_models.GaussianNB):
    pass


def _seed_from(rng: RandomState) -> int:
    return int(check_rng(rng).integers(2**31 - 1))


def diffprivlib_logistic_regression(epsilon, data_norm, rng: RandomState = None, **kwargs):
    """diffprivlib's LogisticRegression (objective perturbation), with its pitfalls guarded.

    * ``data_norm`` is REQUIRED: diffprivlib otherwise computes it from the data (and only
      warns), which leaks. Take it from domain knowledge, e.g. sqrt(d) for d features
      scaled into [0, 1] with declared bounds. Rows longer than it are clipped by diffprivlib.
    * Each model gets its own BudgetAccountant; diffprivlib's default accountant is global
      and silently accumulates every fit in the process.
    * Randomness comes from ``rng`` like everywhere in the kit.

    Reference: N. Holohan et al., "Diffprivlib: The IBM Differential Privacy Library", 2019,
    https://arxiv.org/abs/1907.02444; K. Chaudhuri, C. Monteleoni and A. Sarwate,
    "Differentially Private Empirical Risk Minimization", JMLR 2011.
    """
    epsilon = check_epsilon(epsilon)
    if data_norm is None:
        raise ValueError(
            "data_norm must be declared from domain knowledge, not computed from the data"
        )
    data_norm = check_real(data_norm, "data_norm", low=0.0, low_inclusive=False)
    return _DiffprivlibLogisticRegression(
        epsilon=epsilon,
        data_norm=data_norm,
        random_state=_seed_from(rng),
        accountant=BudgetAccountant(),
        **kwargs,
    )


def diffprivlib_gaussian_nb(epsilon, lower, upper, rng: RandomState = None, **kwargs):
    """diffprivlib's GaussianNB with declared per-feature bounds (values outside are clipped).

    Pitfall: GaussianNB splits epsilon across every feature (a third each for means and
    variances), so with many features each gets very little; its noisy variances can
    collapse and accuracy can fall below chance at epsilon = 1 on 30 features (measured in
    notebook 03). Bounds are REQUIRED (diffprivlib otherwise reads them from the data).
    """
    epsilon = check_epsilon(epsilon)
    lower = np.atleast_1d(np.asarray(lower, dtype=float))
    upper = np.atleast_1d(np.asarray(upper, dtype=float))
    if (
        lower.shape != upper.shape
        or not np.all(np.isfinite(lower))
        or not np.all(np.isfinite(upper))
    ):
        raise ValueError("lower and upper must be finite and of the same shape")
    if not np.all(lower < upper):
        raise ValueError("bounds must satisfy lower < upper for every feature")
    return _DiffprivlibGaussianNB(
        epsilon=epsilon,
        bounds=(lower, upper),
        random_state=_seed_from(rng),
        accountant=BudgetAccountant(),
        **kwargs,
    )


# ------------------------------------------------------------------ privacy-utility sweeps


def privacy_utility_sweep(
    model_factory,
    epsilons,
    n_repeats,
    X,
    y,
    test_size=0.25,
    rng: RandomState = None,
    progress: bool = False,
    model_name: str = "model",
) -> pd.DataFrame:
    """Fit and score a private model at each epsilon, many times: a tidy DataFrame.

    Parameters
    ----------
    model_factory : callable (epsilon, rng) -> an unfitted estimator with fit and score
        (e.g. a Pipeline). epsilon None means non-private (include None in ``epsilons``).
    epsilons : iterable of epsilons (floats > 0, or None for a non-private baseline).
    n_repeats : int >= 1, repeats per epsilon. Repeat r uses the same train/test split for
        every epsilon (and for every model swept with the same rng seed), so models compare
        on equal terms; the model's own noise differs per repeat.
    X, y : the data.   test_size : float in (0, 1), the held-out share (stratified).
    rng : Generator, int seed or None.   progress : show a progress bar.
    model_name : written into the ``model`` column.

    Returns a DataFrame with columns model, epsilon, repeat, accuracy, fit_seconds.
    """
    if not callable(model_factory):
        raise TypeError("model_factory must be a callable (epsilon, rng) -> estimator")
    epsilons = [None if e is None else check_epsilon(e) for e in epsilons]
    n_repeats = check_integer(n_repeats, "n_repeats", minimum=1)
    test_size = check_real(
        test_size, "test_size", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    rng = check_rng(rng)
    split_seeds = rng.integers(2**31 - 1, size=n_repeats)
    model_seeds = rng.integers(2**31 - 1, size=(len(epsilons), n_repeats))
    rows = []
    jobs = [(i, r) for r in range(n_repeats) for i in range(len(epsilons))]
    for i, r in progress_bar(jobs, enabled=progress, desc=f"{model_name} sweep", total=len(jobs)):
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, stratify=y, random_state=int(split_seeds[r])
        )
        model = model_factory(epsilons[i], np.random.default_rng(int(model_seeds[i, r])))
        start = time.perf_counter()
        with warnings.catch_warnings():
            # lbfgs inside diffprivlib may stop at max_iter on noisy objectives; harmless here
            warnings.filterwarnings("ignore", message=".*failed to converge.*")
            model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "model": model_name,
                "epsilon": epsilons[i],
                "repeat": r,
                "accuracy": float(model.score(X_test, y_test)),
                "fit_seconds": seconds,
            }
        )
    return pd.DataFrame(rows, columns=["model", "epsilon", "repeat", "accuracy", "fit_seconds"])


def summarise_sweep(sweep: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, min and max accuracy per model and epsilon (non-private rows labelled 'none')."""
    table = sweep.assign(
        epsilon=sweep["epsilon"].astype(object).where(sweep["epsilon"].notna(), "none")
    )
    return table.groupby(["model", "epsilon"], sort=False)["accuracy"].agg(
        ["mean", "std", "min", "max", "count"]
    )


# ------------------------------------------------------------------ membership inference


@dataclass(frozen=True)
class MembershipResult:
    """The outcome of the loss-threshold membership-inference attack.

    auc: area under the ROC curve of -loss as a membership score (0.5 = no leak).
    advantage: TPR - FPR at Yeom et al.'s threshold (the mean training loss).
    best_advantage: max over thresholds of TPR - FPR (optimistic: picks the threshold in
    hindsight).
    """

    auc: float
    advantage: float
    best_advantage: float
    threshold: float
    member_losses: np.ndarray
    non_member_losses: np.ndarray


def per_example_loss(model, X, y) -> np.ndarray:
    """Cross-entropy loss of each example under ``model.predict_proba`` (natural log)."""
    probs = np.asarray(model.predict_proba(X), dtype=float)
    y = np.asarray(y).astype(int)
    classes = list(getattr(model, "classes_", range(probs.shape[1])))
    column = np.array([classes.index(label) for label in y])
    p = probs[np.arange(len(y)), column]
    return -np.log(np.clip(p, 1e-12, 1.0))


def membership_inference(model, members, non_members) -> MembershipResult:
    """The loss-threshold attack: guess "member" when a patient's loss is below a threshold.

    Parameters
    ----------
    model : fitted classifier with predict_proba.
    members : (X, y) of patients in the training data.
    non_members : (X, y) of patients from the same population not used in training.

    Reference: S. Yeom, I. Giacomelli, M. Fredrikson and S. Jha, "Privacy Risk in Machine
    Learning: Analyzing the Connection to Overfitting", IEEE CSF 2018,
    https://arxiv.org/abs/1709.01604. An epsilon-DP training algorithm bounds the
    advantage by e^epsilon - 1 (their Theorem 1), which is vacuous above epsilon = ln 2; the
    hypothesis-testing view of (epsilon, delta)-DP gives the tighter
    (e^epsilon - 1 + 2 delta) / (e^epsilon + 1) for any attack (P. Kairouz, S. Oh and
    P. Viswanath, "The Composition Theorem for Differential Privacy", ICML 2015,
    https://arxiv.org/abs/1311.0776).
    """
    (X_in, y_in), (X_out, y_out) = members, non_members
    loss_in = per_example_loss(model, X_in, y_in)
    loss_out = per_example_loss(model, X_out, y_out)
    if len(loss_in) == 0 or len(loss_out) == 0:
        raise ValueError("members and non_members must each hold at least one patient")
    labels = np.r_[np.ones(len(loss_in)), np.zeros(len(loss_out))]
    scores = -np.r_[loss_in, loss_out]
    auc = float(roc_auc_score(labels, scores))
    threshold = float(loss_in.mean())
    advantage = float((loss_in <= threshold).mean() - (loss_out <= threshold).mean())
    cuts = np.unique(np.r_[loss_in, loss_out])
    tpr = (loss_in[None, :] <= cuts[:, None]).mean(axis=1)
    fpr = (loss_out[None, :] <= cuts[:, None]).mean(axis=1)
    best = float(max(0.0, np.max(tpr - fpr)))
    return MembershipResult(auc, advantage, best, threshold, loss_in, loss_out)


# ------------------------------------------------------------------ DP federated learning


class ClippedHospital(federated.Hospital):
    """A hospital whose local update is one step on its SUM of clipped per-patient gradients.

    DP federated SGD at the record level: each patient's gradient is clipped to L2 norm
    ``clip_norm`` before it is summed, and the step is divided by ``total_patients``, a
    public constant (the study's declared size), not by the private count. Adding or
    removing one patient then moves the sum of all hospitals' changes by at most
    ``lr * clip_norm / total_patients``: the sensitivity :class:`DPAggregator` calibrates
    its noise to. Together they run full-batch DP-SGD across hospitals (Abadi et al.,
    "Deep Learning with Differential Privacy", CCS 2016, https://arxiv.org/abs/1607.00133;
    McMahan et al., "Learning Differentially Private Recurrent Language Models", ICLR
    2018, https://arxiv.org/abs/1710.06963).
    """

    def __init__(
        self,
        X,
        y,
        clip_norm: float,
        total_patients: int,
        name: str = "hospital",
        model: str = "logistic",
    ):
        super().__init__(X, y, name=name, model=model)
        self.clip_norm = check_real(clip_norm, "clip_norm", low=0.0, low_inclusive=False)
        self.total_patients = check_integer(
            total_patients, "total_patients", minimum=self.n_samples
        )

    def local_update(
        self,
        global_weights,
        epochs: int,
        lr: float,
        rng: RandomState = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, int]:
        """One step ``w - lr * sum_i clip(g_i) / total_patients``; returns (weights, count)."""
        if epochs != 1 or batch_size is not None:
            raise ValueError(
                "epochs must be 1 and batch_size None for clipped (DP) updates: the noise is "
                f"calibrated to one full-batch step per round; got epochs={epochs}, "
                f"batch_size={batch_size}"
            )
        lr = check_real(lr, "lr", low=0.0, low_inclusive=False)
        X, y = self._data()
        weights = np.asarray(global_weights, dtype=np.float64).reshape(-1)
        gradients = federated.per_patient_gradients(weights, X, y, self.model)
        clipped = dp.clip_l2(gradients, self.clip_norm, axis=1)
        return weights - lr * clipped.sum(axis=0) / self.total_patients, self.n_samples


class DPAggregator(federated.Aggregator):
    """Differential privacy for FedAvg, wrapped around any aggregator (plain or secure).

    Hospitals must be :class:`ClippedHospital` objects, run with ``local_epochs=1``. Each
    round a hospital's message is its change to the global weights, ``d_i = w_i - w``;
    the sum over hospitals has sensitivity ``lr * clip_norm / total_patients``. The noise,
    Gaussian with ``noise_multiplier`` times that sensitivity, goes in one of two places:

    * ``mode="central"``: the party that decodes (the server, or with secure aggregation
      the key holder) adds ONE draw to the sum. That party must be trusted to add it.
    * ``mode="local"``: every hospital adds the full noise to its own ``d_i`` before it
      leaves, so its message alone is DP and nobody need be trusted; the sum carries
      ``n_hospitals`` times the noise variance.

    The noise multiplier is the smallest that makes ``rounds`` full-batch rounds
    (epsilon, delta)-DP under this module's RDP accountant (the same accounting as
    ``DPSGDLogisticRegression(sampling="full")``). The whole run's (epsilon, delta) is
    charged to ``accountant`` when the aggregator is built, before any data is touched; a
    budget that cannot cover it raises ``dp.BudgetExceededError`` and nothing runs. A round
    beyond ``rounds`` is refused.

    Parameters
    ----------
    inner : Aggregator carrying the messages (``federated.WeightedMean`` or
        ``encryption.SecureAggregator``); it receives each ``d_i`` with a count of 1.
    epsilon, delta : the guarantee for the whole run (per patient, add/remove).
    rounds : int >= 1.   clip_norm, lr : as the hospitals use them.
    total_patients : int >= 1, the hospitals' public normaliser.
    n_hospitals : int >= 1, hospitals per round (public).
    initial_weights : the loop's starting weights (the aggregator tracks the global model).
    accountant : dp.PrivacyAccountant, or None for a fresh one holding exactly this budget.
    mode : "central" or "local".
    """

    def __init__(
        self,
        inner,
        epsilon,
        delta,
        rounds,
        clip_norm,
        lr,
        total_patients,
        n_hospitals,
        initial_weights,
        accountant=None,
        mode: str = "central",
    ):
        if not isinstance(inner, federated.Aggregator):
            raise TypeError(f"inner must be an Aggregator; got {type(inner).__name__}")
        self.inner = inner
        self.mode = check_choice(mode, "mode", ("central", "local"))
        self.epsilon = check_epsilon(epsilon)
        self.delta = check_delta(delta, required=True)
        self.rounds = check_integer(rounds, "rounds", minimum=1)
        self.clip_norm = check_real(clip_norm, "clip_norm", low=0.0, low_inclusive=False)
        self.lr = check_real(lr, "lr", low=0.0, low_inclusive=False)
        self.total_patients = check_integer(total_patients, "total_patients", minimum=1)
        self.n_hospitals = check_integer(n_hospitals, "n_hospitals", minimum=1)
        self.noise_multiplier = noise_multiplier_for(self.epsilon, self.delta, 1.0, self.rounds)
        achieved, _ = rdp_to_dp(
            DEFAULT_ORDERS,
            rdp_sampled_gaussian(1.0, self.noise_multiplier, self.rounds),
            self.delta,
        )
        if achieved > self.epsilon * (1 + 1e-9):  # what the accountant records must hold
            raise ValueError(
                f"noise multiplier {self.noise_multiplier} gives epsilon {achieved} > {self.epsilon}"
            )
        self.noise_std = self.noise_multiplier * self.lr * self.clip_norm / self.total_patients
        self.accountant = (
            accountant if accountant is not None else dp.PrivacyAccountant(self.epsilon, self.delta)
        )
        self.accountant.spend(
            self.epsilon,
            self.delta,
            label=f"{self.mode} DP FedAvg: {self.rounds} rounds, noise multiplier {self.noise_multiplier:.3g}",
        )
        self._global = np.asarray(initial_weights, dtype=np.float64).reshape(-1).copy()
        self.rounds_done = 0
        self.name = f"{self.mode} DP over {inner.name}"
        self.trusted_parties = (
            f"the decoder adds the noise; {inner.trusted_parties}"
            if self.mode == "central"
            else f"nobody for the DP guarantee (each hospital noises its own update); {inner.trusted_parties}"
        )

    def encode(self, weights, n_samples, rng=None):
        """AT THE HOSPITAL: its change to the global weights (plus its own noise, local mode)."""
        change = np.asarray(weights, dtype=np.float64).reshape(-1) - self._global
        if self.mode == "local":
            change = change + dp.gaussian_noise(change.shape, self.noise_std, rng)
        return self.inner.encode(change, 1, rng)

    def combine(self, messages):
        """AT THE SERVER: whatever the inner aggregator does (sums, or ciphertext sums)."""
        return self.inner.combine(messages)

    def decode(self, combined, rng=None):
        """AT THE DECODER: the summed change, plus one draw of noise in central mode."""
        if self.rounds_done >= self.rounds:
            raise dp.BudgetExceededError(
                f"this aggregator's budget covers {self.rounds} rounds; round {self.rounds_done + 1} "
                "would spend more than the accountant recorded"
            )
        total = self.inner.decode(combined, rng) * self.n_hospitals  # inner returns the mean
        if self.mode == "central":
            total = total + dp.gaussian_noise(total.shape, self.noise_std, rng)
        self._global = self._global + total
        self.rounds_done += 1
        return self._global.copy()

    def message_bytes(self, message):
        return self.inner.message_bytes(message)


def dp_federated_averaging(
    hospital_data,
    epsilon,
    delta,
    rounds: int,
    lr: float,
    clip_norm: float,
    inner: federated.Aggregator | None = None,
    mode: str = "central",
    total_patients: int | None = None,
    accountant=None,
    rng: RandomState = None,
    test_data=None,
    progress: bool = False,
    names=None,
    model: str = "logistic",
) -> tuple[federated.FederatedResult, DPAggregator]:
    """DP federated averaging in one call: clipped hospitals, a DPAggregator, the FedAvg loop.

    Parameters
    ----------
    hospital_data : list of (X_h, y_h), one per hospital (features scaled by public bounds).
    epsilon, delta, rounds, lr, clip_norm, mode, accountant : as for :class:`DPAggregator`.
    inner : the aggregator carrying the messages; None is ``federated.WeightedMean()``. A
        ``encryption.SecureAggregator`` needs ``weight_bound >= lr * clip_norm`` (the
        largest change one clipped hospital can send in a round).
    total_patients : the public normaliser; None uses the number of patients given.
    rng, test_data, progress : passed to ``federated.federated_averaging``.
    names : hospital names (default H1, H2, ...); model : "logistic" or "linear".

    Returns ``(result, aggregator)``: the FedAvg result and the aggregator, whose
    ``accountant`` holds the ledger (charged before the first round).
    """
    hospital_data = list(hospital_data)
    names = [f"H{i + 1}" for i in range(len(hospital_data))] if names is None else list(names)
    if len(names) != len(hospital_data):
        raise ValueError(f"names must give one name per hospital ({len(hospital_data)})")
    if total_patients is None:
        total_patients = sum(len(y) for _, y in hospital_data)
    hospitals = [
        ClippedHospital(X, y, clip_norm, total_patients, name=name, model=model)
        for (X, y), name in zip(hospital_data, names, strict=True)
    ]
    aggregator = DPAggregator(
        federated.WeightedMean() if inner is None else inner,
        epsilon,
        delta,
        rounds,
        clip_norm,
        lr,
        total_patients,
        len(hospitals),
        np.zeros(hospitals[0].n_features + 1),
        accountant=accountant,
        mode=mode,
    )
    result = federated.federated_averaging(
        hospitals,
        rounds,
        1,
        lr,
        rng=rng,
        aggregator=aggregator,
        test_data=test_data,
        progress=progress,
    )
    return result, aggregator
