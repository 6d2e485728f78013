"""Benchmark: accuracy at a fixed epsilon when the noise is calibrated by RDP or by PLD, beside diffprivlib.

    python benchmarks/dp.py                 50 splits per epsilon (a few minutes)
    python benchmarks/dp.py --repeats 10    quicker

The breast-cancer task of helpers.evaluation: for each split (seed), 142 held-out patients and
427 training patients split across five hospitals, features scaled to [-1, 1] by the bounds
published with the dataset (nothing is read from the data). At each epsilon in {0.5, 1, 2, 4, 8}
(delta = 1e-5) it trains

- the kit's DP-SGD (Poisson batches, the model's default schedule) on the pooled training
  patients, its noise calibrated by the RDP accountant and by the PLD accountant;
- DP federated averaging (helpers.evaluation's recipe: 30 clipped full-batch rounds, central
  noise) across the five hospitals, calibrated by RDP and by PLD (exact Gaussian DP here);
- diffprivlib's LogisticRegression (objective perturbation, data_norm = sqrt(30), pure
  epsilon-DP), as it comes.

Within a split, the RDP and PLD runs of one algorithm share every random draw (same batches,
same standard-normal noise, scaled by a different noise multiplier), so their difference is the
accounting alone. Prints one table: mean accuracy with a 95 % confidence interval over splits,
the PLD-minus-RDP gain with its paired 95 % interval, the noise multipliers, and fit time (one
run on one machine).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import dp_learning, evaluation, federated  # noqa: E402
from helpers.progress import progress  # noqa: E402

EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0)
DELTA = 1e-5


def _ci(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean()), float(half)


def dpsgd(task, epsilon, accountant, seed):
    X, y = task.pooled()
    model = dp_learning.DPSGDLogisticRegression(
        epsilon, delta=DELTA, accountant=accountant, rng=seed
    ).fit(X, y)
    return model.score(task.X_test, task.y_test), model.noise_multiplier_


def dp_fedavg(task, epsilon, accountant, seed):
    plan = dp_learning.DPFederatedPlan(
        epsilon=epsilon,
        delta=DELTA,
        rounds=evaluation.ROUNDS,
        clip_norm=evaluation.CLIP_NORM,
        lr=evaluation.DP_LEARNING_RATE,
        hospitals=[f"H{i + 1}" for i in range(len(task.hospital_data))],
        total_patients=task.n_train,
        accountant=accountant,
    )
    result, _ = dp_learning.dp_federated_averaging(plan, task.hospital_data, rng=seed)
    return federated.score(result.weights, task.X_test, task.y_test), plan.noise_multiplier


def diffprivlib_lr(task, epsilon, seed):
    X, y = task.pooled()
    model = dp_learning.diffprivlib_logistic_regression(
        epsilon, data_norm=math.sqrt(task.n_features), rng=seed
    ).fit(X, y)
    return model.score(task.X_test, task.y_test)


def run(repeats: int, first_seed: int) -> pd.DataFrame:
    rows = []
    jobs = [(seed, eps) for seed in range(first_seed, first_seed + repeats) for eps in EPSILONS]
    tasks = {}
    for seed, eps in progress(jobs, True, desc="splits x epsilons", total=len(jobs)):
        task = tasks.setdefault(seed, evaluation.breast_cancer_task(seed))
        for algorithm, train in (("DP-SGD", dpsgd), ("DP-FedAvg", dp_fedavg)):
            for accountant in ("rdp", "pld"):
                start = time.process_time()
                accuracy, z = train(task, eps, accountant, seed)
                rows.append(
                    {
                        "epsilon": eps,
                        "algorithm": algorithm,
                        "accountant": accountant,
                        "seed": seed,
                        "accuracy": accuracy,
                        "noise multiplier": z,
                        "cpu_seconds": time.process_time() - start,
                    }
                )
        start = time.process_time()
        rows.append(
            {
                "epsilon": eps,
                "algorithm": "diffprivlib LR",
                "accountant": "(pure DP)",
                "seed": seed,
                "accuracy": diffprivlib_lr(task, eps, seed),
                "noise multiplier": np.nan,
                "cpu_seconds": time.process_time() - start,
            }
        )
    for seed in range(first_seed, first_seed + repeats):
        task = tasks[seed]
        X, y = task.pooled()
        plain = LogisticRegression(max_iter=2000).fit(X, y)
        rows.append(
            {
                "epsilon": np.nan,
                "algorithm": "non-private LR",
                "accountant": "",
                "seed": seed,
                "accuracy": plain.score(task.X_test, task.y_test),
                "noise multiplier": np.nan,
                "cpu_seconds": np.nan,
            }
        )
    return pd.DataFrame(rows)


def table(runs: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (eps, algorithm), group in runs.dropna(subset=["epsilon"]).groupby(
        ["epsilon", "algorithm"], sort=False
    ):
        by = {a: g.sort_values("seed") for a, g in group.groupby("accountant")}
        row = {"epsilon": f"{eps:g}", "algorithm": algorithm}
        for accountant, g in by.items():
            mean, half = _ci(g["accuracy"])
            label = accountant if accountant in ("rdp", "pld") else "accuracy"
            row[f"{label} accuracy"] = f"{mean:.3f} +- {half:.3f}"
            if accountant in ("rdp", "pld"):
                row[f"{accountant} noise"] = f"{g['noise multiplier'].iloc[0]:.2f}"
        if "pld" in by:
            gain, half = _ci(by["pld"]["accuracy"].to_numpy() - by["rdp"]["accuracy"].to_numpy())
            row["PLD gain (paired)"] = f"{gain:+.4f} +- {half:.4f}"
        row["cpu ms per fit"] = f"{1000 * group['cpu_seconds'].mean():.0f}"
        out.append(row)
    columns = ["epsilon", "algorithm", "rdp noise", "rdp accuracy", "pld noise", "pld accuracy"]
    columns += ["PLD gain (paired)", "accuracy", "cpu ms per fit"]
    return pd.DataFrame(out).reindex(columns=columns).astype(object).fillna("")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="splits per epsilon (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="first split's seed")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    runs = run(args.repeats, args.seed)
    plain_mean, plain_half = _ci(runs.loc[runs["algorithm"] == "non-private LR", "accuracy"])
    print()
    print(
        f"Breast cancer, {args.repeats} splits (seeds {args.seed}..{args.seed + args.repeats - 1}), "
        f"delta = {DELTA:g}; accuracy mean +- 95 % CI over splits; non-private LR "
        f"{plain_mean:.3f} +- {plain_half:.3f}. CPU times from one run on one machine."
    )
    print(table(runs).to_string(index=False))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
