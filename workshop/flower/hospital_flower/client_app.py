"""ClientApp: runs on a participant's laptop (a SuperNode) and plays ONE hospital.

The SuperNode's node config says which hospital: ``partition-id`` (0-based) and
``num-partitions``. The hospital's records never leave this process; every reply carries
only what ``helpers.federated`` lets leave a hospital: weights (or feature moments, once,
for standardisation), a patient count, and its own accuracy and loss.

Two ways a reply leaves the hospital, chosen by the server's run config:

- plain (``secure-aggregation = "none"``): the reply itself (weights, count, metrics);
- SecAgg+ (``secure-aggregation = "secaggplus"``): the same numbers, in the kit's fixed
  point, masked by Flower's ``secaggplus_mod`` so that the server can only unmask the sum
  over hospitals (see ``hospital_flower.secure``).

Either way the hospital clips its own update to the run's ``clip-norm`` before it leaves:
an honest hospital never sends more than that.

For the classroom, a SuperNode can be told to misbehave, to show what the server does with
a broken or hostile hospital: ``--node-config "... fault='nan'"`` (NaN weights),
``'huge-weights'`` (weights times 10**6), ``'huge-count'`` (claims 10**9 patients),
``'negative-count'`` (claims minus its patients), ``'poisoned-moments'`` (moments 10**6 times
too large). Plain runs send the fault as is; with SecAgg+ the hospital's own encoder
refuses it (the hospital then counts as dropped out).
"""

from __future__ import annotations

import numpy as np
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from hospital_flower.aggregation import clip_update
from hospital_flower.secure import (
    is_secure_message,
    secure_aggregation_mod,
    secure_instructions,
    secure_reply,
)

# Flower starts a fresh process for every message; three of the four SecAgg+ exchanges need
# no data, so the hospital's data and model code (scikit-learn, pandas: seconds to import)
# is imported only by the handlers that use it.

app = ClientApp(mods=[secure_aggregation_mod])

FAULTS = ("none", "nan", "huge-weights", "huge-count", "negative-count", "poisoned-moments")


def _node_partition(context: Context) -> tuple[int, int]:
    """(partition-id, num-partitions) from this SuperNode's --node-config."""
    missing = [k for k in ("partition-id", "num-partitions") if k not in context.node_config]
    if missing:
        raise ValueError(
            f"this SuperNode has no {', '.join(missing)} in its node config; start it with "
            '--node-config "partition-id=<your hospital, 0-based> num-partitions=<hospitals>"'
        )
    return int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])


def _fault(context: Context) -> str:
    fault = str(context.node_config.get("fault", "none"))
    if fault not in FAULTS:
        raise ValueError(f"node config fault must be one of {', '.join(FAULTS)}; got {fault!r}")
    return fault


def _hospital(context: Context, config=None):
    """This laptop's hospital; standardised with the server's pooled scaler when sent."""
    from helpers.federated import Standardiser
    from hospital_flower.task import load_hospital

    partition_id, num_partitions = _node_partition(context)
    cfg = context.run_config
    hospital = load_hospital(
        partition_id,
        num_partitions,
        dataset=str(cfg["dataset"]),
        scheme=str(cfg["scheme"]),
        split_seed=int(cfg["split-seed"]),
    )
    if config is not None:
        hospital.standardise(
            Standardiser(np.asarray(config["feature-mean"]), np.asarray(config["feature-scale"]))
        )
    return hospital


def _train_locally(hospital, global_weights, config, context: Context):
    """(new weights, clipped update, count, local loss): one FedAvg round at this hospital."""
    global_weights = np.asarray(global_weights, dtype=np.float64)
    # Full-batch gradient descent draws no randomness; the seed only matters for mini-batches.
    new_weights, n = hospital.local_update(
        global_weights,
        epochs=int(config["local-epochs"]),
        lr=float(config["lr"]),
        rng=int(context.run_config["split-seed"]) + int(config["server-round"]),
    )
    update, norm = clip_update(new_weights - global_weights, float(config["clip-norm"]))
    if norm > float(config["clip-norm"]):
        new_weights = global_weights + update
    return new_weights, update, n, float(hospital.evaluate(new_weights)["loss"])


def _corrupt_weights(weights: np.ndarray, fault: str) -> np.ndarray:
    if fault == "nan":
        return np.full_like(weights, np.nan)
    if fault == "huge-weights":
        return weights * 1e6
    return weights


def _corrupt_count(n: int, fault: str) -> int:
    return {"huge-count": 10**9, "negative-count": -n}.get(fault, n)


@app.query()
def feature_moments(msg: Message, context: Context) -> Message:
    """Standardisation round: send (count * (local mean, local mean of squares), count).

    This is ``WeightedMean.encode`` of ``Hospital.local_statistics`` (what
    ``helpers.federated.federated_standardisation`` sends): per-feature aggregates of this
    hospital's patients, never a record. When the server asks only for ``labels``
    (``standardisation = "public"``: scaling by public bounds) the reply holds them alone.
    """
    partition_id, num_partitions = _node_partition(context)
    # Labels only, so the server can catch two laptops playing one hospital.
    metrics = {"partition-id": partition_id, "num-partitions": num_partitions}
    if str(msg.content["config"].get("task", "moments")) == "labels":
        return Message(content=RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)
    from helpers.federated import WeightedMean

    hospital = _hospital(context)
    weighted, n = WeightedMean().encode(*hospital.local_statistics(), rng=None)
    if _fault(context) == "poisoned-moments":
        weighted = weighted * 1e6
    metrics.update({"num-examples": n, "n-features": hospital.n_features})
    content = RecordDict({"arrays": ArrayRecord([weighted]), "metrics": MetricRecord(metrics)})
    return Message(content=content, reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """One FedAvg round at this hospital (or, under SecAgg+, any of its secure tasks)."""
    if is_secure_message(msg):
        return _secure_task(msg, context)
    config = msg.content["config"]
    hospital = _hospital(context, config)
    global_weights = msg.content["arrays"].to_numpy_ndarrays()[0]
    new_weights, _, n, local_loss = _train_locally(hospital, global_weights, config, context)
    fault = _fault(context)
    content = RecordDict(
        {
            "arrays": ArrayRecord([_corrupt_weights(new_weights, fault)]),
            "metrics": MetricRecord(
                {"num-examples": _corrupt_count(n, fault), "local-loss": local_loss}
            ),
        }
    )
    return Message(content=content, reply_to=msg)


def _secure_task(msg: Message, context: Context) -> Message:
    """The vector this hospital puts into a SecAgg+ sum, by the server's ``task``.

    - ``moments``: ``(mean_j / s_j, mean of squares_j / s_j^2)`` with the public envelopes
      ``s_j`` (``task.feature_envelopes``), so every entry lies in [-1, 1];
    - ``train``: its clipped update (new weights minus the global ones);
    - ``evaluate``: ``(accuracy / A, loss / L)`` of the global model on its own patients,
      clipped to the public ``task.METRIC_ENVELOPES`` ``(A, L)`` of the model.

    The count is its number of patients, or 1 when the server asks for equal weights
    (central DP).
    """
    from hospital_flower.task import METRIC_ENVELOPES, feature_envelopes

    global_weights, config = secure_instructions(msg)
    task = str(config["task"])
    fault = _fault(context)
    dataset = str(context.run_config["dataset"])
    if task == "moments":
        hospital = _hospital(context)
        moments, n = hospital.local_statistics()
        scale = feature_envelopes(dataset)
        vector = moments / np.concatenate([scale, scale**2])
        if fault == "poisoned-moments":
            vector = vector * 1e6
    elif task == "train":
        hospital = _hospital(context, config)
        _, update, n, _ = _train_locally(hospital, global_weights, config, context)
        vector = _corrupt_weights(update, fault)
        # An honest hospital clips even a broken update (the fault simulates a bug upstream).
        vector = (
            clip_update(vector, float(config["clip-norm"]))[0]
            if np.all(np.isfinite(vector))
            else vector
        )
    elif task == "evaluate":
        hospital = _hospital(context, config)
        result = hospital.evaluate(global_weights)
        accuracy_bound, loss_bound = METRIC_ENVELOPES[hospital.model]
        vector = np.clip(
            [result["accuracy"] / accuracy_bound, result["loss"] / loss_bound], -1.0, 1.0
        )
        n = hospital.n_samples
    else:
        raise ValueError(f"unknown secure task {task!r}")
    if str(config.get("weighting", "count")) == "equal":
        n = 1
    return secure_reply(msg, vector, _corrupt_count(n, fault), config)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """This hospital's accuracy (R^2 for diabetes) and loss of the global model, own data."""
    hospital = _hospital(context, msg.content["config"])
    weights = msg.content["arrays"].to_numpy_ndarrays()[0]
    result = hospital.evaluate(weights)
    metrics = MetricRecord(
        {
            "num-examples": hospital.n_samples,
            "accuracy": float(result["accuracy"]),
            "loss": float(result["loss"]),
        }
    )
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
