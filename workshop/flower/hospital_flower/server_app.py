"""ServerApp: runs on the instructor's SuperLink and coordinates the hospitals.

1. Checks the run configuration (:class:`Settings`) before any laptop is asked anything.
2. Waits until ``min-hospitals`` SuperNodes are connected.
3. Standardisation round: every hospital sends count-weighted feature moments; the server
   combines them into the pooled mean and standard deviation (as
   ``helpers.federated.federated_standardisation`` does in one process) and sends that
   scaler to every hospital with each round's configuration. The hospitals that pass this
   round are the run's hospitals; a laptop that joins later sits the run out.
4. ``num-server-rounds`` rounds of FedAvg: each hospital trains on its own patients and
   returns its update; the server checks each reply, clips each update to ``clip-norm``
   and moves the global model by the count-weighted mean update.
5. Evaluation every ``evaluate-every`` rounds and after the last; the final model is
   saved to ``output`` (a .npz file) if one is given.

Checks (``hospital_flower.aggregation``): a reply with non-finite numbers, a wrong shape, a
count that is not an integer in [1, the hospital's partition size], or moments outside the
features' public envelopes is excluded from its round with a logged reason naming the node;
it never reaches the model and never crashes the run. A round fails (RoundFailed, the run
stops) only when fewer than ``min-reporting`` hospitals reported a valid result.

What the server sees depends on ``secure-aggregation``:

- ``"none"``: every hospital's weights and patient count each round, its accuracy and loss
  on its own patients, and once its per-feature means and mean squares (all logged);
- ``"secaggplus"``: every exchange goes through Flower's SecAgg+ (``hospital_flower.secure``):
  the server learns only the sums over hospitals (pooled moments, the count-weighted mean
  update, pooled accuracy and loss, and the total count), exact to the fixed-point format
  it logs, and can check only those sums.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from logging import INFO, WARNING
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import log
from flwr.serverapp import Grid, ServerApp

from helpers import data
from helpers._validation import check_choice, check_integer, check_real
from helpers.federated import WeightedMean
from hospital_flower import task
from hospital_flower.aggregation import (
    InvalidReply,
    check_moments,
    clip_update,
    gaussian_noise,
    mean_update,
    read_evaluation,
    read_label,
    read_moments,
    read_training,
    secaggplus_format,
)
from hospital_flower.secure import LABEL_RECORD, RoundFailed, secure_mean

app = ServerApp()

SECURE_AGGREGATION = ("none", "secaggplus")
CENTRAL_DP = ("off", "gaussian")
STANDARDISATION = ("pooled", "public")


@dataclass(frozen=True)
class CentralDP:
    """Central DP at the level of a whole hospital, planned and charged before round one.

    Each round every hospital's update is clipped to ``clip_norm`` (by the hospital, and
    again by the server where it can see the update), the clipped updates are summed
    (securely with SecAgg+) and ONE draw of Gaussian noise with standard deviation
    ``noise_multiplier * clip_norm`` is added to the sum, which is then divided by the
    number of hospitals in it (each hospital weighs the same: a count weight would let a
    large hospital move the sum by more than ``clip_norm``). Neighbouring runs differ in one
    hospital's data being there or not: its clipped update in every round present, or zero
    (the hospitals taking part, hence the divisor, are the same in both; who takes part is
    visible anyway). That changes each round's sum by at most ``clip_norm``, so ``rounds``
    such releases, every hospital in every round (sampling rate 1), are
    ``(epsilon, delta)``-DP for ``epsilon = accounting.epsilon_for(noise_multiplier, delta,
    1.0, rounds)`` under the kit's default accountant (DP-FedAvg at the client level:
    McMahan, Ramage, Talwar and Zhang, "Learning Differentially Private Recurrent Language
    Models", ICLR 2018, https://arxiv.org/abs/1710.06963). A hospital that drops out of a
    round only spends less.

    Who it protects against: the other hospitals and anyone who sees a global model (every
    round's model is sent to all hospitals; the final one is saved). Not the server: it adds
    the noise, so it sees the exact sum (with SecAgg+ only that sum; without, every update).
    The unit is a hospital, not a patient: the bound covers everything one hospital's
    patients contribute, together.

    Nothing else computed from patients is released: the features are scaled by public
    bounds (``task.public_standardiser``) instead of pooled moments, and federated
    evaluation is refused (its figures would leave the hospitals without noise).
    """

    noise_multiplier: float
    clip_norm: float
    rounds: int
    delta: float
    epsilon: float
    epsilon_budget: float
    accountant: str

    @classmethod
    def plan(cls, noise_multiplier, clip_norm, rounds, delta, epsilon_budget) -> CentralDP:
        """The run's (epsilon, delta) by the kit's accountant; refuse it above the budget."""
        from helpers import accounting  # only central DP needs it (seconds to import)

        accountant = accounting.DEFAULT_ACCOUNTANT
        epsilon = accounting.epsilon_for(noise_multiplier, delta, 1.0, rounds, accountant)
        ledger = accounting.PrivacyAccountant(epsilon_budget, delta)
        label = (
            f"{rounds} rounds of hospital-level DP-FedAvg, noise multiplier {noise_multiplier:g}"
        )
        try:
            ledger.spend(epsilon, delta, label=label, certified_by=accountant)
        except accounting.BudgetExceededError:
            raise ValueError(
                f"central DP: {rounds} rounds (num-server-rounds) at dp-noise-multiplier="
                f"{noise_multiplier:g} cost epsilon={epsilon:.4g} at dp-delta={delta:g}, more "
                f"than the budget dp-epsilon={epsilon_budget:g}; raise dp-noise-multiplier, "
                "run fewer rounds or state a larger budget"
            ) from None
        return cls(noise_multiplier, clip_norm, rounds, delta, epsilon, epsilon_budget, accountant)

    @property
    def noise_std(self) -> float:
        """Standard deviation of the noise added to each round's sum of clipped updates."""
        return self.noise_multiplier * self.clip_norm


@dataclass(frozen=True)
class Settings:
    """The run configuration, checked; every number of the run is read here once."""

    rounds: int
    min_hospitals: int
    wait_seconds: float
    round_timeout: float
    local_epochs: int
    lr: float
    evaluate_every: int
    dataset: str
    scheme: str
    split_seed: int
    min_reporting: int
    secure_aggregation: str
    clip_norm: float
    output: str
    standardisation: str = "pooled"
    central_dp: CentralDP | None = None

    @property
    def model(self) -> str:
        return task.model_for(self.dataset)

    @property
    def secure(self) -> bool:
        return self.secure_aggregation == "secaggplus"

    @classmethod
    def from_run_config(cls, cfg) -> Settings:
        """Check every key of the run config; ValueError/TypeError names the key."""
        dataset = check_choice(cfg["dataset"], "dataset", tuple(task.DATASETS))
        secure = check_choice(cfg["secure-aggregation"], "secure-aggregation", SECURE_AGGREGATION)
        min_hospitals = check_integer(cfg["min-hospitals"], "min-hospitals", minimum=1)
        min_reporting = check_integer(
            cfg["min-reporting"],
            "min-reporting",
            minimum=2 if secure == "secaggplus" else 1,
            maximum=min_hospitals,
        )
        clip_norm = (
            check_real(cfg["clip-norm"], "clip-norm", low=0.0) or (task.DEFAULT_CLIP_NORMS[dataset])
        )
        rounds = check_integer(cfg["num-server-rounds"], "num-server-rounds", minimum=1)
        evaluate_every = check_integer(cfg["evaluate-every"], "evaluate-every", minimum=0)
        standardisation = check_choice(cfg["standardisation"], "standardisation", STANDARDISATION)
        central_dp = None
        if check_choice(cfg["central-dp"], "central-dp", CENTRAL_DP) == "gaussian":
            if standardisation != "public":
                raise ValueError(
                    "central-dp = 'gaussian' needs standardisation = 'public': pooled moments "
                    "would leave the hospitals without noise, outside the privacy guarantee"
                )
            if evaluate_every:
                raise ValueError(
                    "central-dp = 'gaussian' needs evaluate-every = 0: the hospitals' accuracy "
                    "and loss would leave them without noise, outside the privacy guarantee "
                    f"(got evaluate-every={evaluate_every})"
                )
            central_dp = CentralDP.plan(
                check_real(
                    cfg["dp-noise-multiplier"], "dp-noise-multiplier", low=0.0, low_inclusive=False
                ),
                clip_norm,
                rounds,
                check_real(
                    cfg["dp-delta"],
                    "dp-delta",
                    low=0.0,
                    high=1.0,
                    low_inclusive=False,
                    high_inclusive=False,
                ),
                check_real(cfg["dp-epsilon"], "dp-epsilon", low=0.0, low_inclusive=False),
            )
        return cls(
            rounds=rounds,
            min_hospitals=min_hospitals,
            wait_seconds=check_real(cfg["wait-seconds"], "wait-seconds", low=0.0),
            round_timeout=check_real(
                cfg["round-timeout"], "round-timeout", low=0.0, low_inclusive=False
            ),
            local_epochs=check_integer(cfg["local-epochs"], "local-epochs", minimum=1),
            lr=check_real(cfg["lr"], "lr", low=0.0, low_inclusive=False),
            evaluate_every=evaluate_every,
            dataset=dataset,
            scheme=check_choice(cfg["scheme"], "scheme", data.SPLIT_SCHEMES),
            split_seed=check_integer(cfg["split-seed"], "split-seed", minimum=0),
            min_reporting=min_reporting,
            secure_aggregation=secure,
            clip_norm=clip_norm,
            output=str(cfg["output"]),
            standardisation=standardisation,
            central_dp=central_dp,
        )

    def evaluates(self, server_round: int) -> bool:
        """Is the global model evaluated after this round?"""
        if self.evaluate_every == 0:
            return False
        return server_round % self.evaluate_every == 0 or server_round == self.rounds


@dataclass(frozen=True)
class Registered:
    """A hospital of the run: which partition it plays and how many patients that holds."""

    partition_id: int
    n_samples: int


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


# --- which laptop plays which hospital --------------------------------------------------


def screen_labels(labels: dict[int, object], settings: Settings) -> dict[int, Registered]:
    """The hospitals of the run from each node's claimed label (or the reason it has none).

    ``labels`` maps node id -> ``HospitalLabel`` or an ``InvalidReply``. The split is the
    ``num-partitions`` most nodes claim; a node on another split, two nodes claiming one
    partition (both are excluded: the server cannot tell which is right) and a node whose
    label is invalid are excluded with a logged reason naming them and the fix.
    """
    valid = {node: label for node, label in labels.items() if not isinstance(label, Exception)}
    for node, reason in labels.items():
        if isinstance(reason, Exception):
            log(WARNING, "node %s excluded: %s", node, reason)
    if not valid:
        return {}
    claimed = [label.num_partitions for label in valid.values()]
    split = max(sorted(set(claimed)), key=claimed.count)
    by_partition: dict[int, list[int]] = {}
    for node, label in sorted(valid.items()):
        if label.num_partitions != split:
            log(
                WARNING,
                "node %s excluded: it plays hospital %d of a %d-way split, the others a "
                '%d-way one; restart it with --node-config "partition-id=K num-partitions=%d"',
                node,
                label.partition_id,
                label.num_partitions,
                split,
                split,
            )
            continue
        by_partition.setdefault(label.partition_id, []).append(node)
    try:
        sizes = task.partition_sizes(split, settings.dataset, settings.scheme, settings.split_seed)
    except ValueError as reason:  # e.g. more hospitals than the data can serve
        raise RoundFailed(
            f"the laptops play a {split}-way split, which this run cannot make ({reason}); "
            "restart them with a smaller num-partitions"
        ) from None
    registry = {}
    for partition, nodes in sorted(by_partition.items()):
        if len(nodes) > 1:
            log(
                WARNING,
                "nodes %s all claim partition-id=%d, so every laptop must play a different "
                "hospital: all excluded; give each its own partition-id",
                nodes,
                partition,
            )
            continue
        registry[nodes[0]] = Registered(partition, sizes[partition])
    return registry


def _require(registry: dict, settings: Settings, what: str) -> None:
    if len(registry) < settings.min_reporting:
        raise RoundFailed(
            f"{what}: only {len(registry)} hospitals passed the checks (every laptop must "
            "play a different hospital of the same split, with valid moments); "
            f"min-reporting = {settings.min_reporting}"
        )


def _hospital_name(registry: dict, node: int) -> str:
    return f"H{registry[node].partition_id + 1}" if node in registry else "?"


# --- the standardisation round ------------------------------------------------------------


def standardisation_round(
    grid: Grid, node_ids: list[int], settings: Settings, moments: bool = True
):
    """Plain: each hospital's labels, count and moments, checked; pooled with WeightedMean.

    ``moments=False`` asks for the labels only (``standardisation = "public"`` scales by
    public bounds) and returns ``(registry, None)``.
    """
    d = task.n_features(settings.dataset)
    envelopes = task.feature_envelopes(settings.dataset)
    messages = [
        Message(
            content=RecordDict(
                {"config": ConfigRecord({"task": "moments" if moments else "labels"})}
            ),
            message_type=MessageType.QUERY,
            dst_node_id=node_id,
        )
        for node_id in node_ids
    ]
    replies = {}
    for reply in grid.send_and_receive(messages, timeout=settings.round_timeout):
        node = reply.metadata.src_node_id
        if node in node_ids and node not in replies:
            replies[node] = reply
    labels = {}
    for node in node_ids:
        reply = replies.get(node)
        if reply is None or reply.has_error():
            reason = "no reply" if reply is None else reply.error.reason
            labels[node] = InvalidReply(f"no reply to the standardisation round ({reason})")
            continue
        try:
            metrics = reply.content["metrics"]
            labels[node] = read_label(metrics, d if moments else None)
        except (KeyError, TypeError):
            labels[node] = InvalidReply("the reply has no metric record 'metrics'")
        except InvalidReply as reason:
            labels[node] = reason
    registry = screen_labels(labels, settings)
    if not moments:
        _require(registry, settings, "registration")
        log(
            INFO,
            "Registration: hospitals %s (0-based); features scaled by public bounds",
            [h.partition_id for h in registry.values()],
        )
        return registry, None
    received = {}
    for node, hospital in list(registry.items()):
        try:
            received[node] = read_moments(replies[node].content, d, envelopes, hospital.n_samples)
        except InvalidReply as reason:
            log(WARNING, "node %s (H%d) excluded: %s", node, hospital.partition_id + 1, reason)
            del registry[node]
    _require(registry, settings, "standardisation round")
    log(
        INFO,
        "Standardisation round: hospitals %s (0-based), patients %s",
        [h.partition_id for h in registry.values()],
        [received[node][1] for node in registry],
    )
    aggregator = WeightedMean()
    pooled = aggregator.decode(aggregator.combine([received[node] for node in registry]))
    return registry, task.standardiser_from_moments(pooled, d)


def secure_standardisation_round(grid: Grid, context: Context, node_ids, settings: Settings):
    """SecAgg+: labels come with the setup replies; only the pooled moments are revealed."""
    d = task.n_features(settings.dataset)
    envelopes = task.feature_envelopes(settings.dataset)
    total_patients = task.n_patients(settings.dataset)
    registry: dict[int, Registered] = {}

    def screen(replies):
        labels = {}
        for reply in replies:
            if reply.has_error():
                continue
            node = reply.metadata.src_node_id
            try:
                labels[node] = read_label(reply.content.config_records[LABEL_RECORD])
            except (KeyError, InvalidReply) as reason:
                labels[node] = InvalidReply(f"no valid hospital label ({reason})")
        registry.update(screen_labels(labels, settings))
        return [r for r in replies if r.has_error() or r.metadata.src_node_id in registry]

    fmt = secaggplus_format(len(node_ids), 1.0, total_patients)
    try:
        result = secure_mean(
            grid,
            context,
            node_ids,
            server_round=0,
            vector_length=2 * d,
            fmt=fmt,
            threshold=settings.min_reporting,
            config={"task": "moments"},
            timeout=settings.round_timeout,
            screen_setup=screen,
        )
        if not set(result.reporters) <= set(registry):
            raise InvalidReply("it holds hospitals that were not registered")
        expected = sum(registry[node].n_samples for node in result.reporters)
        if result.total_count > expected:
            raise InvalidReply(
                f"it counts {result.total_count} patients but the hospitals in it hold {expected}"
            )
        scale = np.concatenate([envelopes, envelopes**2])
        pooled = result.mean * scale
        check_moments(pooled[:d], pooled[d:], envelopes)
    except InvalidReply as reason:
        raise RoundFailed(
            f"standardisation round: the secure sum fails the server's checks ({reason}): a "
            "hospital sent false moments or a false count"
        ) from None
    log(
        INFO,
        "Standardisation round (SecAgg+, %d fractional bits): hospitals %s (0-based), %d "
        "patients in all; the server saw only the pooled moments",
        fmt.precision_bits,
        sorted(registry[node].partition_id for node in result.reporters),
        result.total_count,
    )
    registry = {node: registry[node] for node in result.reporters}
    return registry, task.standardiser_from_moments(pooled, d)


# --- one training round -------------------------------------------------------------------


def _requests(nodes, weights, config: dict, message_type: str, server_round: int) -> list:
    """One message per hospital carrying the global weights and a config, grouped by round."""
    return [
        Message(
            content=RecordDict({"arrays": ArrayRecord([weights]), "config": ConfigRecord(config)}),
            message_type=message_type,
            dst_node_id=node,
            group_id=str(server_round),
        )
        for node in nodes
    ]


def plain_training_round(grid, context, registry, nodes, weights, config, settings, server_round):
    """Checked, clipped updates of the hospitals that reply; the mean update and reporters."""
    messages = _requests(nodes, weights, config, MessageType.TRAIN, server_round)
    updates, counts, reporters = [], [], []
    for reply in grid.send_and_receive(messages, timeout=settings.round_timeout):
        node = reply.metadata.src_node_id
        if node not in nodes or node in reporters:
            continue
        name = _hospital_name(registry, node)
        if reply.has_error():
            log(
                WARNING,
                "\tround %d: node %s (%s) sent no update: %s",
                server_round,
                node,
                name,
                reply.error.reason,
            )
            continue
        try:
            new_weights, count = read_training(
                reply.content, weights.size, registry[node].n_samples
            )
        except InvalidReply as reason:
            log(WARNING, "\tround %d: node %s (%s) excluded: %s", server_round, node, name, reason)
            continue
        update, norm = clip_update(new_weights - weights, settings.clip_norm)
        if norm > settings.clip_norm:
            log(
                WARNING,
                "\tround %d: node %s (%s) update norm %.4g > clip-norm %g: clipped",
                server_round,
                node,
                name,
                norm,
                settings.clip_norm,
            )
        shown = ", ".join(f"{w:.3f}" for w in new_weights[:4])
        log(
            INFO,
            "\tround %d from node %s (%s): %d patients, weights [%s, ...] (%d numbers)",
            server_round,
            node,
            name,
            count,
            shown,
            new_weights.size,
        )
        updates.append(update)
        counts.append(count)
        reporters.append(node)
    for node in sorted(set(nodes) - set(reporters)):
        log(
            WARNING,
            "\tround %d: no valid update from node %s (%s)",
            server_round,
            node,
            _hospital_name(registry, node),
        )
    if len(reporters) < settings.min_reporting:
        raise RoundFailed(
            f"round {server_round}: only {len(reporters)} of {len(nodes)} hospitals reported a "
            f"valid update; min-reporting = {settings.min_reporting}"
        )
    # Central DP weighs every hospital alike (see CentralDP); plain FedAvg by patient count.
    return mean_update(updates, None if settings.central_dp else counts), reporters


def secure_training_round(grid, context, registry, nodes, weights, config, settings, server_round):
    """The SecAgg+ mean update (None if the sum fails the server's checks) and reporters."""
    equal = settings.central_dp is not None  # every hospital weighs 1 (see CentralDP)
    max_weight = len(nodes) if equal else sum(h.n_samples for h in registry.values())
    fmt = secaggplus_format(len(nodes), settings.clip_norm, max_weight)
    try:
        result = secure_mean(
            grid,
            context,
            nodes,
            server_round=server_round,
            vector_length=weights.size,
            fmt=fmt,
            threshold=settings.min_reporting,
            config={**config, "task": "train", "weighting": "equal" if equal else "count"},
            global_weights=weights,
            timeout=settings.round_timeout,
        )
    except InvalidReply as reason:
        log(
            WARNING, "\tround %d: %s; round discarded, global model unchanged", server_round, reason
        )
        return None, []
    expected = (
        len(result.reporters)
        if equal
        else sum(registry[node].n_samples for node in result.reporters if node in registry)
    )
    norm = float(np.linalg.norm(result.mean))
    slack = math.sqrt(weights.size) * fmt.quantisation_bound
    problems = []
    if not set(result.reporters) <= set(nodes):
        problems.append("it holds hospitals that were not asked")
    if result.total_count > expected:
        problems.append(
            f"it counts {result.total_count} patients, the hospitals in it hold {expected}"
        )
    if norm > settings.clip_norm + slack:
        problems.append(f"the mean update has norm {norm:.4g} > clip-norm {settings.clip_norm:g}")
    if problems:
        log(
            WARNING,
            "\tround %d: the secure sum fails the server's checks (%s): a hospital sent a "
            "false vector; round discarded, global model unchanged",
            server_round,
            "; ".join(problems),
        )
        return None, list(result.reporters)
    shown = ", ".join(f"{w:.4f}" for w in result.mean[:4])
    log(
        INFO,
        "\tround %d: SecAgg+ sum of %d hospitals, %d patients (all the server sees): mean "
        "update [%s, ...], exact to %.1e per entry (%d fractional bits)",
        server_round,
        len(result.reporters),
        result.total_count,
        shown,
        fmt.quantisation_bound,
        fmt.precision_bits,
    )
    return result.mean, list(result.reporters)


# --- evaluation ---------------------------------------------------------------------------


def plain_evaluation(grid, context, registry, nodes, weights, scaler, settings, server_round):
    """Pooled (count-weighted) accuracy and loss over the hospitals with valid replies."""
    messages = _requests(nodes, weights, scaler, MessageType.EVALUATE, server_round)
    values, counts, seen = [], [], set()
    for reply in grid.send_and_receive(messages, timeout=settings.round_timeout):
        node = reply.metadata.src_node_id
        if node not in nodes or node in seen or reply.has_error():
            continue
        seen.add(node)
        try:
            accuracy, loss, count = read_evaluation(reply.content, registry[node].n_samples)
        except InvalidReply as reason:
            log(
                WARNING,
                "\tround %d: evaluation of node %s excluded: %s",
                server_round,
                node,
                reason,
            )
            continue
        log(
            INFO,
            "\tround %d node %s (%s): accuracy %.3f, loss %.4f on its %d patients",
            server_round,
            node,
            _hospital_name(registry, node),
            accuracy,
            loss,
            count,
        )
        values.append([accuracy, loss])
        counts.append(count)
    if not values:
        log(WARNING, "\tround %d: no hospital returned a valid evaluation", server_round)
        return np.nan, np.nan, 0
    accuracy, loss = mean_update(values, counts)
    return float(accuracy), float(loss), len(values)


def secure_evaluation(grid, context, registry, nodes, weights, scaler, settings, server_round):
    """Pooled accuracy and loss through SecAgg+ (the hospitals' own figures stay hidden)."""
    fmt = secaggplus_format(len(nodes), 1.0, sum(h.n_samples for h in registry.values()))
    try:
        result = secure_mean(
            grid,
            context,
            nodes,
            server_round=server_round,
            vector_length=2,
            fmt=fmt,
            threshold=settings.min_reporting,
            config={**scaler, "task": "evaluate"},
            global_weights=weights,
            timeout=settings.round_timeout,
        )
    except (RoundFailed, InvalidReply) as reason:
        log(WARNING, "\tround %d: no secure evaluation: %s", server_round, reason)
        return np.nan, np.nan, 0
    accuracy_bound, loss_bound = task.METRIC_ENVELOPES[settings.model]
    accuracy, loss = result.mean * [accuracy_bound, loss_bound]
    return float(accuracy), float(loss), len(result.reporters)


# --- the run ------------------------------------------------------------------------------


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Standardise, run checked FedAvg (plain or SecAgg+), save the final global model."""
    settings = Settings.from_run_config(context.run_config)
    log(
        INFO,
        "Run: %s, %d rounds, secure-aggregation=%s, clip-norm=%g, min-reporting=%d",
        settings.dataset,
        settings.rounds,
        settings.secure_aggregation,
        settings.clip_norm,
        settings.min_reporting,
    )

    privacy = settings.central_dp
    if privacy is not None:
        log(
            INFO,
            "Central DP, hospital level: %d rounds, every hospital in each, updates clipped to "
            "%g, Gaussian noise of std %g (noise multiplier %g) on each round's sum: "
            "epsilon = %r at delta = %r (the kit's %s accountant; budget epsilon <= %g). It "
            "protects each hospital's whole contribution from the other hospitals and from "
            "anyone who sees a model, not from this server, which sees the sum before the noise.",
            privacy.rounds,
            privacy.clip_norm,
            privacy.noise_std,
            privacy.noise_multiplier,
            privacy.epsilon,
            privacy.delta,
            privacy.accountant,
            privacy.epsilon_budget,
        )

    node_ids = wait_for_hospitals(grid, settings.min_hospitals, settings.wait_seconds)
    if settings.standardisation == "public":
        registry, _ = standardisation_round(grid, node_ids, settings, moments=False)
        standardiser = task.public_standardiser(settings.dataset)
    elif settings.secure:
        registry, standardiser = secure_standardisation_round(grid, context, node_ids, settings)
    else:
        registry, standardiser = standardisation_round(grid, node_ids, settings)

    scaler = {
        "feature-mean": [float(v) for v in standardiser.mean],
        "feature-scale": [float(v) for v in standardiser.scale],
    }

    weights = task.initial_weights(standardiser.mean.size)
    history = {"weights": [], "trained": [], "accuracy": [], "loss": []}
    late = set()
    for server_round in range(1, settings.rounds + 1):
        connected = set(grid.get_node_ids())
        for node in sorted(connected - set(registry) - late):
            log(INFO, "node %s joined after the standardisation round: it sits this run out", node)
            late.add(node)
        nodes = sorted(set(registry) & connected)
        config = {
            "lr": settings.lr,
            "local-epochs": settings.local_epochs,
            "clip-norm": settings.clip_norm,
            "server-round": server_round,
            **scaler,
        }
        log(INFO, "[ROUND %d/%d] %d hospitals", server_round, settings.rounds, len(nodes))
        train = secure_training_round if settings.secure else plain_training_round
        step, reporters = train(
            grid, context, registry, nodes, weights, config, settings, server_round
        )
        if step is not None and privacy is not None:
            # One draw on the sum of clipped updates, i.e. std / K on their mean.
            step = step + gaussian_noise(step.size, privacy.noise_std) / len(reporters)
        if step is not None:
            weights = weights + step
        history["weights"].append(weights)
        history["trained"].append(len(reporters) if step is not None else 0)
        accuracy = loss = np.nan
        if settings.evaluates(server_round):
            evaluate = secure_evaluation if settings.secure else plain_evaluation
            accuracy, loss, evaluated = evaluate(
                grid, context, registry, nodes, weights, scaler, settings, server_round
            )
            log(
                INFO,
                "\tround %d: accuracy %.4f, loss %.4f (pooled over %d hospitals)",
                server_round,
                accuracy,
                loss,
                evaluated,
            )
        history["accuracy"].append(accuracy)
        history["loss"].append(loss)

    if settings.output:
        path = Path(settings.output).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:  # exactly this path (np.savez would add .npz)
            np.savez(
                handle,
                weights=weights,
                feature_mean=standardiser.mean,
                feature_scale=standardiser.scale,
                model=np.array(settings.model),
                secure_aggregation=np.array(settings.secure_aggregation),
                rounds=np.arange(1, settings.rounds + 1),
                weights_per_round=np.array(history["weights"]),
                trained_hospitals=np.array(history["trained"]),
                accuracy=np.array(history["accuracy"]),
                loss=np.array(history["loss"]),
                hospitals=np.array(sorted(h.partition_id for h in registry.values())),
                dp_epsilon=np.nan if privacy is None else privacy.epsilon,
                dp_delta=np.nan if privacy is None else privacy.delta,
            )
        log(INFO, "Saved the final global model to %s", path)
