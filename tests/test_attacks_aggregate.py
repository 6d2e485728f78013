"""Membership inference on aggregate statistics (Homer et al. 2008) and its synthetic genotypes.

Statistical tests use fixed seeds; tolerances are stated beside each check.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from helpers import attacks, data

N_MEMBERS, N_SNPS = 200, 4000


@pytest.fixture(scope="module")
def study():
    """Members (the released group), non-members and a reference panel from one population."""
    genotypes, p = data.synthetic_genotypes(3 * N_MEMBERS, N_SNPS, rng=7, return_frequencies=True)
    members, non_members, reference = np.split(genotypes, 3)
    return {
        "members": members,
        "non_members": non_members,
        "reference": attacks.allele_frequencies(reference),
        "population": p,
        "mixture": attacks.allele_frequencies(members),
    }


def _power(study, mixture, statistic=attacks.homer_statistic):
    on = statistic(study["members"], mixture, study["reference"])
    off = statistic(study["non_members"], mixture, study["reference"])
    return attacks.membership_power(on, off, false_positive_rate=0.05)


# --- synthetic genotypes -----------------------------------------------------------------


def test_synthetic_genotypes_shape_values_and_seed():
    g = data.synthetic_genotypes(50, 30, rng=1)
    assert g.shape == (50, 30) and g.dtype == np.int8
    assert set(np.unique(g)) <= {0, 1, 2}
    assert np.array_equal(g, data.synthetic_genotypes(50, 30, rng=1))
    assert not np.array_equal(g, data.synthetic_genotypes(50, 30, rng=2))


def test_synthetic_genotypes_follow_hardy_weinberg():
    g, p = data.synthetic_genotypes(20_000, 20, rng=3, return_frequencies=True)
    assert ((p >= 0.05) & (p <= 0.5)).all()
    # Allele frequency: the sample mean of Binomial(2, p) / 2 has SE sqrt(p(1-p) / (2n)).
    se = np.sqrt(p * (1 - p) / (2 * 20_000))
    assert np.all(np.abs(attacks.allele_frequencies(g) - p) < 5 * se)
    # Heterozygote share is 2p(1-p) under Hardy-Weinberg (binomial SE, 5 SE tolerance).
    het = (g == 1).mean(axis=0)
    expected = 2 * p * (1 - p)
    assert np.all(np.abs(het - expected) < 5 * np.sqrt(expected * (1 - expected) / 20_000))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"n_people": 0, "n_snps": 5}, ValueError),
        ({"n_people": 5, "n_snps": 0}, ValueError),
        ({"n_people": 5.0, "n_snps": 5}, TypeError),
        ({"n_people": 5, "n_snps": 5, "min_allele_frequency": 0.0}, ValueError),
        ({"n_people": 5, "n_snps": 5, "max_allele_frequency": 0.6}, ValueError),
        (
            {"n_people": 5, "n_snps": 5, "min_allele_frequency": 0.3, "max_allele_frequency": 0.2},
            ValueError,
        ),
        ({"n_people": 5, "n_snps": 5, "return_frequencies": 1}, TypeError),
        ({"n_people": 5, "n_snps": 5, "rng": "seed"}, TypeError),
    ],
)
def test_synthetic_genotypes_validation(kwargs, error):
    with pytest.raises(error):
        data.synthetic_genotypes(**kwargs)


# --- the Homer statistic -----------------------------------------------------------------


def test_allele_frequencies_by_hand():
    g = np.array([[0, 2, 1], [2, 2, 1]])
    assert np.allclose(attacks.allele_frequencies(g), [0.5, 1.0, 0.5])


def test_homer_statistic_by_hand():
    target = np.array([2, 0, 2, 0])
    mixture = np.array([0.6, 0.4, 0.6, 0.5])
    reference = np.array([0.5, 0.5, 0.5, 0.5])
    d = np.abs(target / 2 - reference) - np.abs(target / 2 - mixture)
    expected = d.mean() / (d.std(ddof=1) / 2)
    assert attacks.homer_statistic(target, mixture, reference) == pytest.approx(expected)


def test_members_are_detected(study):
    # 200 members and 4,000 SNPs: most members are found at a 5 % false-positive rate.
    assert _power(study, study["mixture"]) > 0.5


def test_non_members_centre_near_zero_and_members_stand_out(study):
    # Reference panel: an independent sample of the same size as the group, as in Homer et al.
    # Off the group T is roughly N(shift, 1), the shift shared by all targets (|shift| < 0.5).
    t_off = attacks.homer_statistic(study["non_members"], study["mixture"], study["reference"])
    t_on = attacks.homer_statistic(study["members"], study["mixture"], study["reference"])
    assert abs(t_off.mean()) < 0.5
    assert 0.8 < t_off.std() < 1.2
    # Members sit about two standard deviations higher (200 members, 4,000 SNPs).
    assert t_on.mean() - t_off.mean() > 2.0
    assert stats.mannwhitneyu(t_on, t_off, alternative="greater").pvalue < 1e-10


def test_dp_noise_on_the_released_frequencies_lowers_power(study):
    # Laplace noise calibrated to the L1 sensitivity of all frequencies, n_snps / n_members.
    rng = np.random.default_rng(11)
    sensitivity = N_SNPS / N_MEMBERS
    powers = {}
    for epsilon in (1.0, 10_000.0):
        noisy = study["mixture"] + rng.laplace(0.0, sensitivity / epsilon, size=N_SNPS)
        powers[epsilon] = _power(study, noisy)
    exact = _power(study, study["mixture"])
    # At epsilon = 1 the attack is no better than the false-positive rate (binomial slack).
    assert powers[1.0] < 0.05 + 3 * np.sqrt(0.05 * 0.95 / N_MEMBERS)
    assert powers[1.0] < powers[10_000.0] <= exact + 0.05


def test_a_broken_statistic_is_caught(study):
    def broken(targets, mixture, reference):  # mixture and reference swapped
        return attacks.homer_statistic(targets, reference, mixture)

    assert _power(study, study["mixture"], statistic=broken) < 0.5


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 2), min_size=3, max_size=40),
    st.floats(0.01, 0.99),
)
def test_equal_mixture_and_reference_carry_no_evidence(genotype, frequency):
    target = np.array(genotype)
    frequencies = np.full(len(genotype), frequency)
    assert attacks.homer_statistic(target, frequencies, frequencies) == 0.0


def test_noisy_mixture_outside_unit_interval_is_clipped():
    target = np.array([[2, 0, 1]])
    reference = np.array([0.5, 0.5, 0.5])
    clipped = attacks.homer_statistic(target, np.array([1.0, 0.0, 0.5]), reference)
    wild = attacks.homer_statistic(target, np.array([3.0, -2.0, 0.5]), reference)
    assert np.allclose(clipped, wild)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-5, 5), min_size=5, max_size=50),
    st.lists(st.floats(-5, 5), min_size=5, max_size=50),
)
def test_membership_power_is_a_share_and_grows_with_the_false_positive_rate(on, off):
    low = attacks.membership_power(on, off, 0.05)
    high = attacks.membership_power(on, off, 0.5)
    assert 0.0 <= low <= high <= 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: attacks.allele_frequencies(np.array([[0, 3]])),
        lambda: attacks.allele_frequencies(np.array([0, 1])),
        lambda: attacks.allele_frequencies(np.array([[0.5, 1.0]])),
        lambda: attacks.allele_frequencies(np.array([[True, False]])),
        lambda: attacks.allele_frequencies(np.array([[-1, 1]])),
        lambda: attacks.allele_frequencies(np.empty((0, 3))),
        lambda: attacks.homer_statistic(np.array([0, 1, 2]), np.full(2, 0.5), np.full(3, 0.5)),
        lambda: attacks.homer_statistic(np.array([0, 1, 2]), np.full(3, 0.5), np.full(3, 1.5)),
        lambda: attacks.homer_statistic(np.array([0, 1, 2]), np.full(3, np.nan), np.full(3, 0.5)),
        lambda: attacks.homer_statistic(np.array([1]), np.full(1, 0.5), np.full(1, 0.5)),
        lambda: attacks.membership_power([], [1.0]),
        lambda: attacks.membership_power([1.0], [np.inf]),
        lambda: attacks.membership_power([1.0], [0.0], false_positive_rate=0.0),
        lambda: attacks.membership_power([1.0], [0.0], false_positive_rate=1.0),
    ],
)
def test_validation_errors(call):
    with pytest.raises(ValueError):
        call()


def test_false_positive_rate_type_error():
    with pytest.raises(TypeError):
        attacks.membership_power([1.0], [0.0], false_positive_rate="5%")


def test_text_where_numbers_belong_gets_the_kits_message():
    with pytest.raises(TypeError, match="member_scores must hold"):
        attacks.membership_power(["0.9", "0.1"], [0.2, 0.3])
    with pytest.raises(TypeError, match="non_member_scores must hold"):
        attacks.membership_power([0.9], [True, False])
    with pytest.raises(TypeError, match="mixture_frequencies must hold"):
        attacks.homer_statistic([[0, 1, 2]], ["0.1", "0.2", "0.3"], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="genotypes must hold allele counts"):
        attacks.allele_frequencies([["0", "1"]])
