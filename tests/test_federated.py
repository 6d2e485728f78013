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
        for message, h in zip(messages, hospitals):
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
        federated_averaging(
            [h], rounds=1, local_epochs=1, lr=0.1, test_data=(X[:, :2], y)
        )
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
