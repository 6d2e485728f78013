"""helpers.evaluation: the task, the configurations and the privacy / utility / overhead study."""

import numpy as np
import pandas as pd
import pytest

from helpers import accounting, dp_learning, encryption, evaluation, federated


@pytest.fixture(scope="module")
def small_keys():
    # 2048 bits, the fast option: every entry point refuses a smaller key unless told otherwise.
    return encryption.generate_keypair(2048)


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


def test_configurations_see_no_test_patient(task):
    seen = task.training()
    assert not hasattr(seen, "X_test") and not hasattr(seen, "y_test")
    assert seen.n_train == task.n_train and seen.n_features == 30


def test_task_is_reproducible_under_a_seed():
    a, b = evaluation.breast_cancer_task(3), evaluation.breast_cancer_task(3)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    for (Xa, ya), (Xb, yb) in zip(a.hospital_data, b.hospital_data, strict=True):
        np.testing.assert_array_equal(Xa, Xb)
        np.testing.assert_array_equal(ya, yb)


# ------------------------------------------------------------------- the configurations


@pytest.fixture(scope="module")
def configurations(small_keys):
    return evaluation.standard_configurations(epsilons=(1.0, 4.0), key_pair=small_keys)


def test_standard_configurations_cover_every_family(configurations):
    families = list(dict.fromkeys(c.family for c in configurations))
    assert families == list(evaluation.FAMILIES)
    assert len(configurations) == 5 + 1 + 5 * 2  # five without DP, DP-SGD once, five DP twice


def test_trust_is_encoded_as_the_prose_says(configurations):
    by_family = {c.family: c for c in configurations}
    assert by_family["FedAvg"].server_sees_updates and by_family["FedAvg"].trusts == {"server"}
    assert by_family["FedAvg + silo DP"].server_sees_updates
    assert by_family["FedAvg + silo DP"].trusts == frozenset()
    assert not by_family["FedAvg + masking + silo DP"].server_sees_updates
    assert by_family["FedAvg + Paillier + central DP"].trusts == {"key holder"}
    assert by_family["FedAvg + masking + central DP"].trusts == {"server"}
    assert by_family["centralised DP-FedSGD"].trusts == {"curator"}
    assert not by_family["local only"].shared_model
    with pytest.raises(ValueError, match="trusts must hold only"):
        evaluation.Configuration("x", lambda td, rng: None, "x", trusts={"god"})


# ------------------------------------------------------------------------- the study


@pytest.fixture(scope="module")
def study(configurations):
    return evaluation.tradeoff_study(configurations, splits=[1, 2, 3], draws=2, verify=1)


def test_every_run_is_reproducible_and_uses_common_random_numbers(configurations, study):
    again = evaluation.tradeoff_study(configurations[:3], splits=[1], draws=2, verify=0)
    columns = ["configuration", "split", "draw", "accuracy", "mia_advantage", "bytes"]
    first = study.runs[study.runs["configuration"].isin(again.runs["configuration"])]
    first = first[first["split"] == 1]
    pd.testing.assert_frame_equal(
        first[columns].reset_index(drop=True), again.runs[columns].reset_index(drop=True)
    )
    # noise-free configurations run once per split, DP ones once per draw
    counts = study.runs.groupby("configuration")["draw"].count()
    assert counts["FedAvg"] == 3 and counts["FedAvg + silo DP (eps=1)"] == 6


def test_the_curator_and_the_federation_compute_the_same_dp_model(study):
    runs = study.runs.set_index(["configuration", "split", "draw"])["accuracy"]
    for e in ("1", "4"):
        curator = runs[f"centralised DP-FedSGD (eps={e})"]
        federated_run = runs[f"FedAvg + Paillier + central DP (eps={e})"]
        np.testing.assert_array_equal(curator.to_numpy(), federated_run.to_numpy())


def test_secure_rows_equal_their_plain_twins_and_cost_the_real_protocol(study):
    costs = study.costs.set_index("cost_key")
    assert set(costs.index) == {
        "FedAvg + Paillier",
        "FedAvg + masking",
        "FedAvg + Paillier + central DP",
        "FedAvg + masking + central DP",
        "FedAvg + masking + silo DP",
    }
    assert (costs["weight_gap"] <= 1e-4).all()
    summary = study.summary()
    plain, paillier = summary.loc["FedAvg"], summary.loc["FedAvg + Paillier"]
    assert paillier["accuracy_mean"] == plain["accuracy_mean"]
    assert paillier["bytes"] > plain["bytes"] and paillier["seconds"] > plain["seconds"]
    # the cost is shared across epsilons: it does not depend on the noise
    rows = summary[summary["family"] == "FedAvg + Paillier + central DP"]
    assert rows["seconds"].nunique() == 1 and rows["cost_measured"].all()


def test_a_secure_twin_that_computes_another_model_is_refused(task):
    def plain(td, rng):
        return evaluation.Outcome(np.zeros(31))

    def other(td, rng):
        return evaluation.Outcome(np.full(31, 0.1))

    liar = evaluation.Configuration("secure", plain, "nobody", real=other, cost_key="secure")
    with pytest.raises(ValueError, match="differs from its plain twin"):
        evaluation.tradeoff_study([liar], splits=[0], verify=1)


def test_summary_intervals_cover_the_mean_and_shrink_with_splits(configurations):
    plain = [c for c in configurations if c.family == "FedAvg + silo DP"][:1]
    few = evaluation.tradeoff_study(plain, splits=range(3), membership=False).summary()
    many = evaluation.tradeoff_study(plain, splits=range(12), membership=False).summary()
    for s in (few, many):
        row = s.iloc[0]
        assert row["ci_low"] < row["accuracy_mean"] < row["ci_high"]
    width = lambda s: s.iloc[0]["ci_high"] - s.iloc[0]["ci_low"]  # noqa: E731
    assert width(many) < width(few)


def test_compare_pairs_runs_on_the_same_splits(study):
    difference = study.compare("FedAvg", "FedAvg + silo DP (eps=1)")
    means = study.summary()["accuracy_mean"]
    expected = means["FedAvg"] - means["FedAvg + silo DP (eps=1)"]
    assert difference["difference"] == pytest.approx(expected)
    assert difference["ci_low"] <= difference["difference"] <= difference["ci_high"]
    with pytest.raises(ValueError, match="no configuration named"):
        study.compare("FedAvg", "nonsense")


def test_privacy_column_is_what_the_accountant_recorded(configurations, study, task):
    summary = study.summary()
    for config in configurations:
        row = summary.loc[config.name]
        if config.epsilon is None:
            assert row["privacy"] == "none" and pd.isna(row["epsilon"])
        else:
            outcome = config.train(task.training(), np.random.default_rng(0))
            assert outcome.ledger["epsilon"].sum() == pytest.approx(row["epsilon"])
            # what the accountant certified: at most the claim, within calibration precision
            assert 0.99 * config.epsilon <= row["epsilon"] <= config.epsilon
            assert row["delta"] == config.delta
            assert row["privacy"] == f"({config.epsilon:g}, {config.delta:g})-DP"
    assert (summary["accuracy_mean"] > 0.8).all()
    assert summary.loc["centralised", "accuracy_mean"] > 0.93


def test_a_row_whose_accountant_disagrees_is_refused():
    def overspends(td, rng):
        return evaluation.Outcome(np.zeros(td.n_features + 1), epsilon=2.0, delta=1e-5)

    liar = evaluation.Configuration("liar", overspends, trusted="nobody", epsilon=1.0, delta=1e-5)
    with pytest.raises(
        ValueError, match="claims epsilon, delta = \\(1.0, 1e-05\\) but its accountant"
    ):
        evaluation.tradeoff_study([liar], splits=[0])
    silent = evaluation.Configuration("silent", overspends, trusted="nobody")
    with pytest.raises(ValueError, match="claims epsilon"):
        evaluation.tradeoff_study([silent], splits=[0])


def test_membership_advantage_sees_an_overfit_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 40))
    y = (rng.random(60) < 0.5).astype(float)
    overfit = federated.centralised_training(X[:30], y[:30], epochs=3000, lr=1.0)
    advantage = evaluation.membership_advantage(overfit, (X[:30], y[:30]), (X[30:], y[30:]), rng=0)
    assert advantage > 0.25  # labels are noise: only memorisation fits them
    null = evaluation.membership_advantage(np.zeros(41), (X[:30], y[:30]), (X[30:], y[30:]), rng=0)
    assert null == 0.0


def test_study_validation():
    with pytest.raises(ValueError, match="at least one Configuration"):
        evaluation.tradeoff_study([], splits=[0])
    with pytest.raises(TypeError, match="Configuration"):
        evaluation.tradeoff_study(["FedAvg"], splits=[0])
    with pytest.raises(ValueError, match="splits must hold"):
        evaluation.tradeoff_study(
            evaluation.standard_configurations(include=["centralised"]), splits=[1, 1]
        )
    with pytest.raises(ValueError, match="epsilon"):
        evaluation.standard_configurations(epsilons=(0.0,))
    with pytest.raises(ValueError, match="include must be one of"):
        evaluation.standard_configurations(include=["everything"])


def test_centralised_dp_refuses_a_model_that_spent_more_than_recorded(monkeypatch, task):
    class Overspending(dp_learning.DPSGDLogisticRegression):
        def fit(self, X, y):
            super().fit(X, y)
            self.epsilon_ = 2 * self.epsilon  # a broken accountant
            return self

    monkeypatch.setattr(dp_learning, "DPSGDLogisticRegression", Overspending)
    (central_dp,) = evaluation.standard_configurations(include=["centralised DP-SGD"])
    with pytest.raises(accounting.BudgetExceededError, match="would exceed the budget"):
        central_dp.train(task.training(), np.random.default_rng(0))


# ------------------------------------------------------------------------- the worksheet


def test_shortlist_keeps_what_a_scenario_allows(study):
    nobody = evaluation.Scenario("no trusted party", max_loss=0.5)
    picked = evaluation.shortlist(study, nobody)
    assert set(picked["family"]) == {"FedAvg + masking + silo DP"}  # the server sees no update
    assert list(picked["privacy"]) == ["(1, 1e-05)-DP", "(4, 1e-05)-DP"]  # smallest first
    seeing = evaluation.Scenario("updates may be seen", 0.5, server_may_see_updates=True)
    assert "FedAvg + silo DP" in set(evaluation.shortlist(study, seeing)["family"])
    keyholder = evaluation.Scenario("key holder", 0.5, trusted={"key holder"})
    assert "FedAvg + Paillier + central DP" in set(evaluation.shortlist(study, keyholder)["family"])
    alone = evaluation.Scenario("alone", 0.5, guarantee=False, shared_model=False)
    assert "local only" in evaluation.shortlist(study, alone).index
    quick = evaluation.Scenario("quick", 0.5, trusted={"key holder"}, max_seconds=1e-9)
    assert evaluation.shortlist(study, quick).empty  # nothing runs that fast
    lossless = evaluation.Scenario("no loss at all", max_loss=0.0)
    assert evaluation.shortlist(study, lossless).empty
    loss = evaluation.shortlist(study, nobody)["loss_ci_high"]
    compared = study.compare("FedAvg", "FedAvg + masking + silo DP (eps=1)")["ci_high"]
    assert loss.iloc[0] == pytest.approx(compared)
    with pytest.raises(ValueError, match="trusted must hold only"):
        evaluation.Scenario("x", 0.04, trusted={"everyone"})
    with pytest.raises(TypeError, match="Study"):
        evaluation.shortlist(study.summary(), nobody)


def _made_up_study(losses, epsilons=None) -> evaluation.Study:
    """A Study whose paired losses against FedAvg are given: one DP row per list of losses."""
    configurations = [evaluation.Configuration("FedAvg", None, "the server", family="FedAvg")]
    rows = []
    for k, per_split in enumerate(losses):
        name, e = f"noisy {k}", 1.0 + k if epsilons is None else epsilons[k]
        configurations.append(evaluation.Configuration(name, None, "nobody", epsilon=e, delta=1e-5))
        for split, loss in enumerate(per_split):
            for config, accuracy, epsilon in (("FedAvg", 0.95, None), (name, 0.95 - loss, e)):
                rows.append(
                    {
                        "configuration": config,
                        "family": "",
                        "split": split,
                        "draw": 0,
                        "epsilon": epsilon,
                        "delta": 1e-5,
                        "accuracy": accuracy,
                        "mia_advantage": np.nan,
                        "seconds": 0.0,
                        "bytes": 0,
                    }
                )
    runs = pd.DataFrame(rows).drop_duplicates(["configuration", "split"])
    return evaluation.Study(runs, pd.DataFrame(), configurations)


def test_verdicts_read_the_whole_interval_against_the_limit():
    spread = np.random.default_rng(0).normal(0.0, 0.01, size=10)
    study = _made_up_study([0.05 + spread])
    loss = study.compare("FedAvg", "noisy 0")
    low, high = loss["ci_low"], loss["ci_high"]
    assert 0 < low < high

    def verdict(limit):
        return evaluation.verdicts(study, evaluation.Scenario("x", limit)).loc["noisy 0"]

    assert verdict(high)["verdict"] == "qualifies"  # the interval's upper end at the limit
    assert verdict(low / 2)["verdict"] == "fails"  # the whole interval above the limit
    straddling = verdict((low + high) / 2)
    assert straddling["verdict"] == "undecided" and straddling["splits_to_decide"] > 10
    assert np.isnan(verdict(high)["splits_to_decide"])  # decided rows need no more splits
    # FedAvg gives no guarantee: a scenario that needs one never lists it
    assert list(evaluation.verdicts(study, evaluation.Scenario("x", 0.04)).index) == ["noisy 0"]
    # one split has no interval: nothing is decided, and there is no spread to extrapolate
    single = evaluation.verdicts(_made_up_study([[0.05]]), evaluation.Scenario("x", 0.04))
    assert single.loc["noisy 0", "verdict"] == "undecided"
    assert np.isnan(single.loc["noisy 0", "splits_to_decide"])
    # order: smallest epsilon, then the smaller MEAN loss (not the smaller upper end)
    steady, wobbly = 0.030 + spread / 10, 0.020 + 3 * spread
    ordered = _made_up_study([steady, wobbly, 0.001 + spread / 10], epsilons=[1.0, 1.0, 2.0])
    loose = evaluation.Scenario("loose", 0.5)
    table = evaluation.verdicts(ordered, loose)
    assert list(table.index) == ["noisy 1", "noisy 0", "noisy 2"]
    assert table.loc["noisy 1", "loss_ci_high"] > table.loc["noisy 0", "loss_ci_high"]
    assert list(evaluation.shortlist(ordered, loose).index) == list(table.index)


def test_the_shortlist_is_the_rows_that_qualify(study):
    # the shortlist is the rows that qualify, in the same order: epsilon, then the mean loss
    scenario = evaluation.Scenario("updates may be seen", 0.5, server_may_see_updates=True)
    table = evaluation.verdicts(study, scenario)
    kept = evaluation.shortlist(study, scenario)
    assert list(kept.index) == list(table.index[table["verdict"] == "qualifies"])
    order = list(zip(kept["epsilon"], kept["loss"], strict=True))
    assert order == sorted(order) and len(set(kept["epsilon"])) < len(kept)  # ties broken
    with pytest.raises(TypeError, match="Scenario"):
        evaluation.verdicts(study, "A")


def test_splits_to_decide_is_the_smallest_count_whose_interval_clears_the_limit():
    from scipy import stats

    def interval(difference, sd, n):
        half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
        return pd.Series(
            {
                "difference": difference,
                "ci_low": difference - half,
                "ci_high": difference + half,
                "splits": n,
            }
        )

    for difference, sd, limit in ((0.044, 0.029, 0.04), (0.031, 0.024, 0.04), (0.2, 0.1, 0.1)):
        needed = evaluation.splits_to_decide(interval(difference, sd, 30), limit)
        gap = abs(difference - limit)
        assert stats.t.ppf(0.975, needed - 1) * sd / np.sqrt(needed) < gap
        assert stats.t.ppf(0.975, needed - 2) * sd / np.sqrt(needed - 1) >= gap
    # the count does not depend on how many splits measured the spread
    assert evaluation.splits_to_decide(interval(0.044, 0.029, 30), 0.04) == pytest.approx(
        evaluation.splits_to_decide(interval(0.044, 0.029, 90), 0.04)
    )
    assert evaluation.splits_to_decide(interval(0.04, 0.029, 30), 0.04) == np.inf
