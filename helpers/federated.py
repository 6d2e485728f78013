"""Federated learning across hospitals: clients, a pluggable aggregator, FedAvg rounds.

Each :class:`Hospital` keeps its own patients' records. In a round of federated averaging
(FedAvg; McMahan et al., "Communication-Efficient Learning of Deep Networks from
Decentralized Data", AISTATS 2017, https://proceedings.mlr.press/v54/mcmahan17a.html) the
server sends the current global weights to every hospital, each hospital runs a few epochs
of gradient descent on its own data, and only its new weights and its patient count leave
it. The server combines those into the next global weights.

Models
------
Two numpy-only models share one weight layout: ONE flat float64 vector, the coefficients
first and the intercept LAST (length ``n_features + 1``).

- ``"logistic"``: logistic regression for a 0/1 label (the kit's breast-cancer data); loss =
  mean binary cross-entropy; "accuracy" = share of correct 0.5-threshold predictions.
- ``"linear"``: linear regression (the kit's diabetes data); loss = mean squared error;
  "accuracy" = the coefficient of determination R^2 (1 is perfect, 0 is "predict the mean").

The model maths are small importable functions (:func:`predict`, :func:`loss`,
:func:`gradient`, :func:`score`, :func:`gradient_descent`) so other front-ends (the Flower
workshop app) reuse exactly the same arithmetic.

The pluggable aggregator interface
----------------------------------
How one round's hospital updates become the next global weights is an :class:`Aggregator`
with four methods, each of which runs at a named party. The training loop
(:func:`federated_averaging`) never looks inside a message; it only moves them::

    aggregator.start(run_settings)                           # AT THE SERVER, before any data
    every round:
        asked = aggregator.select(round, hospitals, rng)     # AT THE SERVER (default: all)
        for every hospital asked (AT THE HOSPITAL):
            w_i, n_i = hospital.local_update(global_w, ...)
            message_i = aggregator.encode_as(name_i, w_i, n_i, rng)  # what leaves the hospital
        combined = aggregator.combine([message_1, ..., message_k])   # AT THE SERVER
        global_w = aggregator.decode(combined, rng)         # AT WHOEVER MAY READ THE RESULT

- ``encode(weights, n_samples, rng) -> message``: turn a hospital's new weights and count into
  the message it sends (plain: ``(n * w, n)``; secure aggregation: ciphertexts or masked
  vectors; silo-level DP: noised values). The loop calls ``encode_as(sender, ...)``, which
  by default is ``encode``; pairwise masking needs the sender's name to pick its keys.
- ``combine(messages) -> combined``: the server's only view of the round (plain: sums;
  secure aggregation: ciphertext sums under a public key only).
- ``decode(combined, rng) -> weights``: produce the next global weights (plain: the server
  divides; secure aggregation: the key holder decrypts only the sum; central DP: noise is
  added here and the spend recorded).
- ``message_bytes(message) -> int``: bytes one message takes on the wire, for the
  communication columns of the history. ``broadcast_bytes(weights)`` (default: 8 bytes per
  weight) counts the download of the global weights by one hospital. ``protocol_bytes()``
  (default ``(0, 0)``), asked after ``combine``, returns the bytes ``(up, down)`` a protocol
  sent in the round besides those two (pairwise masking: the public keys and encrypted
  shares the server relays, the list of who reported), so the history counts every byte.
- ``start(run_settings)`` (optional): sees the run's settings (:class:`RunSettings`) before
  any hospital computes anything, and may refuse them (DP aggregators check that the run is
  the one their guarantee was computed for). ``select(round, hospitals, rng)`` (optional):
  which hospitals are asked each round (default all; DP client sampling picks at random).
- ``name`` and ``trusted_parties`` (plain words) label the aggregator in tables.

:class:`WeightedMean` is plain FedAvg. ``helpers.encryption.SecureAggregator`` (Paillier),
``helpers.masking.MaskingAggregator`` (pairwise masking, no key holder) and the DP aggregators
in ``helpers.dp_learning`` plug into the same loop unchanged.

Standardising features without pooling the data
-----------------------------------------------
Gradient descent needs features on comparable scales, but fitting a scaler on the pooled
data would need the pooled data. The kit's choice: :func:`federated_standardisation` runs
ONE extra round through the SAME aggregator in which each hospital sends its local mean and
local mean of squares (two vectors of length ``n_features``) with its count; the decoded
result is the pooled mean and second moment, from which every hospital computes the same
mean and standard deviation and standardises its own records locally
(:meth:`Hospital.standardise`). What this reveals: the pooled per-feature mean and standard
deviation (an aggregate that every hospital learns); with :class:`WeightedMean` the server
also sees each hospital's own per-feature means and second moments (per-site aggregates,
never records); with secure aggregation it sees only the pooled sums. Where even that is
too much, :meth:`Standardiser.from_bounds` scales by public domain bounds (e.g. clinically
plausible ranges published in advance, such as ``data.breast_cancer_bounds()``), which
reveals nothing about the data.

Simulation-only views
---------------------
Two things in this module look at more than a real server could, to teach and to compare;
both are labelled where they occur: the ``accuracy``/``loss`` history columns use pooled
training data when no ``test_data`` is given, and :func:`centralised_training` pools the
records (it is the baseline federated learning avoids). The per-hospital
``accuracy_<name>`` columns are each hospital scoring the global model on its own records
and reporting one number, as Flower's federated evaluation does: an aggregate, but one
that does leave the hospital.

What federated learning does not protect: the weights themselves are a function of the
records. :func:`gradient_inversion` shows that a single-example gradient of these models
gives the patient's features back exactly (the simplest case of Zhu, Liu and Han, "Deep
Leakage from Gradients", NeurIPS 2019, https://arxiv.org/abs/1906.08935).
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from helpers._validation import RandomState, check_choice, check_integer, check_real, check_rng
from helpers.progress import progress as _progress

MODELS = ("logistic", "linear")
_WEIGHT_BYTES = np.dtype(np.float64).itemsize
_COUNT_BYTES = 8  # a patient count travels as one 64-bit integer


# --- model maths (numpy only) -----------------------------------------------------------


def _numeric(values, name: str, what: str) -> np.ndarray:
    """``values`` as float64, or the kit's ValueError naming what is not a number."""
    if isinstance(values, pd.DataFrame):
        text = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
        if text:
            raise ValueError(
                f"{name} must hold only numbers ({what}); columns {text} are not numeric: "
                "encode or drop them first"
            )
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must hold only numbers ({what}); it holds something that is not a number "
            "(text, None or a nested object)"
        ) from None


def _as_features(X, name: str = "X") -> np.ndarray:
    X = _numeric(X, name, "patients x features")
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (patients x features); got {X.ndim}-D")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column; got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must hold only finite numbers")
    return X


def _as_labels(y, n_rows: int, model: str, name: str = "y") -> np.ndarray:
    y = _numeric(y, name, "one label per patient").reshape(-1)
    if y.shape[0] != n_rows:
        raise ValueError(f"{name} must have one label per row of X ({n_rows}); got {y.shape[0]}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} must hold only finite numbers")
    if model == "logistic" and not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{name} must hold only 0 and 1 for the logistic model")
    return y


def _as_weights(weights, n_features: int, name: str = "weights") -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if weights.shape[0] != n_features + 1:
        raise ValueError(
            f"{name} must have n_features + 1 = {n_features + 1} entries "
            f"(coefficients then the intercept); got {weights.shape[0]}"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"{name} must hold only finite numbers")
    return weights


def _check_model(model: str) -> str:
    return check_choice(model, "model", MODELS)


def _linear_part(weights: np.ndarray, X: np.ndarray) -> np.ndarray:
    return X @ weights[:-1] + weights[-1]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # scipy's logistic function: never overflows, and ten times faster than splitting by sign
    return special.expit(z)


def predict(weights, X, model: str = "logistic") -> np.ndarray:
    """Predictions of the model: P(y = 1) for "logistic", the fitted value for "linear".

    Parameters
    ----------
    weights : flat vector, coefficients then intercept (length n_features + 1).
    X : array (patients x features), or one patient as a 1-D array.
    model : "logistic" or "linear".
    """
    _check_model(model)
    X = _as_features(X)
    weights = _as_weights(weights, X.shape[1])
    z = _linear_part(weights, X)
    return _sigmoid(z) if model == "logistic" else z


def loss(weights, X, y, model: str = "logistic") -> float:
    """Mean loss: binary cross-entropy (nats) for "logistic", squared error for "linear"."""
    weights, X, y = _checked(weights, X, y, model)
    z = _linear_part(weights, X)
    if model == "logistic":
        # log(1 + e^z) - y z, computed without overflow.
        return float(np.mean(np.logaddexp(0.0, z) - y * z))
    return float(np.mean((z - y) ** 2))


def gradient(weights, X, y, model: str = "logistic") -> np.ndarray:
    """Gradient of :func:`loss` with respect to the flat weights (same layout).

    For both models the gradient is ``mean_i r_i * [x_i, 1]`` with a per-patient residual
    ``r_i`` (``p_i - y_i`` for logistic, ``2 (z_i - y_i)`` for linear) -- which is why a
    one-patient gradient gives ``x`` back (see :func:`gradient_inversion`).
    """
    return _gradient(*_checked(weights, X, y, model), model)


def per_patient_gradients(weights, X, y, model: str = "logistic") -> np.ndarray:
    """One gradient of the loss per patient, ``r_i * [x_i, 1]`` (patients x (features + 1)).

    Their mean is :func:`gradient`. DP training clips each row before summing (the clipping
    bounds one patient's influence), which is why it needs them one by one.
    """
    return _per_patient_gradients(*_checked(weights, X, y, model), model)


def _per_patient_gradients(weights: np.ndarray, X: np.ndarray, y: np.ndarray, model: str):
    """:func:`per_patient_gradients` on arrays already validated (a Hospital's own records)."""
    return np.hstack([X, np.ones((X.shape[0], 1))]) * _residual(weights, X, y, model)[:, None]


def _checked(weights, X, y, model: str):
    """Validate (weights, X, y) for ``model``; return them as float arrays."""
    _check_model(model)
    X = _as_features(X)
    y = _as_labels(y, X.shape[0], model)
    return _as_weights(weights, X.shape[1]), X, y


def _residual(weights: np.ndarray, X: np.ndarray, y: np.ndarray, model: str) -> np.ndarray:
    """dLoss/dz per patient: ``p - y`` (logistic) or ``2 (z - y)`` (linear)."""
    z = _linear_part(weights, X)
    return (_sigmoid(z) - y) if model == "logistic" else 2.0 * (z - y)


def _gradient(weights: np.ndarray, X: np.ndarray, y: np.ndarray, model: str) -> np.ndarray:
    residual = _residual(weights, X, y, model)
    grad = np.empty(X.shape[1] + 1)
    grad[:-1] = X.T @ residual / X.shape[0]
    grad[-1] = residual.mean()
    return grad


def score(weights, X, y, model: str = "logistic") -> float:
    """Accuracy (share correct at threshold 0.5) for "logistic"; R^2 for "linear"."""
    weights, X, y = _checked(weights, X, y, model)
    z = _linear_part(weights, X)
    if model == "logistic":
        return float(np.mean((z >= 0) == (y == 1)))
    total = np.sum((y - y.mean()) ** 2)
    residual = np.sum((y - z) ** 2)
    return float(1.0 - residual / total) if total > 0 else float("nan")


def gradient_descent(
    weights,
    X,
    y,
    epochs: int,
    lr: float,
    model: str = "logistic",
    rng: RandomState = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Run ``epochs`` passes of (mini-batch) gradient descent from ``weights``.

    Parameters
    ----------
    weights : flat start vector (coefficients then intercept).
    X, y : the training data.
    epochs : int >= 1, passes over the data (full batch: one step per epoch).
    lr : float > 0, learning rate (step size).
    model : "logistic" or "linear".
    rng : Generator, int seed or None; shuffles the mini-batches (unused for full batch).
    batch_size : None for full-batch, or int >= 1 patients per step (the last batch of an
        epoch may be smaller).

    Returns the new weights (a new array; the input is not modified).
    """
    _check_model(model)
    X = _as_features(X)
    y = _as_labels(y, X.shape[0], model)
    weights = _as_weights(weights, X.shape[1]).copy()
    epochs = check_integer(epochs, "epochs", minimum=1)
    lr = check_real(lr, "lr", low=0.0, low_inclusive=False)
    n = X.shape[0]
    if batch_size is None or batch_size >= n:
        for _ in range(epochs):
            weights -= lr * _gradient(weights, X, y, model)
        return weights
    batch_size = check_integer(batch_size, "batch_size", minimum=1)
    rng = check_rng(rng)
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            weights -= lr * _gradient(weights, X[rows], y[rows], model)
    return weights


# --- standardisation without pooling ----------------------------------------------------


@dataclass(frozen=True)
class Standardiser:
    """Per-feature centre and scale that every hospital applies to its own records.

    ``transform(X) = (X - mean) / scale``.
    """

    mean: np.ndarray
    scale: np.ndarray

    def __post_init__(self):
        mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        scale = np.asarray(self.scale, dtype=np.float64).reshape(-1)
        if mean.shape != scale.shape:
            raise ValueError(
                f"mean and scale must have the same length; got {mean.shape[0]} and "
                f"{scale.shape[0]}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("mean must be finite and scale finite and > 0 for every feature")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "scale", scale)

    @classmethod
    def from_bounds(cls, lower, upper) -> Standardiser:
        """Scale by public domain bounds: centre (lower + upper) / 2, scale (upper - lower) / 2.

        Reveals nothing about the data; values outside the bounds are NOT clipped here
        (they simply map outside [-1, 1]).
        """
        lower = np.asarray(lower, dtype=np.float64).reshape(-1)
        upper = np.asarray(upper, dtype=np.float64).reshape(-1)
        if lower.shape != upper.shape:
            raise ValueError("lower and upper must have the same length")
        if not np.all(lower < upper):
            raise ValueError("lower must be < upper for every feature")
        return cls((lower + upper) / 2.0, (upper - lower) / 2.0)

    @classmethod
    def from_moments(cls, pooled_moments) -> Standardiser:
        """Mean and standard deviation from pooled ``concat(E[x], E[x^2])`` (length 2 d).

        This is what :func:`federated_standardisation` decodes; a front-end that aggregates
        the moments itself (the Flower workshop server) calls this. A feature constant
        everywhere gets scale 1 (it carries no signal; this avoids dividing by 0).
        """
        pooled = np.asarray(pooled_moments, dtype=np.float64).reshape(-1)
        if pooled.size < 2 or pooled.size % 2:
            raise ValueError(
                "pooled_moments must hold 2 * n_features values (means, then means of "
                f"squares); got {pooled.size}"
            )
        if not np.all(np.isfinite(pooled)):
            raise ValueError("pooled_moments must hold only finite numbers")
        d = pooled.size // 2
        mean, second = pooled[:d], pooled[d:]
        std = np.sqrt(np.maximum(second - mean**2, 0.0))
        std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
        return cls(mean, std)

    @classmethod
    def fit(cls, X) -> Standardiser:
        """Mean and standard deviation of ``X`` itself: one hospital's OWN scaler.

        Equal to ``from_moments`` of that hospital's own ``local_statistics``: nothing leaves
        the hospital, and nothing of the other hospitals comes in.
        """
        X = _as_features(X)
        return cls.from_moments(np.concatenate([X.mean(axis=0), (X**2).mean(axis=0)]))

    def raw_weights(self, weights) -> np.ndarray:
        """The same model on raw (unstandardised) features: fold the scaling into the weights.

        ``w . (x - mean) / scale + b = (w / scale) . x + (b - sum(w * mean / scale))``.
        """
        weights = _as_weights(weights, self.mean.shape[0])
        coefficients = weights[:-1] / self.scale
        return np.append(coefficients, weights[-1] - np.sum(coefficients * self.mean))

    def transform(self, X) -> np.ndarray:
        """Standardise ``X`` (patients x features)."""
        X = _as_features(X)
        if X.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"X has {X.shape[1]} features; this standardiser has {self.mean.shape[0]}"
            )
        return (X - self.mean) / self.scale


# --- hospitals (clients) ----------------------------------------------------------------


class Hospital:
    """A federated client: it holds its own X, y; only weights and a count ever leave it.

    Parameters
    ----------
    X : array or DataFrame (patients x features).
    y : labels (0/1 for "logistic", real numbers for "linear").
    name : str, label used in history columns.
    model : "logistic" or "linear".
    """

    def __init__(self, X, y, name: str = "hospital", model: str = "logistic"):
        self.model = _check_model(model)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string; got {name!r}")
        self.name = name
        X = _as_features(X)
        self._X = X
        self._y = _as_labels(y, X.shape[0], self.model)

    def __repr__(self) -> str:
        return (
            f"Hospital(name={self.name!r}, model={self.model!r}, n_samples={self.n_samples}, "
            f"n_features={self.n_features})"
        )

    @property
    def n_samples(self) -> int:
        """Number of patients this hospital holds."""
        return int(self._X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features per patient."""
        return int(self._X.shape[1])

    def local_update(
        self,
        global_weights,
        epochs: int,
        lr: float,
        rng: RandomState = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, int]:
        """Full-batch (or mini-batch) gradient descent from ``global_weights`` on own data.

        Returns ``(new_weights, n_samples)``: the only things that leave the hospital.
        """
        weights = _as_weights(global_weights, self.n_features, "global_weights")
        new = gradient_descent(
            weights, self._X, self._y, epochs, lr, self.model, rng=rng, batch_size=batch_size
        )
        return new, self.n_samples

    def evaluate(self, weights) -> dict:
        """``{"accuracy": .., "loss": ..}`` of ``weights`` on this hospital's own data.

        "accuracy" is R^2 for the linear model.
        """
        weights = _as_weights(weights, self.n_features)
        return {
            "accuracy": score(weights, self._X, self._y, self.model),
            "loss": loss(weights, self._X, self._y, self.model),
        }

    def local_statistics(self) -> tuple[np.ndarray, int]:
        """Per-feature mean and mean of squares of own data, and the count (for standardising).

        Returns ``(concat(mean, mean_of_squares), n_samples)``, shaped like a weight update
        so it can travel through any :class:`Aggregator`.
        """
        return np.concatenate([self._X.mean(axis=0), (self._X**2).mean(axis=0)]), self.n_samples

    def standardise(self, standardiser: Standardiser) -> None:
        """Apply ``standardiser`` to this hospital's own records, in place, at the hospital."""
        if not isinstance(standardiser, Standardiser):
            raise TypeError(
                f"standardiser must be a Standardiser; got {type(standardiser).__name__}"
            )
        self._X = standardiser.transform(self._X)

    def _data(self) -> tuple[np.ndarray, np.ndarray]:
        # For simulation-only views (pooled evaluation, the centralised baseline); a real
        # deployment has no such method.
        return self._X, self._y


def _check_hospitals(hospitals) -> list[Hospital]:
    if isinstance(hospitals, Hospital):
        raise TypeError("hospitals must be a list of Hospital objects; got a single Hospital")
    try:
        hospitals = list(hospitals)
    except TypeError:
        raise TypeError(
            f"hospitals must be a list of Hospital objects; got {type(hospitals).__name__}"
        ) from None
    if not hospitals:
        raise ValueError("hospitals must hold at least one Hospital; got none")
    for h in hospitals:
        if not isinstance(h, Hospital):
            raise TypeError(f"every hospital must be a Hospital; got {type(h).__name__}")
    if len({h.n_features for h in hospitals}) != 1:
        raise ValueError(
            "all hospitals must have the same number of features; got "
            f"{[h.n_features for h in hospitals]}"
        )
    if len({h.model for h in hospitals}) != 1:
        raise ValueError(
            f"all hospitals must use the same model; got {[h.model for h in hospitals]}"
        )
    names = [h.name for h in hospitals]
    if len(set(names)) != len(names):
        raise ValueError(f"hospital names must be unique; got {names}")
    return hospitals


def make_hospitals(parts, model: str = "logistic", prefix: str = "H") -> list[Hospital]:
    """One :class:`Hospital` per ``(X_i, y_i)`` part (e.g. from ``data.split_across_hospitals``).

    Names are ``f"{prefix}{i + 1}"``.
    """
    return [Hospital(X, y, name=f"{prefix}{i + 1}", model=model) for i, (X, y) in enumerate(parts)]


# --- aggregators ------------------------------------------------------------------------


class Aggregator(abc.ABC):
    """How one round's hospital updates become the next global weights.

    The loop never looks inside messages; each method runs at a named party (see the
    module docstring for the protocol).
    """

    name: str = "aggregator"
    trusted_parties: str = ""

    @abc.abstractmethod
    def encode(self, weights: np.ndarray, n_samples: int, rng) -> object:
        """Runs AT THE HOSPITAL: turn its new weights and count into the message it sends."""

    @abc.abstractmethod
    def combine(self, messages: list[object]) -> object:
        """Runs AT THE SERVER: combine the messages (it only ever sees messages)."""

    @abc.abstractmethod
    def decode(self, combined: object, rng) -> np.ndarray:
        """Runs at whoever may read the result: return the next global weights."""

    @abc.abstractmethod
    def message_bytes(self, message: object) -> int:
        """Bytes one message takes on the wire (for communication accounting)."""

    def broadcast_bytes(self, weights: np.ndarray) -> int:
        """Bytes one hospital downloads to receive the global weights (float64 each)."""
        return int(np.asarray(weights).size * _WEIGHT_BYTES)

    def protocol_bytes(self) -> tuple[int, int]:
        """Bytes ``(up, down)`` of the round just combined beyond its messages and broadcast.

        Runs AT THE SERVER after ``combine``. The default, (0, 0), is right for a protocol
        whose only traffic is the messages and the global weights; one with rounds of its
        own (pairwise masking) counts them here.
        """
        return (0, 0)

    def start(self, run: RunSettings) -> None:
        """Runs AT THE SERVER once, before any hospital computes anything: see what will run.

        The default accepts every run. An aggregator whose guarantee depends on how the run
        is configured (DP: the learning rate, the rounds, who clips) checks it here and
        raises ValueError naming both values when the run differs from what it was built for.
        """
        return None

    def select(self, round_number: int, hospitals: list, rng) -> list:
        """Runs AT THE SERVER each round: which hospitals are asked to take part (default: all)."""
        return list(hospitals)

    def encode_as(self, sender: str, weights: np.ndarray, n_samples: int, rng) -> object:
        """Runs AT HOSPITAL ``sender``: :meth:`encode`, for a protocol that must know who sends.

        The loop calls this one. The default ignores the name; pairwise masking
        (``helpers.masking``) masks with keys it agreed with each other hospital, so it needs it.
        """
        return self.encode(weights, n_samples, rng)


@dataclass(frozen=True)
class RunSettings:
    """What one call of :func:`federated_averaging` will run, as the aggregator sees it first.

    hospitals : the Hospital objects (their names, sizes and types; the loop does not let the
        aggregator touch their records).  rounds, local_epochs, lr, batch_size : the loop's
        settings.  initial_weights : the starting global model.  model : "logistic" or "linear".
    """

    hospitals: tuple
    rounds: int
    local_epochs: int
    lr: float
    batch_size: int | None
    initial_weights: np.ndarray
    model: str


class WeightedMean(Aggregator):
    """Plain FedAvg: the next global weights are the patient-count-weighted mean.

    encode -> ``(n * w, n)``; combine -> the two sums; decode -> ``sum(n w) / sum(n)``.
    The server sees every hospital's weights and count.
    """

    name = "weighted mean (plain FedAvg)"
    trusted_parties = "server sees every hospital's weights and patient count"

    def __init__(self, min_samples: int = 1):
        """``min_samples``: int >= 1; a hospital refuses (ValueError, at the hospital) to send
        an update computed from fewer patients, since a tiny update can be inverted
        (:func:`gradient_inversion`). The default 1 sends everything."""
        self.min_samples = check_integer(min_samples, "min_samples", minimum=1)

    def encode(self, weights, n_samples, rng=None):
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        n_samples = check_integer(n_samples, "n_samples", minimum=1)
        if n_samples < self.min_samples:
            raise ValueError(
                f"n_samples must be >= min_samples = {self.min_samples} for an update to "
                f"leave the hospital; got {n_samples}"
            )
        return (n_samples * weights, n_samples)

    def combine(self, messages):
        messages = list(messages)
        if not messages:
            raise ValueError("combine needs at least one message; got none")
        total = np.sum([m[0] for m in messages], axis=0)
        count = sum(int(m[1]) for m in messages)
        return (total, count)

    def decode(self, combined, rng=None):
        total, count = combined
        if count <= 0:
            raise ValueError(f"the combined patient count must be > 0; got {count}")
        return np.asarray(total, dtype=np.float64) / count

    def message_bytes(self, message):
        return int(np.asarray(message[0]).size * _WEIGHT_BYTES + _COUNT_BYTES)


def _check_aggregator(aggregator) -> Aggregator:
    if aggregator is None:
        return WeightedMean()
    if not isinstance(aggregator, Aggregator):
        raise TypeError(
            f"aggregator must be an Aggregator (or None for WeightedMean); "
            f"got {type(aggregator).__name__}"
        )
    return aggregator


def federated_standardisation(
    hospitals, aggregator: Aggregator | None = None, rng: RandomState = None, apply: bool = True
) -> Standardiser:
    """Pooled per-feature mean and standard deviation, computed through the aggregator.

    Each hospital sends ``(local mean, local mean of squares)`` and its count through
    ``aggregator`` (default :class:`WeightedMean`); the decoded pooled moments give
    ``mean`` and ``std = sqrt(E[x^2] - mean^2)`` (a constant feature gets scale 1).
    With ``apply=True`` every hospital then standardises its own records with the result.
    See the module docstring for what this reveals.

    The moments are in the features' raw units (means of squares can be large, e.g. tumour
    area squared is of order 10^7), so an aggregator with a value bound (secure
    aggregation's ``weight_bound``) needs its own instance with a bound that fits them.
    """
    hospitals = _check_hospitals(hospitals)
    aggregator = _check_aggregator(aggregator)
    rng = check_rng(rng)
    messages = []
    for h in hospitals:
        moments, n = h.local_statistics()
        messages.append(aggregator.encode(moments, n, rng))
    pooled = np.asarray(aggregator.decode(aggregator.combine(messages), rng), dtype=np.float64)
    if pooled.shape != (2 * hospitals[0].n_features,):
        raise ValueError(
            f"the aggregator decoded {pooled.shape} moments; expected 2 * n_features = "
            f"{2 * hospitals[0].n_features}"
        )
    standardiser = Standardiser.from_moments(pooled)
    if apply:
        for h in hospitals:
            h.standardise(standardiser)
    return standardiser


# --- the FedAvg loop --------------------------------------------------------------------


@dataclass
class FederatedResult:
    """Outcome of :func:`federated_averaging`.

    weights : final global weight vector (coefficients then intercept).
    history : DataFrame, one row per round (round 0 = the initial weights) with columns
        ``round``, ``accuracy``, ``loss`` (global model on ``test_data`` if given, else on the
        pooled training data: a simulation-only view), ``accuracy_<hospital name>`` (each
        hospital's own evaluation of the global model), ``bytes_up`` (all hospitals' messages
        this round, and the protocol's own uploads: ``Aggregator.protocol_bytes``),
        ``bytes_down`` (global weights sent to every hospital asked this round, and the
        protocol's own downloads),
        ``seconds`` (wall time of the round), ``reported`` (hospitals whose message arrived).
    model, aggregator : labels of what was run.
    """

    weights: np.ndarray
    history: pd.DataFrame
    model: str
    aggregator: str
    hospitals: list[str] = field(default_factory=list)


def _check_test_data(test_data, n_features: int, model: str):
    if test_data is None:
        return None
    try:
        X_test, y_test = test_data
    except (TypeError, ValueError):
        raise TypeError("test_data must be a pair (X_test, y_test) or None") from None
    X_test = _as_features(X_test, "X_test")
    if X_test.shape[1] != n_features:
        raise ValueError(
            f"X_test must have {n_features} features like the hospitals; got {X_test.shape[1]}"
        )
    return X_test, _as_labels(y_test, X_test.shape[0], model, "y_test")


def federated_averaging(
    hospitals,
    rounds: int,
    local_epochs: int,
    lr: float,
    rng: RandomState = None,
    aggregator: Aggregator | None = None,
    initial_weights=None,
    test_data=None,
    progress: bool = False,
    batch_size: int | None = None,
    dropped=None,
    evaluate_every: int = 1,
) -> FederatedResult:
    """Train one model across hospitals with federated averaging (FedAvg).

    Parameters
    ----------
    hospitals : list of :class:`Hospital` (same model and number of features).
    rounds : int >= 1, communication rounds.
    local_epochs : int >= 1, gradient-descent epochs each hospital runs per round.
    lr : float > 0, local learning rate.
    rng : Generator, int seed or None; passed to local updates (mini-batches) and to the
        aggregator's encode and decode (noise, encryption).
    aggregator : an :class:`Aggregator`; None means :class:`WeightedMean` (plain FedAvg).
    initial_weights : start vector (length n_features + 1); None means zeros.
    test_data : optional ``(X_test, y_test)`` for the global accuracy and loss columns.
    progress : show a progress bar over rounds (notebooks pass True).
    batch_size : None for full-batch local steps, or patients per mini-batch.
    dropped : simulated failures, ``{round: [hospital names]}``: those hospitals are asked
        but do not report in that round (a laptop that lost its connection). None: none.
    evaluate_every : int >= 1; the accuracy and loss columns are computed every this many
        rounds and in the last round (NaN in between). Studies that repeat a run many times
        and need only the final model pass ``rounds``.

    Before any hospital computes anything the aggregator sees the run's settings
    (``Aggregator.start``) and may refuse them; each round it chooses who is asked
    (``Aggregator.select``, default everyone). Returns a :class:`FederatedResult`.

    Reference: McMahan et al., "Communication-Efficient Learning of Deep Networks from
    Decentralized Data", AISTATS 2017, https://proceedings.mlr.press/v54/mcmahan17a.html
    """
    hospitals = _check_hospitals(hospitals)
    rounds = check_integer(rounds, "rounds", minimum=1)
    local_epochs = check_integer(local_epochs, "local_epochs", minimum=1)
    lr = check_real(lr, "lr", low=0.0, low_inclusive=False)
    if batch_size is not None:
        batch_size = check_integer(batch_size, "batch_size", minimum=1)
    aggregator = _check_aggregator(aggregator)
    rng = check_rng(rng)
    d = hospitals[0].n_features
    model = hospitals[0].model
    if initial_weights is None:
        weights = np.zeros(d + 1)
    else:
        weights = _as_weights(initial_weights, d, "initial_weights").copy()
    test = _check_test_data(test_data, d, model)
    dropped = _check_dropped(dropped, hospitals, rounds)
    evaluate_every = check_integer(evaluate_every, "evaluate_every", minimum=1)
    aggregator.start(
        RunSettings(tuple(hospitals), rounds, local_epochs, lr, batch_size, weights.copy(), model)
    )
    if test is None:
        pooled = [h._data() for h in hospitals]
        test = (np.vstack([p[0] for p in pooled]), np.concatenate([p[1] for p in pooled]))

    def row(round_number, w, up, down, seconds, reported):
        evaluated = round_number % evaluate_every == 0 or round_number == rounds
        entry = {
            "round": round_number,
            "accuracy": score(w, *test, model) if evaluated else np.nan,
            "loss": loss(w, *test, model) if evaluated else np.nan,
        }
        for h in hospitals:
            entry[f"accuracy_{h.name}"] = h.evaluate(w)["accuracy"] if evaluated else np.nan
        entry.update(bytes_up=up, bytes_down=down, seconds=seconds, reported=reported)
        return entry

    rows = [row(0, weights, 0, 0, 0.0, 0)]
    for r in _progress(range(1, rounds + 1), progress, desc="FedAvg rounds", total=rounds):
        start = time.perf_counter()
        asked = aggregator.select(r, hospitals, rng)
        down = sum(aggregator.broadcast_bytes(weights) for _ in asked)
        messages = []
        for h in asked:
            new_weights, n = h.local_update(
                weights.copy(), local_epochs, lr, rng=rng, batch_size=batch_size
            )
            if h.name not in dropped.get(r, ()):  # a dropped hospital's message never arrives
                messages.append(aggregator.encode_as(h.name, new_weights, n, rng))
        up = sum(int(aggregator.message_bytes(m)) for m in messages)
        combined = aggregator.combine(messages)
        protocol_up, protocol_down = aggregator.protocol_bytes()
        up, down = up + int(protocol_up), down + int(protocol_down)
        weights = _as_weights(aggregator.decode(combined, rng), d, "decoded weights").copy()
        rows.append(row(r, weights, up, down, time.perf_counter() - start, len(messages)))
    return FederatedResult(
        weights=weights,
        history=pd.DataFrame(rows),
        model=model,
        aggregator=aggregator.name,
        hospitals=[h.name for h in hospitals],
    )


def _check_dropped(dropped, hospitals, rounds: int) -> dict:
    if dropped is None:
        return {}
    if not isinstance(dropped, dict):
        raise TypeError(
            f"dropped must be a dict {{round: [hospital names]}} or None; got {type(dropped).__name__}"
        )
    names = {h.name for h in hospitals}
    checked = {}
    for round_number, lost in dropped.items():
        round_number = check_integer(round_number, "dropped round", minimum=1, maximum=rounds)
        lost = [lost] if isinstance(lost, str) else list(lost)
        unknown = sorted(set(lost) - names)
        if unknown:
            raise ValueError(
                f"dropped names hospitals that are not in the run: {unknown}; the run has {sorted(names)}"
            )
        checked[round_number] = frozenset(lost)
    return checked


# --- baselines --------------------------------------------------------------------------


def centralised_training(
    X,
    y,
    epochs: int,
    lr: float,
    model: str = "logistic",
    rng: RandomState = None,
    batch_size: int | None = None,
    initial_weights=None,
) -> np.ndarray:
    """Baseline: pool every record in one place and run gradient descent on it.

    ``X`` may also be a list of :class:`Hospital` (then ``y`` must be None): their records
    are pooled, which is exactly what federated learning avoids. Returns the weights.
    """
    _check_model(model)
    if y is None:
        hospitals = _check_hospitals(X)
        pooled = [h._data() for h in hospitals]
        X = np.vstack([p[0] for p in pooled])
        y = np.concatenate([p[1] for p in pooled])
        model = hospitals[0].model
    X = _as_features(X)
    start = (
        np.zeros(X.shape[1] + 1)
        if initial_weights is None
        else _as_weights(initial_weights, X.shape[1], "initial_weights")
    )
    return gradient_descent(start, X, y, epochs, lr, model, rng=rng, batch_size=batch_size)


@dataclass
class LocalOnlyResult:
    """Outcome of :func:`local_only_training`.

    weights : dict hospital name -> weights trained on that hospital's data alone.
    table : DataFrame, one row per hospital: ``hospital``, ``n_samples``, ``accuracy``,
        ``loss`` (on the evaluation data; accuracy is R^2 for the linear model).
    """

    weights: dict
    table: pd.DataFrame


SCALINGS = ("as given", "own")


def local_only_training(
    hospitals,
    epochs: int,
    lr: float,
    rng: RandomState = None,
    batch_size: int | None = None,
    test_data=None,
    scaling: str = "as given",
) -> LocalOnlyResult:
    """Baseline: every hospital trains alone on its own records (no collaboration).

    A baseline "alone" must borrow nothing from the federation, the scaling of its
    features included: with ``scaling="own"`` each hospital standardises its records with its
    OWN mean and standard deviation (:meth:`Standardiser.fit`), trains, and reports the model
    on raw features (:meth:`Standardiser.raw_weights`), so it is scored on raw test data.
    Hospitals already standardised with the federation's pooled statistics
    (:func:`federated_standardisation`) are NOT alone: pass raw hospitals here.

    Parameters
    ----------
    hospitals : list of :class:`Hospital`.
    epochs, lr, rng, batch_size : as in :func:`gradient_descent`.
    test_data : None (each hospital evaluates on its own training data), one
        ``(X_test, y_test)`` pair shared by all, or a list with one pair per hospital
        (e.g. each hospital's own held-out patients); in the hospitals' units (raw features
        with ``scaling="own"``).
    scaling : "as given" (train on the records as the hospital holds them, e.g. already scaled
        by public bounds) or "own" (each hospital's own scaler, as above).
    """
    hospitals = _check_hospitals(hospitals)
    epochs = check_integer(epochs, "epochs", minimum=1)
    lr = check_real(lr, "lr", low=0.0, low_inclusive=False)
    scaling = check_choice(scaling, "scaling", SCALINGS)
    rng = check_rng(rng)
    d, model = hospitals[0].n_features, hospitals[0].model
    if test_data is None:
        tests = [None] * len(hospitals)
    elif isinstance(test_data, list):
        if len(test_data) != len(hospitals):
            raise ValueError(
                f"test_data as a list needs one (X, y) pair per hospital ({len(hospitals)}); "
                f"got {len(test_data)}"
            )
        tests = [_check_test_data(t, d, model) for t in test_data]
    else:
        tests = [_check_test_data(test_data, d, model)] * len(hospitals)
    weights, rows = {}, []
    for h, test in zip(hospitals, tests, strict=True):
        if scaling == "own":
            X, y = h._data()  # at the hospital: its own records, its own statistics
            own = Standardiser.fit(X)
            alone = Hospital(own.transform(X), y, name=h.name, model=model)
            w, n = alone.local_update(np.zeros(d + 1), epochs, lr, rng=rng, batch_size=batch_size)
            w = own.raw_weights(w)
        else:
            w, n = h.local_update(np.zeros(d + 1), epochs, lr, rng=rng, batch_size=batch_size)
        weights[h.name] = w
        if test is None:
            metrics = h.evaluate(w)
        else:
            metrics = {"accuracy": score(w, *test, model), "loss": loss(w, *test, model)}
        rows.append({"hospital": h.name, "n_samples": n, **metrics})
    return LocalOnlyResult(weights=weights, table=pd.DataFrame(rows))


# --- what the updates leak --------------------------------------------------------------


def gradient_inversion(update) -> np.ndarray:
    """Reconstruct a patient's features from a single-example gradient: ``x = dL/dw / dL/db``.

    For the logistic and linear models the gradient of one patient's loss is
    ``r * [x, 1]`` (``r`` a scalar residual), so dividing the coefficient part by the
    intercept part returns ``x`` exactly. The same holds for a weight UPDATE after one
    gradient step on one patient (``new - old = -lr * gradient``; ``lr`` cancels). For a
    batch the gradient is ``mean_i r_i [x_i, 1]`` and the ratio is
    ``sum_i (r_i / sum_j r_j) x_i``: a combination of the patients with weights that sum to
    1 but have the signs of the residuals. From zero weights the residuals are ``+1/2`` for
    benign and ``-1/2`` for malignant patients, so the weights have both signs and the result
    is an extrapolation beyond the class means, not an average of patients. The intercept
    entry itself is ``mean_i r_i``: after one step from zero weights it gives the hospital's
    share of malignant patients exactly (``-lr * (1/2 - share)``), a case-mix leak that secure
    aggregation hides behind the sum over hospitals.

    Parameters
    ----------
    update : flat vector (coefficients then intercept): a gradient or a weight difference.

    Returns the reconstructed feature vector (length n_features), in the units of the
    features the model was trained on (undo the standardisation to get raw values).

    Reference: Zhu, Liu and Han, "Deep Leakage from Gradients", NeurIPS 2019,
    https://arxiv.org/abs/1906.08935. The closed form for one example of a model with a
    bias was pointed out earlier by Phong, Aono, Hayashi, Wang and Moriai, "Privacy-Preserving
    Deep Learning via Additively Homomorphic Encryption", IEEE Transactions on Information
    Forensics and Security, 2018, https://ieeexplore.ieee.org/document/8241854.
    """
    update = np.asarray(update, dtype=np.float64).reshape(-1)
    if update.shape[0] < 2:
        raise ValueError(
            f"update must hold at least one coefficient and the intercept; got {update.shape[0]}"
        )
    if not np.all(np.isfinite(update)):
        raise ValueError("update must hold only finite numbers")
    bias = update[-1]
    if abs(bias) <= 1e-300:
        raise ValueError("the intercept entry of update is 0: nothing to divide by")
    return update[:-1] / bias


def update_divergence(
    hospitals,
    global_weights,
    epochs: int,
    lr: float,
    rng: RandomState = None,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """How far each hospital's local model drifts from the round's average (client drift).

    Simulation-only view (it looks at every hospital's update, as an honest-but-curious
    plain-FedAvg server could): every hospital runs :meth:`Hospital.local_update` from
    ``global_weights``; the table gives, per hospital, ``n_samples``, the Euclidean
    ``distance`` of its new weights from the count-weighted mean of all new weights, and
    its local model's ``accuracy`` on its own data. Non-IID hospitals drift further apart,
    which is what slows FedAvg with many local epochs (Zhao et al., "Federated Learning
    with Non-IID Data", 2018, https://arxiv.org/abs/1806.00582).
    """
    hospitals = _check_hospitals(hospitals)
    weights = _as_weights(global_weights, hospitals[0].n_features, "global_weights")
    rng = check_rng(rng)
    updates = [
        h.local_update(weights, epochs, lr, rng=rng, batch_size=batch_size) for h in hospitals
    ]
    counts = np.array([n for _, n in updates], dtype=np.float64)
    stacked = np.vstack([w for w, _ in updates])
    mean = counts @ stacked / counts.sum()
    return pd.DataFrame(
        {
            "hospital": [h.name for h in hospitals],
            "n_samples": counts.astype(int),
            "distance": np.linalg.norm(stacked - mean, axis=1),
            "accuracy": [
                h.evaluate(w)["accuracy"] for h, (w, _) in zip(hospitals, updates, strict=True)
            ],
        }
    )


def nearest_record_distance(reconstruction, X) -> float:
    """Euclidean distance from ``reconstruction`` to the closest row of ``X`` (0 = exact hit)."""
    X = _as_features(X)
    reconstruction = np.asarray(reconstruction, dtype=np.float64).reshape(-1)
    if reconstruction.shape[0] != X.shape[1]:
        raise ValueError(
            f"reconstruction has {reconstruction.shape[0]} features; X has {X.shape[1]}"
        )
    return float(np.min(np.linalg.norm(X - reconstruction, axis=1)))
