"""What one hospital holds in the workshop, built from the kit's helpers.

Every laptop computes the same split of a bundled dataset (same dataset, scheme, seed and
number of hospitals) and keeps only its own part, so each participant plays one hospital
whose patients no other laptop uses. The hospital and the model arithmetic are the kit's own
(``helpers.federated``), so the Flower run and the in-process ``federated_averaging`` in the
notebooks do exactly the same maths.

Because the data are public and the split is seeded, the server can work out how many
patients each hospital holds (:func:`partition_sizes`) and so check the counts that come
back. A real consortium would fix such bounds in advance (a data-sharing agreement), not
derive them from the data.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from helpers import data
from helpers._validation import check_choice, check_integer
from helpers.federated import Hospital, Standardiser

# dataset name -> (loader, model)
DATASETS = {
    "breast_cancer": (data.breast_cancer, "logistic"),
    "diabetes": (data.diabetes, "linear"),
}

# Quantiles of the outcome that label_skew skews for the regression data (as notebook 04
# does): a split "by label" of 214 distinct progression values would skew only sizes.
OUTCOME_BINS = 4

# Power-of-two envelopes of the diabetes features, by their units: age in years < 128,
# sex coded 1/2 < 4, BMI in kg/m^2 < 64, mean arterial pressure in mmHg < 256, total, LDL
# and HDL cholesterol in mg/dL < 512, 512, 256, the cholesterol/HDL ratio < 16, the log of
# triglycerides < 8, glucose in mg/dL < 512. They are protocol constants (every hospital and
# the server agree on them before any data are read), not clinical reference ranges: they
# only bound the values so the server can reject impossible moments and secure aggregation
# can fix its number format. scikit-learn's documentation gives no ranges for these data.
_DIABETES_ENVELOPES = {
    "age": 128.0,
    "sex": 4.0,
    "bmi": 64.0,
    "blood_pressure": 256.0,
    "total_cholesterol": 512.0,
    "ldl": 512.0,
    "hdl": 256.0,
    "cholesterol_hdl_ratio": 16.0,
    "log_triglycerides": 8.0,
    "glucose": 512.0,
}


# The default clip-norm per dataset (``clip-norm = 0`` in the run config): an L2 bound on
# one hospital's update per round above every honest update of the default settings
# (at most about 1.3 for breast_cancer with lr 0.5, and 137 for diabetes with lr 0.1, over
# 2-12 hospitals and the three split schemes), so by default clipping changes nothing.
DEFAULT_CLIP_NORMS = {"breast_cancer": 2.0, "diabetes": 256.0}

# Public bounds (A, L) on what a hospital reports in a secure evaluation: its accuracy is
# sent as accuracy / A clipped to [-1, 1] (accuracy in [0, 1]; R^2 clipped at -16) and its
# loss as loss / L clipped to [0, 1] (cross-entropy above 64 nats or a squared error above
# 2**17 = 131072, beyond the squared largest outcome 346**2, is reported as the bound).
METRIC_ENVELOPES = {"logistic": (1.0, 64.0), "linear": (16.0, 2.0**17)}


def model_for(dataset: str) -> str:
    """The kit's model for a dataset: "logistic" (breast_cancer) or "linear" (diabetes)."""
    check_choice(dataset, "dataset", tuple(DATASETS))
    return DATASETS[dataset][1]


@functools.lru_cache(maxsize=4)
def _load(dataset: str):
    # Cached: the server (and the in-process tests) ask for the same public data often.
    check_choice(dataset, "dataset", tuple(DATASETS))
    return DATASETS[dataset][0]()


@functools.lru_cache(maxsize=64)
def _split(num_partitions: int, dataset: str, scheme: str, split_seed: int):
    """Every hospital's (X_i, y_i), as every laptop computes them (never modified)."""
    check_choice(scheme, "scheme", data.SPLIT_SCHEMES)
    X, y = _load(dataset)
    model = model_for(dataset)
    # The split only uses the labels for label_skew; a continuous outcome is binned into
    # quantiles first so hospitals differ in severity (the outcome), not only in size.
    labels = pd.qcut(y, OUTCOME_BINS, labels=False) if model == "linear" else y
    parts = data.split_across_hospitals(X, labels, num_partitions, scheme=scheme, rng=split_seed)
    return tuple((X_i, y.loc[X_i.index]) for X_i, _ in parts)


def load_hospital(
    partition_id: int,
    num_partitions: int,
    dataset: str = "breast_cancer",
    scheme: str = "iid",
    split_seed: int = 2024,
) -> Hospital:
    """The hospital ``partition_id`` of ``num_partitions`` (0-based), holding only its part.

    Parameters
    ----------
    partition_id : int in [0, num_partitions), which hospital this laptop plays.
    num_partitions : int >= 1, how many hospitals the patients are split across.
    dataset : "breast_cancer" or "diabetes" (bundled with scikit-learn; no download).
    scheme : split scheme of ``helpers.data.split_across_hospitals``; for the diabetes
        data ``label_skew`` skews the quartile of the outcome (``OUTCOME_BINS``).
    split_seed : int, seed of the split; every laptop must use the same one.

    Returns a :class:`helpers.federated.Hospital` named ``H{partition_id + 1}`` (the names
    ``helpers.federated.make_hospitals`` gives), with raw (unstandardised) features.
    """
    num_partitions = check_integer(num_partitions, "num_partitions", minimum=1)
    partition_id = check_integer(
        partition_id, "partition_id", minimum=0, maximum=num_partitions - 1
    )
    X_i, y_i = _split(num_partitions, dataset, scheme, split_seed)[partition_id]
    return Hospital(X_i, y_i, name=f"H{partition_id + 1}", model=model_for(dataset))


def partition_sizes(
    num_partitions: int, dataset: str = "breast_cancer", scheme: str = "iid", split_seed: int = 2024
) -> list[int]:
    """Patients per hospital of the split (public here: public data, seeded split)."""
    num_partitions = check_integer(num_partitions, "num_partitions", minimum=1)
    return [len(y_i) for _, y_i in _split(num_partitions, dataset, scheme, split_seed)]


def n_patients(dataset: str) -> int:
    """Number of patients in a dataset (public: the bundled data)."""
    return int(_load(dataset)[0].shape[0])


def n_features(dataset: str) -> int:
    """Number of features of a dataset (its public schema)."""
    return int(_load(dataset)[0].shape[1])


def feature_envelopes(dataset: str) -> np.ndarray:
    """Per-feature power of two ``s_j`` with ``|x_j| < s_j`` for every possible record.

    Agreed before any data are read: the server rejects a hospital whose feature means
    or mean squares fall outside them, and secure aggregation sends the moments of
    ``x_j / s_j`` (in [-1, 1]) so that one number format fits every feature. Breast
    cancer: the next power of two above 1.01 times the published upper bound of each
    feature (``data.breast_cancer_bounds``; the published values are rounded, hence the
    1 %). Diabetes: ``_DIABETES_ENVELOPES``, by each feature's unit.
    """
    return np.array(_envelopes(dataset))


@functools.lru_cache(maxsize=4)
def _envelopes(dataset: str) -> tuple[float, ...]:
    check_choice(dataset, "dataset", tuple(DATASETS))
    if dataset == "breast_cancer":
        upper = data.breast_cancer_bounds()["upper"].to_numpy()
        return tuple(2.0 ** np.ceil(np.log2(1.01 * upper)))
    return tuple(_DIABETES_ENVELOPES[c] for c in _load(dataset)[0].columns)


def public_standardiser(dataset: str) -> Standardiser:
    """A scaler from public bounds only (``Standardiser.from_bounds``): reveals no patient.

    Breast cancer: the published ranges (``data.breast_cancer_bounds``); diabetes: 0 to the
    feature's envelope. Central DP uses it, so that nothing computed from the patients is
    released outside the privacy guarantee (the pooled moments would be).
    """
    check_choice(dataset, "dataset", tuple(DATASETS))
    if dataset == "breast_cancer":
        bounds = data.breast_cancer_bounds()
        return Standardiser.from_bounds(bounds["lower"].to_numpy(), bounds["upper"].to_numpy())
    envelopes = feature_envelopes(dataset)
    return Standardiser.from_bounds(np.zeros_like(envelopes), envelopes)


def initial_weights(n_features: int) -> np.ndarray:
    """The global model the server starts from: zeros (as ``federated_averaging`` does)."""
    n_features = check_integer(n_features, "n_features", minimum=1)
    return np.zeros(n_features + 1)


def standardiser_from_moments(pooled: np.ndarray, n_features: int) -> Standardiser:
    """Pooled mean and standard deviation from the pooled (mean, mean of squares) vector.

    ``Standardiser.from_moments`` (what ``federated_standardisation`` decodes), after
    checking the vector's length against the model's ``n_features``; here the server has
    only the aggregated moments.
    """
    pooled = np.asarray(pooled, dtype=np.float64).reshape(-1)
    n_features = check_integer(n_features, "n_features", minimum=1)
    if pooled.size != 2 * n_features:
        raise ValueError(
            f"pooled must hold 2 * n_features = {2 * n_features} values; got {pooled.size}"
        )
    return Standardiser.from_moments(pooled)
