"""DP federated averaging (helpers.dp_learning): one plan states every privacy-relevant number;
the aggregator charges what the plan's accountant certifies and refuses any run that differs."""

import math

import numpy as np
import pytest
from scipy import stats

from helpers import accounting, dp_learning, encryption, evaluation, federated

NAMES = ("H1", "H2", "H3", "H4")


@pytest.fixture(scope="module")
def task():
    return evaluation.breast_cancer_task(seed=0)


@pytest.fixture(scope="module")
def small():
    """Forty patients at four hospitals: the issue's reproduction."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    return [(X[i::4], y[i::4]) for i in range(4)]


def plan(**overrides):
    settings = dict(
        epsilon=1.0,
        delta=1e-5,
        rounds=5,
        clip_norm=1.0,
        lr=0.1,
        hospitals=NAMES,
        total_patients=40,
    )
    settings.update(overrides)
    return dp_learning.DPFederatedPlan(**settings)


# ------------------------------------------------------------ what the plan derives


@pytest.mark.parametrize("unit, rate", [("patient", 1.0), ("patient", 0.5), ("hospital", 0.5)])
@pytest.mark.parametrize("choice", accounting.ACCOUNTANTS)
def test_the_plan_derives_its_noise_from_its_accountant(unit, rate, choice):
    p = plan(unit=unit, sampling_rate=rate, accountant=choice, local_epochs=1)
    accounted_rate = rate if unit == "hospital" else 1.0  # no amplification credit per patient
    z = accounting.noise_multiplier_for(1.0, 1e-5, accounted_rate, 5, choice)
    assert p.noise_multiplier == z
    assert p.certified_epsilon == accounting.epsilon_for(z, 1e-5, accounted_rate, 5, choice) <= 1.0
    if unit == "patient":
        assert p.sensitivity == pytest.approx(0.1 * 1.0 / (rate * 40))
    else:
        assert p.sensitivity == pytest.approx(1.0 / (rate * 4))
    assert p.noise_std == pytest.approx(z * p.sensitivity)


def test_the_plan_is_frozen_and_validated():
    p = plan()
    with pytest.raises(AttributeError):
        p.lr = 1.0
    for overrides, message in [
        ({"epsilon": 0}, "epsilon"),
        ({"rounds": 0}, "rounds must be >= 1"),
        ({"noise": "local"}, "noise must be one of 'central', 'silo'"),
        ({"unit": "record"}, "unit must be one of"),
        ({"sampling_rate": 0.0}, "sampling_rate"),
        ({"local_epochs": 2}, "local_epochs must be 1 for unit='patient'"),
        ({"total_patients": None}, "total_patients"),
        ({"hospitals": ("H1", "H1")}, "unique"),
        ({"hospitals": "H1"}, "single string"),
        ({"accountant": "moments"}, "accountant"),
    ]:
        with pytest.raises((ValueError, TypeError), match=message):
            plan(**overrides)


# ------------------------------------------------------------ one test per misconfiguration


def test_another_learning_rate_in_the_loop_is_refused_before_any_data_are_touched(small):
    p = plan()
    hospitals = p.clipped_hospitals(small)
    touched = []
    for h in hospitals:
        original = h.local_update
        h.local_update = lambda *a, _f=original, **k: touched.append(1) or _f(*a, **k)
    aggregator = dp_learning.DPAggregator(p)
    with pytest.raises(ValueError, match="lr: the plan states 0.1 but the run has 1.0"):
        federated.federated_averaging(hospitals, 5, 1, 1.0, rng=0, aggregator=aggregator)
    assert not touched


def test_a_hospital_that_does_not_clip_is_refused(small):
    p = plan()
    plain = federated.make_hospitals(small)
    with pytest.raises(ValueError, match="'H1' is a Hospital: its update is not clipped"):
        federated.federated_averaging(plain, 5, 1, 0.1, aggregator=dp_learning.DPAggregator(p))


def test_a_hospital_of_another_plan_is_refused(small):
    other = plan(clip_norm=10.0).clipped_hospitals(small)
    with pytest.raises(ValueError, match="another plan"):
        federated.federated_averaging(other, 5, 1, 0.1, aggregator=dp_learning.DPAggregator(plan()))


def test_another_study_size_is_refused(small):
    p = plan(total_patients=14)
    with pytest.raises(
        ValueError, match="total_patients: the plan states 14 but the hospitals hold 40"
    ):
        dp_learning.dp_federated_averaging(p, small, rng=0)


def test_a_hospital_missing_from_the_run_is_refused(small):
    p = plan()
    hospitals = p.clipped_hospitals(small)[:2]
    with pytest.raises(ValueError, match=r"missing \['H3', 'H4'\]"):
        federated.federated_averaging(hospitals, 5, 1, 0.1, aggregator=dp_learning.DPAggregator(p))


def test_an_extra_round_is_refused(small):
    p = plan()
    with pytest.raises(ValueError, match="rounds: the plan states 5 but the run has 6"):
        federated.federated_averaging(
            p.clipped_hospitals(small), 6, 1, 0.1, aggregator=dp_learning.DPAggregator(p)
        )
    aggregator = dp_learning.DPAggregator(p)
    federated.federated_averaging(p.clipped_hospitals(small), 5, 1, 0.1, aggregator=aggregator)
    with pytest.raises(accounting.BudgetExceededError, match="covers 5 rounds"):
        aggregator.decode(None)


def test_other_local_epochs_or_mini_batches_are_refused(small):
    p = plan()
    for kwargs, message in [
        ({"local_epochs": 2}, "local_epochs: the plan states 1 but the run has 2"),
        ({"local_epochs": 1, "batch_size": 4}, "batch_size: the plan states None"),
    ]:
        with pytest.raises(ValueError, match=message):
            federated.federated_averaging(
                p.clipped_hospitals(small),
                5,
                lr=0.1,
                aggregator=dp_learning.DPAggregator(p),
                **kwargs,
            )


def test_an_aggregator_runs_once(small):
    p = plan()
    result, aggregator = dp_learning.dp_federated_averaging(p, small, rng=0)
    with pytest.raises(ValueError, match="already run"):
        federated.federated_averaging(p.clipped_hospitals(small), 5, 1, 0.1, aggregator=aggregator)


def test_an_unclipped_update_is_refused_at_the_hospital(small):
    p = plan()
    aggregator = dp_learning.DPAggregator(p)
    aggregator.start(
        federated.RunSettings(
            tuple(p.clipped_hospitals(small)), 5, 1, 0.1, None, np.zeros(4), "logistic"
        )
    )
    with pytest.raises(ValueError, match="not clipped as the noise assumes"):
        aggregator.encode(np.full(4, 10.0), 10)


def test_the_decoder_needs_the_run_first():
    with pytest.raises(RuntimeError, match="has not seen the run"):
        dp_learning.DPAggregator(plan()).encode(np.zeros(4), 10)


def test_a_hospital_not_registered_in_the_plan_cannot_be_built(small):
    X, y = small[0]
    with pytest.raises(ValueError, match="not registered in the plan"):
        dp_learning.ClippedHospital(X, y, plan(), name="H9")
    with pytest.raises(ValueError, match="one \\(X, y\\) part per registered hospital"):
        plan().clipped_hospitals(small[:3])


# ------------------------------------------------------------ the charge


def test_the_charge_is_what_the_accountant_certifies_and_says_which(small):
    ledger_owner = accounting.PrivacyAccountant(1.5, 1e-4)
    p = plan(accountant="rdp")
    dp_learning.DPAggregator(p, accountant=ledger_owner)
    row = ledger_owner.ledger.iloc[0]
    assert row["epsilon"] == p.certified_epsilon <= 1.0 and row["certified_by"] == "rdp"
    with pytest.raises(accounting.BudgetExceededError):
        dp_learning.DPAggregator(p, accountant=ledger_owner)  # a second run does not fit
    assert len(ledger_owner.ledger) == 1


# ------------------------------------------------------------ the noise, the sum, dropouts


@pytest.mark.parametrize("noise, draws", [("central", 1), ("silo", 4)])
def test_noise_has_the_calibrated_gaussian_distribution(noise, draws):
    """The decoded change minus the true sum is N(0, k sigma^2): k = 1 central, 4 silo."""
    rng = np.random.default_rng(11)
    p = plan(noise=noise, rounds=1, lr=1.0, total_patients=100)
    parts = [(np.zeros((25, 2)), np.arange(25) % 2) for _ in NAMES]
    run = federated.RunSettings(
        tuple(p.clipped_hospitals(parts)), 1, 1, 1.0, None, np.zeros(3), "logistic"
    )
    errors = []
    for _ in range(400):
        aggregator = dp_learning.DPAggregator(p)
        aggregator.start(run)
        changes = [np.full(3, 0.01 * (i + 1)) for i in range(4)]
        messages = [aggregator.encode(c, 7, rng) for c in changes]
        decoded = aggregator.decode(aggregator.combine(messages), rng)
        errors.append(decoded - np.sum(changes, axis=0))
    errors = np.concatenate(errors)
    expected_std = math.sqrt(draws) * p.noise_std
    assert stats.kstest(errors / expected_std, "norm").pvalue > 0.01
    # a broken twin with half the noise would fail the same test
    assert stats.kstest(errors / (expected_std / 2), "norm").pvalue < 1e-6


def test_a_dropped_hospital_contributes_nothing_and_nothing_is_rescaled(small):
    # with noise far below the signal, decode must return the exact sum of who reported
    p = plan(epsilon=1e6, rounds=1)
    hospitals = p.clipped_hospitals(small)
    aggregator = dp_learning.DPAggregator(p)
    result = federated.federated_averaging(
        hospitals, 1, 1, 0.1, rng=0, aggregator=aggregator, dropped={1: ["H2"]}
    )
    start = np.zeros(4)
    expected = start + sum(
        h.local_update(start, 1, 0.1)[0] - start for h in hospitals if h.name != "H2"
    )
    np.testing.assert_allclose(result.weights, expected, atol=1e-5)
    assert result.history["reported"].tolist() == [0, 3]


def test_client_sampling_asks_each_hospital_with_the_planned_rate(small):
    p = plan(unit="hospital", sampling_rate=0.3, rounds=200, local_epochs=2, total_patients=None)
    aggregator = dp_learning.DPAggregator(p)
    result = federated.federated_averaging(
        p.clipped_hospitals(small), 200, 2, 0.1, rng=5, aggregator=aggregator
    )
    asked = result.history["reported"].iloc[1:].to_numpy()
    assert stats.binomtest(int(asked.sum()), 200 * 4, 0.3).pvalue > 0.001
    assert asked.min() == 0  # an empty round still releases (noise only) and is accounted


def test_hospital_level_updates_are_clipped_whole(small):
    p = plan(unit="hospital", local_epochs=3, clip_norm=0.05, total_patients=None)
    h = p.clipped_hospitals(small)[0]
    start = np.zeros(4)
    new, n = h.local_update(start, 3, 0.1)
    assert np.linalg.norm(new - start) <= 0.05 / 4 + 1e-12 and n == len(small[0][1])


def test_patient_level_update_is_a_clipped_gradient_step(task):
    names = [f"H{i + 1}" for i in range(5)]
    p = dp_learning.DPFederatedPlan(1.0, 1e-5, 3, 1e6, 0.5, names, total_patients=task.n_train)
    hospitals = p.clipped_hospitals(task.hospital_data)
    X, y = task.hospital_data[1]
    start = np.full(task.n_features + 1, 0.01)
    new, _ = hospitals[1].local_update(start, 1, 0.5)
    # nothing is clipped at a huge clip norm: one gradient step scaled by n_h / N
    expected = start - 0.5 * federated.gradient(start, X, y) * len(y) / task.n_train
    np.testing.assert_allclose(new, expected, rtol=1e-10, atol=1e-12)


def test_dp_over_secure_aggregation_equals_it_over_plain_sums(task):
    public_key, private_key = encryption.generate_keypair(512, allow_insecure=True)
    names = [f"H{i + 1}" for i in range(5)]
    p = dp_learning.DPFederatedPlan(1.0, 1e-5, 5, 1.0, 2.0, names, total_patients=task.n_train)
    secure = encryption.SecureAggregator(
        public_key,
        encryption.KeyHolder(private_key),
        n_parties=5,
        weight_bound=10.0,
        max_samples=task.n_train,
    )
    results = [
        dp_learning.dp_federated_averaging(p, task.hospital_data, inner=inner, rng=4)[0].weights
        for inner in (federated.WeightedMean(), secure)
    ]
    np.testing.assert_allclose(results[0], results[1], atol=1e-5)  # within quantisation


def test_dp_federated_averaging_charges_its_accountant_and_runs_clipped(task):
    accountant = accounting.PrivacyAccountant(2.0, 1e-5)
    names = [f"H{i + 1}" for i in range(5)]
    p = dp_learning.DPFederatedPlan(1.0, 1e-5, 3, 1.0, 2.0, names, total_patients=task.n_train)
    result, aggregator = dp_learning.dp_federated_averaging(
        p, task.hospital_data, accountant=accountant, rng=0, test_data=(task.X_test, task.y_test)
    )
    assert accountant.spent.epsilon == p.certified_epsilon and aggregator.rounds_done == 3
    assert len(result.history) == 4 and result.history["reported"].iloc[-1] == 5


class _Recording(federated.WeightedMean):
    """A plain aggregator that records who was asked and who sent (as pairwise masking needs)."""

    def __init__(self):
        super().__init__()
        self.asked, self.senders = [], []

    def select(self, round_number, hospitals, rng):
        self.asked.append([h.name for h in hospitals])
        return list(hospitals)

    def encode_as(self, sender, weights, n_samples, rng):
        self.senders.append(sender)
        return self.encode(weights, n_samples, rng)


def test_the_inner_aggregator_sees_who_is_asked_and_who_sends(small):
    inner = _Recording()
    p = plan(unit="hospital", sampling_rate=0.5, total_patients=None, local_epochs=1)
    result, _ = dp_learning.dp_federated_averaging(p, small, inner=inner, rng=3)
    assert len(inner.asked) == sum(1 for r in result.history["reported"].iloc[1:] if r > 0)
    # every round's senders are exactly the hospitals the DP aggregator sampled for it
    assert sorted(inner.senders) == sorted(name for round_ in inner.asked for name in round_)
    assert sum(len(a) for a in inner.asked) == result.history["reported"].sum()


def test_evaluate_every_changes_no_weight(small):
    full, _ = dp_learning.dp_federated_averaging(plan(), small, rng=1)
    sparse, _ = dp_learning.dp_federated_averaging(plan(), small, rng=1, evaluate_every=5)
    np.testing.assert_array_equal(full.weights, sparse.weights)
    assert sparse.history["accuracy"].isna().sum() == 4
