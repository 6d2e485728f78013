"""Time helpers.attacks.linkage_attack on the kit's full-size data and print a table.

    .venv/bin/python benchmarks/linkage.py [--repeats 5]

Release: 100,000 synthetic patients with names removed. Auxiliary list: the voter roll
(60 % of adult patients plus non-patients, about 56,000 people, padded with extra synthetic
voters to 60,000 rows). Timings are wall-clock seconds from one machine; the first call
(pandas warm-up) is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import attacks, data, deid  # noqa: E402

SEED = 2025


def main(repeats: int) -> None:
    population = data.synthetic_population(100_000, rng=SEED)
    roll = data.voter_roll(population, fraction=0.6, rng=SEED)
    if len(roll) < 60_000:  # pad with more synthetic voters (no patients) to 60,000 rows
        extra = data.voter_roll(population, fraction=0.6, rng=SEED + 1).iloc[: 60_000 - len(roll)]
        extra = extra.assign(voter_id="X" + extra["voter_id"].str[1:])
        roll = pd.concat([roll, extra], ignore_index=True)
    release = population.drop(columns=["patient_id", "mrn", "name", "street_address", "phone"])
    cases = [
        ("names removed", release, roll, ["zip5", "birth_date", "sex"]),
        (
            "Safe Harbor",
            deid.safe_harbor(population),
            deid.safe_harbor(roll, keep=["voter_id", "registration_year"]),
            ["zip3", "birth_year", "sex"],
        ),
        ("sex only (huge classes)", release, roll, ["sex"]),
    ]
    rows = []
    for name, released, auxiliary, columns in cases:
        attacks.linkage_attack(released, auxiliary, columns, auxiliary_id="voter_id")  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = attacks.linkage_attack(released, auxiliary, columns, auxiliary_id="voter_id")
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "release": name,
                "released rows": len(released),
                "auxiliary rows": len(auxiliary),
                "quasi-identifiers": ", ".join(columns),
                "re-identification rate": round(result.reidentification_rate, 4),
                "median s": round(statistics.median(times), 3),
                "max s": round(max(times), 3),
            }
        )
    print(f"linkage_attack, {repeats} timed runs each (one machine, wall-clock seconds)")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    main(parser.parse_args().repeats)
