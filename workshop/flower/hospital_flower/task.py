"""What one hospital holds in the workshop, built from the kit's helpers.

Every laptop computes the same split of a bundled dataset (same dataset, scheme, seed and
number of hospitals) and keeps only its own part, so each participant plays one hospital
whose patients no other laptop uses. The hospital and the model arithmetic are the kit's own
(``helpers.federated``), so the Flower run and the in-process ``federated_averaging`` in the
notebooks do exactly the same maths.
"""

from __future__ import annotations

import numpy as np

from helpers import data
from helpers._validation import check_choice, check_integer
from helpers.federated import Hospital, Standardiser

# dataset name -> (loader, model)
DATASETS = {
    "breast_cancer": (data.breast_cancer, "logistic"),
    "diabetes": (data.diabetes, "linear"),
}


def model_for(dataset: str) -> str:
    """The kit's model for a dataset: "logistic" (breast_cancer) or "linear" (diabetes)."""
    check_choice(dataset, "dataset", tuple(DATASETS))
    return DATASETS[dataset][1]


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
    scheme : split scheme of ``helpers.data.split_across_hospitals``.
    split_seed : int, seed of the split; every laptop must use the same one.

    Returns a :class:`helpers.federated.Hospital` named ``H{partition_id + 1}`` (the names
    ``helpers.federated.make_hospitals`` gives), with raw (unstandardised) features.
    """
    num_partitions = check_integer(num_partitions, "num_partitions", minimum=1)
    partition_id = check_integer(
        partition_id, "partition_id", minimum=0, maximum=num_partitions - 1
    )
    check_choice(dataset, "dataset", tuple(DATASETS))
    loader, model = DATASETS[dataset]
    X, y = loader()
    parts = data.split_across_hospitals(X, y, num_partitions, scheme=scheme, rng=split_seed)
    X_i, y_i = parts[partition_id]
    return Hospital(X_i, y_i, name=f"H{partition_id + 1}", model=model)


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
