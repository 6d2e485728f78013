"""Property tests of helpers.deid, helpers.attacks and helpers.data, one promise per test,
over every public function that takes data or a parameter that decides what leaks:

1. Safe Harbor fails closed: a column it has no role for is refused (naming it) unless the
   caller keeps it; ZIP codes that are numbers or malformed text are refused;
2. risk measures and the linkage attack compare values as an attacker would: respelling a
   table (case, spaces, full-width digits, 1 vs 1.0) changes none of their answers;
3. bad quasi-identifier lists, bad data and bad parameters get the kit's message naming them;
4. a seed reproduces every random draw;
5. numpy's and Python's global random states are never touched;
6. nothing is printed and no warning escapes;
7. every statistic is a finite number in its range.
"""

from __future__ import annotations

import random
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import attacks, data, deid

FAST = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def population():
    return data.synthetic_population(400, rng=5)


# ------------------------------------------------------------------------ 1. Safe Harbor

UNKNOWN_NAMES = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
    lambda name: name not in data.COLUMN_ROLES
)


@FAST
@given(name=UNKNOWN_NAMES)
def test_safe_harbor_refuses_a_column_it_has_no_role_for_unless_kept(population, name):
    records = population.head(20).assign(**{name: "x"})
    with pytest.raises(ValueError, match=f"no role for column\\(s\\) \\[{name!r}\\]"):
        deid.safe_harbor(records)
    released = deid.safe_harbor(records, keep=[name])
    assert (released[name] == "x").all()
    assert set(released.columns) <= {name} | {
        "zip3", "birth_year", "sex", "age", "admission_year", "hospital", "diagnosis_code",
        "diagnosis", "systolic_bp", "bmi", "hba1c", "total_cholesterol",
    }  # fmt: skip


@FAST
@given(zips=st.lists(st.integers(0, 99_999), min_size=1, max_size=5), as_float=st.booleans())
def test_safe_harbor_refuses_zip_codes_stored_as_numbers(population, zips, as_float):
    records = population.head(len(zips)).assign(zip5=[float(z) if as_float else z for z in zips])
    with pytest.raises(TypeError, match="zip5 must hold ZIP codes as text"):
        deid.safe_harbor(records)


@FAST
@given(code=st.text("0123456789", min_size=0, max_size=9).filter(lambda c: len(c) != 5))
def test_safe_harbor_refuses_zip_codes_that_are_not_five_digits(population, code):
    records = population.head(3).assign(zip5=["02139", code, "10001"])
    with pytest.raises(ValueError, match="zip5 must hold five-digit ZIP codes"):
        deid.safe_harbor(records)


# ------------------------------------------------------------------------ 2. spelling

ROWS = st.lists(
    st.tuples(
        st.sampled_from(["02139", "02140", "10001"]),
        st.sampled_from(["F", "M"]),
        st.integers(20, 23),
        st.sampled_from(["HIV", "flu", "asthma"]),
    ),
    min_size=2,
    max_size=25,
)


def _respell(value, draw):
    if isinstance(value, str):
        text = value.lower() if draw(st.booleans()) else value
        if value.isdigit() and draw(st.booleans()):
            text = text.replace("1", "\uff11")  # a full-width digit one
        return " " * draw(st.integers(0, 2)) + text + " " * draw(st.integers(0, 2))
    return float(value) if draw(st.booleans()) else value


def _tables(rows, draw):
    table = pd.DataFrame(rows, columns=["zip", "sex", "age", "diagnosis"])
    respelled = table.map(lambda v: _respell(v, draw)).astype(object)
    return table, respelled


QUASI = ["zip", "sex", "age"]


@FAST
@given(rows=ROWS, drawn=st.data())
def test_risk_measures_do_not_change_when_values_are_respelled(rows, drawn):
    table, respelled = _tables(rows, drawn.draw)
    assert deid.k_anonymity(respelled, QUASI) == deid.k_anonymity(table, QUASI)
    assert deid.uniqueness(respelled, QUASI) == deid.uniqueness(table, QUASI)
    assert deid.l_diversity(respelled, QUASI, "diagnosis") == deid.l_diversity(
        table, QUASI, "diagnosis"
    )
    sizes = deid.equivalence_classes(respelled, QUASI)["size"].tolist()
    assert sizes == deid.equivalence_classes(table, QUASI)["size"].tolist()


@FAST
@given(rows=ROWS, drawn=st.data())
def test_the_linkage_attack_does_not_change_when_values_are_respelled(rows, drawn):
    table, respelled = _tables(rows, drawn.draw)
    public = table.drop(columns="diagnosis").sample(frac=1.0, random_state=0).reset_index()
    plain = attacks.linkage_attack(table, public, QI_LINK, auxiliary_id="index")
    spelled = attacks.linkage_attack(respelled, public, QI_LINK, auxiliary_id="index")
    pd.testing.assert_series_equal(spelled.candidates, plain.candidates)
    assert spelled.n_unique == plain.n_unique


QI_LINK = ["zip", "sex", "age"]


# ------------------------------------------------------------------------ 3. messages

BAD_QUASI = st.sampled_from([[], ["sex", "sex"], ["nope"], None])


@FAST
@given(
    bad=BAD_QUASI,
    which=st.sampled_from(["uniqueness", "k_anonymity", "equivalence_classes", "linkage"]),
)
def test_bad_quasi_identifier_lists_get_the_kits_message(bad, which):
    table = pd.DataFrame({"sex": ["F", "M"], "zip": ["02139", "02140"]})
    call = {
        "uniqueness": lambda: deid.uniqueness(table, bad),
        "k_anonymity": lambda: deid.k_anonymity(table, bad),
        "equivalence_classes": lambda: deid.equivalence_classes(table, bad),
        "linkage": lambda: attacks.linkage_attack(table, table, bad),
    }[which]
    with pytest.raises(ValueError, match="at least one column|named more than once|no column"):
        call()


BAD_SCORES = st.sampled_from([[0.1, float("nan")], ["0.5"], [True], [None], [], [[0.1]], "0.1"])


@FAST
@given(bad=BAD_SCORES, member_side=st.booleans())
def test_bad_attack_scores_are_refused_naming_them(bad, member_side):
    good = [0.1, 0.2, 0.3]
    name = "member_scores" if member_side else "non_member_scores"
    arguments = (bad, good) if member_side else (good, bad)
    with pytest.raises((ValueError, TypeError), match=name):
        attacks.membership_power(*arguments)


NOT_A_NUMBER = st.sampled_from([float("nan"), float("inf"), 10**400, "0.05", None, True])
OPEN_UNIT = st.one_of(NOT_A_NUMBER, st.floats(max_value=0.0), st.floats(min_value=1.0))
HALF_OPEN_UNIT = st.one_of(NOT_A_NUMBER, st.floats(max_value=-1e-300), st.floats(min_value=1.0))
POSITIVE = st.one_of(NOT_A_NUMBER, st.floats(max_value=0.0))

#: Parameter -> (call with a bad value, bad values for it).
PARAMETERS = {
    "false_positive_rate": (lambda pop, bad: attacks.membership_power([0.5], [0.1], bad), OPEN_UNIT),
    "fraction": (lambda pop, bad: data.voter_roll(pop, fraction=bad), st.one_of(NOT_A_NUMBER, st.floats(max_value=0.0), st.floats(min_value=1.0 + 1e-9))),
    "alpha": (lambda pop, bad: data.split_across_hospitals(np.zeros((20, 1)), np.arange(20) % 2, 2, "label_skew", alpha=bad), POSITIVE),
    "max_suppression": (lambda pop, bad: deid.generalize_to_k(pop.head(20), {"sex": deid.suppression_hierarchy()}, 2, max_suppression=bad), HALF_OPEN_UNIT),
    "non_patient_ratio": (lambda pop, bad: data.voter_roll(pop, non_patient_ratio=bad), st.one_of(NOT_A_NUMBER, st.floats(max_value=-1e-300))),
}  # fmt: skip


@FAST
@given(drawn=st.data(), name=st.sampled_from(sorted(PARAMETERS)))
def test_bad_parameters_are_refused_naming_them(population, drawn, name):
    call, bad_values = PARAMETERS[name]
    bad = drawn.draw(bad_values)
    with pytest.raises((ValueError, TypeError), match=name):
        call(population, bad)


@FAST
@given(
    missing=st.lists(st.integers(0, 39), min_size=1, max_size=5, unique=True),
    scheme=st.sampled_from(data.SPLIT_SCHEMES),
)
def test_missing_labels_are_refused_by_every_split(missing, scheme):
    y = (np.arange(40) % 2).astype(float)
    y[missing] = np.nan
    with pytest.raises(ValueError, match=f"y has {len(missing)} missing label"):
        data.split_across_hospitals(np.zeros((40, 2)), y, 2, scheme, rng=0)


# ------------------------------------------------------------------------ 4-6. randomness, output


def _random_calls(population, seed):
    """Every function here that draws, called with ``rng=seed``."""
    return {
        "synthetic_population": lambda: data.synthetic_population(50, rng=seed),
        "voter_roll": lambda: data.voter_roll(population, rng=seed),
        "split_across_hospitals": lambda: data.split_across_hospitals(
            population[["age"]], population["sex"], 3, "label_skew", rng=seed
        ),
        "synthetic_genotypes": lambda: data.synthetic_genotypes(5, 4, rng=seed),
        "shift_dates": lambda: deid.shift_dates(population["birth_date"], 30, rng=seed),
    }


def _deterministic_calls(population):
    released = deid.safe_harbor(population)
    genotypes = data.synthetic_genotypes(6, 5, rng=1)
    return {
        "safe_harbor": lambda: deid.safe_harbor(population),
        "k_anonymity": lambda: deid.k_anonymity(released, ["zip3", "sex"]),
        "generalize_to_k": lambda: deid.generalize_to_k(
            released.head(50),
            {"zip3": deid.zip_hierarchy(3), "sex": deid.suppression_hierarchy()},
            2,
        ),
        "linkage_attack": lambda: attacks.linkage_attack(released, released, ["zip3", "sex"]),
        "homer_statistic": lambda: attacks.homer_statistic(
            genotypes, attacks.allele_frequencies(genotypes), np.full(5, 0.3)
        ),
    }


def _same(a, b) -> bool:
    if isinstance(a, tuple) or isinstance(a, list):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.equals(b)
    return bool(np.array_equal(a, b))


@FAST
@given(name=st.sampled_from(sorted(_random_calls(None, 0))), seed=st.integers(0, 2**32 - 1))
def test_a_seed_reproduces_every_draw(population, name, seed):
    assert _same(
        _random_calls(population, seed)[name](),
        _random_calls(population, np.random.default_rng(seed))[name](),
    )


@FAST
@given(
    name=st.sampled_from(
        sorted(_random_calls(None, 0))
        + sorted(_deterministic_calls(data.synthetic_population(10, rng=0)))
    ),
    seed=st.one_of(st.none(), st.integers(0, 100)),
)
def test_no_global_random_state_is_touched(population, name, seed):
    calls = _random_calls(population, seed) | _deterministic_calls(population)
    np.random.seed(7)
    random.seed(7)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    calls[name]()
    assert all(
        np.array_equal(a, b) for a, b in zip(numpy_before, np.random.get_state(), strict=True)
    )
    assert random.getstate() == python_before


@FAST
@given(
    name=st.sampled_from(
        sorted(_random_calls(None, 0))
        + sorted(_deterministic_calls(data.synthetic_population(10, rng=0)))
    )
)
def test_nothing_is_printed_and_no_warning_escapes(population, capsys, name):
    calls = _random_calls(population, 0) | _deterministic_calls(population)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calls[name]()
    assert caught == [] and capsys.readouterr() == ("", "")


# ------------------------------------------------------------------------ 7. finiteness

GENOTYPES = st.lists(st.lists(st.integers(0, 2), min_size=3, max_size=3), min_size=1, max_size=6)
FREQUENCIES = st.lists(st.floats(-0.5, 1.5), min_size=3, max_size=3)


@FAST
@given(
    targets=GENOTYPES,
    mixture=FREQUENCIES,
    reference=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
)
def test_attack_statistics_are_finite_numbers_in_their_range(targets, mixture, reference):
    t = attacks.homer_statistic(targets, mixture, reference)
    assert np.all(np.isfinite(t))
    frequencies = attacks.allele_frequencies(targets)
    assert np.all((frequencies >= 0) & (frequencies <= 1))
    power = attacks.membership_power(np.atleast_1d(t), np.atleast_1d(t) - 1.0)
    assert 0.0 <= power <= 1.0


@FAST
@given(rows=ROWS)
def test_risk_measures_are_finite_numbers_in_their_range(rows):
    table = pd.DataFrame(rows, columns=["zip", "sex", "age", "diagnosis"])
    assert 0.0 <= deid.uniqueness(table, QUASI) <= 1.0
    assert 1 <= deid.k_anonymity(table, QUASI) <= len(table)
    assert 1 <= deid.l_diversity(table, QUASI, "diagnosis") <= 3
