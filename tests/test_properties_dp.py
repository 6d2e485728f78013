"""Property tests of helpers.dp, one promise per test, over every public function that takes
a privacy parameter or data:

1. a bad privacy parameter is refused with the kit's message naming it;
2. bad data (not finite real numbers) are refused with the kit's message naming them;
3. a seed reproduces the release;
4. numpy's and Python's global random states are never touched;
5. nothing is printed and no warning escapes;
6. a result is finite, or the call refuses with the kit's ValueError (never inf, NaN, or
   another exception such as OverflowError).

(Composition and the accountant live in helpers.accounting, tested with the learning modules.)
"""

from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import dp

FAST = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass(frozen=True)
class Case:
    """One public function: how to call it with valid arguments, and what it promises."""

    name: str
    call: object  # call(**arguments) -> result
    valid: dict  # valid arguments (rng excluded)
    parameters: dict = field(default_factory=dict)  # argument -> kind (see BAD)
    data: str | None = None  # the argument holding real-valued data
    randomised: bool = False


def _identity_mechanism(x, rng):
    return x + rng.laplace(0.0, 1.0)


CASES = [
    Case("check_epsilon", dp.check_epsilon, {"epsilon": 1.0}, {"epsilon": "positive"}),
    Case("check_delta", dp.check_delta, {"delta": 1e-5}, {"delta": "delta"}),
    Case("check_sensitivity", dp.check_sensitivity, {"sensitivity": 1.0}, {"sensitivity": "positive"}),
    Case("check_bounds", dp.check_bounds, {"lower": 0.0, "upper": 1.0}, {"lower": "real", "upper": "real"}),
    Case(
        "laplace_mechanism", dp.laplace_mechanism, {"value": [1.0, 2.0], "sensitivity": 1.0, "epsilon": 1.0},
        {"sensitivity": "positive", "epsilon": "positive"}, data="value", randomised=True,
    ),
    Case(
        "gaussian_mechanism", dp.gaussian_mechanism,
        {"value": [1.0, 2.0], "sensitivity": 1.0, "epsilon": 1.0, "delta": 1e-5},
        {"sensitivity": "positive", "epsilon": "positive", "delta": "delta_required"},
        data="value", randomised=True,
    ),
    Case(
        "gaussian_delta", dp.gaussian_delta, {"sigma": 1.0, "sensitivity": 1.0, "epsilon": 1.0},
        {"sigma": "positive", "sensitivity": "positive", "epsilon": "positive"},
    ),
    Case(
        "gaussian_sigma", dp.gaussian_sigma, {"sensitivity": 1.0, "epsilon": 1.0, "delta": 1e-5},
        {"sensitivity": "positive", "epsilon": "positive", "delta": "delta_required"},
    ),
    Case(
        "gaussian_epsilon", dp.gaussian_epsilon, {"sigma": 2.0, "sensitivity": 1.0, "delta": 1e-5},
        {"sigma": "positive", "sensitivity": "positive", "delta": "delta_required"},
    ),
    Case(
        "max_membership_advantage", dp.max_membership_advantage, {"epsilon": 1.0, "delta": 0.0},
        {"epsilon": "positive", "delta": "delta"},
    ),
    Case(
        "max_attacker_accuracy", dp.max_attacker_accuracy, {"epsilon": 1.0, "delta": 0.0},
        {"epsilon": "positive", "delta": "delta"},
    ),
    Case(
        "gaussian_noise", dp.gaussian_noise, {"shape": 3, "sigma": 1.0}, {"sigma": "non_negative"},
        randomised=True,
    ),
    Case("clip_l2", dp.clip_l2, {"vector": [3.0, 4.0], "max_norm": 1.0}, {"max_norm": "positive"}, data="vector"),
    Case(
        "geometric_mechanism", dp.geometric_mechanism, {"count": 10, "epsilon": 1.0},
        {"epsilon": "positive"}, randomised=True,
    ),
    Case(
        "randomized_response", dp.randomized_response, {"bits": [0, 1, 1], "epsilon": 1.0},
        {"epsilon": "positive"}, randomised=True,
    ),
    Case("estimate_proportion", dp.estimate_proportion, {"noisy_bits": [0, 1, 1], "epsilon": 1.0}, {"epsilon": "positive"}),
    Case(
        "exponential_probabilities", dp.exponential_probabilities,
        {"scores": [1.0, 2.0, 3.0], "sensitivity": 1.0, "epsilon": 1.0},
        {"sensitivity": "positive", "epsilon": "positive"}, data="scores",
    ),
    Case(
        "exponential_mechanism", dp.exponential_mechanism,
        {"scores": [1.0, 2.0, 3.0], "sensitivity": 1.0, "epsilon": 1.0},
        {"sensitivity": "positive", "epsilon": "positive"}, data="scores", randomised=True,
    ),
    Case("dp_count", dp.dp_count, {"data": [1, 2, 3], "epsilon": 1.0}, {"epsilon": "positive"}, randomised=True),
    Case(
        "dp_sum", dp.dp_sum, {"values": [1.0, 2.0], "lower": 0.0, "upper": 5.0, "epsilon": 1.0},
        {"lower": "real", "upper": "real", "epsilon": "positive"}, data="values", randomised=True,
    ),
    Case(
        "dp_mean", dp.dp_mean, {"values": [1.0, 2.0], "lower": 0.0, "upper": 5.0, "epsilon": 1.0},
        {"lower": "real", "upper": "real", "epsilon": "positive"}, data="values", randomised=True,
    ),
    Case(
        "dp_histogram", dp.dp_histogram,
        {"values": [1.0, 2.0, 4.0], "epsilon": 1.0, "bins": 3, "lower": 0.0, "upper": 5.0},
        {"epsilon": "positive", "lower": "real", "upper": "real"}, data="values", randomised=True,
    ),
    Case(
        "empirical_epsilon", dp.empirical_epsilon,
        {"mechanism": _identity_mechanism, "dataset": 0.0, "neighbour": 1.0, "n_samples": 100, "delta": 0.0},
        {"delta": "delta"}, randomised=True,
    ),
]  # fmt: skip

NOT_A_NUMBER = st.sampled_from([None, "1.0", True, False, 1 + 1j, [1.0], object()])
HUGE_INTEGER = st.sampled_from([10**400, -(10**400), 10**309])
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])

#: Bad values per kind of parameter.
BAD = {
    "positive": st.one_of(NOT_A_NUMBER, HUGE_INTEGER, NOT_FINITE, st.floats(max_value=0.0)),
    "non_negative": st.one_of(NOT_A_NUMBER, NOT_FINITE, st.floats(max_value=-1e-300)),
    "delta": st.one_of(
        NOT_A_NUMBER,
        HUGE_INTEGER,
        NOT_FINITE,
        st.floats(max_value=-1e-300),
        st.floats(min_value=1.0),
    ),
    "delta_required": st.one_of(
        NOT_A_NUMBER, HUGE_INTEGER, NOT_FINITE, st.floats(max_value=0.0), st.floats(min_value=1.0)
    ),
    "real": st.one_of(NOT_A_NUMBER, HUGE_INTEGER, NOT_FINITE),
}

BAD_DATA = st.sampled_from(
    [
        [1.0, math.nan], [math.inf], [True, False], ["1.5"], [None, 1.0], [1 + 2j], [10**400],
        np.array(["1", "2"]), pd.Series([True, False]), pd.Series(["a"]), "12",
    ]
)  # fmt: skip

WITH_PARAMETERS = [c for c in CASES if c.parameters]
WITH_DATA = [c for c in CASES if c.data]
RANDOMISED = [c for c in CASES if c.randomised]


def _parameter_and_bad_value(case: Case):
    return st.sampled_from(sorted(case.parameters)).flatmap(
        lambda name: st.tuples(st.just(name), BAD[case.parameters[name]])
    )


def _same(a, b) -> bool:
    if isinstance(a, pd.Series):
        return a.equals(b)
    if hasattr(a, "epsilon_lower"):  # an AuditResult
        return a == b
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _all_finite(result) -> bool:
    if hasattr(result, "epsilon_lower"):
        return all(math.isfinite(v) for v in (result.epsilon_lower, result.p_lower, result.q_upper))
    if isinstance(result, tuple):
        return all(_all_finite(r) for r in result)
    return bool(np.all(np.isfinite(np.asarray(result, dtype=float))))


# ------------------------------------------------------------------------ 1. parameters


@FAST
@given(data=st.data(), case=st.sampled_from(WITH_PARAMETERS))
def test_a_bad_privacy_parameter_is_refused_naming_it(data, case):
    name, bad = data.draw(_parameter_and_bad_value(case))
    arguments = dict(case.valid)
    if case.parameters[name] == "real" and isinstance(bad, float) and "lower" in case.valid:
        pass  # a non-finite bound: refused by name like any other bad value
    arguments[name] = bad
    with pytest.raises((ValueError, TypeError), match=name):
        case.call(**arguments)


@FAST
@given(
    case=st.sampled_from([c for c in CASES if "lower" in c.parameters]),
    width=st.floats(-1e300, 0.0),
)
def test_bounds_with_lower_not_below_upper_are_refused_naming_both(case, width):
    arguments = dict(case.valid, upper=case.valid["lower"] + width)
    with pytest.raises(ValueError, match="lower.*upper"):
        case.call(**arguments)


# ------------------------------------------------------------------------ 2. data


@FAST
@given(case=st.sampled_from(WITH_DATA), bad=BAD_DATA)
def test_data_that_are_not_finite_real_numbers_are_refused_naming_them(case, bad):
    arguments = dict(case.valid, **{case.data: bad})
    with pytest.raises((ValueError, TypeError), match=case.data):
        case.call(**arguments)


# ------------------------------------------------------------------------ 3. seeds


@FAST
@given(case=st.sampled_from(RANDOMISED), seed=st.integers(0, 2**32 - 1))
def test_a_seed_reproduces_the_release(case, seed):
    first = case.call(**case.valid, rng=seed)
    second = case.call(**case.valid, rng=np.random.default_rng(seed))
    assert _same(first, second)


# ------------------------------------------------------------------------ 4. global state


@FAST
@given(case=st.sampled_from(CASES), seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_no_global_random_state_is_touched(case, seed):
    np.random.seed(12345)
    random.seed(12345)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    arguments = dict(case.valid, rng=seed) if case.randomised else dict(case.valid)
    case.call(**arguments)
    numpy_after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(numpy_before, numpy_after, strict=True))
    assert random.getstate() == python_before


# ------------------------------------------------------------------------ 5. printing


@FAST
@given(case=st.sampled_from(CASES))
def test_nothing_is_printed_and_no_warning_escapes(capsys, case):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        case.call(**(dict(case.valid, rng=0) if case.randomised else case.valid))
    assert caught == []
    assert capsys.readouterr() == ("", "")


# ------------------------------------------------------------------------ 6. finiteness

WIDE_POSITIVE = st.one_of(
    st.floats(min_value=5e-324, max_value=1.7e308),
    st.sampled_from([5e-324, 1e-300, 1e300, 1.7e308]),
)
WIDE_VALUES = st.lists(st.floats(-1.7e308, 1.7e308), min_size=1, max_size=4)


def _wide_arguments(case: Case, draw) -> dict:
    arguments = dict(case.valid)
    for name, kind in case.parameters.items():
        if kind in ("positive", "non_negative"):
            arguments[name] = draw(WIDE_POSITIVE)
        elif kind in ("delta", "delta_required"):
            arguments[name] = draw(st.floats(min_value=5e-324, max_value=1 - 2**-53))
    if "lower" in case.parameters:
        lower = draw(st.floats(-1.7e308, 1.7e308))
        arguments["lower"], arguments["upper"] = lower, lower + draw(WIDE_POSITIVE)
        if not math.isfinite(arguments["upper"]) or arguments["upper"] <= lower:
            arguments["upper"] = math.nextafter(lower, math.inf)
    if case.data:
        arguments[case.data] = draw(WIDE_VALUES)
    return arguments


@settings(max_examples=60, deadline=None)
@given(data=st.data(), case=st.sampled_from([c for c in CASES if c.name != "empirical_epsilon"]))
def test_a_result_is_finite_or_refused_with_the_kits_value_error(data, case):
    arguments = _wide_arguments(case, data.draw)
    if case.randomised:
        arguments["rng"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning is a silent inf in the making
        try:
            result = case.call(**arguments)
        except ValueError:
            return  # refused, with the kit's message (tests 1 and 2 check the wording)
    assert _all_finite(result), f"{case.name}({arguments}) returned {result!r}"


@settings(max_examples=20, deadline=None)
@given(output=st.sampled_from([math.nan, math.inf, -math.inf]), when=st.integers(0, 199))
def test_an_audit_of_a_non_finite_mechanism_is_refused_not_scored(output, when):
    calls = iter(range(10**6))

    def mechanism(x, rng):
        return output if next(calls) == when else x + rng.laplace()

    with pytest.raises(ValueError, match="finite outputs"):
        dp.empirical_epsilon(mechanism, 0.0, 1.0, n_samples=100, rng=0)
