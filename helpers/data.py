"""The data every notebook shares: two bundled clinical datasets and a synthetic population.

* ``breast_cancer()`` and ``diabetes()`` load scikit-learn's bundled copies (no download).
* ``synthetic_population()`` generates SYNTHETIC patients with what the bundled data lack:
  names, ZIP codes, birth dates, diagnoses and the hospital of care. No row describes a
  real person; every distribution is documented below and chosen to be plausible, not
  measured from any real population.
* ``voter_roll()`` makes a public list that overlaps the patients, for linkage attacks.
* ``split_across_hospitals()`` partitions a dataset across hospitals, IID or not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes

from helpers._validation import (
    RandomState,
    check_choice,
    check_columns,
    check_integer,
    check_real,
    check_rng,
)

#: Ages and dates in the synthetic population are measured at this date.
REFERENCE_DATE = pd.Timestamp("2025-01-01")

#: The role of each column of ``synthetic_population()`` (used by de-identification).
COLUMN_ROLES = {
    "patient_id": "direct identifier (the kit's key for scoring attacks)",
    "mrn": "direct identifier (medical record number)",
    "name": "direct identifier",
    "street_address": "direct identifier (geographic subdivision smaller than a state)",
    "city": "quasi-identifier (geographic subdivision smaller than a state)",
    "zip5": "quasi-identifier (ZIP code)",
    "phone": "direct identifier (telephone number)",
    "birth_date": "quasi-identifier (date)",
    "sex": "quasi-identifier",
    "age": "quasi-identifier (age in years at REFERENCE_DATE)",
    "admission_date": "quasi-identifier (date)",
    "hospital": "attribute (hospital of care)",
    "diagnosis_code": "sensitive attribute (ICD-10 code)",
    "diagnosis": "sensitive attribute (ICD-10 description)",
    "systolic_bp": "clinical measurement (mmHg)",
    "bmi": "clinical measurement (kg/m^2)",
    "hba1c": "clinical measurement (%)",
    "total_cholesterol": "clinical measurement (mmol/L)",
}

#: The columns an attacker can find in public lists such as a voter roll.
QUASI_IDENTIFIERS = ["zip5", "birth_date", "sex"]

#: Fictional hospitals of the running example.
HOSPITALS = [
    "Northfield General",
    "Riverside University Hospital",
    "St. Brigid's Medical Center",
    "Lakeshore Community Hospital",
    "Hillcrest Regional",
]


# --------------------------------------------------------------------------- data cards


@dataclass(frozen=True)
class DataCard:
    """What a dataset is, where it comes from and how it may be used."""

    name: str
    source: str
    citation: str
    licence: str
    size: str
    row: str
    target: str
    note: str = ""

    def to_frame(self) -> pd.DataFrame:
        """The card as a two-column table, for notebooks to display."""
        fields = ["name", "source", "citation", "licence", "size", "row", "target", "note"]
        return pd.DataFrame(
            {"field": fields, "value": [getattr(self, f) for f in fields]}
        ).set_index("field")


BREAST_CANCER_CARD = DataCard(
    name="Breast Cancer Wisconsin (Diagnostic)",
    source=(
        "UCI Machine Learning Repository, https://archive.ics.uci.edu/dataset/17/"
        "breast+cancer+wisconsin+diagnostic; bundled with scikit-learn "
        "(sklearn.datasets.load_breast_cancer), so it loads offline"
    ),
    citation=(
        "W. N. Street, W. H. Wolberg and O. L. Mangasarian, 'Nuclear feature extraction for "
        "breast tumor diagnosis', IS&T/SPIE International Symposium on Electronic Imaging, "
        "vol. 1905, 1993"
    ),
    licence=(
        "CC BY 4.0 as listed by the UCI repository (not re-verified for this kit); "
        "scikit-learn redistributes it under its BSD-3-Clause licence"
    ),
    size="569 rows x 30 numeric features; 212 malignant, 357 benign",
    row=(
        "one breast mass of one patient: mean, standard error and 'worst' value of ten "
        "cell-nucleus measurements from a digitised fine-needle aspirate image"
    ),
    target="malignant: 1 if the mass is malignant, 0 if benign (scikit-learn codes it the other way)",
    note="Real, de-identified clinical data with no demographic fields.",
)

DIABETES_CARD = DataCard(
    name="Diabetes (Efron et al.)",
    source=(
        "B. Efron et al., data page https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html; "
        "bundled with scikit-learn (sklearn.datasets.load_diabetes), so it loads offline"
    ),
    citation=(
        "B. Efron, T. Hastie, I. Johnstone and R. Tibshirani, 'Least Angle Regression', "
        "Annals of Statistics 32(2):407-499, 2004, https://doi.org/10.1214/009053604000000067"
    ),
    licence="no licence stated by the source; scikit-learn redistributes it (BSD-3-Clause)",
    size="442 rows x 10 baseline features",
    row=(
        "one diabetes patient at baseline: age, sex, body-mass index, average blood pressure "
        "and six blood-serum measurements"
    ),
    target="progression: a quantitative measure of disease progression one year after baseline",
    note=(
        "Real clinical data. With scaled=True the features are mean-centred and scaled as "
        "scikit-learn ships them (each column has unit Euclidean norm times sqrt(n))."
    ),
)

SYNTHETIC_CARD = DataCard(
    name="Synthetic patient population (this kit)",
    source="generated by helpers.data.synthetic_population from a seed; nothing is downloaded",
    citation="this kit; distributions documented in helpers/data.py",
    licence="same as the kit",
    size="as many patients as requested (the notebooks use 100,000)",
    row=(
        "one SYNTHETIC patient: identifiers (name, address, phone, MRN), quasi-identifiers "
        "(ZIP code, birth date, sex), a primary ICD-10 diagnosis, four labs/vitals and the "
        "hospital of care"
    ),
    target="none fixed; notebooks use diagnosis_code as the sensitive attribute",
    note="SYNTHETIC: no row describes a real person. Distributions are plausible, not measured.",
)

DATA_CARDS = {
    "breast_cancer": BREAST_CANCER_CARD,
    "diabetes": DIABETES_CARD,
    "synthetic_population": SYNTHETIC_CARD,
}


def _with_card(card: DataCard):
    """Append a data card to a loader's docstring, so the card is written once."""

    def decorate(func):
        func.__doc__ = (
            (func.__doc__ or "")
            + "\n    Data card\n    ---------\n"
            + "".join(
                f"    {field}: {getattr(card, field)}\n"
                for field in (
                    "name",
                    "source",
                    "citation",
                    "licence",
                    "size",
                    "row",
                    "target",
                    "note",
                )
            )
        )
        return func

    return decorate


# ------------------------------------------------------------------- bundled datasets


@_with_card(BREAST_CANCER_CARD)
def breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    """Load the breast-cancer classification data as (X, y).

    Returns
    -------
    X : DataFrame, 569 x 30, columns in snake_case (e.g. ``mean_radius``).
    y : Series named ``malignant``: 1 = malignant, 0 = benign.
    """
    bunch = load_breast_cancer(as_frame=True)
    X = bunch.data.copy()
    X.columns = [c.replace(" ", "_") for c in X.columns]
    # scikit-learn codes 0 = malignant; the kit uses the clinical convention 1 = disease.
    y = (1 - bunch.target).astype(int).rename("malignant")
    return X, y


def breast_cancer_bounds() -> pd.DataFrame:
    """Public bounds of each breast-cancer feature: the ranges in the dataset's documentation.

    DP mechanisms need bounds (and hence sensitivities) fixed before looking at the data;
    taking them from the data leaks. These come from the "Summary Statistics" table that
    is published with the dataset (UCI / scikit-learn's description), parsed from that
    text, not computed from the array. A real study would take them from clinical
    references; here they stand in for such published knowledge. The published values are
    rounded to three decimals, so a few records sit just outside and are clipped by the
    mechanisms that use these bounds.

    Returns a DataFrame indexed by feature name (as in ``breast_cancer()``) with columns
    ``lower`` and ``upper``.
    """
    description = load_breast_cancer().DESCR
    table = description[description.index("Summary Statistics") :].split("\n\n", 2)[1]
    rows = []
    for line in table.splitlines():
        if ":" not in line:
            continue
        label, numbers = line.split(":", 1)
        feature, kind = label.strip().rstrip(")").split(" (")
        prefix = {"mean": "mean", "standard error": "error", "worst": "worst"}[kind]
        name = f"{prefix}_{feature}" if prefix != "error" else f"{feature}_error"
        lower, upper = (float(v) for v in numbers.split())
        rows.append((name.replace(" ", "_"), lower, upper))
    return pd.DataFrame(rows, columns=["feature", "lower", "upper"]).set_index("feature")


_DIABETES_COLUMNS = {
    "bp": "blood_pressure",
    "s1": "total_cholesterol",
    "s2": "ldl",
    "s3": "hdl",
    "s4": "cholesterol_hdl_ratio",
    "s5": "log_triglycerides",
    "s6": "glucose",
}


@_with_card(DIABETES_CARD)
def diabetes(scaled: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    """Load the diabetes regression data as (X, y).

    Parameters
    ----------
    scaled : bool, default False
        False gives the original units (age in years, sex coded 1/2, bmi in kg/m^2, ...);
        True gives scikit-learn's default centred and scaled copy (as python-paillier's
        federated example uses).

    Returns
    -------
    X : DataFrame, 442 x 10, serum columns renamed (``s1`` -> ``total_cholesterol``, ...).
    y : Series named ``progression``.
    """
    if not isinstance(scaled, bool):
        raise TypeError(f"scaled must be True or False; got {scaled!r}")
    bunch = load_diabetes(as_frame=True, scaled=scaled)
    X = bunch.data.rename(columns=_DIABETES_COLUMNS)
    y = bunch.target.rename("progression")
    return X, y


# ------------------------------------------------------------------ synthetic geography

_N_ZIP3 = 40
_GEOGRAPHY_SEED = 20250101  # fixed: the region is the same in every notebook and test


@functools.lru_cache(maxsize=1)
def _geography() -> pd.DataFrame:
    rng = np.random.default_rng(_GEOGRAPHY_SEED)
    prefixes = rng.choice(np.arange(100, 1000), size=_N_ZIP3, replace=False)
    rows = []
    for i, prefix in enumerate(sorted(prefixes)):
        # Two areas in ten are rural (one to three small ZIPs); the rest are towns and cities.
        rural = i % 10 in (3, 7)
        n_zips = int(rng.integers(1, 4)) if rural else int(rng.integers(5, 26))
        mean_population = 2_500 if rural else 9_000
        populations = np.maximum(
            200, rng.lognormal(np.log(mean_population), 0.7, size=n_zips).round(-1)
        ).astype(int)
        suffixes = rng.choice(np.arange(100), size=n_zips, replace=False)
        city = _CITY_NAMES[i % len(_CITY_NAMES)]
        for suffix, population in zip(sorted(suffixes), populations, strict=True):
            rows.append((f"{prefix:03d}{suffix:02d}", f"{prefix:03d}", city, population))
    return pd.DataFrame(rows, columns=["zip5", "zip3", "city", "population"])


def zip_code_table() -> pd.DataFrame:
    """The synthetic region: one row per ZIP code with its residents.

    Returns a DataFrame with columns zip5, zip3, city and population (residents, not
    patients). The region is fixed (its own seed): 40 three-digit areas, a few of them
    rural with 20,000 residents or fewer, so the Safe Harbor ZIP rule has work to do.
    Populations are log-normal (median about 9,000 per urban ZIP, 2,500 per rural one).
    """
    return _geography().copy()


def zip3_populations() -> pd.Series:
    """Residents per three-digit ZIP area of the synthetic region (index zip3)."""
    return _geography().groupby("zip3")["population"].sum().rename("population")


# -------------------------------------------------------------- synthetic people

_FIRST_NAMES_F = (
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy "
    "Betty Sandra Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah "
    "Stephanie Rebecca Sharon Laura Cynthia Amy Kathleen Angela Shirley Brenda Emma Anna "
    "Pamela Nicole Samantha Katherine Christine Helen Debra Rachel Carolyn Janet Maria "
    "Catherine Heather Diane Olivia Julie Joyce Victoria Ruth Virginia Lauren Kelly Christina"
).split()
_FIRST_NAMES_M = (
    "James Robert John Michael David William Richard Joseph Thomas Christopher Charles "
    "Daniel Matthew Anthony Mark Donald Steven Andrew Paul Joshua Kenneth Kevin Brian "
    "Timothy Ronald George Jason Edward Jeffrey Ryan Jacob Nicholas Gary Eric Jonathan "
    "Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander Patrick Frank "
    "Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Zachary Douglas Peter Kyle"
).split()
_LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart "
    "Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed "
    "Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray "
    "Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez"
).split()
_STREETS = (
    "Main Oak Maple Cedar Pine Elm Washington Lake Hill Park Walnut Spring North Ridge "
    "Church Mill Sunset Forest Highland Meadow River Chestnut Willow Cherry Franklin"
).split()
_STREET_TYPES = ["St", "Ave", "Rd", "Ln", "Dr", "Ct", "Way"]
_CITY_NAMES = (
    "Ashford Brookfield Carver Dunmore Easton Fairview Glenwood Harlow Ivydale Jasper "
    "Kingsley Linden Marlow Newbury Oakridge Pembroke Quincy Rosedale Stanton Thornbury "
    "Upton Vernon Westfield Yarmouth Ashby Belmont Clifton Dover Elkton Fulton Granby "
    "Halifax Irvine Kendall Lowell Milton Norwood Orland Preston Radford"
).split()


def _age_weights() -> np.ndarray:
    """Weights for single years of age 0..104: flat to 60, then falling exponentially."""
    ages = np.arange(105)
    return np.where(ages <= 60, 1.0, np.exp(-(ages - 60) / 12.0))


def _draw_people(n: int, rng: np.random.Generator, min_age: int = 0) -> pd.DataFrame:
    """Draw n synthetic residents of the region: name, address, ZIP, birth date, sex."""
    geography = _geography()
    zip_index = rng.choice(
        len(geography), size=n, p=geography["population"] / geography["population"].sum()
    )
    weights = _age_weights()
    weights[:min_age] = 0.0
    age_years = rng.choice(len(weights), size=n, p=weights / weights.sum())
    # A birth date uniformly inside the year of age, counted back from the reference date.
    days_back = np.floor((age_years + rng.random(n)) * 365.25).astype(int) + 1
    birth_date = (REFERENCE_DATE - pd.to_timedelta(days_back, unit="D")).normalize()
    sex = np.where(rng.random(n) < 0.51, "F", "M")
    first = np.where(
        sex == "F",
        np.asarray(_FIRST_NAMES_F)[rng.integers(len(_FIRST_NAMES_F), size=n)],
        np.asarray(_FIRST_NAMES_M)[rng.integers(len(_FIRST_NAMES_M), size=n)],
    )
    last = np.asarray(_LAST_NAMES)[rng.integers(len(_LAST_NAMES), size=n)]
    number = rng.integers(1, 9999, size=n).astype(str)
    street = np.asarray(_STREETS)[rng.integers(len(_STREETS), size=n)]
    street_type = np.asarray(_STREET_TYPES)[rng.integers(len(_STREET_TYPES), size=n)]
    people = pd.DataFrame(
        {
            "name": pd.Series(first) + " " + pd.Series(last),
            "street_address": pd.Series(number) + " " + street + " " + street_type,
            "city": geography["city"].to_numpy()[zip_index],
            "zip5": geography["zip5"].to_numpy()[zip_index],
            "birth_date": birth_date,
            "sex": sex,
        }
    )
    people["age"] = _age_at(people["birth_date"], REFERENCE_DATE)
    return people


def _age_at(birth_date: pd.Series, when: pd.Timestamp) -> np.ndarray:
    """Whole years of age at ``when`` (birthdays counted exactly)."""
    years = when.year - birth_date.dt.year
    before_birthday = (birth_date.dt.month > when.month) | (
        (birth_date.dt.month == when.month) & (birth_date.dt.day > when.day)
    )
    return (years - before_birthday.astype(int)).to_numpy()


#: ICD-10 primary diagnoses of the synthetic visits, with base weights. The weights are
#: plausible shares of primary visit diagnoses, not epidemiological estimates.
DIAGNOSES = pd.DataFrame(
    [
        ("Z00", "General examination without complaint", 0.38),
        ("I10", "Essential (primary) hypertension", 0.16),
        ("E11", "Type 2 diabetes mellitus", 0.10),
        ("J45", "Asthma", 0.08),
        ("F32", "Depressive episode", 0.08),
        ("M54", "Dorsalgia (back pain)", 0.10),
        ("N18", "Chronic kidney disease", 0.04),
        ("C50", "Malignant neoplasm of breast", 0.02),
        ("B20", "HIV disease", 0.005),
    ],
    columns=["code", "description", "base_weight"],
)


def _draw_diagnoses(age: np.ndarray, sex: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one primary diagnosis per patient; weights depend on age and sex."""
    codes = DIAGNOSES["code"].to_numpy()
    weights = np.tile(DIAGNOSES["base_weight"].to_numpy(), (len(age), 1))
    adult = np.clip((age - 18) / 50, 0, 1.5)  # 0 for children, rising with age
    for code, factor in (("I10", adult), ("E11", adult), ("N18", adult**2)):
        weights[:, codes == code] *= 2 * factor[:, None]
    weights[:, codes == "C50"] *= np.where(sex == "F", 2 * adult, 0.01 * adult)[:, None]
    weights[:, codes == "B20"] *= (age >= 15)[:, None]
    weights[:, codes == "J45"] *= np.where(age < 18, 2.0, 1.0)[:, None]
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    choice = (rng.random(len(age))[:, None] > cumulative).sum(axis=1)
    return codes[np.minimum(choice, len(codes) - 1)]


#: The most patients ``synthetic_population`` generates (memory grows with n: about 1 kB per
#: patient while generating).
MAX_PATIENTS = 10_000_000


def synthetic_population(n_patients: int = 100_000, rng: RandomState = None) -> pd.DataFrame:
    """Generate SYNTHETIC patients of the kit's fictional region.

    Parameters
    ----------
    n_patients : int in [1, MAX_PATIENTS]
        Number of patients (rows). Memory and time are proportional to it.
    rng : Generator, int seed or None
        Source of randomness; pass a seed for a reproducible population.

    Returns
    -------
    DataFrame, one row per synthetic patient, columns described in ``COLUMN_ROLES``.

    Distributions (all synthetic, chosen to be plausible, not measured)
    -------------------------------------------------------------------
    * zip5: a resident's ZIP, drawn in proportion to ZIP population (``zip_code_table``).
    * age: single years 0-104, flat to 60 then falling by a factor e every 12 years
      (about 1 % are 90 or older); birth_date uniform within the year of age, counted
      back from ``REFERENCE_DATE``; sex F with probability 0.51.
    * name, street_address, phone: random combinations of common US names and street
      names; not unique, as real names are not.
    * diagnosis_code: one primary ICD-10 diagnosis from ``DIAGNOSES``; hypertension,
      diabetes and kidney disease grow with age, breast cancer is mostly female and
      adult, asthma is more common in children.
    * systolic_bp (mmHg): normal, mean 105 + 0.4 x age (adults), +15 with hypertension.
    * bmi (kg/m^2): log-normal around 26 for adults (18 for children), +3 with diabetes.
    * hba1c (%): normal(5.4, 0.4); normal(7.6, 1.2) with type 2 diabetes.
    * total_cholesterol (mmol/L): normal(4.4 + 0.015 x age, 0.8).
    * hospital: each ZIP3 area has a home hospital; 85 % of patients use it.
    * admission_date: uniform over the calendar year before ``REFERENCE_DATE``.

    With this geography (zip5, birth_date, sex) is unique for almost every patient, as
    Sweeney found for most of the US population; notebook 00 measures it.
    """
    n_patients = check_integer(n_patients, "n_patients", minimum=1, maximum=MAX_PATIENTS)
    rng = check_rng(rng)
    people = _draw_people(n_patients, rng)
    age = people["age"].to_numpy()
    sex = people["sex"].to_numpy()
    codes = _draw_diagnoses(age, sex, rng)
    descriptions = DIAGNOSES.set_index("code")["description"]
    adult = age >= 18

    systolic = rng.normal(np.where(adult, 105 + 0.4 * age, 100), 12) + 15 * (codes == "I10")
    bmi = rng.lognormal(np.log(np.where(adult, 26.0, 18.0)), 0.18) + 3 * (codes == "E11")
    hba1c = np.where(
        codes == "E11", rng.normal(7.6, 1.2, n_patients), rng.normal(5.4, 0.4, n_patients)
    )
    cholesterol = rng.normal(4.4 + 0.015 * age, 0.8)

    zip3 = people["zip5"].str[:3]
    prefixes = np.sort(zip3.unique())
    home = pd.Series(np.arange(len(prefixes)) % len(HOSPITALS), index=prefixes)
    home_hospital = home.loc[zip3].to_numpy()
    hospital_index = np.where(
        rng.random(n_patients) < 0.85, home_hospital, rng.integers(len(HOSPITALS), size=n_patients)
    )
    admission = REFERENCE_DATE - pd.to_timedelta(rng.integers(1, 366, size=n_patients), unit="D")
    phone = (
        "555-"
        + pd.Series(rng.integers(100, 1000, n_patients)).astype(str)
        + "-"
        + pd.Series(rng.integers(0, 10_000, n_patients)).astype(str).str.zfill(4)
    )

    population = pd.DataFrame(
        {
            "patient_id": "P" + pd.Series(np.arange(1, n_patients + 1)).astype(str).str.zfill(6),
            # Drawn as indices into the 90 million 8-digit numbers: the same draws as choosing
            # from the array itself, without allocating it (720 MB).
            "mrn": rng.choice(90_000_000, size=n_patients, replace=False) + 10_000_000,
            "name": people["name"],
            "street_address": people["street_address"],
            "city": people["city"],
            "zip5": people["zip5"],
            "phone": phone,
            "birth_date": people["birth_date"],
            "sex": people["sex"],
            "age": age,
            "admission_date": admission,
            "hospital": np.asarray(HOSPITALS)[hospital_index],
            "diagnosis_code": codes,
            "diagnosis": descriptions.loc[codes].to_numpy(),
            "systolic_bp": systolic.round(0),
            "bmi": bmi.round(1),
            "hba1c": np.clip(hba1c, 4.0, 14.0).round(1),
            "total_cholesterol": np.clip(cholesterol, 2.0, 10.0).round(1),
        }
    )
    population["mrn"] = population["mrn"].astype(str)
    return population


def voter_roll(
    population: pd.DataFrame,
    fraction: float = 0.6,
    rng: RandomState = None,
    non_patient_ratio: float = 0.25,
    return_truth: bool = False,
):
    """A public voter list of the region that overlaps the patients.

    Parameters
    ----------
    population : DataFrame from ``synthetic_population``.
    fraction : float in (0, 1]
        Share of the ADULT patients (18 or older at ``REFERENCE_DATE``) on the roll;
        children are not registered to vote.
    rng : Generator, int seed or None.
    non_patient_ratio : float >= 0
        Synthetic adult residents who are not patients, per registered patient. They can
        share a patient's (zip5, birth_date, sex), which makes some matches ambiguous.
    return_truth : bool
        If True, also return a Series mapping voter_id to the patient_id it belongs to
        (missing for non-patients) - the answer key for scoring attacks, never part of
        the public list.

    Returns
    -------
    DataFrame with voter_id, name, street_address, city, zip5, birth_date, sex and
    registration_year, shuffled; plus the truth Series if ``return_truth``.
    """
    check_columns(
        population,
        ["patient_id", "name", "street_address", "city", "zip5", "birth_date", "sex", "age"],
        "population",
    )
    fraction = check_real(fraction, "fraction", low=0.0, high=1.0, low_inclusive=False)
    non_patient_ratio = check_real(non_patient_ratio, "non_patient_ratio", low=0.0)
    rng = check_rng(rng)

    adults = population[population["age"] >= 18]
    if adults.empty:
        raise ValueError("population has no adults (age >= 18) to place on a voter roll")
    n_registered = max(1, int(round(fraction * len(adults))))
    chosen = adults.iloc[np.sort(rng.choice(len(adults), size=n_registered, replace=False))]
    columns = ["name", "street_address", "city", "zip5", "birth_date", "sex"]
    patients_part = chosen[columns].reset_index(drop=True)
    patient_ids = chosen["patient_id"].to_list()

    n_others = int(round(non_patient_ratio * n_registered))
    others = _draw_people(n_others, rng, min_age=18)[columns]
    roll = pd.concat([patients_part, others], ignore_index=True)
    truth = pd.Series(patient_ids + [None] * n_others, dtype="object")

    order = rng.permutation(len(roll))
    roll = roll.iloc[order].reset_index(drop=True)
    truth = truth.iloc[order].reset_index(drop=True)
    roll.insert(0, "voter_id", [f"V{i:07d}" for i in range(1, len(roll) + 1)])
    age_at_registration = rng.integers(18, 40, size=len(roll))
    roll["registration_year"] = np.minimum(
        roll["birth_date"].dt.year.to_numpy() + age_at_registration, REFERENCE_DATE.year - 1
    )
    truth.index = roll["voter_id"]
    truth.name = "patient_id"
    return (roll, truth) if return_truth else roll


# ------------------------------------------------------------- splits across hospitals


def python_paillier_example_data(n_hospitals: int = 5, test_size: int = 50, seed: int = 43):
    """The train/test split of python-paillier's examples/federated_learning_with_encryption.py.

    That example (https://github.com/data61/python-paillier/blob/master/examples/
    federated_learning_with_encryption.py) seeds numpy's legacy global generator with 43,
    shuffles scikit-learn's scaled diabetes data, holds out 50 random patients as a test
    set, and cuts the rest into ``n_hospitals`` CONSECUTIVE blocks of
    ``floor(392 / n_hospitals)`` patients (the last 2 are dropped with 5 hospitals). The
    same draws are reproduced here with ``numpy.random.RandomState(seed)`` (the legacy
    generator is needed to get the same permutation), so the kit's FedAvg and secure FedAvg can
    be compared with the example on identical data.

    Returns ``(parts, X_test, y_test)``: ``parts`` a list of ``(X_h, y_h)`` numpy arrays
    without the example's column of ones (the kit's models carry an intercept).
    """
    n_hospitals = check_integer(n_hospitals, "n_hospitals", minimum=1)
    test_size = check_integer(test_size, "test_size", minimum=1, maximum=400)
    seed = check_integer(seed, "seed", minimum=0)
    X, y = diabetes(scaled=True)
    X, y = X.to_numpy(), y.to_numpy()
    legacy = np.random.RandomState(seed)
    perm = legacy.permutation(X.shape[0])
    X, y = X[perm], y[perm]
    test_idx = legacy.choice(X.shape[0], size=test_size, replace=False)
    train = np.ones(X.shape[0], dtype=bool)
    train[test_idx] = False
    X_train, y_train = X[train], y[train]
    step = X_train.shape[0] // n_hospitals
    parts = [
        (X_train[step * c : step * (c + 1)], y_train[step * c : step * (c + 1)])
        for c in range(n_hospitals)
    ]
    return parts, X[test_idx], y[test_idx]


SPLIT_SCHEMES = ("iid", "label_skew", "quantity_skew")


def split_across_hospitals(
    X,
    y,
    n_hospitals: int,
    scheme: str = "iid",
    rng: RandomState = None,
    alpha: float = 0.5,
    min_patients: int = 5,
    max_tries: int = 1000,
) -> list[tuple]:
    """Partition (X, y) across hospitals; every patient lands in exactly one hospital.

    Parameters
    ----------
    X : DataFrame or array, n rows.   y : Series or array, n labels, none missing.
    n_hospitals : int >= 1.
    scheme : "iid" | "label_skew" | "quantity_skew"
        iid: a random, near-equal split. label_skew: for each class, the shares of the
        hospitals are drawn from Dirichlet(alpha) (Hsu et al., 2019, arXiv:1909.06335),
        so hospitals see different case mixes. quantity_skew: hospital sizes drawn from
        Dirichlet(alpha), labels IID.
    rng : Generator, int seed or None.
    alpha : float > 0, concentration for the skewed schemes; small alpha = more skew.
    min_patients : int >= 1; skewed draws are repeated until every hospital has at least
        this many patients.
    max_tries : int >= 1; how many skewed draws to try before giving up.

    Returns
    -------
    list of (X_i, y_i), one per hospital, of the same types as X and y (pandas keep
    their original index, so the partition can be checked).
    """
    n = len(y)
    if len(X) != n:
        raise ValueError(f"X and y must have the same length; got {len(X)} and {n}")
    n_hospitals = check_integer(n_hospitals, "n_hospitals", minimum=1)
    check_choice(scheme, "scheme", SPLIT_SCHEMES)
    alpha = check_real(alpha, "alpha", low=0.0, low_inclusive=False)
    min_patients = check_integer(min_patients, "min_patients", minimum=1)
    max_tries = check_integer(max_tries, "max_tries", minimum=1)
    if n_hospitals * min_patients > n:
        raise ValueError(
            f"n_hospitals * min_patients must be <= the number of patients ({n}); "
            f"got {n_hospitals} * {min_patients}"
        )
    rng = check_rng(rng)
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(
            f"y must be one-dimensional, one label per patient; got shape {labels.shape}"
        )
    missing = pd.isna(labels)
    if missing.any():
        raise ValueError(
            f"y has {int(missing.sum())} missing label(s); every patient needs a label to be "
            "placed (drop or impute them first)"
        )

    for _ in range(max_tries):
        assignment = _assign(labels, n_hospitals, scheme, alpha, rng)
        sizes = np.bincount(assignment, minlength=n_hospitals)
        if sizes.min() >= min_patients:
            break
    else:
        raise ValueError(
            f"no {scheme} split with at least min_patients={min_patients} per hospital was "
            f"found in {max_tries} tries; raise alpha (got {alpha}) or lower n_hospitals"
        )

    parts = []
    for h in range(n_hospitals):
        rows = np.flatnonzero(assignment == h)
        X_h = X.iloc[rows] if hasattr(X, "iloc") else np.asarray(X)[rows]
        y_h = y.iloc[rows] if hasattr(y, "iloc") else np.asarray(y)[rows]
        parts.append((X_h, y_h))
    return parts


def _assign(labels, n_hospitals, scheme, alpha, rng) -> np.ndarray:
    n = len(labels)
    assignment = np.empty(n, dtype=int)
    if scheme == "iid":
        order = rng.permutation(n)
        assignment[order] = np.arange(n) % n_hospitals
    elif scheme == "quantity_skew":
        shares = rng.dirichlet(np.full(n_hospitals, alpha))
        assignment[rng.permutation(n)] = _cut(n, shares)
    else:  # label_skew
        for label in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == label))
            shares = rng.dirichlet(np.full(n_hospitals, alpha))
            assignment[rows] = _cut(len(rows), shares)
    return assignment


def _cut(n: int, shares: np.ndarray) -> np.ndarray:
    """Hospital numbers for n shuffled rows, in blocks sized by ``shares``."""
    bounds = np.round(np.cumsum(shares) * n).astype(int)
    return np.searchsorted(bounds, np.arange(n), side="right")


# ------------------------------------------------------------- synthetic genotypes


def synthetic_genotypes(
    n_people: int,
    n_snps: int,
    rng: RandomState = None,
    min_allele_frequency: float = 0.05,
    max_allele_frequency: float = 0.5,
    return_frequencies: bool = False,
):
    """Generate SYNTHETIC SNP genotypes: one row per person, one column per SNP.

    Each SNP j gets a population frequency p_j of its counted allele, drawn uniformly from
    [min_allele_frequency, max_allele_frequency]; each person's genotype at j is the count of
    that allele on their two chromosomes, Binomial(2, p_j) (Hardy-Weinberg equilibrium).
    SNPs are independent (no linkage disequilibrium) and everyone comes from one population,
    so the data are plausible for teaching, not a model of any real cohort.

    Parameters
    ----------
    n_people : int >= 1, number of people (rows).
    n_snps : int >= 1, number of SNPs (columns).
    rng : Generator, int seed or None.
    min_allele_frequency, max_allele_frequency : floats with 0 < min < max <= 0.5
        Range of the population allele frequencies.
    return_frequencies : bool
        If True, also return the population frequencies p (length n_snps).

    Returns
    -------
    genotypes : ndarray of int8, shape (n_people, n_snps), values 0, 1 or 2;
    plus p (ndarray of float) if ``return_frequencies``.

    Reference: N. Homer et al., "Resolving individuals contributing trace amounts of DNA to
    highly complex mixtures using high-density SNP genotyping microarrays", PLoS Genetics
    4(8): e1000167, 2008, https://doi.org/10.1371/journal.pgen.1000167 (the attack these
    data are used to demonstrate).
    """
    n_people = check_integer(n_people, "n_people", minimum=1)
    n_snps = check_integer(n_snps, "n_snps", minimum=1)
    low = check_real(
        min_allele_frequency, "min_allele_frequency", low=0.0, high=0.5, low_inclusive=False
    )
    high = check_real(
        max_allele_frequency, "max_allele_frequency", low=0.0, high=0.5, low_inclusive=False
    )
    if not low < high:
        raise ValueError(
            f"min_allele_frequency must be < max_allele_frequency; got {low} and {high}"
        )
    if not isinstance(return_frequencies, bool):
        raise TypeError(f"return_frequencies must be True or False; got {return_frequencies!r}")
    rng = check_rng(rng)
    frequencies = rng.uniform(low, high, size=n_snps)
    # Binomial(2, p) as two Bernoulli(p) allele draws: the same law, several times faster.
    genotypes = np.zeros((n_people, n_snps), dtype=np.int8)
    threshold = frequencies.astype(np.float32)
    for _ in range(2):
        genotypes += rng.random((n_people, n_snps), dtype=np.float32) < threshold
    return (genotypes, frequencies) if return_frequencies else genotypes
