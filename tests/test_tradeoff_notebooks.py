"""Notebooks 06 and 07: the numbers in their prose come from their outputs; their exercise checks.

The prose of both notebooks states measured numbers (accuracies, spreads, distances, bounds).
Every such number must be covered by a ``claim(...)`` call whose check ran and passed in the
committed, executed notebook, so a change to the helpers that moves a number makes the
notebook fail to execute instead of leaving stale prose. The exercise checks are tested on
small inputs (no encryption, so this file stays fast).
"""

import math
import re

import nbformat
import numpy as np
import pandas as pd
import pytest

import notebooks as nb
from helpers import accounting, dp_learning, evaluation, exercises
from helpers import federated as fl

PATHS = {
    "06": nb.ROOT / "notebooks" / "06_secure_federated_pipeline.ipynb",
    "07": nb.ROOT / "notebooks" / "07_tradeoffs.ipynb",
}
#: Numbers in the prose that are parameters or references, not results: epsilon 0.5 of an
#: exercise, AUC 0.5 for guessing, the worksheet's accuracy targets (0.90, 0.91, 0.92), the
#: "0.01 for one point" example, and notebook 06's DP bound quoted in 07 (claimed in 06).
NOT_RESULTS = {"06": {0.5}, "07": {0.5, 0.01, 0.90, 0.91, 0.92, 0.462}}
#: A decimal number or a percentage, not part of a longer token (a version, a DOI, 10^{-5}).
NUMBER = re.compile(r"(?<![\w.\-^{/])(\d+(?:\.\d+)? ?%|\d+\.\d+)(?![\w.]*\d)")


def _prose(notebook) -> str:
    """Markdown text without links, URLs and inline code (their digits are not results)."""
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    text = re.sub(r"<https?://[^>]*>", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"`[^`]*`", "", text)


def _decimals(token: str) -> int:
    token = token.rstrip("% ")
    return len(token.split(".")[1]) if "." in token else 0


def _unchecked_numbers(notebook, allowed=frozenset()) -> list[str]:
    stated = [
        float(v)
        for _, v in nb.claim_calls(notebook)
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    unchecked = []
    for token in sorted(set(NUMBER.findall(_prose(notebook)))):
        is_percent = token.endswith("%")
        value = float(token.rstrip("% "))
        if value in allowed:
            continue
        half = 0.5 * 10 ** -_decimals(token) + 1e-12
        options = [(value, half)] + ([(value / 100, half / 100)] if is_percent else [])
        if not any(abs(v - s) <= tol for v, tol in options for s in stated):
            unchecked.append(token)
    return unchecked


@pytest.fixture(scope="module", params=sorted(PATHS))
def notebook(request):
    path = PATHS[request.param]
    if not path.exists():
        pytest.skip(f"notebook {request.param} not written yet")
    return request.param, nbformat.read(path, as_version=4)


def test_every_claim_ran_and_passed_in_the_committed_outputs(notebook):
    _, executed = notebook
    claims = nb.claim_calls(executed)
    assert len(claims) >= 15
    assert not nb.claims_not_checked(executed)


def test_every_number_in_the_prose_is_claimed(notebook):
    key, executed = notebook
    assert NUMBER.findall(_prose(executed)), "the prose should state measured numbers"
    unchecked = _unchecked_numbers(executed, NOT_RESULTS[key])
    assert not unchecked, f"numbers in notebook {key}'s prose without a matching claim: {unchecked}"


def test_the_checker_catches_an_unclaimed_number():
    # A deliberately broken notebook: the prose says 0.953 and 12.5 %, the claims check 0.95.
    bad = nbformat.v4.new_notebook()
    bad.cells = [
        nbformat.v4.new_markdown_cell(
            "Accuracy 0.953, leak 12.5 %, bound 0.95; see <https://arxiv.org/abs/1311.0776>."
        ),
        nbformat.v4.new_code_cell('claim("accuracy", 0.95, 0.95, 0.005)'),
    ]
    assert _unchecked_numbers(bad) == ["0.953", "12.5 %"]


def test_the_notebooks_use_the_helpers_budget_and_key_size():
    for path in PATHS.values():
        if not path.exists():
            continue
        executed = nbformat.read(path, as_version=4)
        assert executed.metadata["kit"]["budget_seconds"] == 90
        source = "\n".join(c.source for c in nb.code_cells(executed))
        assert "generate_keypair()" in source  # the 2048-bit default, never a small key
        assert "allow_insecure" not in source
        assert (
            "def gradient_inversion" not in source and "class " not in source
        )  # no re-implementation


# --------------------------------------------------------------------- exercise checks


@pytest.fixture(scope="module")
def task():
    return evaluation.breast_cancer_task(0, n_hospitals=5)


def _local_aggregator(task, n_hospitals=5):
    plan = dp_learning.DPFederatedPlan(
        epsilon=1.0,
        delta=1e-5,
        rounds=30,
        clip_norm=1.0,
        lr=2.0,
        hospitals=[f"H{i + 1}" for i in range(n_hospitals)],
        total_patients=task.n_train,
        noise="silo",
    )
    return dp_learning.DPAggregator(plan)


def test_check_06_local_noise_std(task):
    agg = _local_aggregator(task)
    noise_std = agg.plan.noise_std
    assert exercises.check_06_local_noise_std(math.sqrt(5) * noise_std, agg).startswith("Correct")
    for wrong, hint in (
        (noise_std, "ONE hospital"),
        (5 * noise_std, "variances add"),
        (1.0, "square root"),
    ):
        with pytest.raises(exercises.ExerciseNotSolved, match=hint):
            exercises.check_06_local_noise_std(wrong, agg)
    with pytest.raises(exercises.ExerciseNotSolved, match="not answered yet"):
        exercises.check_06_local_noise_std(..., agg)


def test_check_06_other_hospital_update(task):
    a, b = fl.make_hospitals(task.hospital_data[:2])
    start = np.zeros(task.n_features + 1)
    global_w = fl.federated_averaging([a, b], rounds=1, local_epochs=5, lr=1.0).weights
    a_w, a_n = a.local_update(start, 5, 1.0)
    b_w = ((a_n + b.n_samples) * global_w - a_n * a_w) / b.n_samples
    assert exercises.check_06_other_hospital_update(b_w, b, start, 5, 1.0).startswith("Correct")
    with pytest.raises(exercises.ExerciseNotSolved, match="solve it for w_B"):
        exercises.check_06_other_hospital_update(global_w, b, start, 5, 1.0)
    with pytest.raises(exercises.ExerciseNotSolved, match="expected 31 weights"):
        exercises.check_06_other_hospital_update(b_w[:-1], b, start, 5, 1.0)
    with pytest.raises(exercises.ExerciseNotSolved, match="not answered yet"):
        exercises.check_06_other_hospital_update(None, b, start, 5, 1.0)


def test_check_06_membership_ceiling():
    right = (math.exp(0.5) - 1 + 2e-5) / (math.exp(0.5) + 1)
    assert exercises.check_06_membership_ceiling(right, 0.5, 1e-5).startswith("Correct")
    with pytest.raises(exercises.ExerciseNotSolved, match="looser bound"):
        exercises.check_06_membership_ceiling(math.exp(0.5) - 1, 0.5, 1e-5)
    with pytest.raises(exercises.ExerciseNotSolved):
        exercises.check_06_membership_ceiling(0.5, 0.5, 1e-5)
    with pytest.raises(ValueError, match="epsilon"):
        exercises.check_06_membership_ceiling(right, -1.0, 1e-5)


def test_check_06_noise_multiplier():
    right = accounting.noise_multiplier_for(1.0, 1e-5, 1.0, 60)
    message = exercises.check_06_noise_multiplier(right, 1.0, 1e-5, 60)
    assert message.startswith("Correct") and "1.41 times" in message
    with pytest.raises(exercises.ExerciseNotSolved, match="over-pays"):
        exercises.check_06_noise_multiplier(
            2 * accounting.noise_multiplier_for(1.0, 1e-5, 1.0, 30), 1.0, 1e-5, 60
        )


@pytest.fixture
def table():
    """A small stand-in for notebook 07's table (the checks read only these columns)."""
    return pd.DataFrame(
        {
            "epsilon": [np.nan, 1.0, 2.0, 4.0, 1.0],
            "accuracy_mean": [0.95, 0.88, 0.915, 0.93, 0.93],
            "accuracy_std": [0.01, 0.03, 0.04, 0.01, 0.014],
            "seconds": [0.04, 0.02, 0.02, 0.02, 2.0],
            "bytes": [75_600, 75_600, 75_600, 75_600, 114_000],
        },
        index=[
            "FedAvg",
            "FedAvg + local DP (eps=1)",
            "FedAvg + local DP (eps=2)",
            "FedAvg + local DP (eps=4)",
            "FedAvg + SecAgg + central DP (eps=1)",
        ],
    )


def test_check_07_smallest_epsilon(table):
    assert exercises.check_07_smallest_epsilon(4.0, table, "FedAvg + local DP", 0.92).startswith(
        "Correct"
    )
    assert exercises.check_07_smallest_epsilon(2.0, table, "FedAvg + local DP", 0.91).startswith(
        "Correct"
    )
    with pytest.raises(exercises.ExerciseNotSolved, match="smaller one does too"):
        exercises.check_07_smallest_epsilon(4.0, table, "FedAvg + local DP", 0.91)
    with pytest.raises(exercises.ExerciseNotSolved):
        exercises.check_07_smallest_epsilon(1.0, table, "FedAvg + local DP", 0.92)
    with pytest.raises(ValueError, match="no 'FedAvg \\+ local DP' row reaches"):
        exercises.check_07_smallest_epsilon(4.0, table, "FedAvg + local DP", 0.99)


def test_check_07_accuracy_gap(table):
    better, worse = "FedAvg + SecAgg + central DP (eps=1)", "FedAvg + local DP (eps=1)"
    message = exercises.check_07_accuracy_gap(0.93 - 0.88, table, better, worse)
    assert message.startswith("Correct") and "larger than the spread" in message
    with pytest.raises(exercises.ExerciseNotSolved, match="sign is flipped"):
        exercises.check_07_accuracy_gap(0.88 - 0.93, table, better, worse)
    with pytest.raises(exercises.ExerciseNotSolved, match="not points"):
        exercises.check_07_accuracy_gap(100 * (0.93 - 0.88), table, better, worse)


def test_check_07_ratio(table):
    ratio = 2.0 / 0.04
    assert exercises.check_07_ratio(
        ratio, table, "seconds", "FedAvg + SecAgg + central DP (eps=1)", "FedAvg"
    ).startswith("Correct")
    with pytest.raises(exercises.ExerciseNotSolved, match="upside down"):
        exercises.check_07_ratio(
            1 / ratio, table, "seconds", "FedAvg + SecAgg + central DP (eps=1)", "FedAvg"
        )
    with pytest.raises(exercises.ExerciseNotSolved, match="not answered yet"):
        exercises.check_07_ratio(..., table, "bytes", "FedAvg", "FedAvg")
