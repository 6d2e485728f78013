"""helpers.evaluation and the DP federated pieces of helpers.dp_learning (issue 6)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers import dp, dp_learning, encryption, evaluation, federated


@pytest.fixture(scope="module")
def small_keys():
    # Key size does not change what these tests check; 512 bits keeps them quick.
    return encryption.generate_keypair(512, allow_insecure=True)


@pytest.fixture(scope="module")
def task():
    return evaluation.breast_cancer_task(seed=0)


# ------------------------------------------------------------------------- the task


def test_task_keeps_test_patients_out_of_every_hospital(task):
    X_train, _ = task.pooled()
    assert task.n_train + len(task.y_test) == 569
    assert len(task.hospital_data) == 5 and task.n_features == 30
    # features scaled by public bounds to [-1, 1]
    assert np.abs(X_train).max() <= 1.0 and np.abs(task.X_test).max() <= 1.0
    train_rows = {tuple(r) for r in np.round(X_train, 12)}
    assert not any(tuple(r) in train_rows for r in np.round(task.X_test, 12))


def test_task_is_reproducible_under_a_seed():
    a, b = evaluation.breast_cancer_task(3), evaluation.breast_cancer_task(3)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    for (Xa, ya), (Xb, yb) in zip(a.hospital_data, b.hospital_data, strict=True):
        np.testing.assert_array_equal(Xa, Xb)
        np.testing.assert_array_equal(ya, yb)


# ----------------------------------------------------------- the clipped hospital


def test_clipped_update_moves_at_most_lr_times_clip_per_patient(task):
    X, y = task.hospital_data[0]
    hospital = dp_learning.ClippedHospital(X, y, clip_norm=0.1, total_patients=task.n_train)
    start = np.zeros(task.n_features + 1)
    new, n = hospital.local_update(start, 1, lr=2.0)
    assert n == len(y)
    assert np.linalg.norm(new - start) <= 2.0 * 0.1 * len(y) / task.n_train + 1e-12


def test_clipped_update_equals_a_gradient_step_when_nothing_is_clipped(task):
    X, y = task.hospital_data[1]
    hospital = dp_learning.ClippedHospital(X, y, clip_norm=1e6, total_patients=len(y))
    start = np.full(task.n_features + 1, 0.01)
    new, _ = hospital.local_update(start, 1, lr=0.5)
    expected = start - 0.5 * federated.gradient(start, X, y)
    np.testing.assert_allclose(new, expected, rtol=1e-10, atol=1e-12)


def test_clipped_hospital_validation(task):
    X, y = task.hospital_data[0]
    with pytest.raises(ValueError, match="clip_norm"):
        dp_learning.ClippedHospital(X, y, clip_norm=0, total_patients=500)
    with pytest.raises(ValueError, match="total_patients must be >="):
        dp_learning.ClippedHospital(X, y, clip_norm=1, total_patients=len(y) - 1)
    hospital = dp_learning.ClippedHospital(X, y, clip_norm=1, total_patients=500)
    with pytest.raises(ValueError, match="epochs must be 1"):
        hospital.local_update(np.zeros(31), 2, lr=1.0)


# ------------------------------------------------------------------- the DP aggregator


def dp_aggregator(
    mode="central", inner=None, epsilon=1.0, rounds=10, n_hospitals=4, accountant=None
):
    return dp_learning.DPAggregator(
        inner or federated.WeightedMean(),
        epsilon,
        1e-5,
        rounds,
        clip_norm=1.0,
        lr=1.0,
        total_patients=100,
        n_hospitals=n_hospitals,
        initial_weights=np.zeros(3),
        accountant=accountant,
        mode=mode,
    )


@pytest.mark.parametrize("mode, hospitals_noise", [("central", 1), ("local", 4)])
def test_noise_has_the_calibrated_gaussian_distribution(mode, hospitals_noise):
    """The decoded change minus the true change is N(0, k sigma^2): k = 1 central, 4 local."""
    rng = np.random.default_rng(11)
    errors = []
    for _ in range(400):
        aggregator = dp_aggregator(mode, rounds=1)
        changes = [np.full(3, 0.01 * (i + 1)) for i in range(4)]
        messages = [aggregator.encode(c, 7, rng) for c in changes]
        decoded = aggregator.decode(aggregator.combine(messages), rng)
        errors.append(decoded - np.sum(changes, axis=0))
    errors = np.concatenate(errors)
    expected_std = math.sqrt(hospitals_noise) * aggregator.noise_std
    assert aggregator.noise_std == pytest.approx(aggregator.noise_multiplier * 1.0 * 1.0 / 100)
    assert stats.kstest(errors / expected_std, "norm").pvalue > 0.01
    # a broken twin with half the noise would fail the same test
    assert stats.kstest(errors / (expected_std / 2), "norm").pvalue < 1e-6


def test_noise_multiplier_matches_the_dp_sgd_accountant():
    aggregator = dp_aggregator(epsilon=2.0, rounds=25)
    epsilon, _ = dp_learning.rdp_to_dp(
        dp_learning.DEFAULT_ORDERS,
        dp_learning.rdp_sampled_gaussian(1.0, aggregator.noise_multiplier, 25),
        1e-5,
    )
    assert epsilon <= 2.0 and epsilon == pytest.approx(2.0, rel=0.02)


def test_budget_is_charged_up_front_and_an_overspend_changes_nothing():
    accountant = dp.PrivacyAccountant(1.5, 1e-4)
    dp_aggregator(epsilon=1.0, accountant=accountant)
    assert accountant.spent.epsilon == pytest.approx(1.0)
    with pytest.raises(dp.BudgetExceededError):
        dp_aggregator(epsilon=1.0, accountant=accountant)
    assert accountant.spent.epsilon == pytest.approx(1.0)
    assert len(accountant.ledger) == 1


def test_rounds_beyond_the_budget_are_refused():
    aggregator = dp_aggregator(rounds=1)
    rng = np.random.default_rng(0)
    aggregator.decode(aggregator.combine([aggregator.encode(np.zeros(3), 1, rng)] * 4), rng)
    with pytest.raises(dp.BudgetExceededError, match="covers 1 rounds"):
        aggregator.decode(aggregator.combine([aggregator.encode(np.zeros(3), 1, rng)] * 4), rng)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epsilon": 0}, "epsilon"),
        ({"rounds": 0}, "rounds must be >= 1"),
        ({"mode": "both"}, "mode"),
    ],
)
def test_dp_aggregator_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dp_aggregator(**kwargs)
    with pytest.raises(TypeError, match="inner must be an Aggregator"):
        dp_aggregator(inner=object())


def test_dp_aggregator_over_secure_aggregation_equals_it_over_plain_sums(small_keys, task):
    public_key, private_key = small_keys
    secure = encryption.SecureAggregator(
        public_key,
        encryption.KeyHolder(private_key),
        n_parties=5,
        weight_bound=10.0,
        max_samples=task.n_train,
    )
    results = []
    for inner in (federated.WeightedMean(), secure):
        hospitals = [
            dp_learning.ClippedHospital(X, y, 1.0, task.n_train, name=f"H{i}")
            for i, (X, y) in enumerate(task.hospital_data)
        ]
        aggregator = dp_learning.DPAggregator(
            inner, 1.0, 1e-5, 5, 1.0, 2.0, task.n_train, 5, np.zeros(31), mode="central"
        )
        results.append(
            federated.federated_averaging(
                hospitals, 5, 1, 2.0, rng=4, aggregator=aggregator
            ).weights
        )
    np.testing.assert_allclose(results[0], results[1], atol=1e-5)  # within quantisation


# ------------------------------------------------------------------- the trade-off table


@pytest.fixture(scope="module")
def configurations(small_keys):
    return evaluation.standard_configurations(epsilons=(1.0, 4.0), key_pair=small_keys)


def test_standard_configurations_cover_the_seven_families(configurations):
    families = list(dict.fromkeys(c.family for c in configurations))
    assert families == [
        "centralised",
        "centralised DP",
        "local only",
        "FedAvg",
        "FedAvg + SecAgg",
        "FedAvg + SecAgg + central DP",
        "FedAvg + local DP",
    ]
    assert len(configurations) == 10  # three families at two epsilons


def test_table_rows_are_reproducible_under_a_seed(configurations):
    first = evaluation.tradeoff_runs(configurations, seeds=[1])
    second = evaluation.tradeoff_runs(configurations, seeds=[1])
    columns = ["configuration", "privacy", "epsilon", "delta", "accuracy", "mia_advantage", "bytes"]
    pd.testing.assert_frame_equal(first[columns], second[columns])


def test_secure_aggregation_yields_the_plain_fedavg_model(configurations, task):
    by_name = {c.name: c for c in configurations}
    plain = by_name["FedAvg"].train(task, np.random.default_rng(0)).weights
    secure = by_name["FedAvg + SecAgg"].train(task, np.random.default_rng(0)).weights
    np.testing.assert_allclose(plain, secure, atol=1e-4)  # within quantisation


def test_privacy_column_is_what_the_accountant_recorded(configurations, task):
    table = evaluation.tradeoff_table(configurations, seeds=[2])
    for config in configurations:
        row = table.loc[config.name]
        if config.epsilon is None:
            assert row["privacy"] == "none" and pd.isna(row["epsilon"])
        else:
            outcome = config.train(task, np.random.default_rng(0))
            assert outcome.ledger["epsilon"].sum() == pytest.approx(row["epsilon"])
            assert row["epsilon"] == config.epsilon and row["delta"] == config.delta
            assert row["privacy"] == f"({config.epsilon:g}, {config.delta:g})-DP"
    assert (table["accuracy_mean"] > 0.8).all()
    assert table.loc["centralised", "accuracy_mean"] > 0.93


def test_a_row_whose_accountant_disagrees_is_refused():
    def overspends(task, rng):
        return evaluation.Outcome(np.zeros(task.n_features + 1), epsilon=2.0, delta=1e-5)

    liar = evaluation.Configuration("liar", overspends, trusted="nobody", epsilon=1.0, delta=1e-5)
    with pytest.raises(
        ValueError, match="claims epsilon, delta = \\(1.0, 1e-05\\) but its accountant"
    ):
        evaluation.tradeoff_runs([liar], seeds=[0])
    silent = evaluation.Configuration("silent", overspends, trusted="nobody")
    with pytest.raises(ValueError, match="claims epsilon"):
        evaluation.tradeoff_runs([silent], seeds=[0])


def test_membership_advantage_sees_an_overfit_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 40))
    y = (rng.random(60) < 0.5).astype(float)
    overfit = federated.centralised_training(X[:30], y[:30], epochs=3000, lr=1.0)
    advantage = evaluation.membership_advantage(overfit, (X[:30], y[:30]), (X[30:], y[30:]), rng=0)
    assert advantage > 0.25  # labels are noise: only memorisation fits them
    null = evaluation.membership_advantage(np.zeros(41), (X[:30], y[:30]), (X[30:], y[30:]), rng=0)
    assert null == 0.0


def test_table_validation():
    with pytest.raises(ValueError, match="at least one Configuration"):
        evaluation.tradeoff_table([], seeds=[0])
    with pytest.raises(TypeError, match="Configuration"):
        evaluation.tradeoff_table(["FedAvg"], seeds=[0])
    with pytest.raises(ValueError, match="epsilon"):
        evaluation.standard_configurations(epsilons=(0.0,))
    with pytest.raises(ValueError, match="include must be one of"):
        evaluation.standard_configurations(include=["everything"])


def test_a_row_does_not_depend_on_which_other_rows_run(configurations):
    local_dp = [c for c in configurations if c.family == "FedAvg + local DP"]
    alone = evaluation.tradeoff_runs(local_dp[-1:], seeds=[0])
    together = evaluation.tradeoff_runs(local_dp, seeds=[0])
    assert alone["accuracy"].iloc[0] == together["accuracy"].iloc[-1]


def test_centralised_dp_refuses_a_model_that_spent_more_than_recorded(monkeypatch, task):
    class Overspending(dp_learning.DPSGDLogisticRegression):
        def fit(self, X, y):
            super().fit(X, y)
            self.epsilon_ = 2 * self.epsilon  # a broken accountant
            return self

    monkeypatch.setattr(dp_learning, "DPSGDLogisticRegression", Overspending)
    (central_dp,) = evaluation.standard_configurations(epsilons=(1.0,), include=["centralised DP"])
    with pytest.raises(ValueError, match="more than the"):
        central_dp.train(task, np.random.default_rng(0))


def test_dp_federated_averaging_charges_its_accountant_and_runs_clipped(task):
    accountant = dp.PrivacyAccountant(2.0, 1e-5)
    result, aggregator = dp_learning.dp_federated_averaging(
        task.hospital_data,
        1.0,
        1e-5,
        rounds=3,
        lr=2.0,
        clip_norm=1.0,
        accountant=accountant,
        rng=0,
        test_data=(task.X_test, task.y_test),
    )
    assert accountant.spent.epsilon == pytest.approx(1.0) and aggregator.rounds_done == 3
    assert aggregator.total_patients == task.n_train and len(result.history) == 4
    with pytest.raises(ValueError, match="names must give one name per hospital"):
        dp_learning.dp_federated_averaging(task.hospital_data, 1.0, 1e-5, 3, 2.0, 1.0, names=["A"])
