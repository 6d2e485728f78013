"""Attacks that show what leaks: linkage, differencing and membership inference on aggregates.

(Gradient inversion lives in helpers.federated and the loss-threshold membership-inference
attack on models in helpers.dp_learning, next to what they attack.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers._validation import check_columns, check_real, check_real_array, comparable_values

# --- linkage and differencing attacks (notebook 01) -------------------------------------


@dataclass(frozen=True)
class LinkageScore:
    """How many links of a linkage attack were right, checked against an answer key.

    n_released : records in the release.   n_linked : records the attack linked.
    n_correct : links to the right person.
    precision : n_correct / n_linked (how far to trust a link; nan with no links).
    correct_rate : n_correct / n_released (the share of the release truly re-identified).
    """

    n_released: int
    n_linked: int
    n_correct: int

    @property
    def precision(self) -> float:
        return self.n_correct / self.n_linked if self.n_linked else float("nan")

    @property
    def correct_rate(self) -> float:
        return self.n_correct / self.n_released


@dataclass(frozen=True)
class LinkageResult:
    """The outcome of ``linkage_attack``.

    pairs : DataFrame, one row per released record linked to exactly one auxiliary
        record, columns ``released_id`` and ``auxiliary_id`` (the attacker's claims).
    candidates : Series indexed like the release: how many auxiliary records share each
        released record's quasi-identifiers (0 = unmatched, 1 = unique, >1 = ambiguous).
    n_released, n_unique, n_ambiguous, n_unmatched : record counts (they add up).
    quasi_identifiers : the columns joined on.
    """

    pairs: pd.DataFrame
    candidates: pd.Series
    n_released: int
    n_unique: int
    n_ambiguous: int
    n_unmatched: int
    quasi_identifiers: tuple

    @property
    def reidentification_rate(self) -> float:
        """Released records linked to exactly one auxiliary record, over all released records."""
        return self.n_unique / self.n_released

    def score(self, truth: pd.Series, released_key: pd.Series | None = None) -> LinkageScore:
        """Check the links against an answer key.

        Parameters
        ----------
        truth : Series mapping auxiliary_id -> the released person's key, missing where the
            auxiliary record is nobody in the release (e.g. the answer key of
            ``helpers.data.voter_roll(..., return_truth=True)``: voter_id -> patient_id).
        released_key : optional Series mapping released_id -> that key (e.g.
            ``population["patient_id"]`` when released_id is the population's index). By
            default the released_id itself is the key.
        """
        if not isinstance(truth, pd.Series):
            raise TypeError(f"truth must be a pandas Series; got {type(truth).__name__}")
        if not truth.index.is_unique:
            raise ValueError("truth must have a unique index (one answer per auxiliary record)")
        claimed = self.pairs["released_id"]
        if released_key is not None:
            if not isinstance(released_key, pd.Series):
                raise TypeError(
                    f"released_key must be a pandas Series; got {type(released_key).__name__}"
                )
            claimed = claimed.map(released_key)
        actual = self.pairs["auxiliary_id"].map(truth)
        correct = (claimed.to_numpy() == actual.to_numpy()) & actual.notna().to_numpy()
        return LinkageScore(
            n_released=self.n_released, n_linked=len(self.pairs), n_correct=int(correct.sum())
        )


def linkage_attack(
    released: pd.DataFrame,
    auxiliary: pd.DataFrame,
    quasi_identifiers,
    *,
    released_id: str | None = None,
    auxiliary_id: str | None = None,
) -> LinkageResult:
    """Link a "de-identified" release to a public list on shared quasi-identifiers.

    The attack of Sweeney's Massachusetts GIC demonstration: join the release to an
    identified list (a voter roll) on columns both hold; a released record whose values
    match exactly one listed person is re-identified as that person. Vectorised: one
    groupby and two merges, so 100,000 x 60,000 records take well under a second
    (``benchmarks/linkage.py`` measures it).

    Parameters
    ----------
    released : DataFrame, the release (one row per record).
    auxiliary : DataFrame, the attacker's identified list.
    quasi_identifiers : column names present in both, compared as an attacker would: one
        value spelled two ways is one value ("F" and " f ", 1 and 1.0, a date in seconds
        and in nanoseconds; ``helpers._validation.COMPARISON_RULES`` lists what is
        normalised). Values must still be of the same kind (text vs numbers vs dates is
        refused) and granularity: coarsen the list the way the release was coarsened.
        Records with a missing quasi-identifier match nothing (they count as unmatched).
    released_id : column of ``released`` identifying its records; default its index.
    auxiliary_id : column of ``auxiliary`` identifying its records (e.g. "voter_id");
        default its index.

    Returns a ``LinkageResult``. A released record is unique when exactly one auxiliary
    record shares its values; if two released records share them, both are linked to that
    person and at most one can be right (``LinkageResult.score`` counts this).

    Reference: L. Sweeney, "k-anonymity: a model for protecting privacy", International
    Journal of Uncertainty, Fuzziness and Knowledge-Based Systems 10(5):557-570, 2002,
    https://doi.org/10.1142/S0218488502001648
    """
    if isinstance(quasi_identifiers, str):
        quasi_identifiers = [quasi_identifiers]
    if quasi_identifiers is None or not list(quasi_identifiers):
        raise ValueError("quasi_identifiers must name at least one column")
    columns = check_columns(released, quasi_identifiers, "released")
    check_columns(auxiliary, columns, "auxiliary")
    rel_keys, aux_keys = {}, {}
    for column in columns:
        rel_keys[column] = comparable_values(released[column], f"released[{column!r}]")
        aux_keys[column] = comparable_values(auxiliary[column], f"auxiliary[{column!r}]")
        if _kind(rel_keys[column]) != _kind(aux_keys[column]):
            raise ValueError(
                f"quasi-identifier {column!r} holds {_kind(rel_keys[column])} values in "
                f"released (dtype {released[column].dtype}) but {_kind(aux_keys[column])} "
                f"values in auxiliary (dtype {auxiliary[column].dtype}); convert one so "
                "values can match"
            )
    released_ids = _ids(released, released_id, "released_id", "released")
    auxiliary_ids = _ids(auxiliary, auxiliary_id, "auxiliary_id", "auxiliary")

    aux = pd.DataFrame(aux_keys, index=auxiliary.index)
    aux = aux.assign(_aux_id=auxiliary_ids.to_numpy()).dropna(subset=columns)
    # Per combination of values: how many listed people, and (for singletons) which one.
    groups = aux.groupby(columns, sort=False, observed=True)["_aux_id"].agg(["size", "first"])
    groups = groups.reset_index()

    rel = pd.DataFrame(rel_keys, index=released.index)
    rel = rel.assign(_rel_id=released_ids.to_numpy(), _row=np.arange(len(released)))
    joined = rel.dropna(subset=columns).merge(groups, on=columns, how="inner", sort=False)
    candidates = np.zeros(len(released), dtype=np.int64)
    candidates[joined["_row"].to_numpy()] = joined["size"].to_numpy()

    unique = joined[joined["size"] == 1].sort_values("_row", kind="stable")
    pairs = pd.DataFrame(
        {"released_id": unique["_rel_id"].to_numpy(), "auxiliary_id": unique["first"].to_numpy()}
    )
    n_unique = int((candidates == 1).sum())
    n_unmatched = int((candidates == 0).sum())
    return LinkageResult(
        pairs=pairs,
        candidates=pd.Series(candidates, index=released.index, name="candidates"),
        n_released=len(released),
        n_unique=n_unique,
        n_ambiguous=len(released) - n_unique - n_unmatched,
        n_unmatched=n_unmatched,
        quasi_identifiers=tuple(columns),
    )


def _kind(values: pd.Series) -> str:
    """Kind of a comparable column, so text-vs-number or date-vs-text joins fail loudly."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date"
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "number"
    return "text" if values.notna().any() else "missing"


def _ids(df: pd.DataFrame, column: str | None, name: str, frame: str) -> pd.Series:
    if column is None:
        if not df.index.is_unique:
            raise ValueError(f"{frame} has a repeated index; pass {name} to name an id column")
        return pd.Series(df.index, index=df.index)
    check_columns(df, [column], frame)
    if not df[column].is_unique:
        raise ValueError(f"{name} column {column!r} of {frame} must hold unique ids")
    return df[column]


@dataclass(frozen=True)
class DifferencingResult:
    """The outcome of ``differencing_attack``.

    count_with : the count over all records matching the condition.
    count_without : the same count with the target's record removed.
    difference : count_with - count_without (1 for a matching target under exact counts).
    inferred : the attacker's conclusion, True if the difference is >= 0.5.
    truth : whether the target really matches the condition.
    """

    count_with: float
    count_without: float
    inferred: bool
    truth: bool

    @property
    def difference(self) -> float:
        return self.count_with - self.count_without

    @property
    def correct(self) -> bool:
        return self.inferred == self.truth


def differencing_attack(records, target_id, condition, count=None, id_column="patient_id"):
    """Learn one patient's attribute from two aggregate counts, with and without them.

    A statistics service answers "how many patients have HIV?" and "how many patients
    other than patient P have HIV?"; the difference is P's diagnosis. Any exact aggregate
    released over overlapping groups allows this, however large the groups.

    Parameters
    ----------
    records : DataFrame, one row per patient.
    target_id : the target's value in ``id_column`` (must occur exactly once).
    condition : what is counted: a callable DataFrame -> boolean Series (aligned with the
        frame), or a (column, value) pair meaning ``df[column] == value``.
    count : callable DataFrame -> float applied to the matching records; default the exact
        row count. Pass a differentially private count to see the attack fail, e.g.
        ``count=lambda df: dp.dp_count(...)``; note that the attack asks it twice, so the
        privacy costs of both answers add up.
    id_column : column holding patient ids.

    Returns a ``DifferencingResult``.

    Reference: I. Dinur and K. Nissim, "Revealing information while preserving privacy",
    PODS 2003, https://doi.org/10.1145/773153.773173 (why exact answers to many counts
    leak); C. Dwork and A. Roth, "The Algorithmic Foundations of Differential Privacy",
    2014, https://doi.org/10.1561/0400000042 (the differencing example that motivates DP).
    """
    check_columns(records, [id_column], "records")
    is_target = (records[id_column] == target_id).to_numpy()
    if is_target.sum() != 1:
        raise ValueError(
            f"target_id {target_id!r} must occur exactly once in records[{id_column!r}]; "
            f"found {int(is_target.sum())} times"
        )
    select = _condition(condition, records)
    count = _row_count if count is None else count
    if not callable(count):
        raise TypeError(f"count must be a callable DataFrame -> float or None; got {count!r}")

    others = records[~is_target]
    mask_all = select(records)
    mask_others = select(others)
    count_with = float(count(records[mask_all]))
    count_without = float(count(others[mask_others]))
    return DifferencingResult(
        count_with=count_with,
        count_without=count_without,
        inferred=bool(count_with - count_without >= 0.5),
        truth=bool(mask_all[is_target][0]),
    )


def _row_count(df: pd.DataFrame) -> float:
    return float(len(df))


def _condition(condition, records: pd.DataFrame):
    """Turn a callable or a (column, value) pair into a function df -> boolean array."""
    if isinstance(condition, tuple):
        if len(condition) != 2:
            raise ValueError(f"condition must be a (column, value) pair; got {condition!r}")
        column, value = condition
        check_columns(records, [column], "records")

        def select(df):
            return (df[column] == value).to_numpy()

        return select
    if not callable(condition):
        raise TypeError(
            "condition must be a callable DataFrame -> boolean Series or a (column, value) "
            f"pair; got {type(condition).__name__}"
        )

    def select(df):
        mask = condition(df)
        mask = np.asarray(mask)
        if mask.shape != (len(df),) or mask.dtype != bool:
            raise ValueError(
                "condition(df) must return one boolean per row; got "
                f"dtype {mask.dtype}, shape {mask.shape} for {len(df)} rows"
            )
        return mask

    return select


# --- membership inference on aggregate statistics (case study 06) -----------------------


def allele_frequencies(genotypes) -> np.ndarray:
    """Per-SNP frequency of the counted allele in a group: what a GWAS summary file releases.

    Parameters
    ----------
    genotypes : array of shape (n_people, n_snps) with values 0, 1 or 2 (allele counts).

    Returns an array of length n_snps with values in [0, 1]: column means divided by 2.
    """
    genotypes = _check_genotypes(genotypes, "genotypes")
    return genotypes.mean(axis=0, dtype=float) / 2.0


def homer_statistic(targets, mixture_frequencies, reference_frequencies) -> np.ndarray:
    """Homer et al.'s membership test statistic for each target person's genotype.

    For target i and SNP j let Y_ij = genotype / 2, M_j the released frequency of the study
    group ("mixture") and R_j the frequency in a reference population. Homer et al. define

        D_ij = |Y_ij - R_j| - |Y_ij - M_j|

    which is positive on average when the target's genotype pulls the mixture towards it,
    that is, when the target is in the group. The statistic is the one-sample t statistic
    of D_i. over the SNPs, T_i = mean(D_i.) / (sd(D_i.) / sqrt(n_snps)). When the target is
    not in the group and the reference comes from the same population, T_i is close to a
    standard normal variable; members score higher.

    Parameters
    ----------
    targets : array (n_targets, n_snps) of genotypes 0/1/2, or one genotype (n_snps,).
    mixture_frequencies : array (n_snps,), the released group frequencies. Values outside
        [0, 1] (possible after noise is added) are clipped to [0, 1].
    reference_frequencies : array (n_snps,) in [0, 1], frequencies in a reference population.

    Returns an array (n_targets,) of T statistics (a float for a single genotype).

    Reference: N. Homer, S. Szelinger, M. Redman et al., "Resolving individuals contributing
    trace amounts of DNA to highly complex mixtures using high-density SNP genotyping
    microarrays", PLoS Genetics 4(8): e1000167, 2008,
    https://doi.org/10.1371/journal.pgen.1000167
    """
    single = np.ndim(targets) == 1
    targets = _check_genotypes(np.atleast_2d(targets), "targets")
    n_snps = targets.shape[1]
    if n_snps < 2:
        raise ValueError(f"targets need at least 2 SNPs for a t statistic; got {n_snps}")
    mixture = _check_frequencies(mixture_frequencies, "mixture_frequencies", n_snps, clip=True)
    reference = _check_frequencies(reference_frequencies, "reference_frequencies", n_snps)
    # D takes one of three values per SNP (genotype 0, 1 or 2): tabulate, then look up.
    halves = np.array([0.0, 0.5, 1.0])[:, None]
    table = np.abs(halves - reference) - np.abs(halves - mixture)
    distances = table[targets, np.arange(n_snps)]
    spread = distances.std(axis=1, ddof=1)
    # A target identical at every SNP in both comparisons has no spread: no evidence either way.
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(spread > 0, distances.mean(axis=1) / (spread / np.sqrt(n_snps)), 0.0)
    return float(t[0]) if single else t


def membership_power(member_scores, non_member_scores, false_positive_rate: float = 0.05) -> float:
    """Share of members an attacker flags when only ``false_positive_rate`` of non-members are.

    The threshold is the (1 - false_positive_rate) quantile of the non-member scores (the
    attacker calibrates on people known to be outside the group); a member is flagged when
    its score is above it. 1.0 means every member is found; about ``false_positive_rate``
    means the scores carry no information about membership.

    Parameters
    ----------
    member_scores, non_member_scores : 1-D arrays of scores (higher = more likely a member).
    false_positive_rate : float in (0, 1).
    """
    members = _check_scores(member_scores, "member_scores")
    non_members = _check_scores(non_member_scores, "non_member_scores")
    rate = check_real(
        false_positive_rate,
        "false_positive_rate",
        low=0.0,
        high=1.0,
        low_inclusive=False,
        high_inclusive=False,
    )
    threshold = np.quantile(non_members, 1.0 - rate)
    return float(np.mean(members > threshold))


def _check_genotypes(genotypes, name: str) -> np.ndarray:
    """Allele counts as a 2-D int8 array; anything but 0, 1 or 2 is an error."""
    array = np.asarray(genotypes)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D array (people x SNPs); got shape {array.shape}"
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must hold allele counts 0, 1 or 2 only")
    if not np.issubdtype(array.dtype, np.integer) and not np.array_equal(array, np.round(array)):
        raise ValueError(f"{name} must hold allele counts 0, 1 or 2 only")
    if array.min() < 0 or array.max() > 2:
        raise ValueError(f"{name} must hold allele counts 0, 1 or 2 only")
    return array.astype(np.int8)


def _check_frequencies(frequencies, name: str, n_snps: int, clip: bool = False) -> np.ndarray:
    array = check_real_array(frequencies, name)
    if array.shape != (n_snps,):
        raise ValueError(f"{name} must have shape ({n_snps},), one per SNP; got {array.shape}")
    if clip:
        return np.clip(array, 0.0, 1.0)
    if array.min() < 0 or array.max() > 1:
        raise ValueError(f"{name} must be in [0, 1]")
    return array


def _check_scores(scores, name: str) -> np.ndarray:
    array = check_real_array(scores, name)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers")
    return array
