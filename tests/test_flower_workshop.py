"""The Flower workshop app (workshop/flower): in process, and on real loopback deployments.

The fast tests call the app's ServerApp with a stand-in Grid that hands each message (a
deep copy, as the network would) to the full ClientApp, mods included, of its destination
node; a node can be made to drop out from a given exchange on, or to forge its replies.
They check the server's own validation and aggregation against forged replies, Flower's
SecAgg+ against the kit's fixed-point arithmetic, and the dropout rules.

The loopback tests read what real ``flower-superlink`` / ``flower-supernode`` processes on
127.0.0.1 did under ``flwr run`` (tests/flower_loopback.py starts them in the background
when the tests are collected): SecAgg+ with three SuperNodes, one of them killed in round
2; hostile SuperNodes over TLS with a certificate made by the README's commands; central
DP's printed epsilon. Every process a scenario starts (and their children) is stopped when
its run ends, and the tests check that none outlived it.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import re
import subprocess
import sys
import tomllib

import flower_loopback
import numpy as np
import ports
import pytest
from flower_loopback import APP, LOCAL_EPOCHS, LR, ROOT, SPLIT_SEED
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(APP))

pytest.importorskip("flwr", reason="the workshop needs requirements-flower.txt installed")

from flwr.app import (  # noqa: E402
    ArrayRecord,
    Context,
    Error,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.common.secure_aggregation.quantization import quantize  # noqa: E402
from flwr.common.secure_aggregation.secaggplus_constants import (  # noqa: E402
    RECORD_KEY_CONFIGS,
    Key,
    Stage,
)
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402
from hospital_flower import aggregation, client_app, server_app, task  # noqa: E402
from hospital_flower.aggregation import (  # noqa: E402
    InvalidReply,
    clip_update,
    fixed_point,
    secaggplus_format,
)
from hospital_flower.task import load_hospital, standardiser_from_moments  # noqa: E402

from helpers import accounting, data, encryption  # noqa: E402
from helpers.federated import (  # noqa: E402
    Standardiser,
    federated_averaging,
    federated_standardisation,
)

ROUNDS = 2
CLIP = task.DEFAULT_CLIP_NORMS["breast_cancer"]
DEFAULTS = tomllib.loads((APP / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]


def _run_config(**overrides):
    config = {
        **DEFAULTS,
        "num-server-rounds": ROUNDS,
        "local-epochs": LOCAL_EPOCHS,
        "lr": LR,
        "split-seed": SPLIT_SEED,
        "min-hospitals": 2,
        "wait-seconds": 5,
        "round-timeout": 5,
    }
    config.update(overrides)
    return config


def _hospitals(num_partitions, partitions=None, **kwargs):
    return [
        load_hospital(i, num_partitions, split_seed=SPLIT_SEED, **kwargs)
        for i in (range(num_partitions) if partitions is None else partitions)
    ]


# --- the hospitals and their data ---------------------------------------------------------


def test_standardiser_matches_the_in_process_one():
    reference = federated_standardisation(_hospitals(3))
    fresh = _hospitals(3)
    counts = np.array([h.n_samples for h in fresh])
    moments = np.array([h.local_statistics()[0] for h in fresh])
    pooled = (counts[:, None] * moments).sum(axis=0) / counts.sum()
    ours = standardiser_from_moments(pooled, fresh[0].n_features)
    np.testing.assert_allclose(ours.mean, reference.mean, rtol=1e-12)
    np.testing.assert_allclose(ours.scale, reference.scale, rtol=1e-12)
    with pytest.raises(ValueError, match="pooled"):
        standardiser_from_moments(pooled[:-1], fresh[0].n_features)


def test_each_partition_is_a_different_hospital():
    parts = _hospitals(2)
    assert [h.name for h in parts] == ["H1", "H2"]
    assert sum(h.n_samples for h in parts) == 569
    assert task.partition_sizes(2, split_seed=SPLIT_SEED) == [h.n_samples for h in parts]
    with pytest.raises(ValueError, match="partition_id"):
        load_hospital(2, 2)
    with pytest.raises(ValueError, match="dataset"):
        load_hospital(0, 2, dataset="mnist")


def test_label_skew_on_diabetes_skews_the_outcome():
    # The split skews the outcome's quartile (as notebook 04 does), not only sizes: the
    # share of the most severe quartile per hospital spreads far wider than under IID.
    _, y = data.diabetes()
    top = y >= y.quantile(0.75)

    def spread(scheme):
        parts = [
            load_hospital(i, 6, dataset="diabetes", scheme=scheme, split_seed=seed)
            for seed in range(5)
            for i in range(6)
        ]
        shares = [float(np.mean(h._data()[1] >= y.quantile(0.75))) for h in parts]
        return np.std(shares)

    assert spread("label_skew") > 3 * spread("iid")
    assert 0.2 < float(top.mean()) < 0.3


@pytest.mark.parametrize("dataset", list(task.DATASETS))
def test_feature_envelopes_hold_every_record(dataset):
    X, _ = task.DATASETS[dataset][0]()
    envelopes = task.feature_envelopes(dataset)
    assert envelopes.shape == (X.shape[1],)
    assert np.all(np.log2(envelopes) == np.round(np.log2(envelopes)))  # powers of two
    assert np.all(np.abs(X.to_numpy()) < envelopes)
    # They are loose enough to hold, tight enough to catch a mean off by a factor of 10.
    assert np.all(envelopes < 10 * np.abs(X.to_numpy()).max(axis=0))


# --- the server's checks, on forged replies (no network) -----------------------------------


@pytest.fixture
def task_identity(monkeypatch):
    # Flower sets this in its app processes; Messages cannot be built without it.
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)


class LocalGrid:
    """Delivers every message to the ClientApp of its destination node, in this process.

    ``drop_from[node] = k``: the node replies "Node Unavailable" from the k-th exchange on
    (1-based), as Flower's SuperLink does for a SuperNode that stopped. ``forge[node]``:
    ``f(message, reply) -> reply`` rewrites what that node sends.
    """

    def __init__(self, partitions, run_config, num_partitions=None, drop_from=None, forge=None):
        total = num_partitions or len(partitions)
        self.contexts = {
            1000 + i: Context(
                run_id=1,
                node_id=1000 + i,
                node_config={"partition-id": p, "num-partitions": total},
                state=RecordDict(),
                run_config=run_config,
            )
            for i, p in enumerate(partitions)
        }
        self.drop_from = drop_from or {}
        self.forge = forge or {}
        self.sent = []
        self.exchanges = 0

    def get_node_ids(self):
        return list(self.contexts)

    def send_and_receive(self, messages, *, timeout=None):
        self.exchanges += 1
        replies = []
        for message in messages:
            self.sent.append(message)
            node = message.metadata.dst_node_id
            if self.exchanges >= self.drop_from.get(node, np.inf):
                replies.append(Message(Error(code=0, reason="Node Unavailable"), reply_to=message))
                continue
            # A deep copy, as serialisation would make: Flower's workflow shares one record
            # between the messages of a stage and its client mod edits what it receives.
            try:
                reply = client_app.app(copy.deepcopy(message), self.contexts[node])
            except Exception as error:  # Flower's ClientApp runner returns it as an error
                reply = Message(Error(code=0, reason=repr(error)), reply_to=message)
            if node in self.forge:
                reply = self.forge[node](message, reply)
            replies.append(reply)
        return replies


def _server_context(run_config):
    return Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=run_config)


def _run(partitions, tmp_path, num_partitions=None, drop_from=None, forge=None, **overrides):
    """Run the ServerApp in process; return (saved model, grid)."""
    output = tmp_path / "model.npz"
    config = _run_config(output=str(output), **overrides)
    grid = LocalGrid(partitions, config, num_partitions, drop_from, forge)
    server_app.main(grid, _server_context(config))
    return np.load(output), grid


def _fedavg(partitions, num_partitions, rounds=ROUNDS, scaler_from=None, scaler=None, **kwargs):
    """The kit's in-process FedAvg of ``partitions``, standardised over ``scaler_from`` (or
    by ``scaler``, e.g. the public one)."""
    hospitals = _hospitals(num_partitions, partitions, **kwargs)
    if scaler is None:
        scaler = federated_standardisation(
            _hospitals(num_partitions, scaler_from or partitions, **kwargs), apply=False
        )
    for h in hospitals:
        h.standardise(scaler)
    return federated_averaging(hospitals, rounds, LOCAL_EPOCHS, LR, rng=SPLIT_SEED)


@pytest.mark.parametrize("scheme", ["iid", "quantity_skew"])
def test_server_app_in_process_matches_federated_averaging(task_identity, tmp_path, scheme):
    saved, _ = _run([0, 1, 2], tmp_path, scheme=scheme, **{"min-hospitals": 3})
    reference = _fedavg([0, 1, 2], 3, scheme=scheme)
    np.testing.assert_allclose(saved["weights"], reference.weights, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        saved["accuracy"], reference.history["accuracy"].iloc[1:], rtol=1e-12
    )
    assert list(saved["trained_hospitals"]) == [3] * ROUNDS
    assert str(saved["model"]) == "logistic"


@pytest.mark.parametrize("secure_aggregation", ["none", "secaggplus"])
def test_public_standardisation_sends_labels_only(task_identity, tmp_path, secure_aggregation):
    settings = {"standardisation": "public", "secure-aggregation": secure_aggregation}
    saved, grid = _run([0, 1, 2], tmp_path, **{"min-hospitals": 3, "evaluate-every": 0, **settings})
    queries = [m for m in grid.sent if m.metadata.message_type == MessageType.QUERY]
    assert len(queries) == 3 and all(m.content["config"]["task"] == "labels" for m in queries)
    np.testing.assert_allclose(
        saved["feature_mean"], task.public_standardiser("breast_cancer").mean
    )
    if secure_aggregation == "secaggplus":
        expected = _fixed_point_fedavg([0, 1, 2], 3, public=True)
        np.testing.assert_allclose(saved["weights"], expected, rtol=0, atol=1e-10)
    else:
        reference = _fedavg([0, 1, 2], 3, scaler=task.public_standardiser("breast_cancer"))
        np.testing.assert_allclose(saved["weights"], reference.weights, rtol=1e-9, atol=1e-12)


def test_an_unweighted_server_would_be_caught(task_identity, tmp_path, monkeypatch):
    # A deliberately broken aggregation (plain mean, ignoring patient counts) must not pass
    # the comparison above on hospitals of different sizes.
    monkeypatch.setattr(
        server_app, "mean_update", lambda updates, counts=None: np.mean(updates, axis=0)
    )
    saved, _ = _run([0, 1, 2], tmp_path, scheme="quantity_skew", **{"min-hospitals": 3})
    assert len({h.n_samples for h in _hospitals(3, scheme="quantity_skew")}) == 3
    reference = _fedavg([0, 1, 2], 3, scheme="quantity_skew")
    assert not np.allclose(saved["weights"], reference.weights, rtol=1e-6)


def _set_metric(key, value):
    def forge(message, reply):
        if message.metadata.message_type == MessageType.TRAIN:
            reply.content["metrics"][key] = value
        return reply

    return forge


def _set_weights(transform):
    def forge(message, reply):
        if message.metadata.message_type == MessageType.TRAIN:
            weights = reply.content["arrays"].to_numpy_ndarrays()[0]
            reply.content["arrays"] = ArrayRecord([transform(weights)])
        return reply

    return forge


# The adversarial table of issue 17: what one participant sent, and what it did to the
# unchecked server. Here each is excluded (or clipped) and the honest result survives.
FORGED_TRAINING = {
    "NaN weights": _set_weights(lambda w: np.full_like(w, np.nan)),
    "infinite weights": _set_weights(lambda w: np.full_like(w, np.inf)),
    "a count of 10**9": _set_metric("num-examples", 10**9),
    "a count of -(others) + 1": _set_metric("num-examples", -(190 + 190) + 1),
    "a count of -(others)": _set_metric("num-examples", -(190 + 190)),
    "a count of 0": _set_metric("num-examples", 0),
    "a count of 189.0": _set_metric("num-examples", 189.0),
    "a count above its partition": _set_metric("num-examples", 190),
    "a weight vector too short": _set_weights(lambda w: w[:-1]),
    "a weight matrix": _set_weights(lambda w: np.vstack([w, w])),
    "text instead of weights": _set_weights(lambda w: np.array(["0.1"] * w.size)),
    "no metrics": lambda m, r: (
        Message(RecordDict({"arrays": r.content["arrays"]}), reply_to=m)
        if m.metadata.message_type == MessageType.TRAIN
        else r
    ),
}


@pytest.mark.parametrize("forgery", list(FORGED_TRAINING))
def test_a_forged_training_reply_is_excluded_and_the_run_completes(
    task_identity, tmp_path, caplog, forgery
):
    # Node 1002 plays H3 (189 patients); its forged replies must never touch the model.
    with caplog.at_level(logging.WARNING):
        saved, _ = _run(
            [0, 1, 2], tmp_path, forge={1002: FORGED_TRAINING[forgery]}, **{"min-hospitals": 3}
        )
    reference = _fedavg([0, 1], 3, scaler_from=[0, 1, 2])
    np.testing.assert_allclose(saved["weights"], reference.weights, rtol=1e-9, atol=1e-12)
    assert list(saved["trained_hospitals"]) == [2] * ROUNDS
    excluded = [
        r.getMessage() for r in caplog.records if "node 1002 (H3) excluded" in r.getMessage()
    ]
    assert len(excluded) == ROUNDS, caplog.text


def test_huge_weights_are_clipped_to_a_bounded_wrong_update(task_identity, tmp_path, caplog):
    # Weights of 1e6 moved the unchecked global model to about 3.3e5. Clipped, the forged
    # update moves it by at most (189 / 569) * clip-norm per round.
    forge = {1002: _set_weights(lambda w: np.full_like(w, 1e6))}
    with caplog.at_level(logging.WARNING):
        saved, _ = _run([0, 1, 2], tmp_path, forge=forge, **{"min-hospitals": 3})
    honest = _fedavg([0, 1, 2], 3)
    drift = np.linalg.norm(saved["weights"] - honest.weights)
    assert 0.01 < drift < ROUNDS * 2 * CLIP  # wrong, but bounded (propagated over 2 rounds)
    assert np.abs(saved["weights"]).max() < 10
    assert "node 1002 (H3) update norm" in caplog.text and "clipped" in caplog.text


def _forge_moments(transform):
    def forge(message, reply):
        if message.metadata.message_type == MessageType.QUERY:
            transform(reply.content)
        return reply

    return forge


def _scale_moments(content, factor):
    content["arrays"] = ArrayRecord([content["arrays"].to_numpy_ndarrays()[0] * factor])


def _negative_variance(content):
    weighted = content["arrays"].to_numpy_ndarrays()[0]
    d = weighted.size // 2
    weighted[d:] = 0.5 * weighted[:d] ** 2 / content["metrics"]["num-examples"]
    content["arrays"] = ArrayRecord([weighted])


FORGED_MOMENTS = {
    "moments 1e6 times too large": lambda c: _scale_moments(c, 1e6),
    "NaN moments": lambda c: _scale_moments(c, np.nan),
    "a negative variance": _negative_variance,
    "a negative count": lambda c: c["metrics"].__setitem__("num-examples", -5),
    "a count above its partition": lambda c: c["metrics"].__setitem__("num-examples", 10**9),
    "a partition-id out of range": lambda c: c["metrics"].__setitem__("partition-id", 7),
    "the wrong number of features": lambda c: c["metrics"].__setitem__("n-features", 3),
}


@pytest.mark.parametrize("forgery", list(FORGED_MOMENTS))
def test_a_forged_moments_reply_is_excluded_from_the_run(task_identity, tmp_path, caplog, forgery):
    # Poisoned moments moved the unchecked pooled mean from 14.0 to 2.6e6; here the forger
    # is left out of the standardisation and of the run.
    forge = {1002: _forge_moments(FORGED_MOMENTS[forgery])}
    with caplog.at_level(logging.WARNING):
        saved, grid = _run([0, 1, 2], tmp_path, forge=forge, **{"min-hospitals": 3})
    reference = _fedavg([0, 1], 3)  # standardised over the two honest hospitals only
    np.testing.assert_allclose(saved["feature_mean"], _scaler([0, 1], 3).mean, rtol=1e-12)
    np.testing.assert_allclose(saved["weights"], reference.weights, rtol=1e-9, atol=1e-12)
    assert list(saved["hospitals"]) == [0, 1]
    trained = {
        m.metadata.dst_node_id for m in grid.sent if m.metadata.message_type == MessageType.TRAIN
    }
    assert trained == {1000, 1001}
    assert "node 1002" in caplog.text and "excluded" in caplog.text


def _scaler(partitions, num_partitions):
    return federated_standardisation(_hospitals(num_partitions, partitions), apply=False)


def test_the_read_functions_reject_what_the_model_must_not_see():
    metrics = MetricRecord({"num-examples": 5})
    assert aggregation.read_integer(metrics, "num-examples", 1, 5) == 5
    for bad in (0, 6, True, 5.0, "5", None):
        with pytest.raises(InvalidReply, match="num-examples"):
            aggregation.read_integer({"num-examples": bad}, "num-examples", 1, 5)
    with pytest.raises(InvalidReply, match="missing"):
        aggregation.read_integer(metrics, "accuracy", 0, 1)
    assert aggregation.read_real({"loss": 0.5}, "loss", low=0.0) == 0.5
    for bad in (np.nan, np.inf, -1.0, True):
        with pytest.raises(InvalidReply, match="loss"):
            aggregation.read_real({"loss": bad}, "loss", low=0.0)
    envelopes = np.array([10.0, 10.0])
    aggregation.check_moments([1.0, -2.0], [2.0, 5.0], envelopes)
    for mean, second in (
        ([11.0, 0.0], [121.0, 0.0]),
        ([1.0, 0.0], [0.5, 0.0]),
        ([1.0, 0.0], [1.0, 101.0]),
    ):
        with pytest.raises(InvalidReply, match="feature"):
            aggregation.check_moments(mean, second, envelopes)


def test_clipping_and_the_weighted_mean():
    update, norm = clip_update([3.0, 4.0], 1.0)
    np.testing.assert_allclose(update, [0.6, 0.8])
    assert norm == 5.0
    same, _ = clip_update([0.3, 0.4], 1.0)
    np.testing.assert_array_equal(same, [0.3, 0.4])
    np.testing.assert_allclose(aggregation.mean_update([[0.0], [3.0]], [1, 2]), [2.0])
    np.testing.assert_allclose(aggregation.mean_update([[0.0], [3.0]]), [1.5])
    with pytest.raises(ValueError, match="count"):
        aggregation.mean_update([[0.0], [3.0]], [1, -1])


def test_only_aggregates_leave_a_hospital(task_identity, tmp_path):
    saved, grid = _run([0, 1], tmp_path, **{"num-server-rounds": 1})
    d = load_hospital(0, 2).n_features
    node = 1000
    for message in grid.sent:
        if message.metadata.dst_node_id != node:
            continue
        reply = client_app.app(copy.deepcopy(message), grid.contexts[node])
        arrays = [
            a for rec in reply.content.array_records.values() for a in rec.to_numpy_ndarrays()
        ]
        metrics = set(next(iter(reply.content.metric_records.values())))
        kind = message.metadata.message_type
        if kind == MessageType.QUERY:
            assert [a.shape for a in arrays] == [(2 * d,)]  # moments, never rows
            assert metrics == {"num-examples", "n-features", "partition-id", "num-partitions"}
        elif kind == MessageType.TRAIN:
            assert [a.shape for a in arrays] == [(d + 1,)]  # the weights
            assert metrics == {"num-examples", "local-loss"}
        else:
            assert arrays == []
            assert metrics == {"num-examples", "accuracy", "loss"}
    assert {m.metadata.message_type for m in grid.sent} == {
        MessageType.QUERY,
        MessageType.TRAIN,
        MessageType.EVALUATE,
    }


def test_evaluation_only_every_few_rounds(task_identity, tmp_path):
    saved, grid = _run([0, 1], tmp_path, **{"num-server-rounds": 3, "evaluate-every": 2})
    assert np.isnan(saved["accuracy"][0]) and not np.isnan(saved["accuracy"][1:]).any()
    evaluations = [m for m in grid.sent if m.metadata.message_type == MessageType.EVALUATE]
    assert len(evaluations) == 2 * 2  # rounds 2 and 3, two hospitals each
    saved, grid = _run([0, 1], tmp_path, **{"num-server-rounds": 2, "evaluate-every": 0})
    assert np.isnan(saved["accuracy"]).all()
    assert MessageType.EVALUATE not in {m.metadata.message_type for m in grid.sent}


def test_two_laptops_playing_one_hospital_are_both_left_out(task_identity, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        saved, _ = _run([0, 1, 1], tmp_path, **{"min-hospitals": 3, "min-reporting": 1})
    assert list(saved["hospitals"]) == [0]
    assert "all claim partition-id=1" in caplog.text
    # A laptop on another split is left out, named, with the fix.
    caplog.clear()
    config = _run_config(**{"min-hospitals": 3})
    grid = LocalGrid([0, 1, 2], config)
    grid.contexts[1002].node_config["num-partitions"] = 4
    with caplog.at_level(logging.WARNING):
        server_app.main(grid, _server_context(config))
    assert "node 1002 excluded: it plays hospital 2 of a 4-way split" in caplog.text
    assert "num-partitions=3" in caplog.text
    # Too few left: the run stops, saying why.
    with pytest.raises(server_app.RoundFailed, match="different hospital"):
        _run([1, 1], tmp_path)


def test_server_gives_up_when_too_few_hospitals_connect(task_identity):
    config = _run_config(**{"min-hospitals": 3, "wait-seconds": 0})
    with pytest.raises(RuntimeError, match="only 2 of min-hospitals=3"):
        server_app.main(LocalGrid([0, 1], config), _server_context(config))


def test_a_late_laptop_sits_the_run_out(task_identity, tmp_path, caplog):
    config = _run_config(output=str(tmp_path / "m.npz"))
    grid = LocalGrid([0, 1], config, num_partitions=3)
    original = grid.send_and_receive

    def joins_after_standardisation(messages, *, timeout=None):
        replies = original(messages, timeout=timeout)
        grid.contexts.setdefault(
            1002,
            Context(1, 1002, {"partition-id": 2, "num-partitions": 3}, RecordDict(), config),
        )
        return replies

    grid.send_and_receive = joins_after_standardisation
    with caplog.at_level(logging.INFO):
        server_app.main(grid, _server_context(config))
    assert 1002 not in {m.metadata.dst_node_id for m in grid.sent}
    assert "node 1002 joined after the standardisation round" in caplog.text


@pytest.mark.parametrize(
    "key, value, error",
    [
        ("num-server-rounds", 0, ValueError),
        ("min-hospitals", 0, ValueError),
        ("wait-seconds", -1, ValueError),
        ("round-timeout", 0, ValueError),
        ("local-epochs", 0, ValueError),
        ("lr", 0.0, ValueError),
        ("lr", "fast", TypeError),
        ("evaluate-every", -1, ValueError),
        ("scheme", "by_zip", ValueError),
        ("dataset", "mnist", ValueError),
        ("min-reporting", 3, ValueError),  # more than min-hospitals: could never run
        ("secure-aggregation", "paillier", ValueError),
        ("clip-norm", -1.0, ValueError),
        ("standardisation", "none", ValueError),
        ("central-dp", "laplace", ValueError),
        ("dp-noise-multiplier", 0.0, ValueError),
    ],
)
def test_bad_run_config_is_refused_before_any_message(task_identity, key, value, error):
    config = _run_config(**({**DP, key: value} if key.startswith("dp-") else {key: value}))
    grid = LocalGrid([0, 1], config)
    with pytest.raises(error, match=key):
        server_app.main(grid, _server_context(config))
    assert grid.sent == []


def test_secure_aggregation_needs_a_threshold_of_two(task_identity):
    config = _run_config(**{"secure-aggregation": "secaggplus", "min-reporting": 1})
    with pytest.raises(ValueError, match="min-reporting must be >= 2"):
        server_app.main(LocalGrid([0, 1], config), _server_context(config))


def test_supernode_without_node_config_says_what_to_add(task_identity, caplog):
    config = _run_config()
    grid = LocalGrid([0, 1], config)
    grid.contexts[1000] = Context(1, 1000, {}, RecordDict(), config)
    with caplog.at_level(logging.WARNING), pytest.raises(server_app.RoundFailed, match="only 1"):
        server_app.main(grid, _server_context(config))
    assert "node 1000 excluded" in caplog.text
    assert "start it with --node-config" in caplog.text


def test_a_faulty_supernode_fault_setting_is_checked(task_identity):
    config = _run_config()
    context = Context(
        1, 1000, {"partition-id": 0, "num-partitions": 2, "fault": "bogus"}, RecordDict(), config
    )
    with pytest.raises(ValueError, match="fault must be one of"):
        client_app._fault(context)


# --- SecAgg+: the number format -------------------------------------------------------------


def test_fixed_point_is_the_kits_packed_encoder_quantisation():
    public, _ = encryption.generate_keypair(256, allow_insecure=True)
    encoder = encryption.PackedEncoder(16, 3, 2.0, public)
    values = np.random.default_rng(0).uniform(-2, 2, 50)
    np.testing.assert_array_equal(fixed_point(values, 16, 2.0) * 2**16, encoder.quantise(values))
    assert np.max(np.abs(fixed_point(values, 16, 2.0) - values)) <= 2.0**-17
    with pytest.raises(OverflowError, match="value_bound"):
        fixed_point([2.5], 16, 2.0)
    with pytest.raises(ValueError, match="finite"):
        fixed_point([np.nan], 16, 2.0)


def _flower_sum(vectors, counts, fmt):
    """What Flower's secaggplus_mod and unmask stage compute (without the masks, which
    cancel modulo 2**32): each hospital's quantised vector and weight factor, summed
    modulo 2**32, then dequantised exactly as ``SecAggPlusWorkflow.unmask_stage`` does."""
    total = None
    for vector, count in zip(vectors, counts, strict=True):
        payload = count * np.append(vector, 1.0)
        ratio = 1 / fmt.max_weight  # the mod's num_examples / max_weight
        q_ratio = round(ratio * fmt.quantization_range)
        quantised = [np.array([q_ratio])] + quantize(
            [payload * (q_ratio / fmt.quantization_range)],
            fmt.clipping_range,
            fmt.quantization_range,
        )
        total = (
            quantised if total is None else [a + b for a, b in zip(total, quantised, strict=True)]
        )
    total = [a.astype(np.int64) % fmt.modulus_range for a in total]
    q_total, summed = int(total[0][0]), total[1]
    offset = -(len(vectors) - 1) * fmt.clipping_range
    dequantised = summed * (2 * fmt.clipping_range / fmt.quantization_range) - fmt.clipping_range
    return (dequantised + offset) * (fmt.quantization_range / q_total)


@settings(max_examples=40)
@given(
    st.integers(2, 30),
    st.sampled_from([0.25, 1.0, 2.0, 3.0, 256.0]),
    st.integers(0, 10_000),
)
def test_flowers_secaggplus_arithmetic_is_exact_in_this_format(n_hospitals, bound, seed):
    rng = np.random.default_rng(seed)
    fmt = secaggplus_format(n_hospitals, bound, 600)
    counts = rng.multinomial(600 - n_hospitals, np.ones(n_hospitals) / n_hospitals) + 1
    vectors = [
        fixed_point(rng.uniform(-bound, bound, 7), fmt.precision_bits, fmt.clipping_range)
        for _ in counts
    ]
    total = _flower_sum(vectors, counts, fmt) * n_hospitals
    exact = sum(int(n) * v for n, v in zip(counts, vectors, strict=True))
    np.testing.assert_allclose(total[:-1], exact, rtol=0, atol=1e-12 * np.abs(exact).max())
    assert round(total[-1]) == counts.sum()
    assert fmt.quantization_range <= 2**30
    assert (n_hospitals + 1) * fmt.quantization_range // 2 < fmt.modulus_range


def test_a_format_without_headroom_is_refused():
    assert secaggplus_format(3, 2.0, 569).precision_bits == 18
    assert secaggplus_format(12, 2.0, 569).quantisation_bound == 2.0**-18
    with pytest.raises(ValueError, match="fractional bits"):
        secaggplus_format(3, 2.0**18, 569)


# --- SecAgg+ in process: exact, dropouts, hostile protocol replies ---------------------------


def _fixed_point_fedavg(
    partitions, num_partitions, rounds=ROUNDS, scaler_from=None, drop=None, public=False
):
    """The SecAgg+ run in a few lines of numpy: the kit's FedAvg on the fixed-point numbers.

    ``drop = (round, partitions)``: from that round on only those partitions take part.
    ``public``: scaled by public bounds instead of the secure pooled moments.
    """
    everyone = scaler_from or partitions
    if public:
        scaler = task.public_standardiser("breast_cancer")
    else:
        fmt = secaggplus_format(len(everyone), 1.0, task.n_patients("breast_cancer"))
        scale = np.concatenate([task.feature_envelopes("breast_cancer")] * 2)
        scale[scale.size // 2 :] **= 2
        stats = [h.local_statistics() for h in _hospitals(num_partitions, everyone)]
        encoded = [fixed_point(m / scale, fmt.precision_bits, 1.0) for m, _ in stats]
        pooled = sum(n * e for e, (_, n) in zip(encoded, stats, strict=True)) / sum(
            n for _, n in stats
        )
        scaler = Standardiser.from_moments(pooled * scale)
    hospitals = {
        p: h for p, h in zip(partitions, _hospitals(num_partitions, partitions), strict=True)
    }
    for h in hospitals.values():
        h.standardise(scaler)
    total = sum(h.n_samples for h in hospitals.values())
    weights = np.zeros(hospitals[partitions[0]].n_features + 1)
    for r in range(1, rounds + 1):
        taking_part = drop[1] if drop and r >= drop[0] else partitions
        fmt = secaggplus_format(len(partitions), CLIP, total)  # the hospitals asked
        sums, count = 0.0, 0
        for p in taking_part:
            new, n = hospitals[p].local_update(weights, LOCAL_EPOCHS, LR, rng=SPLIT_SEED + r)
            update = fixed_point(
                clip_update(new - weights, CLIP)[0], fmt.precision_bits, fmt.clipping_range
            )
            sums, count = sums + n * update, count + n
        weights = weights + sums / count
    return weights


def test_secaggplus_in_process_equals_fedavg_on_the_fixed_point_numbers(
    task_identity, tmp_path, caplog
):
    with caplog.at_level(logging.INFO):
        saved, grid = _run(
            [0, 1, 2], tmp_path, **{"min-hospitals": 3, "secure-aggregation": "secaggplus"}
        )
    np.testing.assert_allclose(
        saved["weights"], _fixed_point_fedavg([0, 1, 2], 3), rtol=0, atol=1e-10
    )
    plain = _fedavg([0, 1, 2], 3)
    gap = np.abs(saved["weights"] - plain.weights).max()
    assert 0 < gap < 1e-4  # the fixed point is real, and small (18 and 19 fractional bits)
    np.testing.assert_allclose(saved["accuracy"], plain.history["accuracy"].iloc[1:], atol=1e-5)
    assert "18 fractional bits" in caplog.text
    # What left the hospitals: masked integer vectors and protocol keys, never weights.
    for message in grid.sent:
        assert message.metadata.message_type == MessageType.TRAIN
        assert RECORD_KEY_CONFIGS in message.content.config_records


@pytest.mark.parametrize(
    "stage, exchange",
    [("setup", 5), ("share_keys", 6), ("collect_masked_vectors", 7), ("unmask", 8)],
)
def test_secaggplus_survives_a_dropout_at_any_stage(
    task_identity, tmp_path, caplog, stage, exchange
):
    # Exchanges 1-4 are the secure standardisation round, 5-8 round 1 (evaluation off).
    with caplog.at_level(logging.WARNING):
        saved, _ = _run(
            [0, 1, 2],
            tmp_path,
            drop_from={1002: exchange},
            **{"min-hospitals": 3, "secure-aggregation": "secaggplus", "evaluate-every": 0},
        )
    assert f"node 1002 dropped out at {stage}" in caplog.text
    # A hospital that sent its masked vector before dropping is still in that round's sum
    # (its private mask is rebuilt from the others' shares); otherwise the sum is of two.
    first = 3 if stage == "unmask" else 2
    assert list(saved["trained_hospitals"]) == [first, 2]
    reference = _fixed_point_fedavg([0, 1, 2], 3, drop=(1 if first == 2 else 2, [0, 1]))
    np.testing.assert_allclose(saved["weights"], reference, rtol=0, atol=1e-10)


def test_secaggplus_below_the_threshold_fails_naming_how_many_reported(task_identity, tmp_path):
    with pytest.raises(server_app.RoundFailed, match="only 1 of 3 hospitals reported"):
        _run(
            [0, 1, 2],
            tmp_path,
            drop_from={1001: 7, 1002: 7},
            **{"min-hospitals": 3, "secure-aggregation": "secaggplus", "evaluate-every": 0},
        )


def _forge_stage(stage, edit):
    def forge(message, reply):
        configs = message.content.config_records.get(RECORD_KEY_CONFIGS, {})
        if configs.get(Key.STAGE) == stage and not reply.has_error():
            edit(reply.content.config_records[RECORD_KEY_CONFIGS])
        return reply

    return forge


FORGED_PROTOCOL = {
    "setup without keys": (Stage.SETUP, lambda c: c.pop(Key.PUBLIC_KEY_1)),
    "keys that are not bytes": (Stage.SETUP, lambda c: c.__setitem__(Key.PUBLIC_KEY_2, "key")),
    "shares for unequal lists": (
        Stage.SHARE_KEYS,
        lambda c: c.__setitem__(Key.DESTINATION_LIST, [1]),
    ),
    "a masked vector of the wrong shape": (
        Stage.COLLECT_MASKED_VECTORS,
        lambda c: c.__setitem__(Key.MASKED_PARAMETERS, c[Key.MASKED_PARAMETERS][:1]),
    ),
    "a masked vector that does not decode": (
        Stage.COLLECT_MASKED_VECTORS,
        lambda c: c.__setitem__(Key.MASKED_PARAMETERS, [b"junk", b"junk"]),
    ),
    "shares of an unknown hospital": (
        Stage.UNMASK,
        lambda c: c.__setitem__(Key.NODE_ID_LIST, [7] * len(c[Key.NODE_ID_LIST])),
    ),
}


@pytest.mark.parametrize("forgery", list(FORGED_PROTOCOL))
def test_a_malformed_secaggplus_reply_is_a_dropout_not_a_crash(
    task_identity, tmp_path, caplog, forgery
):
    stage, edit = FORGED_PROTOCOL[forgery]
    with caplog.at_level(logging.WARNING):
        saved, _ = _run(
            [0, 1, 2],
            tmp_path,
            forge={1002: _forge_stage(stage, edit)},
            **{
                "min-hospitals": 3,
                "secure-aggregation": "secaggplus",
                "evaluate-every": 0,
                "num-server-rounds": 1,
            },
        )
    assert f"node 1002 excluded at {stage}" in caplog.text
    # Its masked vector is in the sum if only its unmask reply was broken (the others'
    # shares remove its masks); otherwise the sum is of the other two.
    assert saved["trained_hospitals"][0] == (3 if stage == Stage.UNMASK else 2)


def test_a_false_count_inside_the_secure_sum_discards_the_round(
    task_identity, tmp_path, caplog, monkeypatch
):
    # A hostile hospital that skips its own checks can put any count into the sum; the
    # server cannot see whose, but the total exceeds what the hospitals in it hold.
    original = client_app.secure_reply

    def inflated(msg, vector, count, config):
        if msg.metadata.dst_node_id == 1002 and config["task"] == "train":
            config = copy.deepcopy(config)
            count = int(config["max-weight"])
        return original(msg, vector, count, config)

    monkeypatch.setattr(client_app, "secure_reply", inflated)
    with caplog.at_level(logging.WARNING):
        saved, _ = _run(
            [0, 1, 2],
            tmp_path,
            **{"min-hospitals": 3, "secure-aggregation": "secaggplus", "evaluate-every": 0},
        )
    assert "fails the server's checks" in caplog.text and "round discarded" in caplog.text
    assert list(saved["trained_hospitals"]) == [0, 0]
    np.testing.assert_array_equal(saved["weights"], 0.0)


def test_a_broken_hospital_refuses_to_encode_under_secaggplus(task_identity, tmp_path, caplog):
    config = _run_config(
        **{
            "min-hospitals": 3,
            "secure-aggregation": "secaggplus",
            "evaluate-every": 0,
            "output": str(tmp_path / "m.npz"),
        }
    )
    grid = LocalGrid([0, 1, 2], config)
    grid.contexts[1002].node_config["fault"] = "nan"
    with caplog.at_level(logging.WARNING):
        server_app.main(grid, _server_context(config))
    assert "node 1002 dropped out at collect_masked_vectors" in caplog.text
    assert "finite" in caplog.text
    assert list(np.load(tmp_path / "m.npz")["trained_hospitals"]) == [2, 2]


# --- central DP ------------------------------------------------------------------------------

DP = {
    "central-dp": "gaussian",
    "standardisation": "public",
    "evaluate-every": 0,
    "dp-noise-multiplier": 2.0,
    "dp-epsilon": 8.0,
}


def _printed_epsilon(text: str) -> tuple[float, float]:
    found = re.search(r"epsilon = ([0-9.e+-]+) at delta = ([0-9.e+-]+)", text)
    assert found, text[-3000:]
    return float(found.group(1)), float(found.group(2))


@pytest.mark.parametrize("rounds, z", [(2, 2.0), (5, 1.0), (20, 3.0)])
def test_central_dp_prints_the_kits_epsilon_before_round_one(
    task_identity, tmp_path, caplog, rounds, z
):
    with caplog.at_level(logging.INFO):
        saved, _ = _run(
            [0, 1, 2],
            tmp_path,
            **{
                **DP,
                "min-hospitals": 3,
                "num-server-rounds": rounds,
                "dp-noise-multiplier": z,
                "dp-epsilon": 50.0,
            },
        )
    epsilon, delta = _printed_epsilon(caplog.text)
    assert epsilon == accounting.epsilon_for(z, 1e-5, 1.0, rounds)
    assert epsilon == float(saved["dp_epsilon"]) and delta == 1e-5
    # Printed before any hospital is asked anything (the first exchange's log comes later).
    assert caplog.text.index("Central DP") < caplog.text.index("Registration")


def test_central_dp_over_its_budget_is_refused_before_any_message(task_identity):
    config = _run_config(**{**DP, "dp-noise-multiplier": 0.5, "dp-epsilon": 1.0})
    grid = LocalGrid([0, 1], config)
    with pytest.raises(ValueError, match="dp-epsilon=1"):
        server_app.main(grid, _server_context(config))
    assert grid.sent == []
    config = _run_config(**{**DP, "evaluate-every": 1})
    with pytest.raises(ValueError, match="evaluate-every = 0"):
        server_app.main(LocalGrid([0, 1], config), _server_context(config))
    config = _run_config(**{**DP, "standardisation": "pooled"})
    with pytest.raises(ValueError, match="standardisation = 'public'"):
        server_app.main(LocalGrid([0, 1], config), _server_context(config))


def _noiseless_dp_round(partitions, num_partitions):
    """Round 1 of central DP without its noise: equal-weight mean of clipped updates."""
    scaler = task.public_standardiser("breast_cancer")
    updates = []
    for h in _hospitals(num_partitions, partitions):
        h.standardise(scaler)
        new, _ = h.local_update(np.zeros(h.n_features + 1), LOCAL_EPOCHS, LR, rng=SPLIT_SEED + 1)
        updates.append(clip_update(new, CLIP)[0])
    return np.mean(updates, axis=0)


@pytest.mark.parametrize("secure_aggregation", ["none", "secaggplus"])
def test_central_dp_noise_is_gaussian_with_the_stated_std(
    task_identity, tmp_path, monkeypatch, secure_aggregation
):
    # The released mean minus the noiseless one is the noise: N(0, (z C / K)^2) per entry.
    # The server seeds its generator from the OS (secrets.randbits); here those seeds come
    # from a seeded stand-in so the test is repeatable. A Kolmogorov-Smirnov test of the
    # shape, and of the variance within 3 standard errors (a std 30 % off is 4.5 away).
    from scipy import stats

    seeds = random.Random(17)
    monkeypatch.setattr(aggregation.secrets, "randbits", seeds.getrandbits)
    z, k = DP["dp-noise-multiplier"], 3
    noiseless = _noiseless_dp_round([0, 1, 2], 3)
    draws = []
    for run in range(8):
        saved, _ = _run(
            [0, 1, 2],
            tmp_path / str(run),
            **{**DP, "min-hospitals": 3, "num-server-rounds": 1},
            **{"secure-aggregation": secure_aggregation},
        )
        draws.append(saved["weights"] - noiseless)
    draws = np.concatenate(draws) / (z * CLIP / k)
    assert stats.kstest(draws, "norm").pvalue > 1e-3
    standard_error = np.sqrt(2 / draws.size)
    assert abs(draws.var() - 1) < 3 * standard_error
    assert abs(draws.var() / 1.3**2 - 1) > 3 * standard_error  # a 30 % larger std fails
    assert len(np.unique(np.round(draws, 9))) == draws.size  # fresh noise every run


def test_central_dp_sends_no_moments(task_identity, tmp_path):
    saved, grid = _run([0, 1], tmp_path, **DP)
    for message in grid.sent:
        if message.metadata.message_type == MessageType.QUERY:
            reply = client_app.app(
                copy.deepcopy(message), grid.contexts[message.metadata.dst_node_id]
            )
            assert not reply.content.array_records  # labels only
            assert set(reply.content["metrics"]) == {"partition-id", "num-partitions"}
    np.testing.assert_allclose(
        saved["feature_mean"], task.public_standardiser("breast_cancer").mean
    )


# --- the instructor's connection step ------------------------------------------------------


def test_the_connection_step_is_idempotent_and_repairs_a_duplicate(tmp_path, monkeypatch):
    sys.path.insert(0, str(APP))
    import connect

    monkeypatch.setenv("FLWR_HOME", str(tmp_path))
    config = tmp_path / "config.toml"
    # Flower's own default file, as `flwr` creates it on first use.
    config.write_text(
        '[superlink]\ndefault = "local"\n\n[superlink.supergrid]\naddress = "api.flower.ai"\n\n'
        '[superlink.local]\naddress = ":local:"\n'
    )
    assert "added" in connect.connect("classroom", "127.0.0.1:8000", None)
    once = config.read_text()
    assert "nothing to add" in connect.connect("classroom", "127.0.0.1:8000", None)
    assert config.read_text() == once  # run twice: unchanged, still valid TOML
    parsed = tomllib.loads(once)["superlink"]
    assert parsed["classroom"] == {"address": "127.0.0.1:8000", "insecure": True}
    assert parsed["local"] == {"address": ":local:"} and parsed["default"] == "local"
    with pytest.raises(SystemExit, match="other settings"):
        connect.connect("classroom", "10.0.0.5:8000", None)
    ca = tmp_path / "ca.crt"
    ca.write_text("not checked here")
    assert "replaced" in connect.connect("classroom", "10.0.0.5:8000", str(ca), replace=True)
    assert tomllib.loads(config.read_text())["superlink"]["classroom"] == {
        "address": "10.0.0.5:8000",
        "root-certificates": str(ca),
    }
    # What the old instructions did: the same entry appended twice.
    config.write_text(
        once + '\n[superlink.classroom]\naddress = "127.0.0.1:8000"\ninsecure = true\n'
    )
    with pytest.raises(tomllib.TOMLDecodeError, match="twice"):
        tomllib.loads(config.read_text())
    with pytest.raises(SystemExit, match="line 14"):
        connect.connect("classroom", "127.0.0.1:8000", None)
    assert "repaired" in connect.connect("classroom", "127.0.0.1:8000", None, repair=True)
    assert config.read_text() == once
    # No file yet: created.
    config.unlink()
    connect.connect("classroom", "127.0.0.1:8000", None)
    assert (
        tomllib.loads(config.read_text())["superlink"]["classroom"]["address"] == "127.0.0.1:8000"
    )
    for bad in ("no-port", "127.0.0.1:port", "two words:80"):
        with pytest.raises(SystemExit, match="HOST:PORT"):
            connect.connect("classroom", bad, None)
    with pytest.raises(SystemExit, match="no such file"):
        connect.connect("classroom", "127.0.0.1:8000", str(tmp_path / "missing.crt"))


def test_a_clientapp_process_imports_neither_pandas_nor_scikit_learn():
    """Flower starts a process per message: the app's own imports stay light (the data
    handlers import the hospital's data code when they run)."""
    probe = (
        "import sys, hospital_flower.client_app\n"
        "print(sorted({'pandas', 'sklearn'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(APP), str(ROOT)])},
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_server_ports_are_outside_the_ephemeral_range_and_never_reused():
    low, _ = ports.ephemeral_range()
    given = [ports.free_port() for _ in range(50)]
    assert len(set(given)) == len(given)
    assert all(1024 <= port < low for port in given)


def test_a_server_whose_port_was_taken_is_started_again_on_another(tmp_path):
    """CI once saw a SuperNode's port taken by another socket between the check and its
    bind: the deployment starts it again on a fresh port instead of failing the scenario."""
    import socket

    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))  # bound, not listening: as a client socket holds its port
    offered = iter([taken.getsockname()[1], ports.free_port()])
    dep = flower_loopback.Deployment(tmp_path)
    try:
        port = dep._start_listening(
            "server",
            lambda port: [
                "python",
                "-c",
                "import socket, time; s = socket.socket(); "
                f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)",
            ],
            next_port=offered.__next__,
        )
        assert port != taken.getsockname()[1]
        assert "address already in use" in (tmp_path / "server.attempt1.log").read_text().lower()
    finally:
        taken.close()
        assert dep.stop() == []


# --- on real loopback deployments (tests/flower_loopback.py runs them in the background) ---


def _finished(name: str) -> tuple[dict, dict]:
    """The scenario's record and its saved model; fails with the logs' tails if it did not
    end cleanly, and if any process it started outlived it."""
    record = flower_loopback.result(name)
    print(f"loopback scenario {name} finished {record['seconds']} s into the session")
    if "skip" in record:
        pytest.skip(record["skip"])
    assert "error" not in record, record["error"]
    assert not record["survivors"], f"processes still running after shutdown: {record}"
    assert record["returncode"] is not None, (
        f"flwr run did not finish within {flower_loopback.RUN_TIMEOUT} s\n" + record["tail"]
    )
    assert record["returncode"] == 0, record["tail"]
    output = record["folder"] / "final_model.npz"
    assert output.exists(), record["tail"]
    return record, dict(np.load(output))


@pytest.mark.slow
@pytest.mark.loopback
def test_loopback_secaggplus_with_three_supernodes_equals_fedavg():
    record, saved = _finished("secure_with_a_dropout")
    run_log = record["logs"]["run"]
    # Round 1, all three: the kit's FedAvg of the same fixed-point numbers to floating-point
    # rounding, and plain FedAvg to the fixed point's precision. (Scaled by public bounds:
    # the pooled secure standardisation is the same secure_mean, tested in process.)
    assert saved["trained_hospitals"][0] == 3, run_log[-4000:]
    round_one = saved["weights_per_round"][0]
    reference = _fixed_point_fedavg([0, 1, 2], 3, rounds=1, public=True)
    np.testing.assert_allclose(round_one, reference, rtol=0, atol=1e-10)
    plain = _fedavg([0, 1, 2], 3, rounds=1, scaler=task.public_standardiser("breast_cancer"))
    assert 0 < np.abs(round_one - plain.weights).max() < 1e-4
    assert "round 1: SecAgg+ sum of 3 hospitals, 569 patients" in run_log
    # The server never logged a single hospital's update or moments, only sums.
    assert "weights [" not in run_log and "patients [" not in run_log


@pytest.mark.slow
@pytest.mark.loopback
def test_loopback_secaggplus_survives_a_killed_supernode():
    record, saved = _finished("secure_with_a_dropout")
    run_log = record["logs"]["run"]
    assert record.get("killed"), "the SuperNode was never killed\n" + record["tail"]
    # Round 2: all three asked, the two that stayed in the sum; from that round on the run
    # is the in-process FedAvg of those two.
    assert list(saved["trained_hospitals"]) == [3, 2], run_log[-4000:]
    reference = _fixed_point_fedavg([0, 1, 2], 3, rounds=2, drop=(2, [0, 1]), public=True)
    np.testing.assert_allclose(saved["weights"], reference, rtol=0, atol=1e-10)
    dropped = r"round 2: node \d+ dropped out at (share_keys|collect_masked_vectors)"
    assert re.search(dropped, run_log), run_log[-4000:]
    assert "round 2: SecAgg+ sum of 2 hospitals, 380 patients" in run_log


@pytest.mark.slow
@pytest.mark.loopback
def test_loopback_hostile_supernodes_over_tls_are_excluded():
    record, saved = _finished("hostile_over_tls")
    run_log = record["logs"]["run"]
    assert "--ssl-certfile" in record["commands"]["superlink"]
    assert not any("--insecure" in command for command in record["commands"].values())
    assert list(saved["trained_hospitals"]) == [2]
    # The honest two, standardised over all five (the hostile ones sent honest moments).
    reference = _fedavg([0, 1], 5, rounds=1, scaler_from=[0, 1, 2, 3, 4])
    np.testing.assert_allclose(saved["weights"], reference.weights, rtol=1e-9, atol=1e-12)
    assert re.search(r"node \d+ \(H3\) excluded: the array holds 31 non-finite values", run_log)
    assert re.search(
        r"node \d+ \(H4\) excluded: num-examples must be in \[1, 114\]; got 1000000000", run_log
    )
    assert re.search(
        r"node \d+ \(H5\) excluded: num-examples must be in \[1, 113\]; got -113", run_log
    )


@pytest.mark.slow
@pytest.mark.loopback
def test_loopback_central_dp_prints_the_accountants_epsilon():
    record, saved = _finished("central_dp")
    epsilon, delta = _printed_epsilon(record["logs"]["run"])
    z, rounds = flower_loopback.CENTRAL_DP["noise_multiplier"], flower_loopback.CENTRAL_DP["rounds"]
    assert epsilon == accounting.epsilon_for(z, 1e-5, 1.0, rounds)
    assert delta == 1e-5 and float(saved["dp_epsilon"]) == epsilon
    assert list(saved["trained_hospitals"]) == [2] * rounds


# --- the instructor guide's numbers are the code's ------------------------------------------

GUIDE = ROOT / "docs" / "workshop_flower.md"


def test_the_guides_privacy_and_precision_numbers_are_the_codes():
    guide = " ".join(GUIDE.read_text().split())
    for z in (1.0, 2.0, 4.0):
        cells = [f"{accounting.epsilon_for(z, 1e-5, 1.0, r):.2f}" for r in (1, 5, 10)]
        assert f"| {z} | {' | '.join(cells)} |" in guide
    bits = {
        (dataset, k): secaggplus_format(
            k, task.DEFAULT_CLIP_NORMS[dataset], task.n_patients(dataset)
        ).precision_bits
        for dataset in task.DATASETS
        for k in (2, 6, 7, 14, 15, 30)
    }
    assert [bits["breast_cancer", k] for k in (2, 6, 7, 14, 15, 30)] == [18, 18, 17, 17, 16, 16]
    assert [bits["diabetes", k] for k in (2, 6, 7, 14, 15, 30)] == [12, 12, 11, 11, 10, 10]
    assert "p = 18 with 2-6 hospitals (1.9e-06 per entry), 17 with 7-14 and 16 with 15-30" in guide
    assert "256) 12, 11 and 10" in guide
    assert f"{DP['dp-noise-multiplier'] * CLIP / 3:.2f}" == "1.33" and "that is 1.33" in guide


def test_the_guide_gives_the_readmes_certificate_commands():
    guide = GUIDE.read_text()
    assert flower_loopback.certificate_commands() in guide  # what the loopback test runs


def test_the_guides_measured_numbers_are_the_codes(task_identity, tmp_path, caplog):
    guide = " ".join(GUIDE.read_text().split())
    defaults = {"num-server-rounds": 5, "local-epochs": 5, "lr": 0.5, "min-hospitals": 3}
    plain, _ = _run([0, 1, 2], tmp_path / "plain", **defaults)
    secure, _ = _run(
        [0, 1, 2], tmp_path / "secure", **defaults, **{"secure-aggregation": "secaggplus"}
    )
    gap = np.abs(plain["weights"] - secure["weights"]).max()
    assert f"differ from plain FedAvg by at most {gap:.1e}" in guide
    accuracy_gap = abs(plain["accuracy"][-1] - secure["accuracy"][-1])
    assert f"the pooled accuracy by {accuracy_gap:.0e}" in guide
    # The log line the guide quotes, with the default settings and two hospitals.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        _run([0, 1], tmp_path / "two", **{"num-server-rounds": 1, "local-epochs": 5})
    line = re.search(
        r"round 1 from node 1000 \(H1\): (\d+ patients, weights \[[^]]*\])", caplog.text
    )
    assert line and f"(H1): {line.group(1)} (31 numbers)" in guide
