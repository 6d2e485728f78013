"""Keep a notebook's prose honest: every number its text states is checked against its outputs.

A notebook that writes "the attack re-identified 87 % of patients" follows the computing
cell with ``claim("re-identified share", rate, stated=0.87, tolerance=0.005)``. If a
change to the code moves the number, the notebook fails to execute and the prose is fixed.
"""

from __future__ import annotations

import math
import numbers


class ClaimMismatchError(AssertionError):
    """The number stated in a notebook's prose no longer matches what its code computes."""


def claim(what: str, value, stated, tolerance: float = 0.0) -> str:
    """Check that a computed ``value`` equals the ``stated`` number within ``tolerance``.

    Parameters
    ----------
    what : str, the quantity in words (appears in the error message).
    value : the number the notebook computed (or any value comparable with ==).
    stated : the number the prose states.
    tolerance : float >= 0, absolute tolerance for numbers (use half the last printed
        digit, e.g. 0.005 for a rate printed as 0.87).

    Returns a short confirmation string; raises ClaimMismatchError otherwise.
    """
    if not isinstance(tolerance, numbers.Real) or not tolerance >= 0:
        raise ValueError(f"tolerance must be a real number >= 0; got {tolerance!r}")
    # numpy scalars print as plain numbers (0.965, not np.float64(0.965))
    value = value.item() if hasattr(value, "item") and getattr(value, "ndim", None) == 0 else value
    if isinstance(value, numbers.Real) and isinstance(stated, numbers.Real):
        ok = math.isfinite(float(value)) and abs(float(value) - float(stated)) <= tolerance
    else:
        ok = value == stated
    if not ok:
        raise ClaimMismatchError(
            f"The text states {what} = {stated!r} (tolerance {tolerance}), "
            f"but the code computed {value!r}; update the prose or the code."
        )
    return f"checked: {what} = {value!r} (stated {stated!r})"
