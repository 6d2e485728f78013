"""ClientApp: runs on a participant's laptop (a SuperNode) and plays ONE hospital.

The SuperNode's node config says which hospital: ``partition-id`` (0-based) and
``num-partitions``. The hospital's records never leave this process; every reply carries
only what ``helpers.federated`` lets leave a hospital: weights (or feature moments, once,
for standardisation), a patient count, and its own accuracy and loss.
"""

from __future__ import annotations

import numpy as np
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from helpers.federated import Standardiser, WeightedMean
from hospital_flower.task import load_hospital

app = ClientApp()


def _node_partition(context: Context) -> tuple[int, int]:
    """(partition-id, num-partitions) from this SuperNode's --node-config."""
    missing = [k for k in ("partition-id", "num-partitions") if k not in context.node_config]
    if missing:
        raise ValueError(
            f"this SuperNode has no {', '.join(missing)} in its node config; start it with "
            '--node-config "partition-id=<your hospital, 0-based> num-partitions=<hospitals>"'
        )
    return int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])


def _hospital(context: Context, message: Message | None = None):
    """This laptop's hospital; standardised with the server's pooled scaler when one is sent."""
    partition_id, num_partitions = _node_partition(context)
    cfg = context.run_config
    hospital = load_hospital(
        partition_id,
        num_partitions,
        dataset=str(cfg["dataset"]),
        scheme=str(cfg["scheme"]),
        split_seed=int(cfg["split-seed"]),
    )
    if message is not None:
        config = message.content["config"]
        hospital.standardise(
            Standardiser(np.asarray(config["feature-mean"]), np.asarray(config["feature-scale"]))
        )
    return hospital


@app.query()
def feature_moments(msg: Message, context: Context) -> Message:
    """Standardisation round: send (count * (local mean, local mean of squares), count).

    This is ``WeightedMean.encode`` of ``Hospital.local_statistics`` (what
    ``helpers.federated.federated_standardisation`` sends): per-feature aggregates of this
    hospital's patients, never a record.
    """
    partition_id, num_partitions = _node_partition(context)
    hospital = _hospital(context)
    weighted, n = WeightedMean().encode(*hospital.local_statistics(), rng=None)
    content = RecordDict(
        {
            "arrays": ArrayRecord([weighted]),
            "metrics": MetricRecord(
                {
                    "num-examples": n,
                    "n-features": hospital.n_features,
                    # Labels only, so the server can catch two laptops playing one hospital.
                    "partition-id": partition_id,
                    "num-partitions": num_partitions,
                }
            ),
        }
    )
    return Message(content=content, reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """One FedAvg round at this hospital: local gradient descent from the global weights."""
    hospital = _hospital(context, msg)
    config = msg.content["config"]
    global_weights = msg.content["arrays"].to_numpy_ndarrays()[0]
    # Full-batch gradient descent draws no randomness; the seed only matters for mini-batches.
    new_weights, n = hospital.local_update(
        global_weights,
        epochs=int(config["local-epochs"]),
        lr=float(config["lr"]),
        rng=int(context.run_config["split-seed"]) + int(config["server-round"]),
    )
    local = hospital.evaluate(new_weights)
    content = RecordDict(
        {
            "arrays": ArrayRecord([new_weights]),
            "metrics": MetricRecord({"num-examples": n, "local-loss": float(local["loss"])}),
        }
    )
    return Message(content=content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """This hospital's accuracy (R^2 for diabetes) and loss of the global model, own data."""
    hospital = _hospital(context, msg)
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
