"""Differentially private model training: DP-SGD, diffprivlib wrappers, privacy-utility sweeps,
membership-inference attacks (loss threshold, likelihood ratio), and DP federated averaging.

Neighbouring datasets differ by adding or removing one patient (as in ``helpers.dp``), except
where a DP federated plan protects a whole hospital (``unit="hospital"``). Every epsilon here
is certified by ``helpers.accounting`` (PLD by default, RDP on request).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from diffprivlib import models as dpl_models
from diffprivlib.accountant import BudgetAccountant
from scipy import special, stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from helpers import accounting, dp, federated
from helpers._validation import RandomState, check_choice, check_integer, check_real, check_rng
from helpers.dp import check_delta, check_epsilon
from helpers.progress import progress as progress_bar

# ------------------------------------------------------------------ DP-SGD logistic regression


class DPSGDLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression trained with DP-SGD in numpy (binary labels 0/1).

    Each step: sample a batch (Poisson, rate q = batch_size / n; or the full data), compute
    per-example gradients of the logistic loss, clip each to L2 norm ``clip_norm``, sum,
    add N(0, (noise_multiplier * clip_norm)^2) noise, divide by the expected batch size and
    step. The noise multiplier is the smallest that makes the whole run (epsilon, delta)-DP
    under ``accountant`` (``helpers.accounting``). The released model is the average of the
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
    accountant : "pld" (default: dp-accounting's privacy loss distributions, the tightest) or
        "rdp" (the kit's Rényi DP accountant, as TensorFlow Privacy computes it).

    The defaults (50 epochs, batch 32, learning rate 0.5, clip 1) were chosen by hand on the
    breast-cancer data scaled to [-0.5, 0.5]; tuning on private data itself costs privacy
    (N. Papernot and T. Steinke, "Hyperparameter Tuning with Renyi Differential Privacy",
    ICLR 2022, https://arxiv.org/abs/2110.03620). The dataset size n is treated as public
    (the gradient sum is divided by the expected batch size q n), as in Opacus and TF Privacy.
    rng : Generator, int seed or None.

    Attributes after fit: coef_, intercept_, epsilon_ (spent, as certified by accountant_),
    delta_, noise_multiplier_, steps_, accountant_, classes_.

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
        accountant=accounting.DEFAULT_ACCOUNTANT,
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
        self.accountant = accountant
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
        accountant = accounting.check_accountant(self.accountant)
        rng = check_rng(self.rng)
        if self.sampling == "full" or self.batch_size is None:
            q, steps = 1.0, max(1, int(math.ceil(epochs)))
        else:
            batch = min(check_integer(self.batch_size, "batch_size", minimum=1), n)
            q, steps = batch / n, int(math.ceil(epochs * n / batch))
        z = accounting.noise_multiplier_for(epsilon, delta, q, steps, accountant)
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
        self.epsilon_ = accounting.epsilon_for(z, delta, q, steps, accountant)
        self.accountant_ = accountant
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
    X = federated._as_features(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"y must have one label per row of X ({len(X)}); got {len(y)}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold binary labels 0 and 1")
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
    accountant: str = accounting.DEFAULT_ACCOUNTANT,
    rng: RandomState = None,
) -> DPSGDLogisticRegression:
    """Fit a DP-SGD logistic regression (see ``DPSGDLogisticRegression``) and return it."""
    return DPSGDLogisticRegression(
        epsilon, delta, clip_norm, epochs, batch_size, learning_rate, l2, sampling, accountant, rng
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


def lira_scores(confidences, inside) -> np.ndarray:
    """Membership scores of the likelihood-ratio attack (LiRA), each model attacked by the others.

    The attacker trains many *shadow* models, each on a random half of the candidate
    patients, so every patient is in the training data of some and out of others. For one
    patient, the model's confidence in their true label is roughly Gaussian across models,
    with a higher mean when they were trained on: fit one Gaussian to the "in" models and one
    to the "out" models, and score a target model by the log likelihood ratio of its
    confidence. Calibrating per patient is what finds members at a low false-positive rate:
    an outlier the model always fits poorly still fits *less* poorly when it was trained on.

    Parameters
    ----------
    confidences : array (models, patients), each model's logit-scaled confidence in each
        patient's true label, log(p / (1 - p)) with p the predicted probability of that label
        (for logistic regression: the decision function, negated for label 0).
    inside : bool array of the same shape: whether each patient was in each model's training
        data. Every patient must be in at least 3 models and out of at least 3.

    Returns an array of the same shape: for model m and patient i,
    log N(c_mi; mu_in, s_in^2) - log N(c_mi; mu_out, s_out^2), where (mu, s) are the mean and
    standard deviation (ddof 1) of patient i's confidences under the OTHER models that did
    ("in") and did not ("out") train on them. Leave-one-model-out: every model is in turn the
    target and the rest are the attacker's shadow models. Higher means more likely a member;
    the true-positive rate at a low false-positive rate (``attacks.membership_power``) is how
    the field reports it.

    Reference: N. Carlini, S. Chien, M. Nasr, S. Song, A. Terzis and F. Tramer, "Membership
    Inference Attacks From First Principles", IEEE S&P 2022, https://arxiv.org/abs/2112.03570
    (the online attack, Algorithm 1, with per-example variances).
    """
    confidences = np.asarray(confidences, dtype=float)
    inside = np.asarray(inside)
    if confidences.ndim != 2 or confidences.shape != inside.shape:
        raise ValueError(
            "confidences and inside must be 2-D arrays of the same shape (models, patients); "
            f"got {confidences.shape} and {inside.shape}"
        )
    if inside.dtype != bool:
        raise TypeError(f"inside must be a boolean array; got dtype {inside.dtype}")
    if not np.all(np.isfinite(confidences)):
        raise ValueError("confidences must hold only finite numbers")
    n_in = inside.sum(axis=0)
    n_out = len(inside) - n_in
    if n_in.min() < 3 or n_out.min() < 3:
        raise ValueError(
            "every patient must be in at least 3 models and out of at least 3 (so each target "
            f"leaves 2 of each to fit a Gaussian); the least covered is in {n_in.min()} and out "
            f"of {n_out.min()}: train more shadow models"
        )
    centred = confidences - confidences.mean(axis=0)  # keeps the moments below accurate
    fits = []
    for member in (inside, ~inside):
        weight = member.astype(float)
        total, squares, count = (
            (weight * centred).sum(axis=0),
            (weight * centred**2).sum(axis=0),
            weight.sum(axis=0),
        )
        # leave the target model out of its own Gaussian
        count_m = count - weight
        mean_m = (total - weight * centred) / count_m
        variance_m = ((squares - weight * centred**2) - count_m * mean_m**2) / (count_m - 1)
        fits.append((mean_m, np.sqrt(np.maximum(variance_m, 1e-12))))
    (mean_in, sd_in), (mean_out, sd_out) = fits
    return stats.norm.logpdf(centred, mean_in, sd_in) - stats.norm.logpdf(centred, mean_out, sd_out)


# ------------------------------------------------------------------ DP federated learning

UNITS = ("patient", "hospital")
NOISE_PLACEMENTS = ("central", "silo")


@dataclass(frozen=True)
class DPFederatedPlan:
    """Every number that determines a DP federated run's guarantee, stated once.

    The plan is the one source of truth: :meth:`clipped_hospitals` builds the hospitals from
    it, :class:`DPAggregator` calibrates and charges the noise from it, and before any record
    is touched the aggregator checks that the run the loop is about to execute is this plan
    (same hospitals, all of them clipping as the plan says, same learning rate, rounds and
    local epochs) and raises ValueError naming both values otherwise.

    Parameters
    ----------
    epsilon, delta : the guarantee for the whole run (epsilon > 0, delta in (0, 1)).
    rounds : int >= 1, federated rounds (each one release of the global model).
    clip_norm : float > 0, the L2 bound C on one unit's contribution: each patient's gradient
        (``unit="patient"``) or each hospital's whole update (``unit="hospital"``).
    lr : float > 0, the hospitals' learning rate.
    hospitals : the registered hospitals' names (public: who is in the study).
    total_patients : int >= 1, the declared study size N (public); required for
        ``unit="patient"``, where it normalises every step.
    unit : whom the guarantee protects. "patient" (record level): any one patient, added to
        or removed from any hospital, changes the released models by at most what the noise
        hides; each round is one full-batch step on the sum of clipped per-patient gradients
        (DP-SGD across hospitals; Abadi et al. 2016). "hospital" (client level): any one
        hospital's entire data (McMahan et al., ICLR 2018, DP-FedAvg): each hospital trains
        ``local_epochs`` locally and its whole update is clipped to ``clip_norm``. A
        hospital-level guarantee covers every patient in it, at the cost of more noise per
        patient's worth of signal.
    noise : where the Gaussian noise is added. "central": the party that decodes the sum (the
        server, or with secure aggregation the key holder) adds one draw; it must be trusted
        to do so and sees the exact sum first. "silo": every hospital adds the full noise to
        its own update before it leaves, so each message alone is DP for that hospital's
        patients and nobody else need be trusted (silo-level DP: local DP with the hospital,
        not the patient, as the party that randomises; Lowy and Razaviyayn, ICLR 2023,
        https://arxiv.org/abs/2106.09779). The sum then carries one draw per hospital.
    sampling_rate : float in (0, 1], client sampling: each round every hospital is asked to
        take part independently with this probability (Poisson sampling, by the server).
        At the hospital level this amplifies privacy (the unit sampled is the unit
        protected). At the patient level it does not, and the kit's accounting gives it no
        credit: a patient's inclusion is tied to its whole hospital's, which is not the
        independent per-record sampling the amplification theorem assumes.
    local_epochs : int >= 1, local epochs per round (must be 1 at the patient level: one
        clipped full-batch step).
    accountant : "pld" (default) or "rdp" (see ``helpers.accounting``).

    Derived (read-only): ``noise_multiplier`` (the smallest that meets (epsilon, delta) under
    the accountant), ``certified_epsilon`` (what the accountant certifies for it, <= epsilon),
    ``normaliser``, ``sensitivity`` (of the summed update to one unit), ``noise_std``.
    """

    epsilon: float
    delta: float
    rounds: int
    clip_norm: float
    lr: float
    hospitals: tuple
    total_patients: int | None = None
    unit: str = "patient"
    noise: str = "central"
    sampling_rate: float = 1.0
    local_epochs: int = 1
    accountant: str = accounting.DEFAULT_ACCOUNTANT

    def __post_init__(self):
        fixed = {
            "epsilon": check_epsilon(self.epsilon),
            "delta": check_delta(self.delta, required=True),
            "rounds": check_integer(self.rounds, "rounds", minimum=1),
            "clip_norm": check_real(self.clip_norm, "clip_norm", low=0.0, low_inclusive=False),
            "lr": check_real(self.lr, "lr", low=0.0, low_inclusive=False),
            "unit": check_choice(self.unit, "unit", UNITS),
            "noise": check_choice(self.noise, "noise", NOISE_PLACEMENTS),
            "sampling_rate": check_real(
                self.sampling_rate, "sampling_rate", low=0.0, high=1.0, low_inclusive=False
            ),
            "local_epochs": check_integer(self.local_epochs, "local_epochs", minimum=1),
            "accountant": accounting.check_accountant(self.accountant),
            "hospitals": _check_names(self.hospitals),
        }
        if fixed["unit"] == "patient":
            if self.total_patients is None:
                raise ValueError(
                    "total_patients (the declared study size) is required for unit='patient'"
                )
            fixed["total_patients"] = check_integer(
                self.total_patients, "total_patients", minimum=1
            )
            if fixed["local_epochs"] != 1:
                raise ValueError(
                    "local_epochs must be 1 for unit='patient' (one clipped full-batch step per "
                    f"round is what the noise is calibrated to); got {fixed['local_epochs']}"
                )
        elif self.total_patients is not None:
            fixed["total_patients"] = check_integer(
                self.total_patients, "total_patients", minimum=1
            )
        for name, value in fixed.items():
            object.__setattr__(self, name, value)
        z = accounting.noise_multiplier_for(
            self.epsilon, self.delta, self.accounting_sampling_rate, self.rounds, self.accountant
        )
        certified = accounting.epsilon_for(
            z, self.delta, self.accounting_sampling_rate, self.rounds, self.accountant
        )
        object.__setattr__(self, "noise_multiplier", z)
        object.__setattr__(self, "certified_epsilon", certified)

    @property
    def accounting_sampling_rate(self) -> float:
        """The sampling rate the accountant may use: the client rate for hospitals, 1 for patients."""
        return self.sampling_rate if self.unit == "hospital" else 1.0

    @property
    def normaliser(self) -> float:
        """What each round's summed update is divided by: the expected number of units taking part."""
        units = self.total_patients if self.unit == "patient" else len(self.hospitals)
        return self.sampling_rate * units

    @property
    def sensitivity(self) -> float:
        """L2 sensitivity of one round's summed update to adding or removing one unit."""
        step = self.lr if self.unit == "patient" else 1.0
        return step * self.clip_norm / self.normaliser

    @property
    def noise_std(self) -> float:
        """Standard deviation of the noise on the summed update (central), or on each update (silo)."""
        return self.noise_multiplier * self.sensitivity

    def max_update_norm(self, n_samples: int) -> float:
        """The largest L2 norm one hospital's clipped, normalised update can have."""
        if self.unit == "patient":
            return self.lr * self.clip_norm * n_samples / self.normaliser
        return self.sensitivity

    def clipped_hospitals(self, hospital_data, model: str = "logistic") -> list[ClippedHospital]:
        """The registered hospitals, in plan order, from one ``(X_h, y_h)`` part each."""
        hospital_data = list(hospital_data)
        if len(hospital_data) != len(self.hospitals):
            raise ValueError(
                f"hospital_data must give one (X, y) part per registered hospital "
                f"({len(self.hospitals)}: {list(self.hospitals)}); got {len(hospital_data)}"
            )
        return [
            ClippedHospital(X, y, self, name=name, model=model)
            for (X, y), name in zip(hospital_data, self.hospitals, strict=True)
        ]

    def check_run(self, run: federated.RunSettings) -> None:
        """Raise ValueError, naming both values, unless ``run`` is exactly this plan."""
        for h in run.hospitals:
            if not isinstance(h, ClippedHospital) or h.plan != self:
                kind = (
                    type(h).__name__
                    if not isinstance(h, ClippedHospital)
                    else "ClippedHospital of another plan"
                )
                raise ValueError(
                    f"hospital {h.name!r} is a {kind}: its update is not clipped and normalised as "
                    "this plan's noise assumes; build the hospitals with plan.clipped_hospitals(...)"
                )
        names = [h.name for h in run.hospitals]
        if sorted(names) != sorted(self.hospitals):
            missing = sorted(set(self.hospitals) - set(names))
            extra = sorted(set(names) - set(self.hospitals))
            raise ValueError(
                f"hospitals: the plan registers {list(self.hospitals)} but the run has {names} "
                f"(missing {missing}, not registered {extra})"
            )
        for name, planned, running in (
            ("rounds", self.rounds, run.rounds),
            ("local_epochs", self.local_epochs, run.local_epochs),
            ("lr", self.lr, run.lr),
            ("batch_size", None, run.batch_size),
        ):
            if planned != running:
                raise ValueError(f"{name}: the plan states {planned} but the run has {running}")
        if self.unit == "patient":
            patients = sum(h.n_samples for h in run.hospitals)
            if patients != self.total_patients:
                raise ValueError(
                    f"total_patients: the plan states {self.total_patients} but the hospitals "
                    f"hold {patients}"
                )

    def summary(self) -> pd.Series:
        """The plan's stated and derived numbers, for display."""
        return pd.Series(
            {
                "guarantee": f"({self.epsilon:g}, {self.delta:g})-DP per {self.unit}",
                "certified epsilon": self.certified_epsilon,
                "accountant": self.accountant,
                "rounds": self.rounds,
                "hospitals": len(self.hospitals),
                "sampling rate": self.sampling_rate,
                "clip norm": self.clip_norm,
                "learning rate": self.lr,
                "noise": self.noise,
                "noise multiplier": self.noise_multiplier,
                "noise std": self.noise_std,
            },
            dtype=object,
        )


def _check_names(names) -> tuple:
    if isinstance(names, str):
        raise TypeError("hospitals must be a list of hospital names; got a single string")
    names = tuple(names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(
            f"hospitals must be a non-empty list of non-empty names; got {list(names)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"hospital names must be unique; got {list(names)}")
    return names


class ClippedHospital(federated.Hospital):
    """A hospital whose update is clipped and normalised as its :class:`DPFederatedPlan` says.

    ``unit="patient"``: one step ``w - lr * sum_i clip(g_i) / normaliser`` on the sum of its
    patients' clipped gradients (each to L2 norm ``clip_norm``), divided by the public
    normaliser (the declared study size), not by its private count. ``unit="hospital"``:
    ``local_epochs`` of full-batch gradient descent, then the whole change clipped to
    ``clip_norm`` and divided by the normaliser (the expected number of hospitals per round).
    Either way one unit moves the sum of all hospitals' changes by at most
    ``plan.sensitivity``, the quantity :class:`DPAggregator` calibrates its noise to
    (Abadi et al., CCS 2016, https://arxiv.org/abs/1607.00133; McMahan et al., ICLR 2018,
    https://arxiv.org/abs/1710.06963).
    """

    def __init__(self, X, y, plan: DPFederatedPlan, name: str, model: str = "logistic"):
        if not isinstance(plan, DPFederatedPlan):
            raise TypeError(f"plan must be a DPFederatedPlan; got {type(plan).__name__}")
        if name not in plan.hospitals:
            raise ValueError(
                f"name {name!r} is not registered in the plan; its hospitals are {list(plan.hospitals)}"
            )
        super().__init__(X, y, name=name, model=model)
        self.plan = plan

    def local_update(
        self,
        global_weights,
        epochs: int,
        lr: float,
        rng: RandomState = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, int]:
        """The clipped, normalised update of the plan; returns (new weights, patient count)."""
        plan = self.plan
        for name, planned, given in (
            ("epochs", plan.local_epochs, epochs),
            ("lr", plan.lr, lr),
            ("batch_size", None, batch_size),
        ):
            if planned != given:
                raise ValueError(
                    f"{name}: the plan states {planned} but the update was asked for {given}"
                )
        X, y = self._data()  # validated when the hospital was built
        weights = federated._as_weights(global_weights, self.n_features, "global_weights")
        if plan.unit == "patient":
            gradients = federated._per_patient_gradients(weights, X, y, self.model)
            clipped = dp.clip_l2(gradients, plan.clip_norm, axis=1)
            return weights - plan.lr * clipped.sum(axis=0) / plan.normaliser, self.n_samples
        trained = federated.gradient_descent(weights, X, y, plan.local_epochs, plan.lr, self.model)
        change = dp.clip_l2(trained - weights, plan.clip_norm)
        return weights + change / plan.normaliser, self.n_samples


class DPAggregator(federated.Aggregator):
    """Differential privacy for FedAvg, wrapped around any aggregator (plain or secure).

    Built from a :class:`DPFederatedPlan`, which fixes everything the guarantee depends on.
    When built, it charges the whole run to ``accountant`` (the epsilon the plan's
    accountant certifies, and which accountant that was), before any data are touched: a
    budget that cannot cover it raises ``accounting.BudgetExceededError`` and nothing runs.
    Then, in the loop:

    * ``start`` refuses a run that is not the plan (another learning rate, other hospitals or
      hospitals that do not clip, another number of rounds or local epochs, another study
      size), naming both values; an aggregator runs once.
    * ``select`` asks each hospital with probability ``plan.sampling_rate`` (client sampling).
    * ``encode`` (at the hospital) sends the change to the global weights, refusing one that is
      larger than the plan allows (an unclipped update), and in ``noise="silo"`` adds that
      hospital's own noise draw.
    * ``combine`` (at the server) counts the messages that arrived and lets ``inner`` combine
      them.
    * ``decode`` (at the decoder) takes the exact SUM of the changes that arrived (a hospital
      that dropped out contributes nothing: nothing is rescaled), adds one noise draw in
      ``noise="central"``, and refuses a round beyond ``plan.rounds``.

    Parameters
    ----------
    plan : DPFederatedPlan.
    inner : Aggregator carrying the messages (``federated.WeightedMean()`` when None, or
        ``encryption.SecureAggregator``); it receives each change with a count of 1.
    accountant : accounting.PrivacyAccountant to charge, or None for a fresh one holding
        exactly the plan's budget.
    """

    def __init__(self, plan: DPFederatedPlan, inner=None, accountant=None):
        if not isinstance(plan, DPFederatedPlan):
            raise TypeError(f"plan must be a DPFederatedPlan; got {type(plan).__name__}")
        inner = federated.WeightedMean() if inner is None else inner
        if not isinstance(inner, federated.Aggregator) or isinstance(inner, DPAggregator):
            raise TypeError(
                f"inner must be a plain or secure Aggregator; got {type(inner).__name__}"
            )
        if accountant is None:
            accountant = accounting.PrivacyAccountant(plan.epsilon, plan.delta)
        elif not isinstance(accountant, accounting.PrivacyAccountant):
            raise TypeError(
                f"accountant must be a PrivacyAccountant; got {type(accountant).__name__}"
            )
        self.plan = plan
        self.inner = inner
        self.accountant = accountant
        self.accountant.spend(
            plan.certified_epsilon,
            plan.delta,
            label=(
                f"DP FedAvg ({plan.noise} noise, per {plan.unit}): {plan.rounds} rounds, "
                f"{len(plan.hospitals)} hospitals, sampling rate {plan.sampling_rate:g}, "
                f"noise multiplier {plan.noise_multiplier:.4g}"
            ),
            certified_by=plan.accountant,
        )
        self._global = None
        self._reported = None
        self.rounds_done = 0
        self.name = f"{plan.noise} DP over {inner.name}"
        self.trusted_parties = (
            f"the decoder adds the noise and sees the exact sum; {inner.trusted_parties}"
            if plan.noise == "central"
            else f"nobody for the DP guarantee (each hospital noises its own update); {inner.trusted_parties}"
        )

    def start(self, run: federated.RunSettings) -> None:
        if self._global is not None:
            raise ValueError(
                "this DPAggregator has already run: its charge covers one run of the plan; "
                "build a new one (and pay for it) for another run"
            )
        self.plan.check_run(run)
        self.inner.start(run)
        self._global = np.asarray(run.initial_weights, dtype=np.float64).reshape(-1).copy()

    def select(self, round_number, hospitals, rng):
        if self.plan.sampling_rate == 1.0:
            asked = list(hospitals)
        else:
            rng = check_rng(rng)
            asked = [h for h in hospitals if rng.random() < self.plan.sampling_rate]
        # the inner aggregator sees who is asked (pairwise masking sets up its keys here)
        return self.inner.select(round_number, asked, rng) if asked else asked

    def _require_started(self):
        if self._global is None:
            raise RuntimeError(
                "the DPAggregator has not seen the run yet: use it through "
                "federated.federated_averaging (which calls start) or dp_federated_averaging"
            )

    def encode(self, weights, n_samples, rng=None):
        """AT THE HOSPITAL: its change to the global weights (plus its own noise, silo mode)."""
        return self.inner.encode(self._change(weights, n_samples, rng), 1, rng)

    def encode_as(self, sender, weights, n_samples, rng=None):
        """:meth:`encode`, passing the sender on to the inner aggregator (pairwise masking)."""
        return self.inner.encode_as(sender, self._change(weights, n_samples, rng), 1, rng)

    def _change(self, weights, n_samples, rng):
        self._require_started()
        change = np.asarray(weights, dtype=np.float64).reshape(-1) - self._global
        bound = self.plan.max_update_norm(check_integer(n_samples, "n_samples", minimum=1))
        norm = float(np.linalg.norm(change))
        if not norm <= bound * (1 + 1e-9):
            raise ValueError(
                f"update norm {norm:.6g} exceeds the {bound:.6g} the plan allows for a hospital "
                f"of {n_samples} patients: the update was not clipped as the noise assumes"
            )
        if self.plan.noise == "silo":
            change = change + dp.gaussian_noise(change.shape, self.plan.noise_std, rng)
        return change

    def combine(self, messages):
        """AT THE SERVER: count what arrived; the inner aggregator combines it."""
        messages = list(messages)
        self._reported = len(messages)
        return self.inner.combine(messages) if messages else None

    def decode(self, combined, rng=None):
        """AT THE DECODER: the summed change of those who reported, plus one draw (central)."""
        self._require_started()
        if self.rounds_done >= self.plan.rounds:
            raise accounting.BudgetExceededError(
                f"this aggregator's budget covers {self.plan.rounds} rounds; round "
                f"{self.rounds_done + 1} would spend more than the accountant recorded"
            )
        total = np.zeros_like(self._global)
        if combined is not None:  # inner returns the mean of count-1 messages: times their number
            total = np.asarray(self.inner.decode(combined, rng), dtype=np.float64) * self._reported
        if self.plan.noise == "central":
            total = total + dp.gaussian_noise(total.shape, self.plan.noise_std, rng)
        self._global = self._global + total
        self.rounds_done += 1
        return self._global.copy()

    def message_bytes(self, message):
        return self.inner.message_bytes(message)

    def protocol_bytes(self):
        return self.inner.protocol_bytes()


def dp_federated_averaging(
    plan: DPFederatedPlan,
    hospital_data,
    inner: federated.Aggregator | None = None,
    accountant=None,
    rng: RandomState = None,
    test_data=None,
    progress: bool = False,
    model: str = "logistic",
    dropped=None,
    evaluate_every: int = 1,
) -> tuple[federated.FederatedResult, DPAggregator]:
    """DP federated averaging in one call: the plan's hospitals, its DPAggregator, the FedAvg loop.

    Parameters
    ----------
    plan : DPFederatedPlan (every privacy-relevant number).
    hospital_data : list of (X_h, y_h), one per registered hospital, in plan order (features
        scaled by public bounds).
    inner : the aggregator carrying the messages; None is ``federated.WeightedMean()``. A
        ``encryption.SecureAggregator`` needs ``weight_bound`` at least the largest update
        (``plan.max_update_norm`` of the largest hospital) and, in silo mode, room for noise.
    accountant : charged before the first round (None: a fresh one with the plan's budget).
    rng, test_data, progress, dropped, evaluate_every : passed to
        ``federated.federated_averaging``.
    model : "logistic" or "linear".

    Returns ``(result, aggregator)``; ``aggregator.accountant.ledger`` holds the charge.
    """
    hospitals = plan.clipped_hospitals(hospital_data, model=model)
    aggregator = DPAggregator(plan, inner=inner, accountant=accountant)
    result = federated.federated_averaging(
        hospitals,
        plan.rounds,
        plan.local_epochs,
        plan.lr,
        rng=rng,
        aggregator=aggregator,
        test_data=test_data,
        progress=progress,
        dropped=dropped,
        evaluate_every=evaluate_every,
    )
    return result, aggregator
