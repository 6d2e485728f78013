"""Input checks shared by every helpers module.

One way of doing each check, so every module's errors read alike: they name the
parameter, the value received and the valid range.
"""

from __future__ import annotations

import math
import numbers
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
# pandas is imported where a check needs it, not here: the workshop's Flower ClientApp
# starts a fresh process for every message and uses only the numeric checks.

RandomState = np.random.Generator | int | None


def check_rng(rng: RandomState) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from a Generator, an int seed or None.

    None gives fresh OS entropy (not reproducible); pass a seed in notebooks.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        if rng is not None and rng < 0:
            raise ValueError(f"rng must be a non-negative integer seed; got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None; got {type(rng).__name__}"
    )


def check_integer(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer in [minimum, maximum] and return it as int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value}")
    return value


def check_real(
    value,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check that ``value`` is a finite real number in the given interval; return it as float.

    A real number too large for a float (e.g. the integer ``10**400``) is refused with a
    ValueError naming ``name``, like any other non-finite value.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = None
    if number is not None and math.isfinite(number):
        too_low = low is not None and (number < low if low_inclusive else number <= low)
        too_high = high is not None and (number > high if high_inclusive else number >= high)
        if not (too_low or too_high):
            return number
    # refused: only now is the message built (this check runs in the kit's inner loops)
    interval = _interval_text(low, high, low_inclusive, high_inclusive)
    if number is None:
        got = f"{_describe_huge(value)}, beyond float range"
        raise ValueError(f"{name} must be finite and in {interval}; got {got}")
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite and in {interval}; got {number}")
    raise ValueError(f"{name} must be in {interval}; got {number}")


def _as_float(value: numbers.Real, message: str) -> float:
    """float(value), or ValueError(message + what was received) if it is beyond float range."""
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{message}; got {_describe_huge(value)}, beyond float range") from None


def _describe_huge(value) -> str:
    """A short description of a number too large for a float (never its thousands of digits)."""
    integer = value.numerator if isinstance(value, numbers.Rational) else None
    if integer is None:
        return f"a {type(value).__name__}"
    digits = max(1, int(abs(integer).bit_length() * math.log10(2)) + 1)
    sign = "a negative" if value < 0 else "a"
    return f"{sign} number of about {digits} digits ({type(value).__name__})"


def check_real_array(values, name: str) -> np.ndarray:
    """Check that ``values`` holds only finite real numbers; return them as a float64 array.

    Accepts a real scalar, a list or tuple (nested for more dimensions), a numpy array, or a
    pandas Series, Index or DataFrame with numeric columns. Nothing else is coerced:
    booleans, text (even "1.5"), complex numbers, dates, categories and None are refused
    with a TypeError, and NaN, infinities and numbers beyond float range with a ValueError,
    each naming ``name``. A scalar gives a 0-dimensional array.
    """
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must hold real numbers; got text {values!r}")
    pd = sys.modules.get("pandas")  # not imported: values cannot be a pandas object
    if pd is not None and isinstance(values, (pd.Series, pd.Index, pd.DataFrame)):
        frame = values.to_frame() if isinstance(values, (pd.Series, pd.Index)) else values
        for column, dtype in frame.dtypes.items():
            if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
                where = "" if frame is not values else f" (column {column!r})"
                raise TypeError(f"{name} must hold real numbers{where}; got dtype {dtype}")
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    elif isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        array = values.astype(np.float64)
    elif isinstance(values, np.ndarray) and values.dtype.kind != "O":
        raise TypeError(f"{name} must hold real numbers; got an array of dtype {values.dtype}")
    else:
        scalar = isinstance(values, numbers.Real) and not isinstance(values, (bool, np.bool_))
        if not scalar and (isinstance(values, Mapping) or not isinstance(values, Sequence)):
            raise TypeError(
                f"{name} must be a real number or an array of them; got "
                f"{type(values).__name__} {values!r}"
            )
        try:
            objects = np.array(values, dtype=object)
        except (TypeError, ValueError) as error:  # ragged nesting
            raise TypeError(f"{name} must be a real number or a regular array of them") from error
        if any(isinstance(item, (list, tuple)) for item in objects.reshape(-1)[:1]):
            raise TypeError(f"{name} must be a real number or a regular array of them")
        array = np.empty(objects.shape, dtype=np.float64)
        flat = array.reshape(-1)
        for i, item in enumerate(objects.reshape(-1)):
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
                raise TypeError(
                    f"{name} must hold only real numbers; item {i} is "
                    f"{type(item).__name__} {item!r}"
                )
            flat[i] = _as_float(item, f"{name} must hold only finite numbers")
    finite = np.isfinite(array)
    if not finite.all():
        bad = array[~finite].reshape(-1)[0]
        count = int((~finite).sum())
        raise ValueError(
            f"{name} must hold only finite numbers; found {count} non-finite value(s), e.g. {bad}"
        )
    return array


def check_choice(value, name: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_columns(df: pd.DataFrame, columns: Iterable[str], name: str = "df") -> list[str]:
    """Check that ``df`` is a non-empty DataFrame holding every column in ``columns``."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame; got {type(df).__name__}")
    columns = [columns] if isinstance(columns, str) else list(columns)
    repeated = sorted({str(c) for c in columns if columns.count(c) > 1})
    if repeated:
        raise ValueError(f"each column may be named once; {repeated} named more than once")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} has no column(s) {missing}; its columns are {list(df.columns)}")
    duplicated = sorted({str(c) for c in columns if (df.columns == c).sum() > 1})
    if duplicated:
        raise ValueError(
            f"{name} has several columns labelled {duplicated}; rename them so each label "
            "names one column"
        )
    if df.empty:
        raise ValueError(f"{name} is empty; it needs at least one row")
    return columns


def _interval_text(low, high, low_inclusive, high_inclusive) -> str:
    left = "[" if low_inclusive and low is not None else "("
    right = "]" if high_inclusive and high is not None else ")"
    low_text = "-inf" if low is None else f"{low:g}"
    high_text = "inf" if high is None else f"{high:g}"
    return f"{left}{low_text}, {high_text}{right}"


# ------------------------------------------------------------ quasi-identifier comparison

#: What ``comparable_values`` normalises, in words (deid and attacks docstrings cite it).
COMPARISON_RULES = (
    "text is compared after Unicode NFKC normalisation, trimming, collapsing runs of "
    "whitespace and case-folding ('F', ' f ' and a full-width 'Ｆ' are one value), and "
    "empty text counts as missing; numbers by value (1, 1.0 and a nullable Int64 1 are one "
    "value); dates by instant, whatever their unit (a timezone-aware date by its UTC "
    "instant); a column mixing text with numbers or dates is refused, and so is an integer "
    "beyond 2**53, which a float cannot hold exactly"
)


def comparable_values(values: pd.Series, name: str) -> pd.Series:
    """A canonical version of one quasi-identifier column: equal to an attacker, equal here.

    An attacker who links two tables does not care how a value is spelled; neither may a
    measure of re-identification risk. See ``COMPARISON_RULES`` for what is normalised.
    Missing values stay missing (None for text, NaN for numbers, NaT for dates). Raises
    ValueError (naming ``name``) for a column that mixes kinds of values.
    """
    import pandas as pd

    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_bool_dtype(values.dtype):
        return values
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return _comparable_dates(values)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _comparable_numbers(values, name)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    kinds = {_value_kind(u) for u in uniques}
    if not kinds:
        return pd.Series(None, index=values.index, dtype=object)
    if kinds == {"text"}:
        canonical = np.array([_normalise_text(u) for u in uniques] + [None], dtype=object)
        return pd.Series(canonical[codes], index=values.index, dtype=object)
    if kinds == {"number"}:
        return _comparable_numbers(pd.Series(values.to_numpy(), index=values.index), name)
    if kinds == {"date"}:
        return _comparable_dates(pd.to_datetime(values))
    if kinds == {"bool"}:
        return values
    raise ValueError(
        f"{name} mixes {' and '.join(sorted(kinds))} values; convert it to one kind so that "
        "equal values compare equal (e.g. ZIP codes as 5-character text)"
    )


def _value_kind(value) -> str:
    import pandas as pd

    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, str):
        return "text"
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "isoformat"):
        return "date"
    return type(value).__name__


def _normalise_text(text: str):
    text = " ".join(unicodedata.normalize("NFKC", text).split()).casefold()
    return text or None  # empty text is missing, like None


def _comparable_numbers(values: pd.Series, name: str) -> pd.Series:
    import pandas as pd

    objects = values.to_numpy(dtype=object, na_value=None) if values.dtype == object else None
    if objects is not None:
        for item in objects:
            if isinstance(item, numbers.Integral) and abs(int(item)) > 2**53:
                raise ValueError(
                    f"{name} holds the integer {item}, beyond 2**53: too large to compare exactly"
                )
    elif pd.api.types.is_integer_dtype(values.dtype) and len(values):
        present = values.dropna()
        if len(present) and max(abs(int(present.max())), abs(int(present.min()))) > 2**53:
            raise ValueError(f"{name} holds integers beyond 2**53: too large to compare exactly")
    array = (
        pd.to_numeric(values, errors="raise")
        .astype("Float64")
        .to_numpy(dtype=np.float64, na_value=np.nan)
    )
    return pd.Series(array, index=values.index)


def _comparable_dates(values: pd.Series) -> pd.Series:
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.astype("datetime64[ns]")
