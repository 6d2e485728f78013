"""Metrics and the privacy / utility / overhead comparison table (notebooks 06 and 07).

``tradeoff_table`` runs every configuration on the same hospital splits and seeds and
returns one row per configuration: its privacy guarantee, whom it must trust, test
accuracy (mean and spread over seeds), membership-inference advantage, compute seconds
and bytes communicated. A configuration is a name, a training function and the privacy
it promises; ``standard_configurations`` builds the seven the course compares.

This module composes the technique modules (data, federated, encryption, dp,
dp_learning); they never import it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers import data as kit_data
from helpers import federated
from helpers._progress import progress as _progress
from helpers._validation import RandomState, check_choice, check_integer, check_real, check_rng

# --------------------------------------------------------------------------- the task


@dataclass(frozen=True)
class Task:
    """What every configuration trains on for one seed: the same hospitals, the same test set.

    hospital_data : list of (X_h, y_h), features already scaled by public bounds.
    X_test, y_test : held-out patients (non-members, for accuracy and membership inference).
    model : "logistic" (the kit's breast-cancer task).
    """

    hospital_data: list
    X_test: np.ndarray
    y_test: np.ndarray
    model: str = "logistic"

    @property
    def n_train(self) -> int:
        return int(sum(len(y) for _, y in self.hospital_data))

    @property
    def n_features(self) -> int:
        return int(self.X_test.shape[1])

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """Every training record in one place (what only centralised training may do)."""
        return (
            np.vstack([X for X, _ in self.hospital_data]),
            np.concatenate([y for _, y in self.hospital_data]),
        )


def breast_cancer_task(
    seed: int,
    n_hospitals: int = 5,
    scheme: str = "iid",
    test_size: float = 0.25,
    alpha: float = 0.5,
) -> Task:
    """The breast-cancer task for one seed: a held-out test set, the rest split across hospitals.

    Features are scaled to [-1, 1] with the bounds published with the dataset
    (``data.breast_cancer_bounds``) and clipped to them, so no statistic of the
    training data leaks through preprocessing.
    """
    rng = check_rng(seed)
    test_size = check_real(
        test_size, "test_size", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    X, y = kit_data.breast_cancer()
    bounds = kit_data.breast_cancer_bounds()
    scaler = federated.Standardiser.from_bounds(
        bounds["lower"].to_numpy(), bounds["upper"].to_numpy()
    )
    X_scaled = np.clip(scaler.transform(X.to_numpy()), -1.0, 1.0)
    order = rng.permutation(len(y))
    n_test = int(round(test_size * len(y)))
    test, train = order[:n_test], order[n_test:]
    parts = kit_data.split_across_hospitals(
        X_scaled[train], y.to_numpy()[train], n_hospitals, scheme, rng=rng, alpha=alpha
    )
    return Task(hospital_data=parts, X_test=X_scaled[test], y_test=y.to_numpy()[test])


# -------------------------------------------------------------------- configurations


@dataclass
class Outcome:
    """What one training run produced.

    weights : the final model (or, for local-only training, a dict hospital -> weights).
    bytes_communicated : bytes sent over the network in the whole run (records or updates).
    epsilon, delta : what the run's privacy accountant recorded (None: no DP).
    ledger : the accountant's ledger, for inspection.
    """

    weights: object
    bytes_communicated: int = 0
    epsilon: float | None = None
    delta: float | None = None
    ledger: pd.DataFrame | None = None


@dataclass(frozen=True)
class Configuration:
    """A way of training: a name, a training function, and the privacy it promises.

    train(task, rng) -> Outcome. ``epsilon``/``delta`` are the guarantee the configuration
    claims (None: no formal guarantee); ``tradeoff_table`` refuses a row whose accountant
    recorded anything else. ``trusted`` says, in plain words, whom the patients must trust.
    """

    name: str
    train: Callable[[Task, np.random.Generator], Outcome]
    trusted: str
    epsilon: float | None = None
    delta: float | None = None
    family: str = ""

    @property
    def privacy(self) -> str:
        if self.epsilon is None:
            return "none"
        return f"({self.epsilon:g}, {self.delta:g})-DP"


# ------------------------------------------------------------------------- metrics


class FittedWeights:
    """A trained weight vector dressed as a classifier (``predict_proba``), for the attacks."""

    def __init__(self, weights, model: str = "logistic"):
        self.weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        self.model = model

    def predict_proba(self, X):
        p = federated.predict(self.weights, X, self.model)
        return np.column_stack([1.0 - p, p])


def membership_advantage(
    weights, members, non_members, model: str = "logistic", rng: RandomState = None
) -> float:
    """Advantage of the loss-threshold membership attack on a trained weight vector.

    Runs ``dp_learning.membership_inference`` (Yeom et al., CSF 2018: guess "member" when a
    patient's loss is below the mean training loss) on equally many members and
    non-members (members subsampled with ``rng``) and returns its advantage, true-positive
    rate minus false-positive rate. 0 means the losses do not tell members from
    non-members; an (epsilon, delta)-DP model keeps it below
    (e^epsilon - 1 + 2 delta) / (e^epsilon + 1) (the hypothesis-testing bound of Kairouz,
    Oh and Viswanath, "The Composition Theorem for Differential Privacy", ICML 2015).
    """
    from helpers import dp_learning

    rng = check_rng(rng)
    X_in, y_in = members
    X_out, y_out = non_members
    n = min(len(y_in), len(y_out))
    rows = rng.choice(len(y_in), size=n, replace=False)
    result = dp_learning.membership_inference(
        FittedWeights(weights, model), (X_in[rows], y_in[rows]), (X_out[:n], y_out[:n])
    )
    return float(result.advantage)


# -------------------------------------------------------------------- the table


def tradeoff_runs(
    configurations: Sequence[Configuration],
    seeds: Sequence[int],
    make_task: Callable[[int], Task] = breast_cancer_task,
    progress: bool = False,
) -> pd.DataFrame:
    """Run every configuration on every seed's task; one row per (configuration, seed).

    For a seed, every configuration gets the same task (same test set, same hospitals)
    and a generator seeded from the seed and the configuration's name, so a row is
    reproducible and does not change when other configurations are added or reordered.
    Raises ValueError when a run's accountant recorded a guarantee other than the one its
    configuration claims (the privacy column must be what was actually spent).
    """
    configurations = list(configurations)
    if not configurations:
        raise ValueError("configurations must hold at least one Configuration; got none")
    for c in configurations:
        if not isinstance(c, Configuration):
            raise TypeError(f"every configuration must be a Configuration; got {type(c).__name__}")
    if len({c.name for c in configurations}) != len(configurations):
        raise ValueError("configuration names must be unique")
    seeds = [check_integer(s, "seed", minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed; got none")

    rows = []
    jobs = [(seed, c) for seed in seeds for c in configurations]
    tasks = {}
    for seed, config in _progress(jobs, progress, desc="configurations x seeds", total=len(jobs)):
        task = tasks.setdefault(seed, make_task(seed))
        # seeded by (seed, name): a row's numbers do not depend on which other rows run
        rng = np.random.default_rng([seed, zlib.crc32(config.name.encode())])
        start = time.perf_counter()
        outcome = config.train(task, rng)
        seconds = time.perf_counter() - start
        _check_privacy_column(config, outcome)
        members = task.pooled()
        if isinstance(outcome.weights, dict):  # local-only: one model per hospital
            hospital_models = list(outcome.weights.values())
            test_accuracy = float(
                np.mean(
                    [
                        federated.score(w, task.X_test, task.y_test, task.model)
                        for w in hospital_models
                    ]
                )
            )
            advantage = float(
                np.mean(
                    [
                        membership_advantage(w, part, (task.X_test, task.y_test), rng=seed)
                        for w, part in zip(hospital_models, task.hospital_data, strict=True)
                    ]
                )
            )
        else:
            test_accuracy = federated.score(outcome.weights, task.X_test, task.y_test, task.model)
            advantage = membership_advantage(
                outcome.weights, members, (task.X_test, task.y_test), rng=seed
            )
        rows.append(
            {
                "configuration": config.name,
                "seed": seed,
                "privacy": config.privacy,
                "epsilon": outcome.epsilon,
                "delta": outcome.delta,
                "trusted": config.trusted,
                "accuracy": test_accuracy,
                "mia_advantage": advantage,
                "seconds": seconds,
                "bytes": int(outcome.bytes_communicated),
            }
        )
    return pd.DataFrame(rows)


def _check_privacy_column(config: Configuration, outcome: Outcome) -> None:
    claimed = (config.epsilon, config.delta)
    recorded = (outcome.epsilon, outcome.delta)
    if claimed[0] is None or recorded[0] is None:
        agrees = claimed[0] is None and recorded[0] is None
    else:
        # the ledger holds what the run's accountant certified: never more than claimed, and
        # within the calibration's precision of it (a much smaller charge means another run)
        agrees = claimed[0] * (1 - 0.01) <= recorded[0] <= claimed[0] and recorded[1] == claimed[1]
    if not agrees:
        raise ValueError(
            f"configuration {config.name!r} claims epsilon, delta = {claimed} but its accountant "
            f"recorded {recorded}; the table shows only what was actually spent"
        )


def summarise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (in first-seen order): mean and spread over seeds."""
    order = list(dict.fromkeys(runs["configuration"]))
    grouped = runs.groupby("configuration", sort=False)
    table = pd.DataFrame(
        {
            "privacy": grouped["privacy"].first(),
            "epsilon": grouped["epsilon"].first(),
            "delta": grouped["delta"].first(),
            "trusted": grouped["trusted"].first(),
            "accuracy_mean": grouped["accuracy"].mean(),
            "accuracy_std": grouped["accuracy"].std(ddof=1).fillna(0.0),
            "mia_advantage": grouped["mia_advantage"].mean(),
            "seconds": grouped["seconds"].mean(),
            "bytes": grouped["bytes"].mean(),
            "seeds": grouped["seed"].count(),
        }
    )
    return table.loc[order]


def tradeoff_table(
    configurations: Sequence[Configuration],
    seeds: Sequence[int] = (0, 1, 2),
    make_task: Callable[[int], Task] = breast_cancer_task,
    progress: bool = False,
) -> pd.DataFrame:
    """The privacy / utility / overhead table: ``summarise_runs(tradeoff_runs(...))``.

    Columns: privacy (the guarantee, or "none"), epsilon, delta, trusted (whom patients
    must trust), accuracy_mean and accuracy_std over seeds (test accuracy), mia_advantage
    (loss-threshold membership inference, mean over seeds), seconds (compute per run, one
    machine), bytes (communicated per run), seeds.
    """
    return summarise_runs(tradeoff_runs(configurations, seeds, make_task, progress))


# ------------------------------------------------------- the course's seven configurations

#: Training settings shared by the standard configurations (fixed in advance, not tuned on
#: the test patients: tuning on private data would itself leak).
ROUNDS = 30  # federated rounds (and DP releases)
LOCAL_EPOCHS = 5  # local epochs per round for non-private FedAvg
LEARNING_RATE = 1.0  # non-private gradient descent
DP_LEARNING_RATE = 2.0  # DP-FedSGD: one clipped full-batch step per round
CLIP_NORM = 1.0  # per-patient gradient clipping (features lie in [-1, 1])
CENTRAL_EPOCHS = ROUNDS * LOCAL_EPOCHS  # same number of gradient steps as FedAvg
WEIGHT_BOUND = 1_000.0  # largest |weight| secure aggregation accepts (overflow otherwise)


#: The configuration families notebook 07 compares, in table order.
FAMILIES = (
    "centralised",
    "centralised DP",
    "local only",
    "FedAvg",
    "FedAvg + SecAgg",
    "FedAvg + SecAgg + central DP",
    "FedAvg + local DP",
)


def _bytes_of(history: pd.DataFrame) -> int:
    return int(history["bytes_up"].sum() + history["bytes_down"].sum())


def standard_configurations(
    epsilons: Sequence[float] = (1.0,),
    delta: float = 1e-5,
    key_pair=None,
    include: Sequence[str] | None = None,
) -> list[Configuration]:
    """The configurations notebook 07 compares, in a fixed order.

    centralised (no privacy); centralised DP at each epsilon (DP gradient descent by a
    trusted curator); local only; FedAvg; FedAvg + secure aggregation; FedAvg + secure
    aggregation + central DP at each epsilon; FedAvg + local DP at each epsilon.

    Parameters
    ----------
    epsilons : the DP rows' epsilons (each > 0); delta : their delta, in (0, 1).
    key_pair : (public_key, private_key) for secure aggregation; None generates a 2048-bit
        pair (several seconds, once). Key generation is not counted in the rows' seconds.
    include : optional list of the ``FAMILIES`` to keep.
    """
    from helpers import accounting, dp, dp_learning, encryption

    epsilons = [dp.check_epsilon(e) for e in epsilons]
    delta = dp.check_delta(delta, required=True)
    include = (
        FAMILIES if include is None else [check_choice(f, "include", FAMILIES) for f in include]
    )
    needs_keys = any("SecAgg" in f for f in include)
    if needs_keys and key_pair is None:
        key_pair = encryption.generate_keypair(2048)

    def hospitals(task):
        return federated.make_hospitals(task.hospital_data, model=task.model)

    def secure_aggregator(task, weight_bound):
        public_key, private_key = key_pair
        holder = encryption.KeyHolder(private_key, min_summands=min(2, len(task.hospital_data)))
        return encryption.SecureAggregator(
            public_key,
            holder,
            n_parties=len(task.hospital_data),
            weight_bound=weight_bound,
            max_samples=task.n_train,
        )

    def dp_plan(task, epsilon, noise):
        return dp_learning.DPFederatedPlan(
            epsilon=epsilon,
            delta=delta,
            rounds=ROUNDS,
            clip_norm=CLIP_NORM,
            lr=DP_LEARNING_RATE,
            hospitals=[f"H{i + 1}" for i in range(len(task.hospital_data))],
            total_patients=task.n_train,
            noise=noise,
        )

    def dp_fedavg(task, rng, epsilon, inner, noise):
        accountant = accounting.PrivacyAccountant(epsilon, delta)
        result, _ = dp_learning.dp_federated_averaging(
            dp_plan(task, epsilon, noise),
            task.hospital_data,
            inner=inner,
            accountant=accountant,
            rng=rng,
            test_data=(task.X_test, task.y_test),
            model=task.model,
        )
        spent = accountant.spent
        return Outcome(
            result.weights, _bytes_of(result.history), spent.epsilon, spent.delta, accountant.ledger
        )

    # The largest |change| a clipped hospital sends in one round: lr * clip_norm * n_h / N.
    dp_change_bound = DP_LEARNING_RATE * CLIP_NORM

    configs = []
    if "centralised" in include:

        def centralised(task, rng):
            X, y = task.pooled()
            w = federated.centralised_training(
                X, y, CENTRAL_EPOCHS, LEARNING_RATE, model=task.model
            )
            return Outcome(w, bytes_communicated=X.size * 8 + y.size * 8)  # every record moves

        configs.append(
            Configuration(
                "centralised", centralised, "one curator holds every record", family="centralised"
            )
        )
    if "centralised DP" in include:
        for epsilon in epsilons:

            def central_dp(task, rng, epsilon=epsilon):
                # the kit's DP-SGD (notebook 03) with its defaults, run by a trusted curator
                X, y = task.pooled()
                accountant = accounting.PrivacyAccountant(epsilon, delta)
                model = dp_learning.DPSGDLogisticRegression(
                    epsilon=epsilon, delta=delta, clip_norm=CLIP_NORM, rng=rng
                ).fit(X, y)
                # the ledger records what the fitted model's own accounting certifies
                accountant.spend(
                    model.epsilon_,
                    model.delta_,
                    label="DP-SGD on the pooled records",
                    certified_by=model.accountant_,
                )
                weights = np.append(model.coef_[0], model.intercept_[0])
                spent = accountant.spent
                return Outcome(
                    weights, X.size * 8 + y.size * 8, spent.epsilon, spent.delta, accountant.ledger
                )

            configs.append(
                Configuration(
                    f"centralised DP (eps={epsilon:g})",
                    central_dp,
                    "one curator holds every record and adds the noise",
                    epsilon,
                    delta,
                    "centralised DP",
                )
            )
    if "local only" in include:

        def local_only(task, rng):
            result = federated.local_only_training(
                hospitals(task), CENTRAL_EPOCHS, LEARNING_RATE, rng=rng
            )
            return Outcome(result.weights, 0)

        configs.append(
            Configuration(
                "local only", local_only, "each hospital only itself", family="local only"
            )
        )

    def fedavg(task, rng, aggregator=None):
        result = federated.federated_averaging(
            hospitals(task), ROUNDS, LOCAL_EPOCHS, LEARNING_RATE, rng=rng, aggregator=aggregator
        )
        return Outcome(result.weights, _bytes_of(result.history))

    if "FedAvg" in include:
        configs.append(
            Configuration(
                "FedAvg", fedavg, "the server sees every hospital's update", family="FedAvg"
            )
        )
    if "FedAvg + SecAgg" in include:

        def fedavg_secagg(task, rng):
            return fedavg(task, rng, secure_aggregator(task, WEIGHT_BOUND))

        configs.append(
            Configuration(
                "FedAvg + SecAgg",
                fedavg_secagg,
                "server and key holder not to collude; both see the aggregate model",
                family="FedAvg + SecAgg",
            )
        )
    if "FedAvg + SecAgg + central DP" in include:
        for epsilon in epsilons:

            def secagg_dp(task, rng, epsilon=epsilon):
                inner = secure_aggregator(task, dp_change_bound)
                return dp_fedavg(task, rng, epsilon, inner, "central")

            configs.append(
                Configuration(
                    f"FedAvg + SecAgg + central DP (eps={epsilon:g})",
                    secagg_dp,
                    "the key holder to add the noise; server and key holder not to collude",
                    epsilon,
                    delta,
                    "FedAvg + SecAgg + central DP",
                )
            )
    if "FedAvg + local DP" in include:
        for epsilon in epsilons:

            def local_dp(task, rng, epsilon=epsilon):
                return dp_fedavg(task, rng, epsilon, federated.WeightedMean(), "silo")

            configs.append(
                Configuration(
                    f"FedAvg + local DP (eps={epsilon:g})",
                    local_dp,
                    "nobody for the guarantee: each hospital noises its own update",
                    epsilon,
                    delta,
                    "FedAvg + local DP",
                )
            )
    return configs
