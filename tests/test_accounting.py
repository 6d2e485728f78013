"""helpers.accounting: composition, RDP against TensorFlow Privacy, PLD against dp-accounting and an
independent accountant (prv-accountant), Gaussian DP against its closed form, and the ledger."""

import copy
import math
import pickle
import threading
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from helpers import accounting as A

# ------------------------------------------------------------------ composition theorems


def test_advanced_composition_beats_basic_for_many_small_steps():
    eps, delta = A.advanced_composition(0.01, 0.0, 1000, 1e-6)
    assert eps < 1000 * 0.01 and delta == pytest.approx(1e-6)
    # Dwork-Rothblum-Vadhan formula evaluated by hand
    assert eps == pytest.approx(
        math.sqrt(2000 * math.log(1e6)) * 0.01 + 1000 * 0.01 * math.expm1(0.01)
    )
    assert A.advanced_composition(1.0, 0.0, 3, 1e-6)[0] > 3.0  # few large steps: worse
    assert A.basic_composition([0.5, 0.25], [1e-6, 0.0]) == (0.75, 1e-6)


@pytest.mark.parametrize("epsilon, k", [(710.0, 2), (5.0, 10**306)])
def test_advanced_composition_refuses_what_overflows_with_the_kits_message(epsilon, k):
    with pytest.raises(ValueError, match="basic_composition"):
        A.advanced_composition(epsilon, 0.0, k, 1e-6)


# ------------------------------------------------------------------ RDP vs TensorFlow Privacy


@pytest.mark.parametrize(
    "n, batch, sigma, epochs, delta, expected",
    [
        # TensorFlow Privacy, tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy_test.py
        # (test_compute_dp_sgd_privacy, Test0 and Test1), https://github.com/tensorflow/privacy
        (60000, 150, 1.3, 15, 1e-5, 0.7242234026109595),
        (100000, 100, 1.0, 30, 1e-7, 1.4154988495444842),
    ],
)
def test_rdp_dpsgd_epsilon_matches_tensorflow_privacy(n, batch, sigma, epochs, delta, expected):
    assert A.dpsgd_epsilon(n, batch, sigma, epochs, delta, accountant="rdp") == pytest.approx(
        expected, rel=1e-8
    )


def test_rdp_of_sampled_gaussian_matches_tensorflow_privacy():
    # rdp_accountant_test.py: test_compute_rdp_sequence and test_compute_rdp_scalar
    rdp = A.rdp_sampled_gaussian(0.01, 2.5, 50, [1.5, 2.5, 5, 50, 100])
    np.testing.assert_allclose(
        rdp, [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307], atol=1e-5
    )
    assert A.rdp_sampled_gaussian(0.1, 2, 10, [5])[0] == pytest.approx(0.07737, abs=1e-5)
    assert A.rdp_sampled_gaussian(1.0, 10, 1, [20])[0] == pytest.approx(0.1)  # alpha / (2 sigma^2)
    assert A.rdp_sampled_gaussian(0.0, 10, 1, [20])[0] == 0.0


def test_rdp_conversion_is_an_upper_bound_on_the_exact_gaussian_epsilon():
    orders = np.linspace(1.1, 200, 400)
    for sigma in (0.8, 2.0, 5.0):
        eps_rdp, _ = A.rdp_to_dp(orders, A.rdp_sampled_gaussian(1.0, sigma, 1, orders), 1e-5)
        assert eps_rdp >= A.gaussian_dp_epsilon(sigma, 1e-5, 1) - 1e-9
    eps_improved, _ = A.rdp_to_dp([2.0, 8.0], [0.1, 0.4], 1e-5)
    eps_mironov, _ = A.rdp_to_dp([2.0, 8.0], [0.1, 0.4], 1e-5, conversion="mironov")
    assert eps_improved < eps_mironov


@pytest.mark.parametrize("accountant", A.ACCOUNTANTS)
def test_subsampling_amplifies_privacy(accountant):
    full = A.dpsgd_epsilon(1000, 1000, 1.0, 10, 1e-5, accountant=accountant)
    sampled = A.dpsgd_epsilon(1000, 10, 1.0, 0.1, 1e-5, accountant=accountant)  # 10 steps, q=0.01
    assert sampled < full / 10


# ------------------------------------------------------------------ PLD and Gaussian DP

# Settings of DP-SGD and DP-FedAvg not used elsewhere in the kit: (noise, sampling rate, steps).
GRID = [
    (0.7, 0.02, 300),
    (1.1, 0.005, 2000),
    (1.6, 0.08, 150),
    (2.5, 0.2, 40),
    (4.0, 0.05, 5000),
    (0.9, 0.3, 12),
]


@pytest.mark.parametrize("z, q, steps", GRID)
def test_pld_epsilon_agrees_with_dp_accounting_at_fine_discretisation(z, q, steps):
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    reference = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    reference.compose(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(z)), steps
    )
    expected = reference.get_epsilon(1e-5)
    assert A.epsilon_for(z, 1e-5, q, steps) == pytest.approx(expected, rel=0.01)
    assert A.epsilon_for(z, 1e-5, q, steps) >= expected * (1 - 1e-3)  # never optimistic


@pytest.mark.parametrize("z, q, steps", GRID)
def test_pld_is_never_looser_than_rdp(z, q, steps):
    assert A.epsilon_for(z, 1e-5, q, steps, "pld") <= A.epsilon_for(z, 1e-5, q, steps, "rdp")


@pytest.mark.parametrize("z, steps, delta", [(22.16, 30, 1e-5), (3.0, 1, 1e-6), (8.0, 200, 1e-5)])
def test_gaussian_dp_composition_against_its_closed_form(z, steps, delta):
    # T Gaussian releases of noise multiplier z are mu-GDP with mu = sqrt(T) / z (Dong, Roth and
    # Su 2022, Corollary 2), and mu-GDP is (eps, delta(eps))-DP with
    # delta(eps) = Phi(-eps / mu + mu / 2) - e^eps Phi(-eps / mu - mu / 2).
    mu = math.sqrt(steps) / z
    eps = A.epsilon_for(z, delta, 1.0, steps)
    closed_form = norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2)
    assert closed_form == pytest.approx(delta, rel=1e-6)


def test_exact_gaussian_composition_needs_less_noise_than_rdp_for_thirty_rounds():
    # the example: 30 full-batch federated rounds at (1, 1e-5)
    assert A.noise_multiplier_for(1.0, 1e-5, 1.0, 30, "rdp") == pytest.approx(22.16, abs=0.01)
    assert A.noise_multiplier_for(1.0, 1e-5, 1.0, 30, "pld") == pytest.approx(20.43, abs=0.01)


@pytest.mark.parametrize("accountant", A.ACCOUNTANTS)
@pytest.mark.parametrize(
    "epsilon, q, steps", [(1.0, 0.05, 400), (0.5, 0.01, 1000), (4.0, 0.2, 60), (2.0, 1.0, 30)]
)
def test_calibrated_noise_meets_the_target_and_is_the_smallest(accountant, epsilon, q, steps):
    z = A.noise_multiplier_for(epsilon, 1e-5, q, steps, accountant)
    assert A.epsilon_for(z, 1e-5, q, steps, accountant) <= epsilon
    assert (
        A.epsilon_for(z / (1 + 3 * A.CALIBRATION_PRECISION), 1e-5, q, steps, accountant) > epsilon
    )


@pytest.mark.parametrize("epsilon, q, steps", [(1.0, 0.03, 500), (3.0, 0.1, 200), (0.8, 0.5, 20)])
def test_pld_calibrated_noise_is_private_under_an_independent_accountant(epsilon, q, steps):
    # Microsoft's prv-accountant (Gopi, Lee and Wutschitz, NeurIPS 2021) computes its own
    # upper bound on epsilon from the privacy random variable; it shares no code with dp-accounting.
    from prv_accountant import PRVAccountant
    from prv_accountant.privacy_random_variables import PoissonSubsampledGaussianMechanism

    z = A.noise_multiplier_for(epsilon, 1e-5, q, steps)
    prv = PRVAccountant(
        prvs=PoissonSubsampledGaussianMechanism(noise_multiplier=z, sampling_probability=q),
        max_self_compositions=steps,
        eps_error=0.005,
        delta_error=1e-10,
    )
    _, estimate, upper = prv.compute_epsilon(delta=1e-5, num_self_compositions=[steps])
    assert estimate <= epsilon * 1.002  # the truth (within prv's error) meets the target
    assert upper <= epsilon + 0.011


def test_the_accountant_choice_is_validated():
    with pytest.raises(ValueError, match="accountant must be one of 'pld', 'rdp'; got 'moments'"):
        A.epsilon_for(1.0, 1e-5, 0.1, 10, accountant="moments")
    with pytest.raises(ValueError, match="sampling_rate"):
        A.noise_multiplier_for(1.0, 1e-5, 0.0, 10)
    with pytest.raises(ValueError, match="delta"):
        A.epsilon_for(1.0, 0.0, 0.1, 10)
    with pytest.raises(TypeError, match="steps must be an integer"):
        A.epsilon_for(1.0, 1e-5, 0.1, 10.0)


# ------------------------------------------------------------------ the ledger


def test_accountant_refuses_overspend_and_keeps_the_ledger():
    acc = A.PrivacyAccountant(1.0, 1e-5)
    acc.spend(0.4, label="count")
    acc.spend(0.5, 1e-6, label="mean", certified_by="rdp")
    with pytest.raises(A.BudgetExceededError, match="Nothing was spent"):
        acc.spend(0.2, label="too much")
    assert len(acc.ledger) == 2 and acc.ledger["total_epsilon"].iloc[-1] == pytest.approx(0.9)
    assert list(acc.ledger["certified_by"]) == ["mechanism", "rdp"]
    assert acc.remaining.epsilon == pytest.approx(0.1)
    acc.spend(0.1)  # exactly the rest is allowed
    with pytest.raises(A.BudgetExceededError):
        A.PrivacyAccountant(1.0).spend(0.5, 1e-9)  # no delta budget
    with pytest.raises(ValueError, match="certified_by"):
        A.PrivacyAccountant(1.0).spend(0.5, certified_by="trust me")


def test_decimal_spends_add_up_exactly_and_no_tolerance_lets_a_spend_through():
    acc = A.PrivacyAccountant(0.3)
    acc.spend(0.1)
    acc.spend(0.2)  # 0.1 + 0.2 is 0.3 exactly: allowed
    with pytest.raises(A.BudgetExceededError):
        acc.spend(1e-300)  # the budget is full: not even a tiny spend passes
    many = A.PrivacyAccountant(0.1)
    spent = 0
    while many.can_spend(1e-4):
        many.spend(1e-4)
        spent += 1
    assert spent == 1000  # each tiny spend counted, none lost to rounding


def test_a_pure_dp_budget_accepts_only_delta_zero():
    acc = A.PrivacyAccountant(1.0, 0.0)
    for tiny in (1e-300, 5e-324):
        with pytest.raises(A.BudgetExceededError):
            acc.spend(0.1, tiny)
    acc.spend(0.1, 0.0)


def test_the_budget_cannot_be_changed_copied_or_pickled():
    acc = A.PrivacyAccountant(1.0, 1e-5)
    for name in ("epsilon_budget", "delta_budget", "_epsilon_budget", "_spends"):
        with pytest.raises(AttributeError, match="cannot be changed"):
            setattr(acc, name, 100.0)
    for attempt in (lambda: copy.copy(acc), lambda: copy.deepcopy(acc), lambda: pickle.dumps(acc)):
        with pytest.raises(TypeError, match="second ledger"):
            attempt()
    assert acc.epsilon_budget == 1.0


def test_spends_from_many_threads_never_exceed_the_budget():
    acc = A.PrivacyAccountant(0.5)
    granted = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        for _ in range(100):
            try:
                acc.spend(0.001)
                granted.append(1)
            except A.BudgetExceededError:
                pass

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 500 and len(acc.ledger) == 500
    assert acc.spent.epsilon == pytest.approx(0.5)


def test_accountant_with_advanced_composition_allows_more_small_queries():
    basic = A.PrivacyAccountant(1.0, 1e-5)
    advanced = A.PrivacyAccountant(1.0, 1e-5, composition="advanced", delta_prime=1e-6)
    counts = {}
    for name, acc in (("basic", basic), ("advanced", advanced)):
        n = 0
        while acc.can_spend(0.01):
            acc.spend(0.01)
            n += 1
        counts[name] = n
    assert counts["basic"] == 100 and counts["advanced"] > 100
    with pytest.raises(ValueError, match="delta_prime"):
        A.PrivacyAccountant(1.0, 1e-5, composition="advanced")
    with pytest.raises(ValueError, match="delta_prime is only used"):
        A.PrivacyAccountant(1.0, 1e-5, delta_prime=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    budget=st.floats(0.01, 10),
    spends=st.lists(st.tuples(st.floats(1e-3, 3), st.sampled_from([0.0, 1e-7, 1e-6])), max_size=30),
    composition=st.sampled_from(["basic", "advanced"]),
)
def test_no_sequence_of_spends_exceeds_the_budget(budget, spends, composition):
    acc = A.PrivacyAccountant(
        budget,
        1e-5,
        composition=composition,
        delta_prime=1e-7 if composition == "advanced" else None,
    )
    for eps, delta in spends:
        before_ledger, before_spent = acc.ledger.copy(), acc.spent
        try:
            acc.spend(eps, delta)
        except A.BudgetExceededError:
            # a refused spend changes nothing
            pd.testing.assert_frame_equal(acc.ledger, before_ledger)
            assert acc.spent == before_spent
        exact_eps, exact_delta = acc._total_exact(acc._spends)
        assert exact_eps <= Fraction(repr(budget)) and exact_delta <= Fraction("1e-05")
