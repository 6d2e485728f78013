"""Differential privacy: mechanisms, parameter validation, the privacy accountant, DP statistics.

Privacy parameters are validated everywhere with the same messages: epsilon finite and
> 0; delta in [0, 1) (in (0, 1) where a mechanism needs it); sensitivity finite and > 0;
bounds with lower < upper.
"""

from __future__ import annotations

from helpers._validation import check_real


def check_epsilon(epsilon) -> float:
    """Epsilon must be a finite real number > 0."""
    return check_real(epsilon, "epsilon", low=0.0, low_inclusive=False)


def check_delta(delta, required: bool = False) -> float:
    """Delta must be in [0, 1); in (0, 1) when ``required`` (e.g. the Gaussian mechanism)."""
    return check_real(delta, "delta", low=0.0, high=1.0, low_inclusive=not required, high_inclusive=False)


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
