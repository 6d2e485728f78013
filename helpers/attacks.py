"""Attacks that show what leaks: linkage, differencing and membership inference on aggregates.

(Gradient inversion lives in helpers.federated and the loss-threshold membership-inference
attack on models in helpers.dp_learning, next to what they attack.)
"""

from __future__ import annotations

# --- linkage and differencing attacks (notebook 01) -------------------------------------

# --- membership inference on aggregate statistics (case study 06) -----------------------
