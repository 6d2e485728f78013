"""helpers.deid: Safe Harbor, generalisation hierarchies, k-anonymity, l-diversity, cheapest k."""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import data, deid


@pytest.fixture(scope="module")
def population():
    return data.synthetic_population(20_000, rng=11)


@pytest.fixture(scope="module")
def released(population):
    return deid.safe_harbor(population)


# ------------------------------------------------------------------ Safe Harbor


def test_restricted_zip3_2000_list_has_17_distinct_three_digit_codes():
    codes = deid.RESTRICTED_ZIP3_2000
    assert len(codes) == 17 == len(set(codes))
    assert all(len(c) == 3 and c.isdigit() for c in codes)
    assert list(codes) == sorted(codes)


def test_safe_harbor_lists_the_18_identifier_kinds():
    assert list(deid.SAFE_HARBOR_IDENTIFIERS) == [chr(c) for c in range(ord("A"), ord("R") + 1)]


def test_restricted_zip3_of_the_synthetic_region_matches_its_populations():
    populations = data.zip3_populations()
    restricted = deid.restricted_zip3()
    assert restricted == sorted(populations.index[populations <= 20_000])
    assert len(restricted) == 8
    assert all(populations[z] <= 20_000 for z in restricted)


def test_restricted_zip3_accepts_a_dataframe_and_a_threshold():
    table = pd.DataFrame({"zip3": ["100", "100", "200"], "population": [15_000, 6_000, 20_000]})
    assert deid.restricted_zip3(table) == ["200"]  # 100 holds 21,000 people in all
    assert deid.restricted_zip3(table, threshold=25_000) == ["100", "200"]


def test_safe_harbor_removes_every_identifier_kind_the_data_carries(released):
    removed_roles = ("direct identifier", "geographic subdivision")
    for column, role in data.COLUMN_ROLES.items():
        if role.startswith(removed_roles) or "date" in role or column == "zip5":
            assert column not in released.columns, column
    assert {"patient_id", "mrn", "name", "street_address", "phone", "city"}.isdisjoint(released)
    assert not any(c.endswith("_date") for c in released.columns)


def test_safe_harbor_keeps_years_only_and_groups_ages_over_89(population, released):
    assert set(released["age"]) <= {str(a) for a in range(90)} | {"90+"}
    old = population["age"] > 89
    assert old.any()
    assert (released.loc[old, "age"] == "90+").all()
    assert released.loc[old, "birth_year"].isna().all()  # a birth year reveals the age
    young = ~old
    assert (released.loc[young, "birth_year"] == population.loc[young, "birth_date"].dt.year).all()
    assert (released["admission_year"] == population["admission_date"].dt.year).all()


def test_safe_harbor_cuts_zips_to_three_digits_and_zeroes_small_areas(population, released):
    assert (released["zip3"].str.len() == 3).all()
    prefix = population["zip5"].str[:3]
    small = prefix.isin(deid.restricted_zip3())
    assert small.any() and (~small).any()
    assert (released.loc[small, "zip3"] == "000").all()
    assert (released.loc[~small, "zip3"] == prefix[~small]).all()


def test_safe_harbor_zeroes_areas_missing_from_the_population_table(population):
    only_some = data.zip3_populations().iloc[:5]
    out = deid.safe_harbor(population, zip3_population=only_some)
    kept = set(out["zip3"]) - {"000"}
    assert kept <= set(only_some.index[only_some > 20_000])


def test_safe_harbor_on_a_voter_roll_derives_age_from_birth_date(population):
    roll = data.voter_roll(population, rng=3)
    out = deid.safe_harbor(roll, keep=["voter_id", "registration_year"])
    assert {"name", "street_address", "city", "zip5", "birth_date"}.isdisjoint(out)
    assert {"voter_id", "zip3", "birth_year", "sex"} <= set(out)
    old = data._age_at(roll["birth_date"], data.REFERENCE_DATE) > 89
    assert out.loc[old, "birth_year"].isna().all()


def test_safe_harbor_a_broken_variant_is_caught(population):
    # A "Safe Harbor" that forgets the age rule leaves birth years of people over 89.
    broken = population.assign(birth_year=population["birth_date"].dt.year)
    assert broken.loc[population["age"] > 89, "birth_year"].notna().any()


def test_safe_harbor_validation():
    with pytest.raises(TypeError, match="DataFrame"):
        deid.safe_harbor([1, 2])
    with pytest.raises(ValueError, match="empty"):
        deid.safe_harbor(pd.DataFrame({"zip5": []}))
    with pytest.raises(ValueError, match="non-negative"):
        deid.restricted_zip3(pd.Series([-1], index=["123"]))
    with pytest.raises(ValueError, match="threshold"):
        deid.restricted_zip3(threshold=-5)


# ------------------------------------------------------------------ measures on known tables

TABLE = pd.DataFrame(
    {
        "zip": ["13053", "13068", "13068", "13053", "14853", "14853", "14850", "14850"],
        "age": [28, 29, 21, 23, 50, 55, 47, 49],
        "sex": ["F", "F", "F", "F", "M", "M", "M", "M"],
        "disease": ["heart", "heart", "flu", "cancer", "cancer", "cancer", "flu", "heart"],
    }
)


def test_k_and_l_on_a_known_table():
    assert deid.k_anonymity(TABLE, ["zip", "age", "sex"]) == 1
    assert deid.k_anonymity(TABLE, ["sex"]) == 4
    assert deid.l_diversity(TABLE, ["sex"], "disease") == 3
    coarse = deid.generalize(
        TABLE,
        {"zip": (deid.zip_hierarchy(), 2), "age": (deid.numeric_hierarchy((10,)), 1)},
    )
    assert coarse["zip"].tolist()[:2] == ["130**", "130**"]
    assert coarse["age"].tolist()[0] == "[20, 30)"
    assert deid.k_anonymity(coarse, ["zip", "age"]) == 2
    # 148** men aged [50, 60): both have cancer - a homogeneous class.
    assert deid.l_diversity(coarse, ["zip", "age"], "disease") == 1
    assert deid.uniqueness(TABLE, ["zip", "sex"]) == 0.0


def test_equivalence_classes_report_what_a_class_reveals():
    coarse = deid.generalize(
        TABLE,
        {"zip": (deid.zip_hierarchy(), 2), "age": (deid.numeric_hierarchy((10,)), 1)},
    )
    classes = deid.equivalence_classes(coarse, ["zip", "age"], "disease")
    assert classes["size"].sum() == len(TABLE)
    assert list(classes["size"]) == sorted(classes["size"])
    homogeneous = classes[classes["distinct"] == 1]
    assert len(homogeneous) == 1
    row = homogeneous.iloc[0]
    assert (row["zip"], row["age"], row["top_value"], row["top_share"]) == (
        "148**",
        "[50, 60)",
        "cancer",
        1.0,
    )
    assert set(deid.equivalence_classes(TABLE, ["sex"]).columns) == {"sex", "size"}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 4)), min_size=1, max_size=40
    )
)
def test_k_l_and_uniqueness_agree_with_brute_force(rows):
    df = pd.DataFrame(rows, columns=["a", "b", "s"])
    groups = {}
    for a, b, s in rows:
        groups.setdefault((a, b), []).append(s)
    assert deid.k_anonymity(df, ["a", "b"]) == min(len(v) for v in groups.values())
    assert deid.l_diversity(df, ["a", "b"], "s") == min(len(set(v)) for v in groups.values())
    unique = sum(len(v) == 1 for v in groups.values()) / len(rows)
    assert deid.uniqueness(df, ["a", "b"]) == pytest.approx(unique)
    # Adding a quasi-identifier never raises k.
    assert deid.k_anonymity(df, ["a", "b", "s"]) <= deid.k_anonymity(df, ["a", "b"])


def test_hierarchies_nest():
    dates = pd.Series(pd.to_datetime(["1961-07-31", "1961-07-02", "1964-01-01", "1970-05-05"]))
    h = deid.date_hierarchy()
    assert h.apply(dates, "month").tolist()[:2] == ["1961-07", "1961-07"]
    assert h.apply(dates, "5 years").tolist() == ["1960-1964"] * 3 + ["1970-1974"]
    assert h.apply(dates, h.height).tolist() == ["*"] * 4
    zips = pd.Series(["02138", "02139"])
    assert deid.zip_hierarchy().apply(zips, 5).tolist() == ["*****"] * 2
    for level in range(1, h.height + 1):
        finer = h.apply(dates, level - 1).astype(str)
        coarser = h.apply(dates, level).astype(str)
        for i in range(len(dates)):
            for j in range(len(dates)):
                if finer[i] == finer[j]:
                    assert coarser[i] == coarser[j]


def test_generalize_validation():
    with pytest.raises(ValueError, match="no level 'decade'"):
        deid.generalize(TABLE, {"age": (deid.numeric_hierarchy(), "decade")})
    with pytest.raises(ValueError, match="levels 0 to 4"):
        deid.generalize(TABLE, {"age": (deid.numeric_hierarchy(), 7)})
    with pytest.raises(ValueError, match="no column"):
        deid.generalize(TABLE, {"height": (deid.numeric_hierarchy(), 1)})
    with pytest.raises(ValueError, match="empty"):
        deid.generalize(TABLE.iloc[:0], {"age": (deid.numeric_hierarchy(), 1)})
    with pytest.raises(ValueError, match="pair"):
        deid.generalize(TABLE, {"age": deid.numeric_hierarchy()})
    with pytest.raises(ValueError, match="non-empty mapping"):
        deid.generalize(TABLE, {})
    with pytest.raises(ValueError, match="divide"):
        deid.numeric_hierarchy((5, 7))


def test_measure_validation():
    with pytest.raises(ValueError, match="no column"):
        deid.k_anonymity(TABLE, ["zip", "height"])
    with pytest.raises(ValueError, match="empty"):
        deid.k_anonymity(TABLE.iloc[:0], ["zip"])
    with pytest.raises(ValueError, match="at least one"):
        deid.k_anonymity(TABLE, [])
    with pytest.raises(ValueError, match="must not be a quasi-identifier"):
        deid.l_diversity(TABLE, ["zip", "disease"], "disease")
    with pytest.raises(TypeError, match="DataFrame"):
        deid.uniqueness(TABLE.to_dict(), ["zip"])


# ------------------------------------------------------------------ the cheapest generalisation

HIERARCHIES = {
    "zip3": deid.zip_hierarchy(3),
    "birth_year": deid.numeric_hierarchy((5, 10, 20), "year"),
    "sex": deid.suppression_hierarchy("sex"),
}


@pytest.mark.parametrize("k", [2, 5, 25])
def test_generaliser_reaches_k_without_suppression(released, k):
    result = deid.generalize_to_k(released, HIERARCHIES, k)
    assert result.k >= k
    assert deid.k_anonymity(result.data, list(HIERARCHIES)) == result.k
    assert result.n_suppressed == 0 and len(result.data) == len(released)
    assert 0 < result.information_loss <= 1
    assert 1 < result.nodes_searched <= result.lattice_size == 4 * 5 * 2  # it started at k = 1
    assert result.information_loss == pytest.approx(np.mean(list(result.loss_per_column.values())))


def test_generaliser_suppression_buys_lower_loss(released):
    strict = deid.generalize_to_k(released, HIERARCHIES, 5)
    lenient = deid.generalize_to_k(released, HIERARCHIES, 5, max_suppression=0.05)
    assert lenient.k >= 5 and strict.k >= 5
    assert 0 < lenient.n_suppressed <= 0.05 * len(released)
    assert lenient.suppressed_share == pytest.approx(lenient.n_suppressed / len(released))
    assert lenient.information_loss < strict.information_loss


def test_generaliser_leaves_an_anonymous_table_alone():
    result = deid.generalize_to_k(TABLE, {"sex": deid.suppression_hierarchy()}, 4)
    assert result.nodes_searched == 1 and result.information_loss == 0 and result.k == 4


def _every_node(df, hierarchies, k):
    """Brute force: (loss, suppressed, classes kept, levels) of every node of the lattice."""
    columns = list(hierarchies)
    heights = [hierarchies[c].height for c in columns]
    rows = []
    for node in itertools.product(*(range(h + 1) for h in heights)):
        table = deid.generalize(
            df, {c: (hierarchies[c], lv) for c, lv in zip(columns, node, strict=True)}
        )
        sizes = table.groupby(columns, dropna=False)[columns[0]].transform("size")
        kept = table[sizes >= k].groupby(columns, dropna=False).ngroups
        loss = np.mean([lv / h for lv, h in zip(node, heights, strict=True)])
        rows.append((loss, int((sizes < k).sum()), kept, node))
    return rows


@pytest.mark.parametrize(
    "k, max_suppression", [(2, 0.0), (10, 0.0), (10, 0.01), (25, 0.002), (60, 0.0)]
)
def test_generaliser_returns_the_cheapest_node_of_the_lattice(released, k, max_suppression):
    """Against a brute-force measurement of all 40 nodes: no node that meets the suppression
    budget loses less information, and among those that lose as little none suppresses fewer
    records or keeps more classes. (A greedy search fails this: at k = 10 without
    suppression it coarsened sex needlessly.)"""
    sample = released.head(4_000)
    result = deid.generalize_to_k(sample, HIERARCHIES, k, max_suppression=max_suppression)
    allowed = [
        r for r in _every_node(sample, HIERARCHIES, k) if r[1] <= max_suppression * len(sample)
    ]
    least = min(r[0] for r in allowed)
    assert result.information_loss == pytest.approx(least, abs=1e-12)
    ties = [r for r in allowed if abs(r[0] - least) < 1e-12]
    assert result.n_suppressed == min(r[1] for r in ties)
    assert result.n_classes == max(r[2] for r in ties if r[1] == result.n_suppressed)
    assert result.k >= k and deid.k_anonymity(result.data, list(HIERARCHIES)) == result.k
    assert len(result.data) + result.n_suppressed == len(sample)


def test_generaliser_refuses_a_lattice_too_large_to_search():
    wide = pd.DataFrame({f"d{i}": ["2000-01-01", "2001-02-03"] for i in range(5)})
    hierarchies = {c: deid.date_hierarchy() for c in wide}  # 6 ** 5 = 7,776 nodes
    with pytest.raises(ValueError, match="lattice of 7,776 nodes"):
        deid.generalize_to_k(wide, hierarchies, 2)


def test_generaliser_says_when_no_node_reaches_k():
    fixed = deid.Hierarchy("sex", (("value", lambda s: s),))  # height 0: cannot be coarsened
    with pytest.raises(ValueError, match="cannot reach k=5"):
        deid.generalize_to_k(TABLE, {"sex": fixed}, 5)


def test_generaliser_validation():
    h = {"sex": deid.suppression_hierarchy()}
    with pytest.raises(ValueError, match="k must be >= 1"):
        deid.generalize_to_k(TABLE, h, 0)
    with pytest.raises(ValueError, match="k must be <= the number of records"):
        deid.generalize_to_k(TABLE, h, 9)
    with pytest.raises(ValueError, match="max_suppression"):
        deid.generalize_to_k(TABLE, h, 2, max_suppression=1.0)
    with pytest.raises(ValueError, match="no column"):
        deid.generalize_to_k(TABLE, {"height": deid.suppression_hierarchy()}, 2)
    with pytest.raises(ValueError, match="must be a Hierarchy"):
        deid.generalize_to_k(TABLE, {"sex": "*"}, 2)
    with pytest.raises(ValueError, match="empty"):
        deid.generalize_to_k(TABLE.iloc[:0], h, 1)


# ------------------------------------------------------------------ date shifting

DATES = pd.Series(
    pd.to_datetime(["2016-08-01", "2016-09-28 13:45", None, "2017-12-14"], format="ISO8601"),
    index=[10, 11, 12, 13],
    name="service_date",
)


def _offsets_look_uniform(offsets, max_days):
    """Chi-square test of whole-day offsets against the uniform law on [-max_days, max_days]."""
    from scipy import stats

    values = np.arange(-max_days, max_days + 1)
    observed = pd.Series(offsets).value_counts().reindex(values, fill_value=0)
    if observed.sum() != len(offsets):  # an offset outside the range
        return False
    return stats.chisquare(observed.to_numpy()).pvalue > 1e-3


def _offsets(shifted, dates):
    return ((shifted - dates) / pd.Timedelta(days=1)).to_numpy()


def test_shift_dates_offsets_are_uniform_whole_days_per_record():
    dates = pd.Series(pd.Timestamp("2016-08-01"), index=range(60_000))
    offsets = _offsets(deid.shift_dates(dates, 14, rng=3), dates)
    assert np.array_equal(offsets, np.round(offsets))
    assert offsets.min() == -14 and offsets.max() == 14
    assert _offsets_look_uniform(offsets.astype(int), 14)
    # Moments of the discrete uniform on [-14, 14]: mean 0, variance ((2*14+1)**2 - 1) / 12 = 70.
    assert abs(offsets.mean()) < 0.15
    assert abs(offsets.var() - 70) < 1.5
    # One offset per record, drawn independently: neighbouring records are uncorrelated.
    assert abs(np.corrcoef(offsets[:-1], offsets[1:])[0, 1]) < 0.02


def test_shift_dates_a_broken_variant_is_caught():
    rng = np.random.default_rng(3)
    exclusive = rng.integers(-14, 14, size=60_000)  # forgets the + 1: never shifts by +14
    assert not _offsets_look_uniform(exclusive, 14)
    one_for_all = np.full(60_000, rng.integers(-14, 15))  # one offset for every record
    assert not _offsets_look_uniform(one_for_all, 14)


def test_shift_dates_keeps_the_container_index_nat_time_and_timezone():
    shifted = deid.shift_dates(DATES, 30, rng=0)
    assert isinstance(shifted, pd.Series)
    assert list(shifted.index) == list(DATES.index) and shifted.name == "service_date"
    assert shifted.isna().tolist() == DATES.isna().tolist()
    assert (shifted.dt.time == DATES.dt.time)[DATES.notna()].all()
    expected = np.random.default_rng(0).integers(-30, 31, size=len(DATES))
    known = DATES.notna().to_numpy()
    assert np.array_equal(_offsets(shifted, DATES)[known], expected[known])

    index = deid.shift_dates(pd.DatetimeIndex(DATES), 30, rng=0)
    assert isinstance(index, pd.DatetimeIndex)
    assert index.equals(pd.DatetimeIndex(shifted))
    array = deid.shift_dates(DATES.to_numpy(), 30, rng=0)
    assert isinstance(array, np.ndarray)
    assert pd.DatetimeIndex(array).equals(pd.DatetimeIndex(shifted))
    aware = deid.shift_dates(DATES.dt.tz_localize("Australia/Melbourne"), 30, rng=0)
    assert str(aware.dt.tz) == "Australia/Melbourne"


def test_shift_dates_zero_days_changes_nothing_and_seeds_reproduce():
    assert deid.shift_dates(DATES, 0, rng=1).equals(DATES)
    assert deid.shift_dates(DATES, 7, rng=5).equals(deid.shift_dates(DATES, 7, rng=5))
    assert not deid.shift_dates(DATES, 365, rng=5).equals(deid.shift_dates(DATES, 365, rng=6))


@settings(max_examples=50, deadline=None)
@given(
    days=st.lists(st.integers(-30_000, 30_000), min_size=1, max_size=40),
    max_days=st.integers(0, 400),
    seed=st.integers(0, 2**32 - 1),
)
def test_shift_dates_never_moves_a_date_further_than_max_days(days, max_days, seed):
    dates = pd.Series(pd.Timestamp("2000-01-01") + pd.to_timedelta(days, unit="D"))
    offsets = _offsets(deid.shift_dates(dates, max_days, rng=seed), dates)
    assert np.all(np.abs(offsets) <= max_days)
    assert np.array_equal(offsets, np.round(offsets))


def test_shift_dates_validation():
    with pytest.raises(ValueError, match="max_days must be >= 0"):
        deid.shift_dates(DATES, -1)
    with pytest.raises(TypeError, match="max_days must be an integer"):
        deid.shift_dates(DATES, 1.5)
    with pytest.raises(TypeError, match="max_days must be an integer"):
        deid.shift_dates(DATES, True)
    with pytest.raises(TypeError, match="dates must be a pandas Series"):
        deid.shift_dates(["2016-08-01"], 3)
    with pytest.raises(TypeError, match="dates must hold datetime64"):
        deid.shift_dates(pd.Series([1, 2, 3]), 3)
    with pytest.raises(TypeError, match="dates must hold datetime64"):
        deid.shift_dates(pd.Series(["2016-08-01"]), 3)
    with pytest.raises(ValueError, match="one-dimensional"):
        deid.shift_dates(np.array([["2016-08-01"]], dtype="datetime64[D]"), 3)
    with pytest.raises(TypeError, match="rng"):
        deid.shift_dates(DATES, 3, rng="seed")


# ------------------------------------------------------------------ edge paths (issue 12)


def _records(**columns):
    base = {
        "zip5": ["03601", "10001", "10002"],
        "birth_date": pd.to_datetime(["1950-01-02", "1980-05-06", "1930-07-08"]),
        "sex": ["F", "M", "F"],
    }
    return pd.DataFrame(base | columns)


@pytest.mark.parametrize(
    "zips",
    [[3601, 10001, 10002], [3601.0, 10001.0, 10002.0], pd.array([3601, None, 10002], dtype="Int64"),
     np.array([3601, 10001, 10002], dtype=object)],
    ids=["int", "float", "nullable", "object-ints"],
)  # fmt: skip
def test_safe_harbor_refuses_numeric_zips_that_lost_their_leading_zero(zips):
    # read_csv turns 03601 (a restricted area, 036) into 3601, whose first digits are "360".
    with pytest.raises(TypeError, match="ZIP codes as text, not numbers"):
        deid.safe_harbor(_records(zip5=zips))


def test_safe_harbor_refuses_malformed_zips_and_accepts_zip_plus_four():
    with pytest.raises(ValueError, match="five-digit ZIP codes.*'3601'"):
        deid.safe_harbor(_records(zip5=["3601", "10001", "10002"]))
    table = pd.Series({"036": 100, "100": 50_000})
    out = deid.safe_harbor(_records(zip5=["03601-1234", "10001", None]), zip3_population=table)
    assert out["zip3"].tolist() == ["000", "100", "000"]


def test_safe_harbor_fails_closed_on_columns_it_has_no_role_for():
    leaky = _records(
        email=["a@x.org", "b@y.org", "c@z.org"], ssn=["1", "2", "3"], Name=["A", "B", "C"]
    )
    with pytest.raises(ValueError, match="no role for column\\(s\\) \\['email', 'ssn', 'Name'\\]"):
        deid.safe_harbor(leaky)
    # the caller may declare a column kept; it then passes through unchanged
    out = deid.safe_harbor(_records(ward=["A", "B", "C"]), keep=["ward"])
    assert out["ward"].tolist() == ["A", "B", "C"]
    with pytest.raises(ValueError, match="cannot keep 'zip5'"):
        deid.safe_harbor(_records(), keep=["zip5"])
    with pytest.raises(ValueError, match="cannot keep 'dob' unchanged: it holds dates"):
        deid.safe_harbor(_records(dob=pd.to_datetime(["1950-01-02"] * 3)), keep=["dob"])
    with pytest.raises(ValueError, match="no column"):
        deid.safe_harbor(_records(), keep=["ward"])
    with pytest.raises(ValueError, match="no role for column\\(s\\) \\['discharge_date'\\]"):
        deid.safe_harbor(_records(discharge_date=pd.to_datetime(["2024-01-01"] * 3)))


def test_safe_harbor_refuses_missing_or_non_numeric_ages_and_duplicated_columns():
    with pytest.raises(ValueError, match="age has 1 missing value"):
        deid.safe_harbor(_records(age=[74.0, np.nan, 94.0]))
    with pytest.raises(ValueError, match="age must hold numbers of years; got 'old'"):
        deid.safe_harbor(_records(age=[74, "old", 94]))
    twice = pd.concat([_records(), _records()[["sex"]]], axis=1)
    with pytest.raises(ValueError, match="several columns labelled \\['sex'\\]"):
        deid.safe_harbor(twice)


SPELLED = pd.DataFrame(
    {
        "zip": ["02139", " 02139", "02139 ", "10001", "１0001", "10001"],
        "sex": ["F", "f", "F ", "M", "m", "M"],
        "age": [30, 30.0, np.int64(30), 40, 40.0, 40],
        "diagnosis": ["HIV", "hiv ", "Hiv", "flu", "FLU", "Flu"],
    }
)


def test_measures_compare_values_as_an_attacker_would():
    """Each spelling variant below is one value to an attacker: two classes of three."""
    quasi = ["zip", "sex", "age"]
    assert deid.k_anonymity(SPELLED, quasi) == 3
    assert deid.uniqueness(SPELLED, quasi) == 0.0
    assert deid.l_diversity(SPELLED, quasi, "diagnosis") == 1  # everyone in a class: HIV
    classes = deid.equivalence_classes(SPELLED, quasi, "diagnosis")
    assert classes["size"].tolist() == [3, 3] and classes["distinct"].tolist() == [1, 1]
    assert classes["zip"].tolist() == ["02139", "10001"]  # shown as first spelled
    assert set(classes["top_value"]) == {"HIV", "flu"} and (classes["top_share"] == 1).all()


def test_class_sizes_are_per_record_and_compare_as_an_attacker_would():
    table = pd.DataFrame(
        {"zip3": ["021", "021", " 021", "100", None, None], "sex": ["F", "f", "F", "M", "M", "M"]},
        index=[10, 11, 12, 13, 14, 15],
    )
    sizes = deid.class_sizes(table, ["zip3", "sex"])
    assert list(sizes.index) == list(table.index)
    assert list(sizes) == [3, 3, 3, 1, 2, 2]  # spellings merged; missing ZIPs are one class
    classes = deid.equivalence_classes(table, ["zip3", "sex"])
    assert int((sizes < 2).sum()) == int(classes.loc[classes["size"] < 2, "size"].sum())
    assert deid.k_anonymity(table, ["zip3", "sex"]) == sizes.min()
    with pytest.raises(ValueError, match="no column"):
        deid.class_sizes(table, ["age"])


def test_the_generaliser_sees_spelling_variants_as_one_value():
    result = deid.generalize_to_k(SPELLED, {"sex": deid.suppression_hierarchy("sex")}, k=3)
    assert result.levels == {"sex": "value"} and result.n_suppressed == 0 and result.k == 3


def test_measures_give_the_kits_messages_for_bad_quasi_identifiers():
    for measure in (deid.uniqueness, deid.k_anonymity, deid.equivalence_classes):
        with pytest.raises(ValueError, match="at least one column"):
            measure(TABLE, [])
        with pytest.raises(ValueError, match="named more than once"):
            measure(TABLE, ["sex", "sex"])
        with pytest.raises(ValueError, match="several columns labelled \\['sex'\\]"):
            measure(pd.concat([TABLE, TABLE[["sex"]]], axis=1), ["sex"])
        with pytest.raises(ValueError, match="mixes number and text"):
            measure(pd.DataFrame({"zip": ["02139", 2139]}), ["zip"])


def test_safe_harbor_fails_closed_on_a_role_it_does_not_know():
    roles = data.COLUMN_ROLES | {"contact": "how to reach the patient"}
    with pytest.raises(ValueError, match="role 'how to reach the patient' of column 'contact'"):
        deid.safe_harbor(_records(contact=["a", "b", "c"]), roles=roles)
    kept = deid.safe_harbor(
        _records(ward=["A", "B", "C"]), roles=roles | {"ward": "attribute (ward)"}
    )
    assert kept["ward"].tolist() == ["A", "B", "C"]
