"""helpers.evaluation: the task, the configurations and the privacy / utility / overhead table."""

import numpy as np
import pandas as pd
import pytest

from helpers import accounting, dp_learning, encryption, evaluation, federated


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
            # what the accountant certified: at most the claim, within calibration precision
            assert 0.99 * config.epsilon <= row["epsilon"] <= config.epsilon
            assert row["delta"] == config.delta
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
    with pytest.raises(accounting.BudgetExceededError, match="would exceed the budget"):
        central_dp.train(task, np.random.default_rng(0))
