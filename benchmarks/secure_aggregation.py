"""Benchmark: secure aggregation by pairwise masking against packed Paillier, one round.

    .venv/bin/python benchmarks/secure_aggregation.py           # 10 hospitals x 10,000 parameters
    .venv/bin/python benchmarks/secure_aggregation.py --quick   # 10 hospitals x 1,000 parameters

One round of secure aggregation of 10 hospitals' vectors (values in [-8, 8], 24 fractional
bits), every party simulated in one process, one after another:

- masking (helpers.masking.masked_secure_sum): X25519 key agreement, Shamir-shared seeds with
  threshold 6 of 10, ChaCha20 masks modulo 2**64; with no dropout and with 2 of 10 dropping out
  after the key exchange (the server then rebuilds their keys and removes their masks);
- packed Paillier (helpers.encryption.secure_sum, method="packed") at 2048 bits (the fast
  option) and 3072 bits (NIST SP 800-57's size for data protected beyond 2030); Paillier has no
  dropout problem (the key holder decrypts whatever sum arrives) but needs a key holder.

Columns: CPU seconds of this process at the hospitals (summed over all of them), at the
server and at the key holder; bytes uploaded per hospital, and downloaded before the result
(masking: the others' public keys, encrypted Shamir shares and the list of who reported; the
sum itself costs both protocols the same); rounds of communication; the largest error
against the float64 sum of the survivors. CPU seconds come from one run on
one machine (2 cores shared with other work at the time of writing); bytes and rounds are
exact and do not depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import encryption as enc  # noqa: E402
from helpers import masking  # noqa: E402

PRECISION_BITS = 24
VALUE_BOUND = 8.0
HOSPITALS = 10
THRESHOLD = 6


def masking_row(vectors, dropped) -> dict:
    survivors = [i for i in range(len(vectors)) if i not in dropped]
    total, cost = masking.masked_secure_sum(
        vectors,
        dropped=dropped,
        threshold=THRESHOLD,
        precision_bits=PRECISION_BITS,
        value_bound=VALUE_BOUND,
    )
    return {
        "method": f"masking, t={THRESHOLD} of {len(vectors)}, {len(dropped)} dropped",
        "hospital CPU s": cost.client_seconds,
        "server CPU s": cost.server_seconds,
        "key holder CPU s": 0.0,
        "bytes up per hospital": round(cost.bytes_up_per_party),
        "bytes down per hospital": round(cost.bytes_down_per_party),
        "rounds": cost.rounds,
        "max error": float(np.max(np.abs(total - vectors[survivors].sum(axis=0)))),
        "needs a key holder": False,
    }


def paillier_row(vectors, key_bits) -> dict:
    start = time.process_time()
    public_key, private_key = enc.generate_keypair(key_bits)
    keygen = time.process_time() - start
    total, cost = enc.secure_sum(
        vectors,
        public_key,
        private_key,
        method="packed",
        precision_bits=PRECISION_BITS,
        value_bound=VALUE_BOUND,
    )
    return {
        "method": f"packed Paillier, {key_bits}-bit (key generation {keygen:.2f} s, once)",
        "hospital CPU s": cost.encrypt_seconds,
        "server CPU s": cost.aggregate_seconds,
        "key holder CPU s": cost.decrypt_seconds,
        "bytes up per hospital": cost.bytes_sent // len(vectors),
        "bytes down per hospital": 0,  # nothing before the result
        "rounds": 1,
        "max error": float(np.max(np.abs(total - vectors.sum(axis=0)))),
        "needs a key holder": True,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 parameters instead of 10,000")
    args = parser.parse_args(argv)
    length = 1_000 if args.quick else 10_000
    rng = np.random.default_rng(0)
    vectors = np.clip(rng.normal(0.0, 2.0, size=(HOSPITALS, length)), -VALUE_BOUND, VALUE_BOUND)
    rows = [
        masking_row(vectors, dropped=()),
        masking_row(vectors, dropped=(3, 7)),
        paillier_row(vectors, 2048),
        paillier_row(vectors, 3072),
    ]
    table = pd.DataFrame(rows).set_index("method")
    print(
        f"One round of secure aggregation, {HOSPITALS} hospitals x {length:,} parameters "
        f"(plaintext: {8 * length:,} bytes per hospital)"
    )
    print(
        f"one run on one machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {datetime.date.today()}; CPU seconds vary with load, "
        "bytes and rounds do not"
    )
    with pd.option_context(
        "display.width", 220, "display.max_columns", 20, "display.max_colwidth", 90
    ):
        print(table.round({"hospital CPU s": 3, "server CPU s": 3, "key holder CPU s": 3}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
