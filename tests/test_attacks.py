"""helpers.attacks, linkage and differencing section: exact answers on hand-built tables."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import attacks, data, deid

RELEASED = pd.DataFrame(
    {
        "zip": ["02138", "02138", "02139", "02139", "02140", "02141"],
        "dob": ["1945-07-31", "1960-01-01", "1960-01-01", "1970-02-02", "1980-03-03", "1990-04-04"],
        "sex": ["M", "F", "F", "M", "F", "M"],
        "diagnosis": ["I10", "E11", "Z00", "F32", "B20", "J45"],
    },
    index=["r0", "r1", "r2", "r3", "r4", "r5"],
)
VOTERS = pd.DataFrame(
    {
        "voter_id": ["v0", "v1", "v2", "v3", "v4"],
        "zip": ["02138", "02139", "02139", "02138", "02141"],
        "dob": ["1945-07-31", "1960-01-01", "1960-01-01", "1960-01-01", "1990-04-04"],
        "sex": ["M", "F", "F", "F", "M"],
    }
)
QI = ["zip", "dob", "sex"]


def test_linkage_exact_on_a_hand_built_table():
    result = attacks.linkage_attack(RELEASED, VOTERS, QI, auxiliary_id="voter_id")
    # r0 -> v0 and r1 -> v3 and r5 -> v4 unique; r2 matches v1 and v2; r3, r4 match nobody.
    assert result.candidates.to_dict() == {"r0": 1, "r1": 1, "r2": 2, "r3": 0, "r4": 0, "r5": 1}
    assert (result.n_unique, result.n_ambiguous, result.n_unmatched) == (3, 1, 2)
    assert result.reidentification_rate == pytest.approx(3 / 6)
    assert result.pairs.to_dict("list") == {
        "released_id": ["r0", "r1", "r5"],
        "auxiliary_id": ["v0", "v3", "v4"],
    }
    assert result.quasi_identifiers == tuple(QI)


def test_linkage_score_counts_right_and_wrong_links():
    result = attacks.linkage_attack(RELEASED, VOTERS, QI, auxiliary_id="voter_id")
    truth = pd.Series(["r0", "r2", None, "r9", "r5"], index=VOTERS["voter_id"])
    score = result.score(truth)
    # r0 -> v0 right; r1 -> v3 wrong (v3 is r9, not in the release); r5 -> v4 right.
    assert (score.n_linked, score.n_correct) == (3, 2)
    assert score.precision == pytest.approx(2 / 3)
    assert score.correct_rate == pytest.approx(2 / 6)
    # With a key: released ids translated to patient ids before comparing.
    key = pd.Series({f"r{i}": f"P{i}" for i in range(6)})
    truth_p = pd.Series(["P0", "P1", "P2", None, "P5"], index=VOTERS["voter_id"])
    assert result.score(truth_p, released_key=key).n_correct == 2  # v3 -> nobody
    # A broken scorer that ignores the answer key would call every link right: caught.
    assert score.n_correct < score.n_linked


def test_two_released_records_sharing_values_both_link_but_one_is_wrong():
    released = pd.DataFrame({"q": [1, 1, 2]}, index=["a", "b", "c"])
    aux = pd.DataFrame({"q": [1, 3]}, index=["x", "y"])
    result = attacks.linkage_attack(released, aux, ["q"])
    assert result.pairs["released_id"].tolist() == ["a", "b"]
    assert result.pairs["auxiliary_id"].tolist() == ["x", "x"]
    assert result.score(pd.Series({"x": "a", "y": None})).n_correct == 1


def test_missing_quasi_identifiers_match_nothing():
    released = pd.DataFrame({"q": [1.0, None], "r": ["a", "b"]})
    aux = pd.DataFrame({"q": [1.0, None], "r": ["a", "b"]})
    result = attacks.linkage_attack(released, aux, ["q", "r"])
    assert result.candidates.tolist() == [1, 0]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=30),
)
def test_linkage_counts_agree_with_brute_force(rel_rows, aux_rows):
    released = pd.DataFrame(rel_rows, columns=["a", "b"])
    aux = pd.DataFrame(aux_rows, columns=["a", "b"])
    result = attacks.linkage_attack(released, aux, ["a", "b"])
    expected = [sum(r == x for x in aux_rows) for r in rel_rows]
    assert result.candidates.tolist() == expected
    assert result.n_unique + result.n_ambiguous + result.n_unmatched == len(rel_rows)
    assert result.n_unique == sum(e == 1 for e in expected) == len(result.pairs)
    pairs = zip(result.pairs["released_id"], result.pairs["auxiliary_id"], strict=True)
    for rel_id, aux_id in pairs:
        assert rel_rows[rel_id] == aux_rows[aux_id]


def test_linkage_on_the_synthetic_population_removing_names_is_not_enough():
    population = data.synthetic_population(20_000, rng=5)
    roll, truth = data.voter_roll(population, fraction=0.6, rng=5, return_truth=True)
    release = population.drop(columns=["patient_id", "mrn", "name", "street_address", "phone"])
    full = attacks.linkage_attack(release, roll, data.QUASI_IDENTIFIERS, auxiliary_id="voter_id")
    score = full.score(truth, released_key=population["patient_id"])
    assert full.reidentification_rate > 0.3 and score.precision > 0.95
    sh = attacks.linkage_attack(
        deid.safe_harbor(population),
        deid.safe_harbor(roll, keep=["voter_id", "registration_year"]),
        ["zip3", "birth_year", "sex"],
        auxiliary_id="voter_id",
    )
    assert sh.score(truth, released_key=population["patient_id"]).n_correct < score.n_correct / 10


def test_linkage_validation():
    with pytest.raises(ValueError, match="no column"):
        attacks.linkage_attack(RELEASED, VOTERS, ["zip", "diagnosis"])
    with pytest.raises(ValueError, match="empty"):
        attacks.linkage_attack(RELEASED.iloc[:0], VOTERS, QI)
    with pytest.raises(ValueError, match="empty"):
        attacks.linkage_attack(RELEASED, VOTERS.iloc[:0], QI)
    with pytest.raises(ValueError, match="dtype"):
        attacks.linkage_attack(RELEASED, VOTERS.assign(zip=VOTERS["zip"].astype(int)), QI)
    with pytest.raises(ValueError, match="unique ids"):
        attacks.linkage_attack(RELEASED, VOTERS.assign(voter_id="v"), QI, auxiliary_id="voter_id")
    with pytest.raises(ValueError, match="repeated index"):
        attacks.linkage_attack(RELEASED.set_axis(["r"] * 6), VOTERS, QI)
    with pytest.raises(TypeError, match="DataFrame"):
        attacks.linkage_attack(RELEASED.to_dict(), VOTERS, QI)
    result = attacks.linkage_attack(RELEASED, VOTERS, QI)
    with pytest.raises(TypeError, match="truth"):
        result.score({"v0": "r0"})
    with pytest.raises(ValueError, match="unique index"):
        result.score(pd.Series(["r0", "r1"], index=[0, 0]))


# ------------------------------------------------------------------ differencing

PATIENTS = pd.DataFrame(
    {
        "patient_id": ["P1", "P2", "P3", "P4", "P5"],
        "diagnosis_code": ["B20", "Z00", "B20", "I10", "Z00"],
        "age": [40, 50, 60, 70, 80],
    }
)


@pytest.mark.parametrize(
    ("target", "truth"), [("P1", True), ("P2", False), ("P3", True), ("P4", False)]
)
def test_differencing_reveals_the_diagnosis_with_exact_counts(target, truth):
    result = attacks.differencing_attack(PATIENTS, target, ("diagnosis_code", "B20"))
    assert result.count_with == 2
    assert result.count_without == (1 if truth else 2)
    assert result.difference == (1 if truth else 0)
    assert result.inferred is truth and result.truth is truth and result.correct


def test_differencing_with_a_callable_condition_and_count():
    older = attacks.differencing_attack(PATIENTS, "P5", lambda df: df["age"] >= 65)
    assert (older.count_with, older.count_without, older.inferred) == (2, 1, True)
    # A count that rounds to tens (a crude "protection") hides this patient: the attack fails.
    tens = attacks.differencing_attack(
        PATIENTS, "P1", ("diagnosis_code", "B20"), count=lambda df: round(len(df), -1)
    )
    assert tens.difference == 0 and not tens.inferred and not tens.correct
    # The count callable sees exactly the matching records.
    seen = []

    def spy(df):
        seen.append(list(df["patient_id"]))
        return 0.0

    attacks.differencing_attack(PATIENTS, "P1", ("diagnosis_code", "B20"), count=spy)
    assert seen == [["P1", "P3"], ["P3"]]


def test_differencing_with_a_custom_id_column():
    frame = PATIENTS.rename(columns={"patient_id": "mrn"})
    result = attacks.differencing_attack(frame, "P3", ("diagnosis_code", "B20"), id_column="mrn")
    assert result.truth


def test_differencing_validation():
    with pytest.raises(ValueError, match="exactly once"):
        attacks.differencing_attack(PATIENTS, "P9", ("diagnosis_code", "B20"))
    with pytest.raises(ValueError, match="exactly once"):
        attacks.differencing_attack(
            pd.concat([PATIENTS, PATIENTS]), "P1", ("diagnosis_code", "B20")
        )
    with pytest.raises(ValueError, match="no column"):
        attacks.differencing_attack(PATIENTS, "P1", ("diagnosis", "B20"))
    with pytest.raises(ValueError, match="no column"):
        attacks.differencing_attack(PATIENTS, "P1", ("diagnosis_code", "B20"), id_column="mrn")
    with pytest.raises(ValueError, match="pair"):
        attacks.differencing_attack(PATIENTS, "P1", ("diagnosis_code",))
    with pytest.raises(TypeError, match="condition"):
        attacks.differencing_attack(PATIENTS, "P1", "B20")
    with pytest.raises(ValueError, match="one boolean per row"):
        attacks.differencing_attack(PATIENTS, "P1", lambda df: df["age"])
    with pytest.raises(TypeError, match="count"):
        attacks.differencing_attack(PATIENTS, "P1", ("diagnosis_code", "B20"), count=3)


# ------------------------------------------------------------------ edge paths (issue 12)


def test_linkage_compares_values_as_an_attacker_would():
    """A release that spells values differently from the roll is no safer: still linked."""
    respelled = RELEASED.assign(
        zip=RELEASED["zip"] + " ",
        sex=RELEASED["sex"].str.lower(),
        dob=pd.to_datetime(RELEASED["dob"]).astype("datetime64[s]"),
    )
    voters = VOTERS.assign(dob=pd.to_datetime(VOTERS["dob"]))
    plain = attacks.linkage_attack(
        RELEASED.assign(dob=pd.to_datetime(RELEASED["dob"])), voters, QI, auxiliary_id="voter_id"
    )
    spelled = attacks.linkage_attack(respelled, voters, QI, auxiliary_id="voter_id")
    assert spelled.n_unique == plain.n_unique == 3
    pd.testing.assert_frame_equal(spelled.pairs, plain.pairs)
    numbers = attacks.linkage_attack(
        pd.DataFrame({"year": [1950, 1960]}), pd.DataFrame({"year": [1950.0, 1960.0]}), ["year"]
    )
    assert numbers.n_unique == 2


def test_linkage_gives_the_kits_messages_for_bad_quasi_identifiers():
    with pytest.raises(ValueError, match="at least one column"):
        attacks.linkage_attack(RELEASED, VOTERS, [])
    with pytest.raises(ValueError, match="named more than once"):
        attacks.linkage_attack(RELEASED, VOTERS, ["zip", "zip"])
    with pytest.raises(ValueError, match="several columns labelled \\['zip'\\]"):
        attacks.linkage_attack(pd.concat([RELEASED, RELEASED[["zip"]]], axis=1), VOTERS, ["zip"])
    with pytest.raises(ValueError, match="mixes number and text"):
        attacks.linkage_attack(
            RELEASED.assign(zip=["02138", 2138, "02139", "02139", "02140", "02141"]), VOTERS, QI
        )
    with pytest.raises(ValueError, match="text values in released .* number values in auxiliary"):
        attacks.linkage_attack(RELEASED, VOTERS.assign(zip=VOTERS["zip"].astype(int)), QI)
