"""helpers.dp_learning: DP-SGD, the diffprivlib wrappers, sweeps and membership inference
(accounting is tested in test_accounting.py, DP federated averaging in test_dp_federated.py)."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from helpers import accounting, attacks, data
from helpers import dp_learning as L

# --------------------------------------------------------------- DP-SGD


@pytest.fixture(scope="module")
def cancer():
    X, y = data.breast_cancer()
    X = MinMaxScaler().fit_transform(X) - 0.5
    return X, y.to_numpy()


def test_dpsgd_spends_at_most_its_epsilon_and_learns(cancer):
    X, y = cancer
    model = L.dp_logistic_regression(X, y, epsilon=1.0, rng=0)
    assert model.epsilon_ <= 1.0 and model.epsilon_ > 0.99
    assert model.delta_ < 1 / len(y)
    assert model.score(X, y) > 0.85
    proba = model.predict_proba(X)
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(axis=1), 1)


def test_dpsgd_more_epsilon_less_noise_and_reproducible(cancer):
    X, y = cancer
    a = L.DPSGDLogisticRegression(0.5, rng=1).fit(X, y)
    b = L.DPSGDLogisticRegression(8.0, rng=1).fit(X, y)
    assert a.noise_multiplier_ > b.noise_multiplier_
    c = L.DPSGDLogisticRegression(0.5, rng=1).fit(X, y)
    np.testing.assert_array_equal(a.coef_, c.coef_)


def test_dpsgd_clips_per_example_gradients():
    # one extreme patient cannot drag the model: with huge noise-free-ish settings the
    # update of a single outlier is bounded by the clip norm times the learning rate
    X = np.array([[1e6], [0.0]])
    y = np.array([1, 0])
    model = L.DPSGDLogisticRegression(
        1e6, clip_norm=1.0, epochs=1, batch_size=None, sampling="full", learning_rate=1.0, rng=0
    ).fit(X, y)
    assert abs(model.coef_[0, 0]) <= 1.0 + 1e-6


def test_dpsgd_full_batch_accounting(cancer):
    X, y = cancer
    model = L.DPSGDLogisticRegression(
        2.0, sampling="full", batch_size=None, epochs=30, learning_rate=4.0, rng=0
    ).fit(X, y)
    assert model.steps_ == 30 and model.epsilon_ <= 2.0


@pytest.mark.parametrize("choice", accounting.ACCOUNTANTS)
def test_dpsgd_calibrates_with_the_chosen_accountant_and_says_which(cancer, choice):
    X, y = cancer
    model = L.DPSGDLogisticRegression(1.0, accountant=choice, epochs=5, rng=0).fit(X, y)
    assert model.accountant_ == choice
    q = 32 / len(y)
    expected = accounting.noise_multiplier_for(1.0, model.delta_, q, model.steps_, choice)
    assert model.noise_multiplier_ == expected
    assert model.epsilon_ == accounting.epsilon_for(expected, model.delta_, q, model.steps_, choice)


def test_dpsgd_needs_less_noise_under_the_tight_accountant(cancer):
    X, y = cancer
    pld = L.DPSGDLogisticRegression(1.0, rng=0).fit(X, y)
    rdp = L.DPSGDLogisticRegression(1.0, accountant="rdp", rng=0).fit(X, y)
    assert pld.accountant_ == "pld" and pld.noise_multiplier_ < 0.95 * rdp.noise_multiplier_


def test_dpsgd_validation(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="epsilon"):
        L.DPSGDLogisticRegression(0.0).fit(X, y)
    with pytest.raises(ValueError, match="delta"):
        L.DPSGDLogisticRegression(1.0, delta=1.5).fit(X, y)
    with pytest.raises(ValueError, match="clip_norm"):
        L.DPSGDLogisticRegression(1.0, clip_norm=-1).fit(X, y)
    with pytest.raises(ValueError, match="sampling"):
        L.DPSGDLogisticRegression(1.0, sampling="shuffle").fit(X, y)
    with pytest.raises(ValueError, match="binary"):
        L.DPSGDLogisticRegression(1.0).fit(X, y + 1)


@settings(max_examples=20, deadline=None)
@given(bad=st.one_of(st.floats(max_value=0.0), st.just(math.inf), st.just(math.nan)))
def test_bad_epsilon_always_raises_in_learning(bad):
    for call in (
        lambda: accounting.noise_multiplier_for(bad, 1e-5, 0.1, 10),
        lambda: L.DPSGDLogisticRegression(bad).fit([[0.0], [1.0]], [0, 1]),
        lambda: L.diffprivlib_logistic_regression(bad, 1.0),
        lambda: L.diffprivlib_gaussian_nb(bad, [0.0], [1.0]),
        lambda: L.privacy_utility_sweep(lambda e, r: None, [bad], 1, [[0]], [0]),
    ):
        with pytest.raises(ValueError, match="epsilon"):
            call()


@settings(max_examples=20, deadline=None)
@given(bad=st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0), st.just(math.nan)))
def test_bad_delta_always_raises_in_learning(bad):
    with pytest.raises(ValueError, match="delta"):
        accounting.dpsgd_epsilon(100, 10, 1.0, 1, bad)
    with pytest.raises(ValueError, match="delta"):
        accounting.noise_multiplier_for(1.0, bad, 0.1, 10)


# --------------------------------------------------------------- diffprivlib wrappers


def test_diffprivlib_wrappers_require_declared_bounds(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="domain knowledge"):
        L.diffprivlib_logistic_regression(1.0, None)
    with pytest.raises(ValueError, match="lower < upper"):
        L.diffprivlib_gaussian_nb(1.0, [0.0, 1.0], [1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no PrivacyLeakWarning: bounds are declared
        model = L.diffprivlib_logistic_regression(5.0, math.sqrt(30), rng=0).fit(X + 0.5, y)
        nb = L.diffprivlib_gaussian_nb(5.0, np.zeros(30), np.ones(30), rng=0).fit(X + 0.5, y)
    assert model.score(X + 0.5, y) > 0.5 and nb.score(X + 0.5, y) > 0.5
    # each model has its own accountant holding exactly its own spend
    assert model.accountant.total()[0] == pytest.approx(5.0)


def test_wrappers_are_reproducible_from_rng(cancer):
    X, y = cancer
    a = L.diffprivlib_logistic_regression(1.0, math.sqrt(30), rng=3).fit(X + 0.5, y)
    b = L.diffprivlib_logistic_regression(1.0, math.sqrt(30), rng=3).fit(X + 0.5, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


# --------------------------------------------------------------- sweeps


def test_privacy_utility_sweep_is_tidy_and_shares_splits():
    X, y = data.breast_cancer()

    def factory(eps, rng):
        if eps is None:
            return make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=1000))
        return make_pipeline(
            MinMaxScaler(), L.diffprivlib_logistic_regression(eps, math.sqrt(30), rng=rng)
        )

    sweep = L.privacy_utility_sweep(factory, [None, 1.0, 10.0], 4, X, y, rng=0, model_name="dpl")
    assert list(sweep.columns) == ["model", "epsilon", "repeat", "accuracy", "fit_seconds"]
    assert len(sweep) == 12 and sweep["accuracy"].between(0, 1).all()
    again = L.privacy_utility_sweep(factory, [None, 1.0, 10.0], 4, X, y, rng=0, model_name="dpl")
    np.testing.assert_array_equal(sweep["accuracy"], again["accuracy"])
    summary = L.summarise_sweep(sweep)
    assert summary.loc[("dpl", "none"), "mean"] > summary.loc[("dpl", 1.0), "mean"]
    with pytest.raises(TypeError, match="callable"):
        L.privacy_utility_sweep(3, [1.0], 1, X, y)


# --------------------------------------------------------------- membership inference


def test_membership_inference_detects_an_overfit_model_not_a_constant_one():
    # noisy labels: a forest memorises its training patients, so their losses are lower
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = (X[:, 0] + rng.normal(0, 2, 400) > 0).astype(int)
    inside, outside = np.arange(200), np.arange(200, 400)
    forest = RandomForestClassifier(n_estimators=50, random_state=0).fit(X[inside], y[inside])
    leaky = L.membership_inference(forest, (X[inside], y[inside]), (X[outside], y[outside]))
    assert leaky.auc > 0.6 and leaky.best_advantage >= leaky.advantage > 0.1

    class Constant:
        classes_ = np.array([0, 1])

        def predict_proba(self, X):
            return np.tile([0.6, 0.4], (len(X), 1))

    # a model that ignores its training data leaks nothing: AUC is exactly chance level
    blind = L.membership_inference(Constant(), (X[inside], y[inside]), (X[outside], y[outside]))
    assert 0.4 < blind.auc < 0.6 and abs(blind.advantage) < 0.15


def test_membership_inference_on_dp_model_is_bounded(cancer):
    X, y = cancer
    idx = np.random.default_rng(1).permutation(len(y))
    inside, outside = idx[:250], idx[250:500]
    model = L.dp_logistic_regression(X[inside], y[inside], epsilon=0.5, rng=0)
    result = L.membership_inference(model, (X[inside], y[inside]), (X[outside], y[outside]))
    # Yeom et al. Theorem 1: advantage <= e^eps - 1 = 0.65 at eps = 0.5
    assert result.advantage <= math.exp(0.5) - 1
    assert 0.35 < result.auc < 0.65


def test_per_example_loss():
    class Half:
        classes_ = np.array([0, 1])

        def predict_proba(self, X):
            return np.tile([0.5, 0.5], (len(X), 1))

    np.testing.assert_allclose(L.per_example_loss(Half(), np.zeros((3, 1)), [0, 1, 1]), math.log(2))


# --------------------------------------------------------------- the likelihood-ratio attack


def _lira_brute_force(confidences, inside):
    """LiRA written the slow, obvious way: one target model at a time."""
    scores = np.empty_like(confidences)
    for m in range(len(confidences)):
        others = np.arange(len(confidences)) != m
        for i in range(confidences.shape[1]):
            c, where = confidences[others, i], inside[others, i]
            ins, outs = c[where], c[~where]
            scores[m, i] = stats.norm.logpdf(
                confidences[m, i], ins.mean(), ins.std(ddof=1)
            ) - stats.norm.logpdf(confidences[m, i], outs.mean(), outs.std(ddof=1))
    return scores


def test_lira_scores_equal_the_leave_one_model_out_definition():
    rng = np.random.default_rng(4)
    inside = rng.random((12, 7)) < 0.5
    inside[:3], inside[3:6] = True, False  # every patient in >= 3 and out of >= 3 models
    confidences = rng.normal(size=(12, 7)) * 3 + 40 + inside  # large offset: moments stay exact
    np.testing.assert_allclose(
        L.lira_scores(confidences, inside), _lira_brute_force(confidences, inside), atol=1e-8
    )


def test_lira_finds_members_at_low_false_positive_rate_where_a_global_threshold_cannot():
    # Each patient has their own typical confidence (an outlier is always fitted poorly);
    # training on them raises it by a little. A global threshold sees mostly who is typical.
    rng = np.random.default_rng(0)
    models, patients = 64, 400
    inside = rng.random((models, patients)) < 0.5
    typical = rng.normal(0.0, 3.0, patients)
    confidences = typical + 1.0 * inside + rng.normal(0.0, 0.3, (models, patients))
    scores = L.lira_scores(confidences, inside)
    lira = attacks.membership_power(scores[inside], scores[~inside], 0.01)
    global_threshold = attacks.membership_power(confidences[inside], confidences[~inside], 0.01)
    assert lira > 0.5 and global_threshold < 0.05


def test_lira_learns_nothing_when_membership_does_not_change_the_model():
    rng = np.random.default_rng(1)
    inside = rng.random((64, 300)) < 0.5
    confidences = rng.normal(0.0, 1.0, (64, 300))  # independent of membership
    scores = L.lira_scores(confidences, inside)
    assert 0.47 < roc_auc_score(inside.ravel(), scores.ravel()) < 0.53
    assert attacks.membership_power(scores[inside], scores[~inside], 0.1) < 0.13


def test_lira_scores_refuse_what_they_cannot_fit():
    inside = np.zeros((8, 4), dtype=bool)
    inside[:4] = True
    with pytest.raises(ValueError, match="same shape"):
        L.lira_scores(np.zeros((8, 3)), inside)
    with pytest.raises(TypeError, match="boolean"):
        L.lira_scores(np.zeros((8, 4)), inside.astype(int))
    with pytest.raises(ValueError, match="finite"):
        L.lira_scores(np.full((8, 4), np.nan), inside)
    inside[:, 0] = True  # patient 0 is in every model: no "out" Gaussian to compare with
    with pytest.raises(ValueError, match="at least 3"):
        L.lira_scores(np.zeros((8, 4)), inside)
