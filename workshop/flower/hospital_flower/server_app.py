"""ServerApp: runs on the instructor's SuperLink and coordinates the hospitals.

1. Waits until ``min-hospitals`` SuperNodes are connected.
2. Standardisation round: every hospital sends count-weighted feature moments; the server
   combines them with the kit's ``WeightedMean`` into the pooled mean and standard deviation
   (as ``helpers.federated.federated_standardisation`` does in one process) and sends that
   scaler to every hospital with each round's configuration.
3. ``num-server-rounds`` rounds of Flower's FedAvg: each hospital trains on its own patients
   and returns weights and a count; the server averages the weights, weighted by count.
4. Saves the final global model to ``output`` (a .npz file) if one is given.

What the server sees (and logs): every hospital's weights and patient count each round, its
accuracy and loss on its own patients, and once its per-feature means and mean squares.
"""

from __future__ import annotations

import time
from logging import INFO
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import log
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

from helpers import data
from helpers._validation import check_choice, check_integer, check_real
from helpers.federated import WeightedMean
from hospital_flower.task import initial_weights, model_for, standardiser_from_moments

app = ServerApp()


def wait_for_hospitals(grid: Grid, min_hospitals: int, wait_seconds: float) -> list[int]:
    """Node ids of the connected SuperNodes once at least ``min_hospitals`` are connected."""
    deadline = time.monotonic() + wait_seconds
    announced = -1
    while True:
        node_ids = sorted(grid.get_node_ids())
        if len(node_ids) >= min_hospitals:
            return node_ids
        if len(node_ids) != announced:
            log(INFO, "Waiting for hospitals: %d of %d connected", len(node_ids), min_hospitals)
            announced = len(node_ids)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {len(node_ids)} of min-hospitals={min_hospitals} SuperNodes connected "
                f"within wait-seconds={wait_seconds}; check the participants' --superlink "
                "address and the firewall, or lower min-hospitals"
            )
        time.sleep(1.0)


def standardisation_round(grid: Grid, node_ids: list[int], timeout: float):
    """Pooled feature mean and scale from every hospital's count-weighted moments."""
    messages = [
        Message(
            content=RecordDict({"config": ConfigRecord({})}),
            message_type=MessageType.QUERY,
            dst_node_id=node_id,
        )
        for node_id in node_ids
    ]
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    failed = [r for r in replies if r.has_error()]
    if failed or len(replies) != len(node_ids):
        reasons = "; ".join(r.error.reason for r in failed) or "no reply"
        raise RuntimeError(
            f"standardisation round: {len(replies) - len(failed)} of {len(node_ids)} "
            f"hospitals replied ({reasons})"
        )
    metrics = [r.content["metrics"] for r in replies]
    partitions = sorted(int(m["partition-id"]) for m in metrics)
    totals = {int(m["num-partitions"]) for m in metrics}
    if len(set(partitions)) != len(partitions) or len(totals) != 1:
        raise RuntimeError(
            "every laptop must play a different hospital of the same split; got "
            f"partition-ids {partitions} and num-partitions {sorted(totals)}"
        )
    log(
        INFO,
        "Standardisation round: hospitals %s (0-based) of %d, patients %s",
        partitions,
        totals.pop(),
        [int(m["num-examples"]) for m in metrics],
    )
    aggregator = WeightedMean()
    combined = aggregator.combine(
        [
            (r.content["arrays"].to_numpy_ndarrays()[0], int(m["num-examples"]))
            for r, m in zip(replies, metrics, strict=True)
        ]
    )
    n_features = int(metrics[0]["n-features"])
    return standardiser_from_moments(aggregator.decode(combined), n_features), n_features


class HospitalFedAvg(FedAvg):
    """Flower's FedAvg, asking the hospitals to evaluate only every ``evaluate_every`` rounds.

    The global model is always evaluated after the last round. Evaluating every round
    gives the classroom a learning curve; fewer evaluations make the run faster.
    """

    def __init__(self, num_rounds: int, evaluate_every: int = 1, **kwargs):
        super().__init__(**kwargs)
        if evaluate_every < 1:
            raise ValueError(f"evaluate-every must be >= 1; got {evaluate_every}")
        self.num_rounds = num_rounds
        self.evaluate_every = evaluate_every

    def aggregate_train(self, server_round, replies):
        """Log what the server receives from each hospital, then average as FedAvg does."""
        replies = list(replies)
        for reply in replies:
            if reply.has_error():
                continue
            weights = reply.content["arrays"].to_numpy_ndarrays()[0]
            shown = ", ".join(f"{w:.3f}" for w in weights[:4])
            log(
                INFO,
                "\tround %d from node %s: %d patients, weights [%s, ...] (%d numbers)",
                server_round,
                reply.metadata.src_node_id,
                int(reply.content["metrics"]["num-examples"]),
                shown,
                weights.size,
            )
        return super().aggregate_train(server_round, replies)

    def aggregate_evaluate(self, server_round, replies):
        """Log each hospital's accuracy of the global model, then average as FedAvg does."""
        replies = list(replies)
        for reply in replies:
            if reply.has_error():
                continue
            metrics = reply.content["metrics"]
            log(
                INFO,
                "\tround %d node %s: accuracy %.3f, loss %.4f on its %d patients",
                server_round,
                reply.metadata.src_node_id,
                float(metrics["accuracy"]),
                float(metrics["loss"]),
                int(metrics["num-examples"]),
            )
        return super().aggregate_evaluate(server_round, replies)

    def configure_evaluate(self, server_round, arrays, config, grid):
        """Evaluation messages on every ``evaluate_every``-th round and the last one."""
        if server_round % self.evaluate_every and server_round != self.num_rounds:
            return []
        return super().configure_evaluate(server_round, arrays, config, grid)


def _count_hospitals(records: list[RecordDict], weight_key: str):
    """Flower's weighted average of the metrics, plus how many hospitals replied."""
    aggregated = aggregate_metricrecords(records, weight_key)
    aggregated["hospitals"] = len(records)
    return aggregated


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Standardise, run FedAvg, save the final global model."""
    cfg = context.run_config
    # Check the instructor's settings here, before any laptop is asked to do anything.
    rounds = check_integer(cfg["num-server-rounds"], "num-server-rounds", minimum=1)
    min_hospitals = check_integer(cfg["min-hospitals"], "min-hospitals", minimum=1)
    wait_seconds = check_real(cfg["wait-seconds"], "wait-seconds", low=0.0)
    local_epochs = check_integer(cfg["local-epochs"], "local-epochs", minimum=1)
    lr = check_real(cfg["lr"], "lr", low=0.0, low_inclusive=False)
    evaluate_every = check_integer(cfg["evaluate-every"], "evaluate-every", minimum=1)
    check_choice(cfg["scheme"], "scheme", data.SPLIT_SCHEMES)
    model = model_for(str(cfg["dataset"]))

    node_ids = wait_for_hospitals(grid, min_hospitals, wait_seconds)
    standardiser, n_features = standardisation_round(grid, node_ids, timeout=wait_seconds)
    scaler = {
        "feature-mean": [float(v) for v in standardiser.mean],
        "feature-scale": [float(v) for v in standardiser.scale],
    }

    strategy = HospitalFedAvg(
        num_rounds=rounds,
        evaluate_every=evaluate_every,
        # Every connected hospital takes part. The minimum was awaited above; from here on
        # a laptop that drops out does not stall the class (FedAvg would wait forever for
        # its minimum), and one that joins late takes part from the next round.
        fraction_train=1.0,
        fraction_evaluate=1.0,
        min_train_nodes=1,
        min_evaluate_nodes=1,
        min_available_nodes=1,
        train_metrics_aggr_fn=_count_hospitals,
        evaluate_metrics_aggr_fn=_count_hospitals,
    )
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord([initial_weights(n_features)]),
        num_rounds=rounds,
        timeout=wait_seconds,
        train_config=ConfigRecord({"lr": lr, "local-epochs": local_epochs, **scaler}),
        evaluate_config=ConfigRecord(scaler),
    )

    weights = result.arrays.to_numpy_ndarrays()[0]
    output = str(cfg["output"])
    if output:
        path = Path(output).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        per_round = range(1, rounds + 1)
        evaluated = result.evaluate_metrics_clientapp
        trained = result.train_metrics_clientapp
        with path.open("wb") as handle:  # exactly this path (np.savez would add .npz)
            np.savez(
                handle,
                weights=weights,
                feature_mean=standardiser.mean,
                feature_scale=standardiser.scale,
                model=np.array(model),
                rounds=np.arange(1, rounds + 1),
                trained_hospitals=np.array(
                    [int(trained[r]["hospitals"]) if r in trained else 0 for r in per_round]
                ),
                accuracy=np.array(
                    [
                        float(evaluated[r]["accuracy"]) if r in evaluated else np.nan
                        for r in per_round
                    ]
                ),
                loss=np.array(
                    [float(evaluated[r]["loss"]) if r in evaluated else np.nan for r in per_round]
                ),
            )
        log(INFO, "Saved the final global model to %s", path)
