"""Tests of helpers.federated: models, hospitals, aggregators, FedAvg, baselines, inversion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import data, federated
from helpers.federated import (
    Aggregator,
    Hospital,
    Standardiser,
    WeightedMean,
    centralised_training,
    federated_averaging,
    federated_standardisation,
    gradient,
    gradient_inversion,
    local_only_training,
    loss,
    make_hospitals,
    nearest_record_distance,
    predict,
    score,
)


def _toy(n=60, d=4, model="logistic", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    true_w = rng.normal(size=d)
    z = X @ true_w + 0.3
    if model == "logistic":
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    else:
        y = z + rng.normal(scale=0.1, size=n)
    return X, y


@pytest.fixture(scope="module")
def cancer_parts():
    X, y = data.breast_cancer()
    return data.split_across_hospitals(X, y, 4, scheme="iid", rng=3)


# --- model maths ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["logistic", "linear"])
def test_gradient_matches_finite_differences(model):
    X, y = _toy(model=model)
    w = np.random.default_rng(1).normal(size=X.shape[1] + 1)
    g = gradient(w, X, y, model)
    eps = 1e-6
    numeric = np.array(
        [
            (loss(w + eps * e, X, y, model) - loss(w - eps * e, X, y, model)) / (2 * eps)
            for e in np.eye(len(w))
        ]
    )
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7)


def test_logistic_loss_matches_direct_formula_and_is_stable():
    X, y = _toy()
    w = np.random.default_rng(2).normal(size=5)
    p = predict(w, X)
    direct = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert loss(w, X, y) == pytest.approx(direct, rel=1e-10)
    # Huge margins must not overflow.
    assert np.isfinite(loss(w * 1e4, X, y))
    assert np.all(np.isfinite(predict(w * 1e4, X)))


def test_linear_score_is_r2():
    X, y = _toy(model="linear")
    w = np.zeros(5)
    w[-1] = y.mean()
    assert score(w, X, y, "linear") == pytest.approx(0.0, abs=1e-12)


# --- hospitals and FedAvg ---------------------------------------------------------------


@pytest.mark.parametrize("model", ["logistic", "linear"])
def test_fedavg_with_one_hospital_equals_centralised_gradient_descent(model):
    X, y = _toy(model=model)
    hospital = Hospital(X, y, "only", model=model)
    result = federated_averaging([hospital], rounds=7, local_epochs=3, lr=0.1, rng=0)
    central = centralised_training(X, y, epochs=21, lr=0.1, model=model)
    np.testing.assert_allclose(result.weights, central, rtol=1e-12, atol=1e-12)


def test_one_local_epoch_fedavg_equals_centralised_full_batch():
    # With one full-batch step per round, the count-weighted mean of the hospitals' new
    # weights is exactly one step of centralised gradient descent on the pooled data.
    X, y = _toy(n=90)
    hospitals = [Hospital(X[:20], y[:20], "a"), Hospital(X[20:], y[20:], "b")]
    result = federated_averaging(hospitals, rounds=5, local_epochs=1, lr=0.2)
    central = centralised_training(X, y, epochs=5, lr=0.2)
    np.testing.assert_allclose(result.weights, central, rtol=1e-10, atol=1e-12)


def test_weighted_mean_weights_by_patient_count():
    agg = WeightedMean()
    msgs = [agg.encode(np.array([1.0, 0.0]), 1, None), agg.encode(np.array([4.0, 3.0]), 3, None)]
    np.testing.assert_allclose(agg.decode(agg.combine(msgs), None), [13 / 4, 9 / 4])
    assert agg.message_bytes(msgs[0]) == 2 * 8 + 8


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 1000),
            st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_weighted_mean_property(updates):
    agg = WeightedMean()
    msgs = [agg.encode(np.array(w), n, None) for n, w in updates]
    counts = np.array([n for n, _ in updates], dtype=float)
    ws = np.array([w for _, w in updates])
    expected = (counts[:, None] * ws).sum(axis=0) / counts.sum()
    np.testing.assert_allclose(agg.decode(agg.combine(msgs), None), expected, atol=1e-9)


class _Recording(WeightedMean):
    """Wraps the plain aggregator and records everything the server-side combine receives."""

    def __init__(self):
        super().__init__()
        self.received = []

    def combine(self, messages):
        self.received.append(list(messages))
        return super().combine(messages)


def test_server_only_ever_receives_weights_and_counts(cancer_parts):
    hospitals = make_hospitals(cancer_parts)
    federated_standardisation(hospitals)
    recorder = _Recording()
    federated_averaging(hospitals, rounds=3, local_epochs=2, lr=0.1, rng=0, aggregator=recorder)
    assert len(recorder.received) == 3
    d = hospitals[0].n_features
    raw = [h._data()[0] for h in hospitals]
    for messages in recorder.received:
        assert len(messages) == len(hospitals)
        for message, h in zip(messages, hospitals, strict=True):
            assert isinstance(message, tuple) and len(message) == 2
            scaled, count = message
            assert isinstance(count, int) and count == h.n_samples
            assert isinstance(scaled, np.ndarray) and scaled.shape == (d + 1,)
            # It is n * w and nothing else: no patient row appears in it.
            for X in raw:
                assert not np.any(np.all(np.isclose(X, scaled[:d] / count), axis=1))


def test_history_columns_and_communication_accounting(cancer_parts):
    hospitals = make_hospitals(cancer_parts)
    federated_standardisation(hospitals)
    result = federated_averaging(hospitals, rounds=4, local_epochs=1, lr=0.5, rng=0)
    h = result.history
    assert list(h["round"]) == [0, 1, 2, 3, 4]
    for col in ["accuracy", "loss", "bytes_up", "bytes_down", "seconds"]:
        assert col in h
    for name in ["H1", "H2", "H3", "H4"]:
        assert f"accuracy_{name}" in h
    d1 = hospitals[0].n_features + 1
    assert (h["bytes_up"].iloc[1:] == 4 * (d1 * 8 + 8)).all()
    assert (h["bytes_down"].iloc[1:] == 4 * d1 * 8).all()
    assert h["loss"].iloc[-1] < h["loss"].iloc[0]
    assert h["accuracy"].iloc[-1] > 0.9


# --- gradient inversion -----------------------------------------------------------------


@pytest.mark.parametrize("model", ["logistic", "linear"])
def test_gradient_inversion_is_exact_for_one_example(model):
    X, y = _toy(model=model)
    w = np.random.default_rng(5).normal(size=X.shape[1] + 1)
    g = gradient(w, X[7], y[7:8], model)
    np.testing.assert_allclose(gradient_inversion(g), X[7], rtol=1e-10, atol=1e-12)
    # Also from a one-step weight update (lr cancels).
    hospital = Hospital(X[7:8], y[7:8], model=model)
    new, _ = hospital.local_update(w, epochs=1, lr=0.37)
    np.testing.assert_allclose(gradient_inversion(new - w), X[7], rtol=1e-8, atol=1e-10)


def test_gradient_inversion_fails_for_batches_and_aggregates(cancer_parts):
    hospitals = make_hospitals(cancer_parts)
    federated_standardisation(hospitals)
    X, y = hospitals[0]._data()
    w = np.zeros(X.shape[1] + 1)
    single = gradient_inversion(gradient(w, X[:1], y[:1]))
    batch = gradient_inversion(gradient(w, X[:32], y[:32]))
    assert nearest_record_distance(single, X) < 1e-9
    # A batch gradient inverts to a blend, far from every patient in the batch.
    assert nearest_record_distance(batch, X[:32]) > 1.0
    # Secure aggregation: the server sees only the sum over hospitals' updates.
    agg = WeightedMean()
    msgs = [agg.encode(*h.local_update(w, 1, 0.1), None) for h in hospitals]
    summed = agg.decode(agg.combine(msgs), None) - w
    pooled = np.vstack([h._data()[0] for h in hospitals])
    assert nearest_record_distance(gradient_inversion(summed), pooled) > 1.0


# --- baselines and standardisation ------------------------------------------------------


def test_federated_standardisation_equals_pooled_statistics(cancer_parts):
    hospitals = make_hospitals(cancer_parts)
    pooled = np.vstack([np.asarray(X, dtype=float) for X, _ in cancer_parts])
    s = federated_standardisation(hospitals)
    np.testing.assert_allclose(s.mean, pooled.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(s.scale, pooled.std(axis=0), rtol=1e-8)
    after = np.vstack([h._data()[0] for h in hospitals])
    np.testing.assert_allclose(after.mean(axis=0), 0, atol=1e-8)


def test_standardiser_from_bounds():
    s = Standardiser.from_bounds([0, 10], [2, 30])
    np.testing.assert_allclose(s.transform([[0, 10], [2, 30]]), [[-1, -1], [1, 1]])
    with pytest.raises(ValueError, match="lower"):
        Standardiser.from_bounds([1], [1])


def test_local_only_training_table(cancer_parts):
    hospitals = make_hospitals(cancer_parts)
    federated_standardisation(hospitals)
    result = local_only_training(hospitals, epochs=20, lr=0.5)
    assert list(result.table["hospital"]) == ["H1", "H2", "H3", "H4"]
    assert set(result.weights) == {"H1", "H2", "H3", "H4"}
    assert (result.table["accuracy"] > 0.8).all()


def test_local_only_with_its_own_scaler_borrows_nothing_from_the_federation(cancer_parts):
    raw = make_hospitals(cancer_parts)
    X_test, y_test = (
        np.vstack([X for X, _ in cancer_parts]),
        np.concatenate([y for _, y in cancer_parts]),
    )
    alone = local_only_training(raw, epochs=30, lr=0.5, test_data=(X_test, y_test), scaling="own")
    for h, (X, y) in zip(raw, cancer_parts, strict=True):
        # the same model, trained by hand on the hospital's own standardised records
        own = Standardiser.fit(X)
        w = federated.gradient_descent(np.zeros(X.shape[1] + 1), own.transform(X), y, 30, 0.5)
        np.testing.assert_allclose(alone.weights[h.name], own.raw_weights(w), rtol=1e-10)
        # raw-unit weights predict raw records exactly as the standardised model does
        np.testing.assert_allclose(
            predict(own.raw_weights(w), X), predict(w, own.transform(X)), atol=1e-12
        )
    # a hospital trained on the pooled scaler is another model: the baseline differs
    pooled = make_hospitals(cancer_parts)
    shared = federated_standardisation(pooled, apply=True)
    borrowed = local_only_training(pooled, epochs=30, lr=0.5)
    assert not np.allclose(
        shared.raw_weights(borrowed.weights["H1"]), alone.weights["H1"], atol=1e-6
    )
    with pytest.raises(ValueError, match="scaling must be one of"):
        local_only_training(raw, epochs=1, lr=0.5, scaling="pooled")


def test_a_hospital_of_one_class_alone_predicts_that_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(14, 3))
    only_malignant = Hospital(X, np.ones(14), "H4")
    alone = local_only_training([only_malignant], epochs=50, lr=0.5, scaling="own")
    X_new = rng.normal(size=(200, 3))
    assert (predict(alone.weights["H4"], X_new) > 0.5).all()


def test_evaluate_every_skips_the_rounds_in_between(cancer_parts):
    hospitals = make_hospitals(cancer_parts)
    federated_standardisation(hospitals)
    full = federated_averaging(hospitals, rounds=6, local_epochs=1, lr=0.5)
    sparse = federated_averaging(hospitals, rounds=6, local_epochs=1, lr=0.5, evaluate_every=4)
    np.testing.assert_array_equal(full.weights, sparse.weights)
    assert sparse.history["accuracy"].isna().tolist() == [
        False,
        True,
        True,
        True,
        False,
        True,
        False,
    ]
    assert sparse.history["accuracy"].iloc[-1] == full.history["accuracy"].iloc[-1]


def test_the_round_one_intercept_gives_each_hospitals_malignant_share(cancer_parts):
    lr = 0.5
    for X, y in cancer_parts:
        new, _ = Hospital(X, y, "h").local_update(np.zeros(X.shape[1] + 1), epochs=1, lr=lr)
        share = 0.5 - new[-1] / (-lr)  # intercept change = -lr * (1/2 - share)
        assert share == pytest.approx(y.mean(), abs=1e-12)


# --- validation -------------------------------------------------------------------------


def test_validation_errors():
    X, y = _toy()
    h = Hospital(X, y, "a")
    with pytest.raises(ValueError, match="at least one Hospital"):
        federated_averaging([], rounds=1, local_epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="rounds"):
        federated_averaging([h], rounds=0, local_epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="local_epochs"):
        federated_averaging([h], rounds=1, local_epochs=0, lr=0.1)
    for bad_lr in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="lr"):
            federated_averaging([h], rounds=1, local_epochs=1, lr=bad_lr)
    with pytest.raises(TypeError, match="rounds"):
        federated_averaging([h], rounds=1.5, local_epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="same length|one label"):
        Hospital(X, y[:-1])
    with pytest.raises(ValueError, match="same number of features"):
        federated_averaging([h, Hospital(X[:, :3], y, "b")], rounds=1, local_epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="initial_weights"):
        federated_averaging([h], rounds=1, local_epochs=1, lr=0.1, initial_weights=np.zeros(3))
    with pytest.raises(ValueError, match="X_test"):
        federated_averaging([h], rounds=1, local_epochs=1, lr=0.1, test_data=(X[:, :2], y))
    with pytest.raises(ValueError, match="global_weights"):
        h.local_update(np.zeros(2), epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="0 and 1"):
        Hospital(X, y + 2)
    with pytest.raises(ValueError, match="model"):
        Hospital(X, y, model="tree")
    with pytest.raises(ValueError, match="unique"):
        federated_averaging([h, Hospital(X, y, "a")], rounds=1, local_epochs=1, lr=0.1)
    with pytest.raises(TypeError, match="aggregator"):
        federated_averaging([h], rounds=1, local_epochs=1, lr=0.1, aggregator="mean")
    with pytest.raises(ValueError, match="intercept"):
        gradient_inversion(np.array([1.0, 0.0]))


def test_aggregator_is_abstract():
    with pytest.raises(TypeError):
        Aggregator()


# --- the aggregator interface is pluggable ----------------------------------------------


def test_weighted_mean_min_samples_refuses_tiny_updates():
    X, y = _toy()
    clinic = Hospital(X[:3], y[:3], "clinic")
    agg = WeightedMean(min_samples=5)
    with pytest.raises(ValueError, match="min_samples"):
        federated_averaging([clinic, Hospital(X[3:], y[3:], "big")], 1, 1, 0.1, aggregator=agg)
    with pytest.raises(ValueError, match="min_samples"):
        WeightedMean(min_samples=0)


class _Unweighted(WeightedMean):
    """A deliberately broken FedAvg: every hospital counts the same, whatever its size."""

    def encode(self, weights, n_samples, rng=None):
        return (np.asarray(weights, dtype=float), 1)


def test_a_broken_unweighted_aggregator_is_caught():
    X, y = _toy(n=90)
    hospitals = [Hospital(X[:20], y[:20], "a"), Hospital(X[20:], y[20:], "b")]
    central = centralised_training(X, y, epochs=5, lr=0.2)
    broken = federated_averaging(hospitals, 5, 1, 0.2, aggregator=_Unweighted()).weights
    assert np.max(np.abs(broken - central)) > 1e-3


class _PairwiseMasked(Aggregator):
    """Toy secure aggregation: each message is masked by a random vector; masks sum to 0.

    The server adds masked messages and never sees a single hospital's n * w. It shows
    that a different aggregator plugs into the loop unchanged.
    """

    name = "pairwise masks (toy)"
    trusted_parties = "hospitals share masks; the server sees only masked messages"

    def __init__(self, n_hospitals, n_weights, rng):
        rng = np.random.default_rng(rng)
        masks = rng.normal(scale=1e3, size=(n_hospitals, n_weights + 1))
        masks[-1] = -masks[:-1].sum(axis=0)
        self._masks = masks
        self._next = 0

    def encode(self, weights, n_samples, rng):
        mask = self._masks[self._next % len(self._masks)]
        self._next += 1
        return np.append(n_samples * np.asarray(weights), n_samples) + mask

    def combine(self, messages):
        return np.sum(messages, axis=0)

    def decode(self, combined, rng):
        return combined[:-1] / combined[-1]

    def message_bytes(self, message):
        return int(message.size * 8)


def test_another_aggregator_plugs_in_without_touching_the_loop(cancer_parts):
    hospitals = make_hospitals(cancer_parts)
    federated_standardisation(hospitals)
    d = hospitals[0].n_features
    plain = federated_averaging(hospitals, rounds=3, local_epochs=2, lr=0.1)
    masked = federated_averaging(
        hospitals,
        rounds=3,
        local_epochs=2,
        lr=0.1,
        aggregator=_PairwiseMasked(len(hospitals), d + 1, rng=1),
    )
    np.testing.assert_allclose(masked.weights, plain.weights, rtol=1e-8, atol=1e-9)
    assert masked.aggregator == "pairwise masks (toy)"
    assert (masked.history["bytes_up"].iloc[1:] == len(hospitals) * (d + 2) * 8).all()


def test_loop_uses_only_local_update_and_evaluate_when_test_data_is_given(cancer_parts):
    # Simulation-only pooled access (Hospital._data) is needed only without test_data.
    hospitals = make_hospitals(cancer_parts)
    federated_standardisation(hospitals)
    X_test, y_test = hospitals[0]._data()

    class Sealed(Hospital):
        def _data(self):
            raise AssertionError("the loop read a hospital's records")

    sealed = []
    for h in hospitals:
        s = Sealed.__new__(Sealed)
        s.__dict__.update(h.__dict__)
        sealed.append(s)
    result = federated_averaging(sealed, 2, 1, 0.1, test_data=(X_test, y_test))
    assert len(result.history) == 3


# --- mini-batches, drift, exercises -----------------------------------------------------


def test_mini_batch_local_update_is_seeded_and_full_batch_when_large():
    X, y = _toy()
    h = Hospital(X, y)
    w0 = np.zeros(X.shape[1] + 1)
    a, _ = h.local_update(w0, 2, 0.1, rng=3, batch_size=8)
    b, _ = h.local_update(w0, 2, 0.1, rng=3, batch_size=8)
    c, _ = h.local_update(w0, 2, 0.1, rng=4, batch_size=8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    full, _ = h.local_update(w0, 2, 0.1)
    big, _ = h.local_update(w0, 2, 0.1, batch_size=10_000)
    np.testing.assert_array_equal(full, big)
    with pytest.raises(ValueError, match="batch_size"):
        h.local_update(w0, 2, 0.1, batch_size=0)


def test_label_skew_increases_client_drift():
    X, y = data.breast_cancer()
    drift = {}
    for scheme in ("iid", "label_skew"):
        hospitals = make_hospitals(
            data.split_across_hospitals(X, y, 5, scheme=scheme, alpha=0.3, rng=7)
        )
        federated_standardisation(hospitals)
        table = federated.update_divergence(hospitals, np.zeros(31), 10, 0.5)
        assert list(table.columns) == ["hospital", "n_samples", "distance", "accuracy"]
        drift[scheme] = np.average(table["distance"], weights=table["n_samples"])
    assert drift["label_skew"] > 1.5 * drift["iid"]


def test_exercise_checks_accept_the_answer_and_reject_others(cancer_parts):
    from helpers import exercises

    hospitals = make_hospitals(cancer_parts)
    scaler = federated_standardisation(hospitals)
    run = federated_averaging(hospitals, rounds=5, local_epochs=2, lr=0.5)
    total = int(run.history["bytes_up"].sum())
    assert exercises.check_04_total_upload(total, run.history).startswith("Correct")
    for wrong in (total + 8, int(run.history["bytes_up"].iloc[-1]), ...):
        with pytest.raises(exercises.ExerciseNotSolved):
            exercises.check_04_total_upload(wrong, run.history)

    X, y = data.breast_cancer()
    clinic = Hospital(X.iloc[[3]], y.iloc[[3]], "clinic")
    clinic.standardise(scaler)
    update = clinic.local_update(run.weights, 2, 0.5)[0] - run.weights
    raw = float(X.iloc[3, 5])
    assert exercises.check_04_reconstructed_feature(raw, update, scaler, 5).startswith("Correct")
    with pytest.raises(exercises.ExerciseNotSolved, match="standardised"):
        exercises.check_04_reconstructed_feature(
            float(gradient_inversion(update)[5]), update, scaler, 5
        )

    test = hospitals[1]._data()
    tuned, _ = hospitals[1].local_update(run.weights, 4, 0.5)
    answer = loss(tuned, *test)
    assert exercises.check_04_personalised_mse(
        answer, hospitals[1], test, run.weights, 4, 0.5
    ).startswith("Correct")
    with pytest.raises(exercises.ExerciseNotSolved):
        exercises.check_04_personalised_mse(
            loss(run.weights, *test) + 1, hospitals[1], test, run.weights, 4, 0.5
        )

    history = pd.DataFrame({"round": [0, 1, 2, 3], "accuracy": [0.4, 0.8, 0.95, 0.97]})
    assert exercises.check_04_rounds_to_target(2, history, 0.9).startswith("Correct")
    with pytest.raises(exercises.ExerciseNotSolved):
        exercises.check_04_rounds_to_target(3, history, 0.9)
    with pytest.raises(exercises.ExerciseNotSolved, match="never reaches"):
        exercises.check_04_rounds_to_target(3, history, 0.99)


# --- more validation --------------------------------------------------------------------


def test_more_validation_errors():
    X, y = _toy()
    h = Hospital(X, y, "a")
    w0 = np.zeros(5)
    with pytest.raises(ValueError, match="lr"):
        h.local_update(w0, epochs=1, lr=0.0)
    with pytest.raises(ValueError, match="epochs"):
        h.local_update(w0, epochs=0, lr=0.1)
    with pytest.raises(ValueError, match="finite"):
        Hospital(np.where(X > 2, np.nan, X), y)
    with pytest.raises(ValueError, match="at least one row"):
        Hospital(np.empty((0, 3)), [])
    with pytest.raises(ValueError, match="2-D"):
        Hospital(np.zeros((2, 2, 2)), [0, 1])
    with pytest.raises(ValueError, match="name"):
        Hospital(X, y, name="")
    with pytest.raises(TypeError, match="single Hospital"):
        federated_averaging(h, 1, 1, 0.1)
    with pytest.raises(TypeError, match="Hospital"):
        federated_averaging([h, "b"], 1, 1, 0.1)
    with pytest.raises(ValueError, match="same model"):
        federated_averaging([h, Hospital(X, y, "b", model="linear")], 1, 1, 0.1)
    with pytest.raises(ValueError, match="y_test"):
        federated_averaging([h], 1, 1, 0.1, test_data=(X, y[:-1]))
    with pytest.raises(TypeError, match="test_data"):
        federated_averaging([h], 1, 1, 0.1, test_data=X)
    with pytest.raises(ValueError, match="one \\(X, y\\) pair per hospital"):
        local_only_training([h], 1, 0.1, test_data=[(X, y), (X, y)])
    with pytest.raises(ValueError, match="at least one Hospital"):
        federated_standardisation([])
    with pytest.raises(ValueError, match="same length"):
        Standardiser(np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match="scale"):
        Standardiser(np.zeros(2), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="features"):
        Standardiser(np.zeros(2), np.ones(2)).transform(X)
    with pytest.raises(TypeError, match="Standardiser"):
        h.standardise((np.zeros(4), np.ones(4)))
    with pytest.raises(ValueError, match="n_features \\+ 1"):
        predict(np.zeros(3), X)
    with pytest.raises(ValueError, match="model"):
        loss(w0, X, y, model="svm")
    with pytest.raises(ValueError, match="finite"):
        gradient_inversion(np.array([1.0, np.inf, 1.0]))
    with pytest.raises(ValueError, match="features"):
        nearest_record_distance(np.zeros(3), X)
    with pytest.raises(ValueError, match="n_samples"):
        WeightedMean().encode(w0, 0, None)
    with pytest.raises(ValueError, match="at least one message"):
        WeightedMean().combine([])


def test_standardiser_from_moments_matches_numpy_and_validates():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[5.0, -2.0, 0.0], scale=[2.0, 0.5, 1.0], size=(200, 3))
    X[:, 2] = 7.0  # a constant feature
    s = Standardiser.from_moments(np.concatenate([X.mean(axis=0), (X**2).mean(axis=0)]))
    np.testing.assert_allclose(s.mean, X.mean(axis=0))
    np.testing.assert_allclose(s.scale[:2], X.std(axis=0)[:2], rtol=1e-8)
    assert s.scale[2] == 1.0
    with pytest.raises(ValueError, match="2 \\* n_features"):
        Standardiser.from_moments(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        Standardiser.from_moments(np.array([0.0, np.nan]))


@settings(max_examples=50, deadline=None)
@given(
    x=st.lists(st.floats(-50, 50), min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
    label=st.integers(0, 1),
    model=st.sampled_from(["logistic", "linear"]),
)
def test_gradient_inversion_property(x, seed, label, model):
    x = np.array(x)
    w = np.random.default_rng(seed).normal(size=x.size + 1)
    g = gradient(w, x, [float(label)], model)
    if abs(g[-1]) < 1e-6:  # a (nearly) perfectly fitted patient gives (almost) no gradient
        return
    np.testing.assert_allclose(gradient_inversion(g), x, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("model", ["logistic", "linear"])
def test_per_patient_gradients_average_to_the_gradient(model):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(25, 4))
    y = (rng.random(25) < 0.5).astype(float) if model == "logistic" else rng.normal(size=25)
    weights = rng.normal(size=5)
    rows = federated.per_patient_gradients(weights, X, y, model)
    assert rows.shape == (25, 5)
    np.testing.assert_allclose(rows.mean(axis=0), federated.gradient(weights, X, y, model))
    # one patient's row gives its features back: the leak gradient inversion exploits
    np.testing.assert_allclose(rows[0, :-1] / rows[0, -1], X[0])
    with pytest.raises(ValueError, match="weights must have n_features"):
        federated.per_patient_gradients(weights[:-1], X, y, model)
