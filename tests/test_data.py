"""helpers.data: bundled datasets, the synthetic population, the voter roll, hospital splits."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from helpers import data, deid


@pytest.fixture(scope="module")
def population():
    return data.synthetic_population(20_000, rng=7)


# ------------------------------------------------------------------ bundled datasets


def test_breast_cancer_shapes_names_and_clinical_coding():
    X, y = data.breast_cancer()
    assert X.shape == (569, 30) and len(y) == 569
    assert "mean_radius" in X.columns and " " not in "".join(X.columns)
    assert y.name == "malignant" and set(y.unique()) == {0, 1}
    assert y.sum() == 212  # 212 malignant, 357 benign, as the data card says


def test_breast_cancer_bounds_are_the_published_ranges():
    X, _ = data.breast_cancer()
    bounds = data.breast_cancer_bounds()
    assert list(bounds.index) == list(X.columns)
    assert (bounds["lower"] < bounds["upper"]).all()
    assert bounds.loc["mean_radius"].tolist() == [6.981, 28.11]
    # published values are rounded: all but a few records lie within them
    inside = (X >= bounds["lower"].to_numpy()) & (X <= bounds["upper"].to_numpy())
    assert inside.to_numpy().mean() > 0.999


def test_diabetes_original_and_scaled_units():
    X, y = data.diabetes()
    assert X.shape == (442, 10) and y.name == "progression"
    assert {"age", "bmi", "glucose", "hdl"} <= set(X.columns)
    assert X["age"].between(18, 80).all()  # years, not scaled
    X_scaled, y_scaled = data.diabetes(scaled=True)
    assert abs(X_scaled["age"].mean()) < 1e-10
    pd.testing.assert_series_equal(y, y_scaled)
    with pytest.raises(TypeError, match="scaled"):
        data.diabetes(scaled="yes")


def test_every_loader_docstring_holds_its_data_card():
    for loader, card in (
        (data.breast_cancer, data.BREAST_CANCER_CARD),
        (data.diabetes, data.DIABETES_CARD),
    ):
        for field in (card.source, card.citation, card.licence, card.size, card.row):
            assert field in loader.__doc__
    assert list(data.DATA_CARDS["synthetic_population"].to_frame().index)[:3] == [
        "name",
        "source",
        "citation",
    ]


# ----------------------------------------------------------- synthetic population


def test_population_columns_roles_and_determinism(population):
    assert list(population.columns) == list(data.COLUMN_ROLES)
    assert population["patient_id"].is_unique and population["mrn"].is_unique
    again = data.synthetic_population(20_000, rng=7)
    pd.testing.assert_frame_equal(population, again)
    other = data.synthetic_population(20_000, rng=8)
    assert not population["birth_date"].equals(other["birth_date"])


def test_population_distributions_are_plausible(population):
    assert population["age"].between(0, 104).all()
    assert 0.005 < (population["age"] >= 90).mean() < 0.02  # a few 90+, for Safe Harbor
    assert 0.49 < (population["sex"] == "F").mean() < 0.53
    assert population["zip5"].str.fullmatch(r"\d{5}").all()
    assert set(population["zip5"]) <= set(data.zip_code_table()["zip5"])
    assert set(population["diagnosis_code"]) <= set(data.DIAGNOSES["code"])
    breast_cancer = population[population["diagnosis_code"] == "C50"]
    assert (breast_cancer["sex"] == "F").mean() > 0.9
    diabetic = population["diagnosis_code"] == "E11"
    assert (
        population.loc[diabetic, "hba1c"].mean() > population.loc[~diabetic, "hba1c"].mean() + 1.5
    )
    assert set(population["hospital"]) == set(data.HOSPITALS)


def test_age_agrees_with_birth_date(population):
    # REFERENCE_DATE is 1 January: only people born on 1 January have had their birthday.
    birth = population["birth_date"]
    jan_first = (birth.dt.month == 1) & (birth.dt.day == 1)
    expected = data.REFERENCE_DATE.year - birth.dt.year - 1 + jan_first.astype(int)
    np.testing.assert_array_equal(population["age"], expected)


def test_zip_birth_date_sex_is_unique_for_most_patients():
    population = data.synthetic_population(100_000, rng=0)
    share = deid.uniqueness(population, ["zip5", "birth_date", "sex"])
    assert share > 0.87  # at least Sweeney's population figure, as in real populations
    by_year = deid.uniqueness(
        population.assign(y=population["birth_date"].dt.year), ["zip5", "y", "sex"]
    )
    assert by_year < 0.5  # coarsening the date destroys most uniqueness


def test_region_has_small_zip3_areas_for_safe_harbor():
    populations = data.zip3_populations()
    assert len(populations) == 40
    assert 1 <= (populations <= 20_000).sum() < len(populations)


@pytest.mark.parametrize("bad", [0, -5])
def test_population_rejects_bad_size(bad):
    with pytest.raises(ValueError, match="n_patients must be >= 1"):
        data.synthetic_population(bad)


def test_population_rejects_bad_types():
    with pytest.raises(TypeError, match="n_patients"):
        data.synthetic_population(10.5)
    with pytest.raises(TypeError, match="rng"):
        data.synthetic_population(10, rng="seed")


# --------------------------------------------------------------------- voter roll


def test_voter_roll_covers_the_requested_share_of_adults(population):
    roll, truth = data.voter_roll(population, fraction=0.5, rng=1, return_truth=True)
    adults = population[population["age"] >= 18]
    patients_on_roll = truth.dropna()
    assert len(patients_on_roll) == round(0.5 * len(adults))
    assert set(patients_on_roll) <= set(adults["patient_id"])
    assert len(roll) == len(patients_on_roll) + round(0.25 * len(patients_on_roll))
    assert "patient_id" not in roll.columns and roll["voter_id"].is_unique
    assert (roll["birth_date"] <= data.REFERENCE_DATE - pd.DateOffset(years=18)).all()
    # a registered patient appears with the same quasi-identifiers as in the hospital data
    merged = (
        truth.dropna()
        .rename_axis("voter_id")
        .reset_index()
        .merge(roll, on="voter_id")
        .merge(population, on="patient_id", suffixes=("", "_p"))
    )
    for column in ("zip5", "birth_date", "sex", "name"):
        assert (merged[column] == merged[f"{column}_p"]).all()


def test_voter_roll_is_deterministic_and_public_by_default(population):
    a = data.voter_roll(population, 0.3, rng=3)
    b = data.voter_roll(population, 0.3, rng=3)
    assert isinstance(a, pd.DataFrame)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("fraction", [0, -0.1, 1.01, float("nan")])
def test_voter_roll_rejects_bad_fraction(population, fraction):
    with pytest.raises(ValueError, match=r"fraction must be .*\(0, 1\]"):
        data.voter_roll(population, fraction)


def test_voter_roll_rejects_a_frame_without_the_columns():
    with pytest.raises(ValueError, match="population has no column"):
        data.voter_roll(pd.DataFrame({"zip5": ["12345"]}), 0.5)


# ------------------------------------------------------------ hospital splits


@pytest.mark.parametrize("scheme", data.SPLIT_SCHEMES)
def test_split_puts_every_patient_in_exactly_one_hospital(scheme):
    X, y = data.breast_cancer()
    parts = data.split_across_hospitals(X, y, 5, scheme, rng=0, alpha=0.5)
    assert len(parts) == 5
    indices = np.concatenate([X_h.index.to_numpy() for X_h, _ in parts])
    assert len(indices) == len(X) and len(set(indices)) == len(X)
    for X_h, y_h in parts:
        assert (X_h.index == y_h.index).all() and len(X_h) >= 5


def test_iid_split_is_balanced_and_label_skew_is_skewed():
    X, y = data.breast_cancer()
    iid = data.split_across_hospitals(X, y, 5, "iid", rng=0)
    assert max(len(p[0]) for p in iid) - min(len(p[0]) for p in iid) <= 1
    assert np.ptp([p[1].mean() for p in iid]) < 0.2
    skew = data.split_across_hospitals(X, y, 5, "label_skew", rng=0, alpha=0.1)
    assert np.ptp([p[1].mean() for p in skew]) > 0.5


def test_quantity_skew_varies_sizes():
    X, y = data.breast_cancer()
    parts = data.split_across_hospitals(X, y, 5, "quantity_skew", rng=1, alpha=0.3)
    sizes = [len(p[0]) for p in parts]
    assert max(sizes) > 3 * min(sizes)


def test_split_is_deterministic_and_accepts_arrays():
    X, y = data.breast_cancer()
    a = data.split_across_hospitals(X.to_numpy(), y.to_numpy(), 3, "label_skew", rng=5)
    b = data.split_across_hospitals(X.to_numpy(), y.to_numpy(), 3, "label_skew", rng=5)
    for (Xa, ya), (Xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(Xa, Xb)
        np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_hospitals": 0}, "n_hospitals must be >= 1"),
        ({"scheme": "random"}, "scheme must be one of"),
        ({"alpha": 0}, r"alpha must be in \(0, inf\)"),
        ({"alpha": -1}, "alpha"),
        ({"n_hospitals": 200}, "n_hospitals \\* min_patients must be <="),
        ({"min_patients": 0}, "min_patients must be >= 1"),
    ],
)
def test_split_validation(kwargs, message):
    X, y = data.breast_cancer()
    args = {"n_hospitals": 3, "scheme": "iid", "alpha": 0.5} | kwargs
    with pytest.raises(ValueError, match=message):
        data.split_across_hospitals(X, y, **args)


def test_split_rejects_mismatched_lengths():
    X, y = data.breast_cancer()
    with pytest.raises(ValueError, match="same length"):
        data.split_across_hospitals(X, y.iloc[:-1], 3)


def test_split_gives_up_with_advice_when_skew_is_impossible():
    X, y = data.breast_cancer()
    with pytest.raises(ValueError, match="raise alpha"):
        data.split_across_hospitals(
            X, y, 50, "label_skew", rng=0, alpha=0.01, min_patients=10, max_tries=5
        )


def test_python_paillier_example_split_is_reproduced():
    parts, X_test, y_test = data.python_paillier_example_data()
    assert [len(y) for _, y in parts] == [78] * 5 and X_test.shape == (50, 10)
    rows = np.vstack([X for X, _ in parts] + [X_test])
    assert len(np.unique(rows, axis=0)) == 440  # disjoint: 390 training + 50 test patients
    again, _, _ = data.python_paillier_example_data()
    np.testing.assert_array_equal(parts[0][0], again[0][0])


# ------------------------------------------------------------ edge paths (issue 12)


@pytest.mark.parametrize("scheme", data.SPLIT_SCHEMES)
def test_split_refuses_missing_labels(scheme):
    # label_skew used to leave NaN patients unassigned (uninitialised memory: hospital 1).
    X, y = data.breast_cancer()
    y = y.astype(float)
    y.iloc[[3, 10]] = np.nan
    with pytest.raises(ValueError, match="y has 2 missing label"):
        data.split_across_hospitals(X, y, 3, scheme, rng=0)


def test_synthetic_population_memory_is_proportional_to_n():
    import tracemalloc

    data.synthetic_population(10, rng=0)  # caches the region outside the measurement
    peaks = {}
    for n in (10, 20_000):
        tracemalloc.start()
        data.synthetic_population(n, rng=0)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[10] < 5e6  # bytes; the 90-million-entry MRN array alone was 720 MB
    assert peaks[20_000] < 40e6


def test_the_memory_fix_leaves_every_seeded_population_unchanged():
    # Values computed with the previous implementation (rng.choice over the MRN array).
    population = data.synthetic_population(500, rng=7)
    assert population["mrn"].head(3).tolist() == ["32928438", "66434219", "33680547"]
    digest = hashlib.sha256(pd.util.hash_pandas_object(population, index=True).to_numpy().tobytes())
    assert digest.hexdigest() == "9272bfb014c1b8887d8d517bae8d81b05fe5be1854a4d460de5c735cb68eceba"
    with pytest.raises(ValueError, match="n_patients must be <= 10000000"):
        data.synthetic_population(10**400)
