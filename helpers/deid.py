"""De-identification: Safe Harbor, generalisation, and the k-anonymity family of measures.

* ``safe_harbor`` applies the HIPAA Safe Harbor method (45 CFR 164.514(b)(2)) to the
  kit's synthetic records; ``restricted_zip3`` lists the three-digit ZIP areas it zeroes.
* ``Hierarchy`` and its factories (``zip_hierarchy``, ``date_hierarchy``,
  ``numeric_hierarchy``, ``suppression_hierarchy``) describe how a column can be coarsened;
  ``generalize`` applies chosen levels.
* ``uniqueness``, ``k_anonymity``, ``l_diversity``, ``equivalence_classes`` and
  ``class_sizes`` (each record's class size) measure a table; ``generalize_to_k`` searches
  the lattice of levels for the cheapest release that reaches a requested k and reports the
  information it lost. They compare values the way
  an attacker would, as ``attacks.linkage_attack`` does: one value spelled two ways is one value
  (``helpers._validation.COMPARISON_RULES`` says what is normalised).
* ``shift_dates`` perturbs dates by a uniform random number of days per record.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from helpers import data
from helpers._validation import (
    check_columns,
    check_integer,
    check_real,
    check_rng,
    comparable_values,
)

# ------------------------------------------------------------------ HIPAA Safe Harbor

#: The 18 kinds of identifier that 45 CFR 164.514(b)(2)(i)(A)-(R) requires removed, "of
#: the individual or of relatives, employers, or household members of the individual".
#: Source: 45 CFR 164.514(b)(2), https://www.ecfr.gov/current/title-45/subtitle-A/
#: subchapter-C/part-164/subpart-E/section-164.514 ; explained in HHS OCR, "Guidance
#: Regarding Methods for De-identification of Protected Health Information in Accordance
#: with the Health Insurance Portability and Accountability Act (HIPAA) Privacy Rule",
#: 2012, https://www.hhs.gov/hipaa/for-professionals/special-topics/de-identification/
SAFE_HARBOR_IDENTIFIERS = {
    "A": "Names",
    "B": (
        "All geographic subdivisions smaller than a state (street address, city, county, "
        "precinct, ZIP code and their equivalent geocodes), except the initial three digits "
        "of a ZIP code if the area formed by all ZIP codes with those three digits holds "
        "more than 20,000 people; otherwise those digits become 000"
    ),
    "C": (
        "All elements of dates (except year) directly related to an individual (birth, "
        "admission, discharge, death dates); all ages over 89 and all elements of dates "
        "(including year) indicative of such age, except that such ages and elements may "
        "be aggregated into a single category of age 90 or older"
    ),
    "D": "Telephone numbers",
    "E": "Fax numbers",
    "F": "Email addresses",
    "G": "Social security numbers",
    "H": "Medical record numbers",
    "I": "Health plan beneficiary numbers",
    "J": "Account numbers",
    "K": "Certificate/license numbers",
    "L": "Vehicle identifiers and serial numbers, including license plate numbers",
    "M": "Device identifiers and serial numbers",
    "N": "Web Universal Resource Locators (URLs)",
    "O": "Internet Protocol (IP) addresses",
    "P": "Biometric identifiers, including finger and voice prints",
    "Q": "Full-face photographs and any comparable images",
    "R": "Any other unique identifying number, characteristic, or code",
}

#: The 17 three-digit ZIP areas that held 20,000 people or fewer in the 2000 Census and so
#: had to be released as "000" under Safe Harbor. HISTORICAL: the list comes from the
#: preamble to the Privacy Rule modifications (67 FR 53182, 53233-53234, Aug. 14, 2002) as
#: reproduced in HHS OCR's 2012 de-identification guidance (section on ZIP codes,
#: https://www.hhs.gov/hipaa/for-professionals/special-topics/de-identification/), which
#: warns covered entities not to rely on it once newer Census data are published.
#: Verification note: the HHS page itself could not be retrieved while this kit was
#: written; the 17 codes were cross-checked against several independent copies of the
#: guidance's table, which agree code for code.
RESTRICTED_ZIP3_2000 = (
    "036", "059", "063", "102", "203", "556", "692", "790", "821",
    "823", "830", "831", "878", "879", "884", "890", "893",
)  # fmt: skip

#: Safe Harbor's population threshold for keeping three ZIP digits (people, inclusive).
ZIP3_POPULATION_THRESHOLD = 20_000

#: Label of the single category Safe Harbor allows for ages over 89.
AGE_90_PLUS = "90+"


def restricted_zip3(zip3_population=None, threshold: int = ZIP3_POPULATION_THRESHOLD) -> list[str]:
    """Three-digit ZIP areas with ``threshold`` people or fewer, which Safe Harbor zeroes.

    Parameters
    ----------
    zip3_population : Series (index zip3, residents) or DataFrame with columns zip3 and
        population; default ``helpers.data.zip3_populations()`` (the synthetic region).
    threshold : int >= 0, residents; areas at or below it are restricted (HIPAA: 20,000).

    Returns the sorted list of restricted zip3 strings. For real US data from the 2000
    Census this rule gave ``RESTRICTED_ZIP3_2000``.
    """
    threshold = check_integer(threshold, "threshold", minimum=0)
    populations = _zip3_table(zip3_population)
    return sorted(populations.index[populations <= threshold])


def safe_harbor(
    df: pd.DataFrame,
    zip3_population=None,
    roles: Mapping[str, str] | None = None,
    reference_date: pd.Timestamp = data.REFERENCE_DATE,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Apply HIPAA Safe Harbor (45 CFR 164.514(b)(2)) to synthetic patient records.

    What it does, column by column (roles from ``helpers.data.COLUMN_ROLES``):

    * direct identifiers (name, MRN, phone, street address, patient_id) and geographic
      subdivisions smaller than a state other than the ZIP code (city) are removed;
    * ``zip5`` becomes ``zip3``: its first three digits, or "000" where all ZIP codes with
      those digits hold ``ZIP3_POPULATION_THRESHOLD`` people or fewer (see
      ``restricted_zip3``), or where the area is missing from the population table. ZIP
      codes must be TEXT of five digits (optionally "-" and four more): numbers are refused,
      because a number has lost the leading zero (03601 read by ``read_csv`` is 3601, whose
      first three digits "360" name another area). Read them with
      ``pd.read_csv(..., dtype={"zip5": str})``;
    * every date column (role mentions "date") becomes a year column (``birth_date`` ->
      ``birth_year``, ``admission_date`` -> ``admission_year``);
    * ``age`` becomes text, with every age over 89 replaced by the one category "90+";
      the birth year of such a person is removed (set to missing), because the rule also
      covers "elements of dates (including year) indicative of such age". Ages are
      computed from ``birth_date`` at ``reference_date`` when the frame has no ``age``; a
      missing age is refused (it could hide a person over 89).

    FAIL CLOSED: a column with no role is refused (ValueError) unless the caller lists it
    in ``keep``, declaring that it is none of the 18 kinds of identifier (an ``email``,
    ``ssn`` or full date of birth under an unexpected name is thus never released by
    accident). Kept columns pass through unchanged; a kept column holding dates is refused
    (give it a role with "date" so it becomes a year). Safe Harbor also requires that the
    covered entity has no actual knowledge that what remains could identify someone
    (164.514(b)(2)(ii)); no code can check that.

    Parameters
    ----------
    df : DataFrame of synthetic records (a population or a voter roll).
    zip3_population : residents per zip3 (see ``restricted_zip3``); default the synthetic
        region's table.
    roles : mapping column -> role text; default ``helpers.data.COLUMN_ROLES``. A role must
        start with one of ``KNOWN_ROLES`` (e.g. "quasi-identifier (date)"); any other is
        refused.
    reference_date : Timestamp at which ages are measured.
    keep : column names without a role to keep unchanged, e.g. a voter roll's
        ``keep=["voter_id", "registration_year"]`` when an attacker coarsens the roll the
        way the release was coarsened.

    Returns a new DataFrame with the same index (so rows can be traced in exercises).

    Reference: 45 CFR 164.514(b)(2); HHS OCR, "Guidance Regarding Methods for
    De-identification of Protected Health Information ...", 2012,
    https://www.hhs.gov/hipaa/for-professionals/special-topics/de-identification/
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}")
    if df.empty:
        raise ValueError("df is empty; it needs at least one row")
    if df.columns.duplicated().any():
        repeated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise ValueError(f"df has several columns labelled {repeated}; each label must be unique")
    roles = dict(data.COLUMN_ROLES if roles is None else roles)
    for column in df.columns:
        role = roles.get(column)
        if role is not None and not (isinstance(role, str) and role.startswith(KNOWN_ROLES)):
            raise ValueError(
                f"role {role!r} of column {column!r} is not one safe_harbor knows; a role must "
                f"start with one of {list(KNOWN_ROLES)} (or keep=[...] the column)"
            )
    keep = _check_keep(df, keep, roles)
    unknown = [c for c in df.columns if c not in roles and c not in keep]
    if unknown:
        raise ValueError(
            f"safe_harbor has no role for column(s) {unknown}, so it cannot tell whether "
            "they are identifiers; it refuses rather than release them. Drop them, give each "
            "a role (roles=...), or pass keep=[...] to declare that they are not identifiers"
        )
    restricted = set(restricted_zip3(zip3_population))
    known = set(_zip3_table(zip3_population).index)
    reference_date = pd.Timestamp(reference_date)

    out = df.copy()
    # Ages first: they decide which birth years are removed.
    if "age" in out.columns:
        age = pd.to_numeric(out["age"], errors="coerce")
        bad = age.isna() & out["age"].notna()
        if bad.any():
            raise ValueError(f"age must hold numbers of years; got {out['age'][bad].iloc[0]!r}")
        if age.isna().any():
            raise ValueError(
                f"age has {int(age.isna().sum())} missing value(s); Safe Harbor must know "
                "every age to group those over 89 (fill them from birth_date or drop those "
                "records)"
            )
    elif "birth_date" in out.columns:
        birth = pd.to_datetime(out["birth_date"])
        age = pd.Series(data._age_at(birth, reference_date), index=out.index)
    else:
        age = None
    over_89 = (age > 89) if age is not None else pd.Series(False, index=out.index)

    for column in list(out.columns):
        if column in keep:
            continue
        role = roles.get(column, "")
        if role.startswith("direct identifier") or (
            "geographic subdivision" in role and column != "zip5"
        ):
            out = out.drop(columns=column)
        elif column == "zip5":
            zip3 = _zip5_text(out["zip5"]).str[:3]
            zero = zip3.isna() | zip3.isin(restricted) | ~zip3.isin(known)
            out["zip5"] = zip3.where(~zero, "000").astype(object)
            out = out.rename(columns={"zip5": "zip3"})
        elif column == "age":
            text = age.astype(int).astype(str)
            out["age"] = text.where(~over_89, AGE_90_PLUS)
        elif "date" in role:
            year = pd.to_datetime(out[column]).dt.year.astype("Int64")
            if column == "birth_date":
                year = year.mask(over_89)
            new_name = column[: -len("_date")] + "_year" if column.endswith("_date") else column
            out[column] = year
            out = out.rename(columns={column: new_name})
    return out


#: The roles safe_harbor acts on (the start of a role text, as in ``data.COLUMN_ROLES``):
#: direct identifiers are removed; quasi-identifiers are coarsened where a rule applies
#: (ZIP codes, dates, ages, geographic subdivisions) and kept otherwise; attributes and
#: measurements are kept. Any other role is refused: fail closed.
KNOWN_ROLES = (
    "direct identifier",
    "quasi-identifier",
    "sensitive attribute",
    "attribute",
    "clinical measurement",
)

#: What a ZIP code must look like: five digits, optionally a ZIP+4 suffix.
_ZIP5_PATTERN = r"\d{5}(-\d{4})?"


def _zip5_text(zip5: pd.Series) -> pd.Series:
    """ZIP codes as text, refusing numbers (lost leading zeros) and malformed codes."""
    present = zip5.dropna()
    numeric = pd.api.types.is_numeric_dtype(zip5.dtype) or any(
        isinstance(v, numbers.Number) for v in present.iloc[:1000]
    )
    if numeric:
        raise TypeError(
            f"zip5 must hold ZIP codes as text, not numbers (dtype {zip5.dtype}): a number "
            "has lost its leading zero (03601 becomes 3601, whose first three digits name "
            "another area). Read the column as text (pd.read_csv(..., dtype={'zip5': str})) "
            "or, only if every code had five digits, convert it with "
            "df['zip5'].astype('Int64').astype(str).str.zfill(5)"
        )
    text = zip5.astype("string").str.strip()
    malformed = text.notna() & ~text.str.fullmatch(_ZIP5_PATTERN).fillna(False).astype(bool)
    if malformed.any():
        raise ValueError(
            f"zip5 must hold five-digit ZIP codes (e.g. '03601', or '03601-1234'); got "
            f"{zip5[malformed].iloc[0]!r} ({int(malformed.sum())} malformed)"
        )
    return text


def _check_keep(df: pd.DataFrame, keep, roles: Mapping[str, str]) -> set:
    """The columns the caller declares kept: present, without a Safe Harbor rule, not dates."""
    if isinstance(keep, str):
        keep = [keep]
    keep = list(keep)
    if keep:
        check_columns(df, keep, "df")
    for column in keep:
        role = roles.get(column, "")
        if (
            role.startswith("direct identifier")
            or "geographic subdivision" in role
            or ("date" in role or column in ("zip5", "age"))
        ):
            raise ValueError(
                f"cannot keep {column!r}: Safe Harbor has a rule for it (role {role!r}); "
                "keep=[...] is only for columns without a role"
            )
        if pd.api.types.is_datetime64_any_dtype(df[column].dtype):
            raise ValueError(
                f"cannot keep {column!r} unchanged: it holds dates, and Safe Harbor removes "
                "every element of a date but the year; give it a role containing 'date'"
            )
    return set(keep)


def _zip3_table(zip3_population) -> pd.Series:
    """Residents per zip3 as a Series of ints indexed by 3-character strings."""
    if zip3_population is None:
        return data.zip3_populations()
    if isinstance(zip3_population, pd.DataFrame):
        check_columns(zip3_population, ["zip3", "population"], "zip3_population")
        table = zip3_population.groupby("zip3")["population"].sum()
    elif isinstance(zip3_population, pd.Series):
        table = zip3_population
    else:
        raise TypeError(
            "zip3_population must be a Series (index zip3) or a DataFrame with zip3 and "
            f"population columns; got {type(zip3_population).__name__}"
        )
    if table.empty:
        raise ValueError("zip3_population is empty; it needs one row per three-digit area")
    if (pd.to_numeric(table, errors="coerce").isna() | (table < 0)).any():
        raise ValueError("zip3_population must hold non-negative resident counts")
    table.index = table.index.astype(str)
    return table


# ---------------------------------------------------------------- generalisation


@dataclass(frozen=True)
class Hierarchy:
    """How one column can be coarsened: level 0 is the original value, the last level the
    most general (often "*", fully suppressed).

    ``levels`` is a sequence of (name, function) pairs; each function maps the original
    Series to its generalised Series. Levels must grow coarser: any two records equal at
    one level must be equal at every later level (the hierarchy is a tree).
    """

    name: str
    levels: tuple[tuple[str, Callable[[pd.Series], pd.Series]], ...]

    def __post_init__(self):
        if len(self.levels) < 1:
            raise ValueError(f"hierarchy {self.name!r} needs at least one level")

    @property
    def height(self) -> int:
        """Number of generalisation steps above the original values."""
        return len(self.levels) - 1

    @property
    def level_names(self) -> list[str]:
        return [name for name, _ in self.levels]

    def level_index(self, level) -> int:
        """The position of ``level`` (an int or a level name); ValueError if unknown."""
        if isinstance(level, str):
            if level not in self.level_names:
                raise ValueError(
                    f"hierarchy {self.name!r} has no level {level!r}; its levels are "
                    f"{self.level_names}"
                )
            return self.level_names.index(level)
        if isinstance(level, bool) or not isinstance(level, numbers.Integral):
            raise TypeError(f"a hierarchy level must be an int or a level name; got {level!r}")
        if not 0 <= level <= self.height:
            raise ValueError(
                f"hierarchy {self.name!r} has levels 0 to {self.height} "
                f"({self.level_names}); got level {level}"
            )
        return int(level)

    def apply(self, values: pd.Series, level) -> pd.Series:
        """The values generalised to ``level``."""
        return self.levels[self.level_index(level)][1](values)


def _suppress(values: pd.Series) -> pd.Series:
    return pd.Series("*", index=values.index, dtype=object)


def _identity(values: pd.Series) -> pd.Series:
    return values


def zip_hierarchy(digits: int = 5) -> Hierarchy:
    """ZIP codes: keep all digits, then mask one more trailing digit per level ("021**")."""
    digits = check_integer(digits, "digits", minimum=1)
    levels = [("zip", _identity)]
    for keep in range(digits - 1, -1, -1):
        levels.append(
            (
                f"{keep} digits" if keep else "*",
                lambda s, keep=keep: s.astype(str).str[:keep] + "*" * (digits - keep),
            )
        )
    return Hierarchy("zip", tuple(levels))


def date_hierarchy() -> Hierarchy:
    """Dates: day, month ("1961-07"), year, 5-year band ("1960-1964"), 10-year band, "*"."""

    def band(width):
        def f(s):
            year = pd.to_datetime(s).dt.year
            start = (year // width) * width
            return start.astype(str) + "-" + (start + width - 1).astype(str)

        return f

    return Hierarchy(
        "date",
        (
            ("day", _identity),
            ("month", lambda s: pd.to_datetime(s).dt.strftime("%Y-%m")),
            ("year", lambda s: pd.to_datetime(s).dt.year),
            ("5 years", band(5)),
            ("10 years", band(10)),
            ("*", _suppress),
        ),
    )


def numeric_hierarchy(widths: Sequence[int] = (5, 10, 20), name: str = "number") -> Hierarchy:
    """Numbers (e.g. age in years): exact, then intervals of growing width ("[30, 40)"), "*".

    Each width must be a multiple of the previous one, so the levels nest.
    """
    widths = [check_integer(w, "widths", minimum=1) for w in widths]
    for small, large in zip(widths, widths[1:], strict=False):
        if large % small:
            raise ValueError(f"widths must each divide the next; got {widths}")

    def interval(width):
        def f(s):
            start = (pd.to_numeric(s) // width * width).astype("Int64")
            return "[" + start.astype(str) + ", " + (start + width).astype(str) + ")"

        return f

    levels = [("exact", _identity)] + [(f"width {w}", interval(w)) for w in widths]
    return Hierarchy(name, tuple(levels + [("*", _suppress)]))


def suppression_hierarchy(name: str = "value") -> Hierarchy:
    """Any column: keep it, or replace it by "*"."""
    return Hierarchy(name, (("value", _identity), ("*", _suppress)))


def generalize(
    df: pd.DataFrame, hierarchies: Mapping[str, tuple[Hierarchy, object]]
) -> pd.DataFrame:
    """Generalise columns of ``df``: ``hierarchies`` maps column -> (Hierarchy, level).

    ``level`` is an int (0 = unchanged) or one of the hierarchy's level names, e.g.
    ``generalize(df, {"zip5": (zip_hierarchy(), 2), "birth_date": (date_hierarchy(), "year")})``.
    Other columns are returned unchanged; the index is kept.
    Raises ValueError for missing columns, an empty frame or an unknown level.
    """
    if not isinstance(hierarchies, Mapping) or not hierarchies:
        raise ValueError("hierarchies must be a non-empty mapping column -> (Hierarchy, level)")
    check_columns(df, list(hierarchies), "df")
    out = df.copy()
    for column, spec in hierarchies.items():
        if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], Hierarchy)):
            raise ValueError(
                f"hierarchies[{column!r}] must be a (Hierarchy, level) pair; got {spec!r}"
            )
        hierarchy, level = spec
        out[column] = hierarchy.apply(df[column], level)
    return out


# ---------------------------------------------------------------- measures


def _check_quasi_identifiers(df, quasi_identifiers) -> list[str]:
    if isinstance(quasi_identifiers, str):
        quasi_identifiers = [quasi_identifiers]
    if quasi_identifiers is None or not list(quasi_identifiers):
        raise ValueError("quasi_identifiers must name at least one column")
    return check_columns(df, quasi_identifiers)


def _comparable(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns with each value replaced by its first spelling in ``df`` (attacker's view).

    Values an attacker would take for one (``COMPARISON_RULES``) get one spelling, so
    grouping counts them together; columns where nothing merges are returned as they are.
    """
    out = {}
    for column in columns:
        original = df[column]
        canonical = comparable_values(original, f"quasi-identifier {column!r}")
        codes, _ = pd.factorize(canonical, use_na_sentinel=True)
        present = original.notna().to_numpy()
        distinct = pd.factorize(original[present], use_na_sentinel=True)[0].max(initial=-1) + 1
        if distinct == codes.max(initial=-1) + 1 and (codes[present] >= 0).all():
            out[column] = original  # nothing to merge: keep the column (and its dtype)
            continue
        first = pd.Series(np.arange(len(codes)))[codes >= 0].groupby(codes[codes >= 0]).first()
        spelling = original.to_numpy(dtype=object)[first.to_numpy()]
        unified = np.where(codes >= 0, spelling[np.maximum(codes, 0)], None)
        out[column] = pd.Series(unified, index=df.index, dtype=object)
    return pd.DataFrame(out, index=df.index)


def uniqueness(df: pd.DataFrame, quasi_identifiers) -> float:
    """Share of rows whose quasi-identifier values occur in no other row (0 to 1).

    A unique row is one an attacker holding the same columns can single out. Values are
    compared as an attacker would (one value spelled two ways is one value; see
    ``helpers._validation.COMPARISON_RULES``).
    Reference: L. Sweeney, "Simple Demographics Often Identify People Uniquely",
    Carnegie Mellon University, Data Privacy Working Paper 3, 2000.
    """
    columns = _check_quasi_identifiers(df, quasi_identifiers)
    return float((_class_sizes(_comparable(df, columns), columns) == 1).mean())


def _class_sizes(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    return df.groupby(columns, dropna=False, sort=False)[columns[0]].transform("size")


def class_sizes(df: pd.DataFrame, quasi_identifiers) -> pd.Series:
    """The size of each record's equivalence class on the quasi-identifiers (index of ``df``).

    ``class_sizes(df, qi) < k`` marks the records to suppress for k-anonymity. Values are
    compared as an attacker would (``helpers._validation.COMPARISON_RULES``), as in
    ``k_anonymity`` and ``equivalence_classes``; a missing value is a value of its own.
    """
    columns = _check_quasi_identifiers(df, quasi_identifiers)
    return _class_sizes(_comparable(df, columns), columns).rename("class_size")


def k_anonymity(df: pd.DataFrame, quasi_identifiers) -> int:
    """The k of a table: the size of its smallest equivalence class on the quasi-identifiers.

    Every record shares its quasi-identifier values with at least k - 1 others. Values are
    compared as an attacker would (``helpers._validation.COMPARISON_RULES``), so a class is
    never split by two spellings of one value.
    Reference: L. Sweeney, "k-anonymity: a model for protecting privacy", International
    Journal of Uncertainty, Fuzziness and Knowledge-Based Systems 10(5):557-570, 2002,
    https://doi.org/10.1142/S0218488502001648
    """
    columns = _check_quasi_identifiers(df, quasi_identifiers)
    return int(_class_sizes(_comparable(df, columns), columns).min())


def l_diversity(df: pd.DataFrame, quasi_identifiers, sensitive: str) -> int:
    """The (distinct) l of a table: the fewest distinct sensitive values in any class.

    l = 1 means some equivalence class shares one sensitive value (a homogeneity attack
    learns it for everyone in the class). Quasi-identifiers AND sensitive values are
    compared as an attacker would (``helpers._validation.COMPARISON_RULES``): "HIV" and
    "hiv " are one diagnosis, not two.
    Reference: A. Machanavajjhala, D. Kifer, J. Gehrke and M. Venkitasubramaniam,
    "l-diversity: Privacy beyond k-anonymity", ACM Transactions on Knowledge Discovery
    from Data 1(1), 2007, https://doi.org/10.1145/1217299.1217302
    """
    columns = _check_quasi_identifiers(df, quasi_identifiers)
    check_columns(df, [sensitive], "df")
    if sensitive in columns:
        raise ValueError(f"sensitive column {sensitive!r} must not be a quasi-identifier")
    table = _comparable(df, columns + [sensitive])
    distinct = table.groupby(columns, dropna=False, sort=False)[sensitive].nunique(dropna=False)
    return int(distinct.min())


def equivalence_classes(
    df: pd.DataFrame, quasi_identifiers, sensitive: str | None = None
) -> pd.DataFrame:
    """One row per equivalence class: its quasi-identifier values and ``size``.

    With ``sensitive``, also ``distinct`` (number of sensitive values), ``top_value`` (the
    most common one) and ``top_share`` (its share of the class): what an attacker who
    places a person in the class learns about them. Sorted by size, smallest first.
    Values are compared as an attacker would (``helpers._validation.COMPARISON_RULES``);
    a class shows each value as first spelled in ``df``.
    """
    columns = _check_quasi_identifiers(df, quasi_identifiers)
    if sensitive is not None:
        check_columns(df, [sensitive], "df")
    df = _comparable(df, columns + ([sensitive] if sensitive is not None else []))
    grouped = df.groupby(columns, dropna=False, sort=False)
    table = grouped.size().rename("size").to_frame()
    if sensitive is not None:
        counts = df.groupby(columns + [sensitive], dropna=False, sort=False).size()
        top = (
            counts.sort_values(ascending=False, kind="stable")
            .groupby(level=list(range(len(columns))), dropna=False, sort=False)
            .head(1)
        )
        top = top.reset_index(level=sensitive).rename(
            columns={sensitive: "top_value", 0: "top_count"}
        )
        table["distinct"] = grouped[sensitive].nunique(dropna=False)
        table = table.join(top)
        table["top_share"] = table.pop("top_count") / table["size"]
    return table.reset_index().sort_values("size", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- cheapest k-anonymous release

#: The most lattice nodes (combinations of one level per quasi-identifier) ``generalize_to_k``
#: will search; a larger lattice is refused rather than searched for minutes.
MAX_LATTICE_NODES = 5_000


@dataclass(frozen=True)
class GeneralizationResult:
    """What ``generalize_to_k`` released and what it cost.

    data : the generalised table (suppressed rows removed).
    levels : chosen level name per quasi-identifier.
    k : the k reached (>= the requested k).
    n_suppressed : records removed because they stayed in classes smaller than k.
    information_loss : mean over quasi-identifiers of level / height (0 = nothing
        generalised, 1 = everything "*"); Sweeney's precision metric is 1 minus this.
    loss_per_column : level / height per quasi-identifier.
    n_classes : number of equivalence classes in ``data``.
    lattice_size : number of nodes (one level per quasi-identifier) in the lattice.
    nodes_searched : how many of them were measured before the cheapest was certain.
    """

    data: pd.DataFrame
    levels: dict
    k: int
    n_suppressed: int
    information_loss: float
    loss_per_column: dict
    n_classes: int
    lattice_size: int
    nodes_searched: int

    @property
    def suppressed_share(self) -> float:
        return self.n_suppressed / (self.n_suppressed + len(self.data))


def generalize_to_k(
    df: pd.DataFrame,
    hierarchies: Mapping[str, Hierarchy],
    k: int,
    max_suppression: float = 0.0,
) -> GeneralizationResult:
    """The cheapest generalisation of ``df`` that is k-anonymous after suppressing at most
    ``max_suppression`` of its records, found by searching the whole lattice of levels.

    A node of the lattice is one level per quasi-identifier; its information loss is the
    mean of level / height. Nodes are measured in order of information loss, so the first
    loss at which some node leaves at most ``max_suppression`` of the records in classes
    smaller than k is the least possible. Among the nodes at that loss the winner suppresses
    the fewest records, then keeps the most equivalence classes (the finer release), then
    comes first in column order. The records it leaves in classes smaller than k are removed
    (suppressed). With every column at its top level ("*") the table is one class, so some
    node always qualifies; a hierarchy that cannot coarsen its column (height 0) can leave
    none, and then a ValueError is raised.

    Parameters
    ----------
    df : DataFrame holding the quasi-identifiers (other columns pass through).
    hierarchies : mapping quasi-identifier column -> Hierarchy; the product of their
        numbers of levels (the lattice size) must be at most ``MAX_LATTICE_NODES``.
    k : int >= 1, the requested k.
    max_suppression : float in [0, 1), largest share of records that may be removed.

    Globally optimal for this loss, as is the Optimal Lattice Anonymization of K. El Emam et
    al., "A Globally Optimal k-Anonymity Method for the De-Identification of Health Data",
    JAMIA 16(5):670-682, 2009, https://doi.org/10.1197/jamia.M3144, which prunes the lattice
    to search large ones quickly (a lattice this small needs no pruning). They also measure
    what greedy searches such as Sweeney's Datafly lose: these can stop at a costlier node.
    """
    if not isinstance(hierarchies, Mapping) or not hierarchies:
        raise ValueError("hierarchies must be a non-empty mapping column -> Hierarchy")
    columns = check_columns(df, list(hierarchies), "df")
    for column, hierarchy in hierarchies.items():
        if not isinstance(hierarchy, Hierarchy):
            raise ValueError(f"hierarchies[{column!r}] must be a Hierarchy; got {hierarchy!r}")
    k = check_integer(k, "k", minimum=1)
    max_suppression = check_real(
        max_suppression, "max_suppression", low=0.0, high=1.0, high_inclusive=False
    )
    n = len(df)
    if k > n:
        raise ValueError(f"k must be <= the number of records ({n}); got {k}")
    heights = [hierarchies[c].height for c in columns]
    lattice_size = math.prod(h + 1 for h in heights)
    if lattice_size > MAX_LATTICE_NODES:
        raise ValueError(
            f"hierarchies span a lattice of {lattice_size:,} nodes; generalize_to_k searches "
            f"at most {MAX_LATTICE_NODES:,}: use fewer quasi-identifiers or shallower hierarchies"
        )

    cache: dict[tuple[str, int], np.ndarray] = {}

    def codes(column: str, level: int) -> np.ndarray:
        # Integer codes of the generalised column: fast, exact grouping.
        if (column, level) not in cache:
            values = hierarchies[column].apply(df[column], level)
            values = comparable_values(values, f"quasi-identifier {column!r}")
            cache[(column, level)] = pd.factorize(values, use_na_sentinel=False)[0]
        return cache[(column, level)]

    def measure(node: tuple) -> tuple[np.ndarray, int]:
        # The records in classes smaller than k, and the number of classes of size >= k.
        key = np.zeros(n, dtype=np.int64)
        for column, level in zip(columns, node, strict=True):
            column_codes = codes(column, level)
            # re-coded after each column, so the combined key stays below n (no overflow)
            key = pd.factorize(key * (int(column_codes.max()) + 1) + column_codes)[0]
        counts = np.bincount(key)
        return counts[key] < k, int((counts >= k).sum())

    def loss_of(node: tuple) -> Fraction:
        # Exact, so that nodes of equal loss tie exactly.
        return sum(
            (Fraction(level, h) for level, h in zip(node, heights, strict=True) if h), Fraction(0)
        ) / len(columns)

    budget = max_suppression * n
    # (loss, node) pairs sort by loss, then in column order (itertools.product's order)
    ranked = sorted(
        (loss_of(node), node) for node in itertools.product(*(range(h + 1) for h in heights))
    )
    best, searched = None, 0
    for loss, node in ranked:
        if best is not None and loss > best[0]:
            break  # every node of the least qualifying loss has been measured
        bad, n_classes = measure(node)
        searched += 1
        if bad.sum() <= budget:
            key = (loss, int(bad.sum()), -n_classes)
            if best is None or key < best[:3]:
                best = (*key, node, bad)
    if best is None:  # possible only when a hierarchy cannot coarsen its column (height 0)
        raise ValueError(
            f"the table cannot reach k={k}: even with every column at its top level, more than "
            f"max_suppression={max_suppression} of its {n} records sit in classes smaller than k"
        )
    *_, node, bad = best
    levels = dict(zip(columns, node, strict=True))
    released = generalize(df, {c: (hierarchies[c], levels[c]) for c in columns})
    released = released[~bad]
    loss = {c: levels[c] / hierarchies[c].height if hierarchies[c].height else 0.0 for c in columns}
    return GeneralizationResult(
        data=released,
        levels={c: hierarchies[c].level_names[levels[c]] for c in columns},
        k=k_anonymity(released, columns),
        n_suppressed=int(bad.sum()),
        information_loss=float(np.mean(list(loss.values()))),
        loss_per_column=loss,
        n_classes=int(
            _comparable(released, columns).groupby(columns, dropna=False, sort=False).ngroups
        ),
        lattice_size=lattice_size,
        nodes_searched=searched,
    )


# ------------------------------------------------------------------ date perturbation


def shift_dates(dates, max_days: int, rng=None):
    """Shift each date by its own uniform random whole number of days in [-max_days, max_days].

    The perturbation the Australian MBS/PBS 10% sample applied to dates of service
    (2016), which did not stop patients from being re-identified: C. Culnane,
    B. I. P. Rubinstein and V. Teague, "Health Data in an Open World", 2017,
    https://arxiv.org/abs/1712.05627 . Each record draws one offset, independently and
    uniformly from the 2 * max_days + 1 whole-day values (so a patient whose records are
    to move together must be shifted as one record and the offset reused). Missing
    dates (NaT) stay missing; times of day are kept.

    Parameters
    ----------
    dates : pandas Series, DatetimeIndex or numpy array of datetime64 values
        The dates to shift, one per record (timezone-aware dates are allowed).
    max_days : int >= 0
        Largest shift in days, either way; 0 returns the dates unchanged.
    rng : numpy Generator, int seed or None
        Source of the offsets (one ``rng.integers`` draw of ``len(dates)`` values).

    Returns
    -------
    The shifted dates, of the same kind as ``dates`` (a Series keeps its index and name).
    """
    max_days = check_integer(max_days, "max_days", minimum=0)
    if not isinstance(dates, (pd.Series, pd.Index, np.ndarray)):
        raise TypeError(
            "dates must be a pandas Series, a DatetimeIndex or a numpy datetime64 array; "
            f"got {type(dates).__name__}"
        )
    if not pd.api.types.is_datetime64_any_dtype(dates.dtype):
        raise TypeError(f"dates must hold datetime64 values; got dtype {dates.dtype}")
    if isinstance(dates, np.ndarray) and dates.ndim != 1:
        raise ValueError(f"dates must be one-dimensional; got shape {dates.shape}")
    rng = check_rng(rng)
    offsets = pd.to_timedelta(rng.integers(-max_days, max_days + 1, size=len(dates)), unit="D")
    if isinstance(dates, pd.Series):
        return dates + offsets.to_numpy()
    if isinstance(dates, pd.Index):
        return dates + offsets
    return (pd.DatetimeIndex(dates) + offsets).to_numpy()
