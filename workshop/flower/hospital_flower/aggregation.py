"""The server's checks and arithmetic, without any networking.

Every reply a hospital sends is checked here before it can touch the model: a reply that
fails a check raises :class:`InvalidReply` with a reason, and the ServerApp excludes that
hospital from the round (logging the reason with the node's id) instead of crashing or
averaging garbage. What is checked:

- moments (standardisation round): the hospital's labels (``partition-id`` of
  ``num-partitions``, ``n-features``), a patient count that is an integer in
  [1, the size of the partition it claims], and one finite vector of ``2 * n_features``
  moments whose means and mean squares lie inside the features' public envelopes
  (``task.feature_envelopes``) with a mean square >= the squared mean (a variance >= 0);
- training: one finite weight vector of the model's length and a count in [1, the size the
  hospital registered with]; the update (new weights minus the global ones) is clipped to
  ``clip-norm`` (:func:`clip_update`), so a hospital moves the average by a bounded amount;
- evaluation: a finite accuracy <= 1, a finite loss >= 0 and a count as above.

The rest is the arithmetic of a round: the count-weighted (plain FedAvg) or equal-weight
(central DP) mean of the clipped updates (:func:`mean_update`); the fixed-point number
format that makes Flower's SecAgg+ sum exact (:func:`fixed_point`,
:func:`secaggplus_format`); and the Gaussian noise of central DP (:func:`gaussian_noise`).
"""

from __future__ import annotations

import math
import numbers
import secrets
from dataclasses import dataclass

import numpy as np

from helpers._validation import check_integer, check_real


class InvalidReply(ValueError):
    """A hospital's reply failed a check; the message says which and why."""


# --- reading one reply ------------------------------------------------------------------


def _record(content, key: str, kind: str):
    try:
        record = content[key]
    except (KeyError, TypeError):
        raise InvalidReply(f"the reply has no {kind} record {key!r}") from None
    return record


def read_integer(metrics, key: str, low: int, high: int) -> int:
    """``metrics[key]`` as an int in [low, high]; a bool, float or missing key is invalid."""
    try:
        value = metrics[key]
    except (KeyError, TypeError):
        raise InvalidReply(f"{key} is missing") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidReply(f"{key} must be an integer; got {value!r}")
    if not low <= value <= high:
        raise InvalidReply(f"{key} must be in [{low}, {high}]; got {value}")
    return int(value)


def read_real(metrics, key: str, low: float = -math.inf, high: float = math.inf) -> float:
    """``metrics[key]`` as a finite float in [low, high]."""
    try:
        value = metrics[key]
    except (KeyError, TypeError):
        raise InvalidReply(f"{key} is missing") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidReply(f"{key} must be a number; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidReply(f"{key} must be finite and in [{low:g}, {high:g}]; got {value!r}")
    return value


def read_vector(arrays, length: int) -> np.ndarray:
    """The one finite real vector of ``length`` numbers an ArrayRecord must hold."""
    try:
        vectors = arrays.to_numpy_ndarrays()
    except Exception as error:  # a record that does not even decode  # noqa: BLE001
        raise InvalidReply(f"the arrays do not decode ({type(error).__name__})") from None
    if len(vectors) != 1:
        raise InvalidReply(f"expected one array; got {len(vectors)}")
    vector = vectors[0]
    if vector.dtype.kind not in "fiu":
        raise InvalidReply(f"the array must hold real numbers; got dtype {vector.dtype}")
    if vector.shape != (length,):
        raise InvalidReply(f"the array must have shape ({length},); got {vector.shape}")
    vector = vector.astype(np.float64)
    if not np.all(np.isfinite(vector)):
        raise InvalidReply(f"the array holds {int(np.sum(~np.isfinite(vector)))} non-finite values")
    return vector


@dataclass(frozen=True)
class HospitalLabel:
    """Which hospital a laptop says it plays (sent once, in the standardisation round)."""

    partition_id: int
    num_partitions: int


def read_label(
    metrics, n_features: int | None = None, max_partitions: int = 10_000
) -> HospitalLabel:
    """The ``partition-id`` / ``num-partitions`` a hospital claims (and its ``n-features``).

    ``metrics``: the metric record of a plain moments reply, or the label record of a
    SecAgg+ setup reply (which has no ``n-features``: pass ``n_features=None``).
    """
    total = read_integer(metrics, "num-partitions", 1, max_partitions)
    partition = read_integer(metrics, "partition-id", 0, total - 1)
    if n_features is not None:
        read_integer(metrics, "n-features", n_features, n_features)
    return HospitalLabel(partition, total)


def read_moments(content, n_features: int, envelopes, max_count: int) -> tuple[np.ndarray, int]:
    """A moments reply's ``(count * (means, mean squares), count)``, checked.

    ``envelopes`` (length ``n_features``): public ``s_j`` with ``|x_j| < s_j``; see
    :func:`check_moments`.
    """
    metrics = _record(content, "metrics", "metric")
    count = read_integer(metrics, "num-examples", 1, max_count)
    weighted = read_vector(_record(content, "arrays", "array"), 2 * n_features)
    check_moments(weighted[:n_features] / count, weighted[n_features:] / count, envelopes)
    return weighted, count


def check_moments(mean, second, envelopes) -> None:
    """Raise InvalidReply unless the moments are possible for features inside ``envelopes``.

    The means must lie in [-s_j, s_j], the mean squares in [0, s_j^2] and be at least the
    squared mean (a variance cannot be negative; 1e-9 s_j^2 is allowed for rounding).
    """
    mean, second = np.asarray(mean, dtype=np.float64), np.asarray(second, dtype=np.float64)
    envelopes = np.asarray(envelopes, dtype=np.float64)
    outside = np.flatnonzero((np.abs(mean) > envelopes) | (second < 0) | (second > envelopes**2))
    if outside.size:
        j = int(outside[0])
        raise InvalidReply(
            f"feature {j}: mean {mean[j]:.4g} or mean square {second[j]:.4g} lies outside "
            f"its envelope (|x| < {envelopes[j]:g})"
        )
    negative = np.flatnonzero(second - mean**2 < -1e-9 * envelopes**2)
    if negative.size:
        j = int(negative[0])
        raise InvalidReply(
            f"feature {j}: mean square {second[j]:.4g} < squared mean {mean[j] ** 2:.4g} "
            "(a negative variance)"
        )


def read_training(content, length: int, max_count: int) -> tuple[np.ndarray, int]:
    """A training reply's ``(new weights, count)``, checked."""
    metrics = _record(content, "metrics", "metric")
    count = read_integer(metrics, "num-examples", 1, max_count)
    return read_vector(_record(content, "arrays", "array"), length), count


def read_evaluation(content, max_count: int) -> tuple[float, float, int]:
    """An evaluation reply's ``(accuracy, loss, count)``, checked (R^2 may be negative)."""
    metrics = _record(content, "metrics", "metric")
    count = read_integer(metrics, "num-examples", 1, max_count)
    return read_real(metrics, "accuracy", high=1.0), read_real(metrics, "loss", low=0.0), count


# --- the arithmetic of a round -----------------------------------------------------------


def clip_update(update, clip_norm: float) -> tuple[np.ndarray, float]:
    """``update`` scaled down to L2 norm ``clip_norm`` if longer; returns (clipped, norm).

    What DP-FedAvg does to every client's update (McMahan et al., "Learning Differentially
    Private Recurrent Language Models", ICLR 2018, https://arxiv.org/abs/1710.06963), and
    what Flower's ``fixedclipping_mod`` does: ``update * min(1, clip_norm / norm)``.
    """
    update = np.asarray(update, dtype=np.float64)
    clip_norm = check_real(clip_norm, "clip_norm", low=0.0, low_inclusive=False)
    norm = float(np.linalg.norm(update))
    if norm > clip_norm:
        update = update * (clip_norm / norm)
    return update, norm


def mean_update(updates, counts=None) -> np.ndarray:
    """``sum(n_i u_i) / sum(n_i)`` (plain FedAvg), or the plain mean when ``counts`` is None.

    Counts are summed as Python ints, so no count can overflow or cancel another.
    """
    updates = [np.asarray(u, dtype=np.float64) for u in updates]
    if not updates:
        raise ValueError("mean_update needs at least one update; got none")
    if counts is None:
        return np.sum(updates, axis=0) / len(updates)
    counts = [check_integer(n, "count", minimum=1) for n in counts]
    if len(counts) != len(updates):
        raise ValueError(f"got {len(updates)} updates but {len(counts)} counts")
    total = sum(counts)
    return np.sum([n * u for n, u in zip(counts, updates, strict=True)], axis=0) / total


def gaussian_noise(size: int, std: float, rng=None) -> np.ndarray:
    """Gaussian noise of standard deviation ``std`` for central DP.

    ``rng`` None draws a fresh seed from the operating system's CSPRNG (``secrets``), so
    nobody can predict the noise from a seed printed anywhere. numpy's generator itself is
    not a cryptographic one, and floating-point Gaussian samples have the weaknesses
    Mironov describes ("On Significance of the Least Significant Bits for Differential
    Privacy", CCS 2012, https://doi.org/10.1145/2382196.2382264): fine for a workshop, not
    for a release of real patients' models.
    """
    size = check_integer(size, "size", minimum=1)
    std = check_real(std, "std", low=0.0)
    if rng is None:
        rng = np.random.default_rng(secrets.randbits(128))
    return rng.normal(0.0, std, size=size)


# --- fixed point for Flower's SecAgg+ ----------------------------------------------------

MODULUS_RANGE = 2**32  # Flower's SecAgg+ masks every number modulo 2**32 (its default)
_MAX_QUANTIZATION_RANGE = 2**30  # Flower casts quantised numbers to int32


def fixed_point(values, precision_bits: int, value_bound: float) -> np.ndarray:
    """``values`` rounded to the grid of ``2**-precision_bits`` (the kit's fixed point).

    The rule of ``helpers.encryption.PackedEncoder.quantise``: ``round(x * 2**bits)``, and a
    value beyond ``value_bound`` raises OverflowError (refuse, never clip or wrap). Returned
    as floats ``round(x * 2**bits) / 2**bits`` so Flower's SecAgg+ can carry them exactly.
    """
    values = np.asarray(values, dtype=np.float64)
    precision_bits = check_integer(precision_bits, "precision_bits", minimum=0, maximum=52)
    value_bound = check_real(value_bound, "value_bound", low=0.0, low_inclusive=False)
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite to be encoded")
    too_big = np.flatnonzero(np.abs(values) > value_bound)
    if too_big.size:
        i = int(too_big[0])
        raise OverflowError(
            f"value {values[i]:.6g} at index {i} exceeds value_bound={value_bound:g}; "
            "the encoding refuses rather than clipping or wrapping"
        )
    scale = 2.0**precision_bits
    return np.rint(values * scale) / scale


@dataclass(frozen=True)
class SecAggPlusFormat:
    """The numbers of one SecAgg+ sum, chosen so Flower's arithmetic is exact.

    Flower's ``secaggplus_mod`` multiplies a hospital's vector by ``num_examples /
    max_weight``, maps each entry ``v`` in [-clipping_range, clipping_range] to the integer
    ``(v + clipping_range) * quantization_range / (2 clipping_range)`` (stochastic rounding)
    and masks it, and the factor ``round(quantization_range * num_examples / max_weight)``,
    modulo ``modulus_range``; the server unmasks only the sums. The hospitals here send
    ``n_i * [x_i, 1]`` with ``num_examples = 1``, every entry of ``x_i`` on the grid
    ``2**-precision_bits``, and ``quantization_range = 2 * clipping_range * max_weight *
    2**precision_bits`` (all powers of two). Each integer is then exactly
    ``n_i * round(x * 2**bits) + quantization_range / 2``: the kit's fixed point with an
    offset (as ``PackedEncoder`` uses), so the rounding is a no-op and the unmasked sum is
    the exact sum of ``n_i * fixed_point(x_i)``. ``quantization_range`` is the largest
    power of two <= 2**30 (Flower's int32) with ``(n_hospitals + 1) * quantization_range /
    2 < modulus_range``: no sum wraps around, since each integer is at most
    ``quantization_range`` and their count-weighted parts together at most
    ``quantization_range / 2`` (the counts sum to at most ``max_weight``).

    The mean of the fixed-point vectors differs from the mean of the real ones by at most
    ``quantisation_bound = 2**-(precision_bits + 1)`` per entry.
    """

    clipping_range: float
    quantization_range: int
    max_weight: int
    precision_bits: int
    modulus_range: int = MODULUS_RANGE

    @property
    def quantisation_bound(self) -> float:
        """Largest |error| of one entry of the mean (half a step of the grid)."""
        return 0.5 / 2.0**self.precision_bits


def secaggplus_format(
    n_hospitals: int, value_bound: float, max_weight: int, min_precision_bits: int = 8
) -> SecAggPlusFormat:
    """The SecAgg+ numbers for summing ``n_hospitals`` vectors with entries <= value_bound.

    Parameters
    ----------
    n_hospitals : int >= 2, hospitals asked to take part in this sum.
    value_bound : float > 0, the largest |entry| of any hospital's vector (rounded up to a
        power of two, and to at least 1 for the count entry: Flower's ``clipping_range``).
    max_weight : int >= 1, an upper bound on the SUM of the counts of those hospitals
        (rounded up to a power of two: Flower's ``max_weight``).
    min_precision_bits : refuse (ValueError) a format with fewer fractional bits.
    """
    n_hospitals = check_integer(n_hospitals, "n_hospitals", minimum=2)
    value_bound = check_real(value_bound, "value_bound", low=0.0, low_inclusive=False)
    max_weight = check_integer(max_weight, "max_weight", minimum=1)
    # At least 1: the count entry n_i / max_weight lies in (0, 1].
    clip_exponent = max(0, math.ceil(math.log2(value_bound)))
    weight_exponent = math.ceil(math.log2(max_weight))
    range_exponent = 30
    while (n_hospitals + 1) * 2 ** (range_exponent - 1) >= MODULUS_RANGE:
        range_exponent -= 1
    bits = range_exponent - 1 - clip_exponent - weight_exponent
    if bits < min_precision_bits:
        raise ValueError(
            f"SecAgg+ with {n_hospitals} hospitals, values up to {value_bound:g} and counts "
            f"summing to {max_weight} leaves {bits} fractional bits (< {min_precision_bits}) "
            "in Flower's 32-bit numbers; lower clip-norm or use fewer hospitals"
        )
    return SecAggPlusFormat(
        clipping_range=2.0**clip_exponent,
        quantization_range=2**range_exponent,
        max_weight=2**weight_exponent,
        precision_bits=bits,
    )
