"""The privacy / utility / overhead study of notebook 07 (and the DP rows of notebook 06).

:func:`tradeoff_study` trains every configuration on many splits of the breast-cancer data
into hospitals and a held-out test set, with several noise draws per split for the DP rows,
and returns a :class:`Study`: one row per run, and :meth:`Study.summary` with the mean test
accuracy and its 95 % confidence interval per configuration, the membership-inference
advantage, the compute and the bytes. Conclusions drawn from it should be those that hold
across re-seeding: its intervals say which differences the runs resolve.

Three rules make the rows comparable:

- **Nothing is tuned on the test patients.** A configuration's training function receives
  :class:`TrainingData` (the hospitals' records only); the study scores its model on the
  held-out patients afterwards. The settings are the module constants below, fixed once.
- **Like for like.** The curator row "centralised DP-FedSGD" runs the SAME DP algorithm as
  the federated DP rows (clipped full-batch steps, the same noise) on the pooled records, so
  "curator against federation" compares architectures, not algorithms; the kit's DP-SGD of
  notebook 03 (Poisson batches, defaults chosen by hand on this data: disclosed, and its
  tuning is not privacy-accounted) stays beside it as another algorithm.
- **Secure rows are computed through the plain aggregator, and their cost on the real
  protocol.** Secure aggregation (Paillier or masking) computes the plain model up to
  fixed-point rounding, so a secure configuration's accuracy comes from its plain twin (cheap,
  so it can be repeated many times) and its seconds and bytes from running the real
  encrypted or masked protocol on a few splits, where the study also checks that the two
  models agree.

Noise draws use common random numbers: run ``(split, draw)`` of every configuration draws
from the generator seeded by ``(split, draw)``, so configurations that compute the same model
(the curator and the federation with central noise) give the same numbers run by run, and
paired differences (:meth:`Study.compare`) are sharper than differences of means.

The worksheet (:class:`Scenario`, :data:`SCENARIOS`, :func:`verdicts`, :func:`shortlist`)
encodes a clinical scenario's constraints (the accuracy it may lose against the non-private
federated model, whom it can trust, whether the server may see individual updates, compute,
whether a guarantee and a shared model are required). For every configuration the
constraints allow, :func:`verdicts` says whether the 95 % interval of that paired loss lies
wholly below the limit ("qualifies"), wholly above it ("fails"), or straddles it
("undecided": these splits cannot tell); :func:`shortlist` keeps those that qualify.

This module composes the technique modules (data, federated, encryption, masking, dp,
dp_learning); they never import it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from helpers import data as kit_data
from helpers import federated
from helpers._validation import RandomState, check_choice, check_integer, check_real, check_rng
from helpers.progress import progress as _progress

# --------------------------------------------------------------------------- the task


@dataclass(frozen=True)
class TrainingData:
    """What a configuration may train on: the hospitals' records, never a test patient.

    hospital_data : list of (X_h, y_h), features already scaled by public bounds.
    model : "logistic" (the kit's breast-cancer task).
    """

    hospital_data: list
    model: str = "logistic"

    @property
    def n_train(self) -> int:
        return int(sum(len(y) for _, y in self.hospital_data))

    @property
    def n_features(self) -> int:
        return int(self.hospital_data[0][0].shape[1])

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """Every training record in one place (what only a curator may do)."""
        return (
            np.vstack([X for X, _ in self.hospital_data]),
            np.concatenate([y for _, y in self.hospital_data]),
        )


@dataclass(frozen=True)
class Task(TrainingData):
    """One split: the hospitals' records and the held-out test patients that score every model.

    X_test, y_test : held-out patients (non-members, for accuracy and membership inference).
    :meth:`training` is the part a configuration may see.
    """

    X_test: np.ndarray = None
    y_test: np.ndarray = None

    def training(self) -> TrainingData:
        """The hospitals' records without the test patients."""
        return TrainingData(self.hospital_data, self.model)


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

#: The parties a configuration may need to trust (for the worksheet).
PARTIES = ("curator", "server", "key holder")


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
    """A way of training: a name, a training function, the privacy it promises, whom it trusts.

    train(training_data, rng) -> Outcome; it sees only :class:`TrainingData`.
    ``epsilon``/``delta`` : the guarantee the configuration claims (None: none); the study
        refuses a run whose accountant recorded more, or much less.
    ``trusted`` : whom the patients must trust, in plain words.
    ``trusts`` : the :data:`PARTIES` that must be trusted (what the worksheet filters on).
    ``server_sees_updates`` : whether the coordinating server receives individual hospitals'
        updates (noised or not).  ``shared_model`` : False for local-only training.
    ``model_key`` : configurations with the same key train the same model on a run (a secure
        twin and its plain aggregator); the study trains it once per run.
    ``real`` : for a secure configuration, the real protocol's run (encrypted or masked),
        same signature as ``train``: the study runs it on a few splits to measure seconds and
        bytes and checks its model equals ``train``'s within ``real_tolerance``.
    ``cost_key`` : configurations with the same key share one cost measurement (the cost of
        a protocol does not depend on epsilon).
    """

    name: str
    train: Callable[[TrainingData, np.random.Generator], Outcome]
    trusted: str
    epsilon: float | None = None
    delta: float | None = None
    family: str = ""
    trusts: frozenset = frozenset()
    server_sees_updates: bool = False
    shared_model: bool = True
    model_key: str | None = None
    real: Callable[[TrainingData, np.random.Generator], Outcome] | None = None
    real_tolerance: float = 1e-4
    cost_key: str | None = None

    def __post_init__(self):
        unknown = set(self.trusts) - set(PARTIES)
        if unknown:
            raise ValueError(f"trusts must hold only {PARTIES}; got {sorted(unknown)}")
        object.__setattr__(self, "trusts", frozenset(self.trusts))

    @property
    def privacy(self) -> str:
        if self.epsilon is None:
            return "none"
        return f"({self.epsilon:g}, {self.delta:g})-DP"

    @property
    def noisy(self) -> bool:
        """Whether the model depends on the noise draw (a DP configuration)."""
        return self.epsilon is not None


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


def _scores(outcome: Outcome, task: Task, split: int, membership: bool) -> tuple[float, float]:
    """(test accuracy, membership advantage) of one run's model(s) on its split."""
    test = (task.X_test, task.y_test)
    if isinstance(outcome.weights, dict):  # local-only: one model per hospital, averaged
        models = list(outcome.weights.values())
        accuracy = float(np.mean([federated.score(w, *test, task.model) for w in models]))
        advantage = (
            float(
                np.mean(
                    [
                        membership_advantage(w, part, test, rng=split)
                        for w, part in zip(models, task.hospital_data, strict=True)
                    ]
                )
            )
            if membership
            else np.nan
        )
        return accuracy, advantage
    accuracy = federated.score(outcome.weights, *test, task.model)
    advantage = (
        membership_advantage(outcome.weights, task.pooled(), test, rng=split)
        if membership
        else np.nan
    )
    return accuracy, advantage


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


def _weight_gap(a, b) -> float:
    if isinstance(a, dict):
        return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ---------------------------------------------------------------------------- the study


def _confidence_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return (np.nan, np.nan)
    half = (
        stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
    )
    return (float(values.mean() - half), float(values.mean() + half))


@dataclass
class Study:
    """The runs of :func:`tradeoff_study` and what they support.

    runs : one row per (configuration, split, draw): accuracy, mia_advantage, epsilon, delta,
        seconds (CPU seconds of the training function), bytes.
    costs : one row per run of a secure configuration's real protocol: configuration, split,
        seconds (CPU), bytes, and weight_gap (largest |weight| difference from the plain twin).
    configurations : the configurations, in table order.
    """

    runs: pd.DataFrame
    costs: pd.DataFrame
    configurations: list = field(default_factory=list)

    def _by_name(self) -> dict:
        return {c.name: c for c in self.configurations}

    def split_means(self, name: str) -> pd.Series:
        """A configuration's mean accuracy per split (its draws averaged)."""
        rows = self.runs[self.runs["configuration"] == name]
        if rows.empty:
            raise ValueError(f"no configuration named {name!r} in this study")
        return rows.groupby("split")["accuracy"].mean()

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per configuration: accuracy mean and its confidence interval, and the rest.

        Columns: family, privacy, epsilon, delta, trusted, trusts, server_sees_updates,
        shared_model, accuracy_mean, ci_low, ci_high (the ``level`` t-interval of the mean over
        splits, each split's draws averaged first: splits are the independent unit),
        accuracy_std (spread of single runs), mia_advantage (mean), seconds (CPU seconds per
        run: the real protocol's where it was measured), bytes (per run, likewise),
        cost_measured (whether seconds and bytes come from the real protocol), splits, runs.
        """
        rows = []
        cost_by_key = {}
        if not self.costs.empty:
            for key, group in self.costs.groupby("cost_key", sort=False):
                cost_by_key[key] = (float(group["seconds"].mean()), float(group["bytes"].mean()))
        for config in self.configurations:
            runs = self.runs[self.runs["configuration"] == config.name]
            means = runs.groupby("split")["accuracy"].mean()
            low, high = _confidence_interval(means.to_numpy(), level)
            measured = config.real is not None and config.cost_key in cost_by_key
            if config.real is not None:
                seconds, nbytes = cost_by_key.get(config.cost_key, (np.nan, np.nan))
            else:
                seconds, nbytes = float(runs["seconds"].mean()), float(runs["bytes"].mean())
            rows.append(
                {
                    "configuration": config.name,
                    "family": config.family,
                    "privacy": config.privacy,
                    "epsilon": np.nan if config.epsilon is None else float(runs["epsilon"].max()),
                    "delta": np.nan if config.delta is None else config.delta,
                    "trusted": config.trusted,
                    "trusts": ", ".join(sorted(config.trusts)) or "nobody",
                    "server_sees_updates": config.server_sees_updates,
                    "shared_model": config.shared_model,
                    "accuracy_mean": float(means.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "accuracy_std": float(runs["accuracy"].std(ddof=1)) if len(runs) > 1 else 0.0,
                    "mia_advantage": float(runs["mia_advantage"].mean()),
                    "seconds": seconds,
                    "bytes": nbytes,
                    "cost_measured": measured or config.real is None,
                    "splits": int(means.size),
                    "runs": int(len(runs)),
                }
            )
        return pd.DataFrame(rows).set_index("configuration")

    def compare(self, better: str, worse: str, level: float = 0.95) -> pd.Series:
        """Paired difference ``better - worse`` of mean accuracy over the splits both ran.

        Both configurations see the same hospitals and test patients on a split (and, with
        common random numbers, the same noise stream), so the per-split differences carry
        less noise than the two means; returns difference, ci_low, ci_high, splits.
        """
        a, b = self.split_means(better), self.split_means(worse)
        common = a.index.intersection(b.index)
        differences = (a[common] - b[common]).to_numpy()
        low, high = _confidence_interval(differences, level)
        return pd.Series(
            {
                "difference": float(differences.mean()),
                "ci_low": low,
                "ci_high": high,
                "splits": int(common.size),
            }
        )


def tradeoff_study(
    configurations: Sequence[Configuration],
    splits: Sequence[int],
    draws: int = 1,
    make_task: Callable[[int], Task] = None,
    verify: int = 2,
    membership: bool = True,
    progress: bool = False,
) -> Study:
    """Train every configuration on every split (and noise draw); measure it.

    Parameters
    ----------
    configurations : Configuration list (unique names).
    splits : seeds of the splits (each a different test set and split into hospitals).
    draws : int >= 1, noise draws per split for the DP configurations (a configuration
        without noise is deterministic and runs once per split).
    make_task : split seed -> Task; None is :func:`breast_cancer_task`.
    verify : int >= 0, splits on which each secure protocol (``Configuration.real``) really
        runs: its model must equal its plain twin's within ``real_tolerance`` (else
        ValueError), and its CPU seconds and bytes become the row's cost.
    membership : run the membership-inference attack on every model (False: NaN, faster).
    progress : progress bar over the runs.

    Every configuration's run ``(split, draw)`` draws from ``default_rng([split, draw])``
    (common random numbers). Raises ValueError when a run's accountant recorded a guarantee
    other than the one its configuration claims.
    """
    configurations = list(configurations)
    if not configurations:
        raise ValueError("configurations must hold at least one Configuration; got none")
    for c in configurations:
        if not isinstance(c, Configuration):
            raise TypeError(f"every configuration must be a Configuration; got {type(c).__name__}")
    if len({c.name for c in configurations}) != len(configurations):
        raise ValueError("configuration names must be unique")
    splits = [check_integer(s, "split", minimum=0) for s in splits]
    if not splits or len(set(splits)) != len(splits):
        raise ValueError(f"splits must hold at least one seed, none twice; got {splits}")
    draws = check_integer(draws, "draws", minimum=1)
    verify = check_integer(verify, "verify", minimum=0)
    make_task = breast_cancer_task if make_task is None else make_task

    jobs = [
        (split, draw, c)
        for split in splits
        for c in configurations
        for draw in range(draws if c.noisy else 1)
    ]
    rows, costs = [], []
    measured: dict = {}  # cost_key -> number of splits measured
    task, task_split, trained = None, None, {}
    for split, draw, config in _progress(jobs, progress, desc="study runs", total=len(jobs)):
        if split != task_split:
            task, task_split, trained = make_task(split), split, {}
        key = (config.model_key or config.name, draw)
        if key not in trained:
            start = time.process_time()
            outcome = config.train(task.training(), np.random.default_rng([split, draw]))
            seconds = time.process_time() - start
            trained[key] = (outcome, seconds, _scores(outcome, task, split, membership))
        outcome, seconds, (accuracy, advantage) = trained[key]
        _check_privacy_column(config, outcome)
        rows.append(
            {
                "configuration": config.name,
                "family": config.family,
                "split": split,
                "draw": draw,
                "epsilon": outcome.epsilon,
                "delta": outcome.delta,
                "accuracy": accuracy,
                "mia_advantage": advantage,
                "seconds": seconds,
                "bytes": int(outcome.bytes_communicated),
            }
        )
        cost_key = config.cost_key or config.name
        if config.real is not None and draw == 0 and measured.get(cost_key, 0) < verify:
            measured[cost_key] = measured.get(cost_key, 0) + 1
            start = time.process_time()
            real = config.real(task.training(), np.random.default_rng([split, draw]))
            real_seconds = time.process_time() - start
            gap = _weight_gap(real.weights, outcome.weights)
            if not gap <= config.real_tolerance:
                raise ValueError(
                    f"configuration {config.name!r}: the real protocol's model differs from its "
                    f"plain twin by {gap:.3g} > {config.real_tolerance:g} on split {split}"
                )
            costs.append(
                {
                    "configuration": config.name,
                    "cost_key": cost_key,
                    "split": split,
                    "seconds": real_seconds,
                    "bytes": int(real.bytes_communicated),
                    "weight_gap": gap,
                }
            )
    costs = pd.DataFrame(
        costs, columns=["configuration", "cost_key", "split", "seconds", "bytes", "weight_gap"]
    )
    return Study(pd.DataFrame(rows), costs, configurations)


# ----------------------------------------------------------------------------- worksheet


@dataclass(frozen=True)
class Scenario:
    """A clinical scenario's constraints, as the worksheet reads them.

    max_loss : the accuracy (a share: 0.04 is four points) the scenario may lose against
        ``reference``, the non-private model the same hospitals would train; a configuration
        qualifies only when the whole 95 % interval of its paired loss lies below it.
        (Relative to the reference, because how hard a split is moves every row alike.)
    trusted : the :data:`PARTIES` the scenario can trust.
    server_may_see_updates : whether the coordinating server may receive individual
        hospitals' updates (even noised ones).
    max_seconds : CPU seconds per training run on this machine's scale (inf: no limit).
    guarantee : whether a formal DP guarantee is required.  shared_model : whether the sites
        need one joint model (local-only training gives none).
    story : the scenario in words (notebook 07 prints it).
    """

    name: str
    max_loss: float
    trusted: frozenset = frozenset()
    server_may_see_updates: bool = False
    max_seconds: float = math.inf
    guarantee: bool = True
    shared_model: bool = True
    reference: str = "FedAvg"
    story: str = ""

    def __post_init__(self):
        check_real(self.max_loss, "max_loss", low=0.0, high=1.0)
        if isinstance(self.max_seconds, bool) or not float(self.max_seconds) > 0:
            raise ValueError(f"max_seconds must be > 0 (inf: no limit); got {self.max_seconds!r}")
        unknown = set(self.trusted) - set(PARTIES)
        if unknown:
            raise ValueError(f"trusted must hold only {PARTIES}; got {sorted(unknown)}")
        object.__setattr__(self, "trusted", frozenset(self.trusted))


#: What the worksheet says of a configuration's paired loss against a scenario's ``max_loss``:
#: its whole interval below the limit, straddling it, or wholly above it.
VERDICTS = ("qualifies", "undecided", "fails")


def _verdict(ci_low: float, ci_high: float, limit: float) -> str:
    if ci_high <= limit:
        return "qualifies"
    return "fails" if ci_low > limit else "undecided"


def splits_to_decide(loss: pd.Series, limit: float, level: float = 0.95) -> float:
    """About how many splits would put a paired loss's whole interval on one side of ``limit``.

    ``loss`` is a :meth:`Study.compare` result (difference, ci_low, ci_high, splits). Assumes
    the per-split spread stays what it is and, the rough part, that the mean stays where
    it is: the smallest n with ``t(n - 1) * sd / sqrt(n) < |difference - limit|``. A mean at
    the limit moves between sets of splits by about the interval's half-width, so read the
    answer as an order of magnitude. inf when the mean equals the limit; NaN when the loss
    has no interval (fewer than two splits: no spread to extrapolate from).
    """
    n = int(loss["splits"])
    half = (loss["ci_high"] - loss["ci_low"]) / 2
    if n < 2 or not math.isfinite(half):
        return math.nan
    sd = half * math.sqrt(n) / stats.t.ppf(0.5 + level / 2, n - 1)
    gap = abs(loss["difference"] - limit)
    if gap == 0:
        return math.inf
    if sd == 0:
        return float(n)
    z = stats.norm.ppf(0.5 + level / 2)
    needed = max(2, math.ceil((z * sd / gap) ** 2))
    while stats.t.ppf(0.5 + level / 2, needed - 1) * sd / math.sqrt(needed) >= gap:
        needed += 1
    return float(needed)


def verdicts(study: Study, scenario: Scenario, level: float = 0.95) -> pd.DataFrame:
    """Every configuration a scenario's constraints allow, with what the study says of its loss.

    Allowed: every party the configuration trusts is one the scenario trusts; the server sees
    no individual update unless the scenario allows it; measured seconds within
    ``max_seconds``; a DP guarantee if one is required; a shared model if one is needed.
    For each, the paired loss against ``scenario.reference`` (:meth:`Study.compare`) and its
    ``level`` interval give the verdict (:data:`VERDICTS`): "qualifies" when the whole
    interval lies at or below ``max_loss``, "fails" when it lies wholly above, "undecided"
    when it straddles the limit (these splits cannot tell; ``splits_to_decide`` says about
    how many would, see :func:`splits_to_decide`). Order: smallest epsilon (the strongest
    guarantee) first, then the smaller mean loss.
    """
    if not isinstance(study, Study):
        raise TypeError(f"study must be a Study; got {type(study).__name__}")
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario; got {type(scenario).__name__}")
    summary = study.summary(level)
    rows = []
    for config in study.configurations:
        row = summary.loc[config.name]
        fits_time = math.isinf(scenario.max_seconds) or row["seconds"] <= scenario.max_seconds
        allowed = (
            config.trusts <= scenario.trusted
            and (scenario.server_may_see_updates or not config.server_sees_updates)
            and fits_time
            and (config.noisy or not scenario.guarantee)
            and (config.shared_model or not scenario.shared_model)
        )
        if not allowed:
            continue
        loss = study.compare(scenario.reference, config.name, level)
        verdict = _verdict(loss["ci_low"], loss["ci_high"], scenario.max_loss)
        rows.append(
            {
                "configuration": config.name,
                "privacy": row["privacy"],
                "family": config.family,
                "epsilon": row["epsilon"],
                "accuracy_mean": row["accuracy_mean"],
                "loss": loss["difference"],
                "loss_ci_low": loss["ci_low"],
                "loss_ci_high": loss["ci_high"],
                "verdict": verdict,
                "splits_to_decide": splits_to_decide(loss, scenario.max_loss, level)
                if verdict == "undecided"
                else np.nan,
                "trusts": row["trusts"],
                "seconds": row["seconds"],
            }
        )
    columns = [
        "privacy",
        "family",
        "epsilon",
        "accuracy_mean",
        "loss",
        "loss_ci_low",
        "loss_ci_high",
        "verdict",
        "splits_to_decide",
        "trusts",
        "seconds",
    ]
    if not rows:
        return pd.DataFrame(columns=columns).rename_axis("configuration")
    table = pd.DataFrame(rows).set_index("configuration")
    return table.sort_values(["epsilon", "loss"], na_position="last")[columns]


def shortlist(study: Study, scenario: Scenario, level: float = 0.95) -> pd.DataFrame:
    """The configurations a scenario allows and whose loss qualifies, best first.

    The rows of :func:`verdicts` whose verdict is "qualifies": the upper end of the ``level``
    interval of the paired loss against ``scenario.reference`` is at most ``max_loss``, and
    every constraint holds. Order: smallest epsilon (the strongest guarantee) first, then
    the smaller mean loss. Columns: privacy, family, epsilon, accuracy_mean, loss,
    loss_ci_high, trusts, seconds.
    """
    table = verdicts(study, scenario, level)
    columns = [
        "privacy",
        "family",
        "epsilon",
        "accuracy_mean",
        "loss",
        "loss_ci_high",
        "trusts",
        "seconds",
    ]
    return table[table["verdict"] == "qualifies"][columns]


#: The worksheet's two scenarios (notebook 07); its verdicts and picks are re-checked on other
#: splits by tests/test_tradeoff_notebooks.py.
SCENARIOS = {
    "A": Scenario(
        "A: a regional screening consortium with a university key holder",
        max_loss=0.04,
        trusted={"key holder"},
        server_may_see_updates=False,
        story=(
            "Five breast-screening services want a joint model to triage biopsies. Their patient "
            "information promises a formal DP guarantee. Records may not leave the services (no "
            "curator); the coordinating server is a contractor that must not see any service's "
            "update; the regional university's trusted research environment can hold the key, "
            "independent of the server. Clinicians accept at most 4 points of accuracy below "
            "the non-private federated model. Compute is not a constraint."
        ),
    ),
    "B": Scenario(
        "B: hospitals in three jurisdictions, no trusted party",
        max_loss=0.04,
        trusted=set(),
        server_may_see_updates=False,
        max_seconds=1.0,
        story=(
            "Hospitals in three countries want one shared model for a joint publication. No "
            "organisation is trusted by all: none may see another's update, and no third party "
            "may hold a key. A formal guarantee is required; at most 4 points of accuracy below "
            "the non-private federated model; some sites have little computing capacity (at "
            "most 1 CPU second per run on this machine's scale)."
        ),
    ),
}


# ------------------------------------------------------- the course's configurations

#: Training settings shared by the configurations, fixed once before any study ran and never
#: tuned on test patients (tuning on private data would itself leak, and for DP would have to
#: be accounted): where each comes from is in :data:`SETTINGS_SOURCES`.
ROUNDS = 30  # federated rounds (and DP releases)
LOCAL_EPOCHS = 5  # local epochs per round for non-private FedAvg
LEARNING_RATE = 1.0  # non-private gradient descent
DP_LEARNING_RATE = 2.0  # DP-FedSGD: one clipped full-batch step per round
CLIP_NORM = 1.0  # per-patient gradient clipping (features lie in [-1, 1])
CENTRAL_EPOCHS = ROUNDS * LOCAL_EPOCHS  # same number of gradient steps as FedAvg
WEIGHT_BOUND = 1_000.0  # largest |weight| secure aggregation accepts (overflow otherwise)
#: Paillier key size when the caller gives no key pair: 3072 bits (128-bit security), what
#: NIST SP 800-57 Part 1 Rev. 5 asks for data that must stay confidential beyond 2030.
KEY_BITS = 3072

#: Where each setting comes from (shown by notebook 07).
SETTINGS_SOURCES = {
    "ROUNDS": "the course's budget of releases, fixed for every notebook",
    "LOCAL_EPOCHS": "FedAvg's usual few local epochs (McMahan et al. 2017); not tuned",
    "LEARNING_RATE": "a step of 1 on features scaled to [-1, 1] by public bounds",
    "DP_LEARNING_RATE": "twice the plain step: one clipped step per round instead of five epochs",
    "CLIP_NORM": "1: a per-patient gradient on [-1, 1] features has norm at most sqrt(31) / 2",
    "WEIGHT_BOUND": "a bound no weight of this model reaches, so secure sums never overflow",
}

#: The configuration families, in table order.
FAMILIES = (
    "centralised",
    "centralised DP-FedSGD",
    "centralised DP-SGD",
    "local only",
    "FedAvg",
    "FedAvg + Paillier",
    "FedAvg + masking",
    "FedAvg + Paillier + central DP",
    "FedAvg + masking + central DP",
    "FedAvg + silo DP",
    "FedAvg + masking + silo DP",
)


def _bytes_of(history: pd.DataFrame) -> int:
    return int(history["bytes_up"].sum() + history["bytes_down"].sum())


def standard_configurations(
    epsilons: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0),
    delta: float = 1e-5,
    key_pair=None,
    include: Sequence[str] | None = None,
    dpsgd_epsilons: Sequence[float] = (1.0,),
) -> list[Configuration]:
    """The configurations notebook 07 compares, in :data:`FAMILIES` order.

    Parameters
    ----------
    epsilons : the DP families' epsilons (each > 0), for the whole training run, per patient.
    delta : their delta, in (0, 1).
    key_pair : (public_key, private_key) for the Paillier rows' real protocol; None generates
        a :data:`KEY_BITS`-bit pair once. Key generation is not counted in any row's seconds.
    include : optional list of the :data:`FAMILIES` to keep.
    dpsgd_epsilons : the epsilons of the "centralised DP-SGD" row (notebook 03's algorithm,
        about ten times the compute of a DP-FedSGD run, so by default at epsilon 1 only).
    """
    from helpers import accounting, dp, dp_learning, encryption, masking

    epsilons = [dp.check_epsilon(e) for e in epsilons]
    dpsgd_epsilons = [dp.check_epsilon(e) for e in dpsgd_epsilons]
    delta = dp.check_delta(delta, required=True)
    include = (
        FAMILIES if include is None else [check_choice(f, "include", FAMILIES) for f in include]
    )
    if any("Paillier" in f for f in include) and key_pair is None:
        key_pair = encryption.generate_keypair(KEY_BITS)

    def hospitals(td):
        return federated.make_hospitals(td.hospital_data, model=td.model)

    def names(td):
        return [f"H{i + 1}" for i in range(len(td.hospital_data))]

    def paillier(td, weight_bound, max_samples):
        public_key, private_key = key_pair
        holder = encryption.KeyHolder(private_key, min_summands=min(2, len(td.hospital_data)))
        return encryption.SecureAggregator(
            public_key,
            holder,
            n_parties=len(td.hospital_data),
            weight_bound=weight_bound,
            max_samples=max_samples,
        )

    def plan(td, epsilon, noise, curator=False):
        return dp_learning.DPFederatedPlan(
            epsilon=epsilon,
            delta=delta,
            rounds=ROUNDS,
            clip_norm=CLIP_NORM,
            lr=DP_LEARNING_RATE,
            hospitals=["curator"] if curator else names(td),
            total_patients=td.n_train,
            noise=noise,
        )

    def dp_run(td, rng, epsilon, noise, inner=None, curator=False):
        the_plan = plan(td, epsilon, noise, curator)
        accountant = accounting.PrivacyAccountant(epsilon, delta)
        parts = [td.pooled()] if curator else td.hospital_data
        if callable(inner):
            inner = inner(td, the_plan)
        result, _ = dp_learning.dp_federated_averaging(
            the_plan,
            parts,
            inner=inner,
            accountant=accountant,
            rng=rng,
            model=td.model,
            evaluate_every=ROUNDS,
        )
        spent = accountant.spent
        return Outcome(
            result.weights,
            _bytes_of(result.history),
            spent.epsilon,
            spent.delta,
            accountant.ledger,
        )

    def fedavg(td, rng, aggregator=None):
        result = federated.federated_averaging(
            hospitals(td),
            ROUNDS,
            LOCAL_EPOCHS,
            LEARNING_RATE,
            rng=rng,
            aggregator=aggregator,
            evaluate_every=ROUNDS,
        )
        return Outcome(result.weights, _bytes_of(result.history))

    def records_bytes(td):
        X, y = td.pooled()
        return X.size * 8 + y.size * 8  # every record moves to the curator once

    # The largest |change| a clipped hospital sends in one round: lr * clip_norm * n_h / N.
    change_bound = DP_LEARNING_RATE * CLIP_NORM

    def paillier_dp(td, the_plan):
        return paillier(td, change_bound, 1)

    def masking_dp(td, the_plan):
        # silo noise rides on each change: leave room for ten standard deviations of it
        room = 10 * the_plan.noise_std if the_plan.noise == "silo" else 0.0
        return masking.MaskingAggregator(change_bound + room, 1)

    configs = []

    def add(name, train, trusted, family, **kw):
        configs.append(Configuration(name, train, trusted, family=family, **kw))

    for family in include:
        if family == "centralised":

            def centralised(td, rng):
                X, y = td.pooled()
                w = federated.centralised_training(X, y, CENTRAL_EPOCHS, LEARNING_RATE, td.model)
                return Outcome(w, records_bytes(td))

            add(
                "centralised",
                centralised,
                "one curator holds every record",
                family,
                trusts={"curator"},
            )
        elif family == "centralised DP-FedSGD":
            for e in epsilons:

                def curator(td, rng, e=e):
                    outcome = dp_run(td, rng, e, "central", curator=True)
                    outcome.bytes_communicated = records_bytes(td)
                    return outcome

                add(
                    f"{family} (eps={e:g})",
                    curator,
                    "one curator holds every record and adds the noise",
                    family,
                    epsilon=e,
                    delta=delta,
                    trusts={"curator"},
                )
        elif family == "centralised DP-SGD":
            for e in dpsgd_epsilons:

                def dpsgd(td, rng, e=e):
                    # the kit's DP-SGD (notebook 03) with its defaults, run by a trusted curator
                    X, y = td.pooled()
                    accountant = accounting.PrivacyAccountant(e, delta)
                    model = dp_learning.DPSGDLogisticRegression(
                        epsilon=e, delta=delta, clip_norm=CLIP_NORM, rng=rng
                    ).fit(X, y)
                    # the ledger records what the fitted model's own accounting certifies
                    accountant.spend(
                        model.epsilon_,
                        model.delta_,
                        label="DP-SGD on the pooled records",
                        certified_by=model.accountant_,
                    )
                    spent = accountant.spent
                    return Outcome(
                        np.append(model.coef_[0], model.intercept_[0]),
                        records_bytes(td),
                        spent.epsilon,
                        spent.delta,
                        accountant.ledger,
                    )

                add(
                    f"{family} (eps={e:g})",
                    dpsgd,
                    "one curator holds every record and adds the noise",
                    family,
                    epsilon=e,
                    delta=delta,
                    trusts={"curator"},
                )
        elif family == "local only":

            def local_only(td, rng):
                result = federated.local_only_training(
                    hospitals(td), CENTRAL_EPOCHS, LEARNING_RATE, rng=rng
                )
                return Outcome(result.weights, 0)

            add("local only", local_only, "each hospital only itself", family, shared_model=False)
        elif family == "FedAvg":
            add(
                "FedAvg",
                fedavg,
                "the server, with every hospital's update",
                family,
                trusts={"server"},
                server_sees_updates=True,
                model_key="fedavg",
            )
        elif family == "FedAvg + Paillier":
            add(
                "FedAvg + Paillier",
                fedavg,
                "the key holder decrypts only sums and does not collude with the server",
                family,
                trusts={"key holder"},
                model_key="fedavg",
                cost_key=family,
                real=lambda td, rng: fedavg(td, rng, paillier(td, WEIGHT_BOUND, td.n_train)),
            )
        elif family == "FedAvg + masking":
            add(
                "FedAvg + masking",
                fedavg,
                "nobody holds a key; fewer than t parties collude (t, the threshold, a majority)",
                family,
                model_key="fedavg",
                cost_key=family,
                real=lambda td, rng: fedavg(
                    td, rng, masking.MaskingAggregator(WEIGHT_BOUND, td.n_train)
                ),
            )
        elif family in ("FedAvg + Paillier + central DP", "FedAvg + masking + central DP"):
            paillier_row = "Paillier" in family
            for e in epsilons:

                def central(td, rng, e=e):
                    return dp_run(td, rng, e, "central")

                def real(td, rng, e=e, inner=paillier_dp if paillier_row else masking_dp):
                    return dp_run(td, rng, e, "central", inner=inner)

                add(
                    f"{family} (eps={e:g})",
                    central,
                    "the key holder adds the noise, sees the exact sums and does not collude"
                    if paillier_row
                    else "the server adds the noise and sees the exact sums; no key holder",
                    family,
                    epsilon=e,
                    delta=delta,
                    trusts={"key holder"} if paillier_row else {"server"},
                    model_key=f"central DP (eps={e:g})",
                    real=real,
                    cost_key=family,
                )
        elif family in ("FedAvg + silo DP", "FedAvg + masking + silo DP"):
            masked = "masking" in family
            for e in epsilons:

                def silo(td, rng, e=e):
                    return dp_run(td, rng, e, "silo")

                def real(td, rng, e=e):
                    return dp_run(td, rng, e, "silo", inner=masking_dp)

                add(
                    f"{family} (eps={e:g})",
                    silo,
                    "nobody for the guarantee; the server sees only the masked sum"
                    if masked
                    else "nobody for the guarantee; the server sees each noised update",
                    family,
                    epsilon=e,
                    delta=delta,
                    server_sees_updates=not masked,
                    model_key=f"silo DP (eps={e:g})",
                    real=real if masked else None,
                    cost_key=family if masked else None,
                )
    return configs
