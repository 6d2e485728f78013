"""Keep a notebook's prose honest: every number its text states is checked against its outputs.

A notebook that writes "the attack re-identified 87 % of patients" follows the computing
cell with ``claim("re-identified share", rate, stated=0.87, tolerance=0.005)``.

This is an author's tool, so it stays out of the reader's way:

- In a reader's or learner's kernel ``claim`` does nothing and shows nothing: a learner who
  changes a parameter to experiment is never stopped by it.
- When the kit's own runner executes a notebook (``scripts/notebooks.py``: ``make test``,
  ``make notebooks``, the book build) it sets the environment variable ``KIT_CLAIMS_LOG`` to
  a file. Then every claim is recorded there, and a claim that disagrees with its output
  raises :class:`ClaimMismatchError`, so the notebook fails to execute and CI goes red until
  the prose or the code is fixed. The runner stores what was checked in the notebook's
  metadata, never in its outputs.
"""

from __future__ import annotations

import json
import math
import numbers
import os

import numpy as np

#: The environment variable the kit's runner sets to a file path to switch the checks on.
LOG_VARIABLE = "KIT_CLAIMS_LOG"


class ClaimMismatchError(AssertionError):
    """The number stated in a notebook's prose no longer matches what its code computes."""


def _plain(value):
    """numpy scalars as Python numbers (0.965, not np.float64(0.965)); other values as they are."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def agrees(value, stated, tolerance: float = 0.0) -> bool:
    """Whether ``value`` matches ``stated``: within ``tolerance`` for numbers, equal otherwise.

    A boolean matches only a boolean (``True`` is not the number 1 here), and a number that
    is not finite matches nothing.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real):
        raise TypeError(f"tolerance must be a real number >= 0; got {tolerance!r}")
    if not (math.isfinite(float(tolerance)) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite real number >= 0; got {tolerance!r}")
    value, stated = _plain(value), _plain(stated)
    if isinstance(value, bool) or isinstance(stated, bool):
        return isinstance(value, bool) and isinstance(stated, bool) and value == stated
    if isinstance(value, numbers.Real) and isinstance(stated, numbers.Real):
        if not (math.isfinite(float(value)) and math.isfinite(float(stated))):
            return False
        return abs(float(value) - float(stated)) <= tolerance
    if isinstance(value, numbers.Real) != isinstance(stated, numbers.Real):
        return False  # a number never equals a string, a list or None
    result = value == stated
    return isinstance(result, bool | np.bool_) and bool(result)  # arrays are not claims


def claim(what: str, value, stated, tolerance: float = 0.0) -> None:
    """Check that a computed ``value`` equals the ``stated`` number within ``tolerance``.

    Parameters
    ----------
    what : str, the quantity in words (appears in the error message and the record).
    value : the number the notebook computed (or any value comparable with ==).
    stated : the number the prose states.
    tolerance : finite real number >= 0, absolute tolerance for numbers (use half the last
        printed digit, e.g. 0.005 for a rate printed as 0.87).

    Returns None and prints nothing. Under the kit's runner (``KIT_CLAIMS_LOG`` set) the
    check is recorded and a mismatch raises :class:`ClaimMismatchError`; elsewhere it is
    inert (see the module docstring).
    """
    if not isinstance(what, str) or not what:
        raise TypeError(f"what must be a non-empty string; got {what!r}")
    ok = agrees(value, stated, tolerance)
    log = os.environ.get(LOG_VARIABLE)
    if not log:
        return None
    record = {"what": what, "stated": repr(_plain(stated)), "value": repr(_plain(value)), "ok": ok}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    if not ok:
        raise ClaimMismatchError(
            f"The text states {what} = {_plain(stated)!r} (tolerance {tolerance}), "
            f"but the code computed {_plain(value)!r}; update the prose or the code."
        )
    return None
