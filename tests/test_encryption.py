"""Tests of helpers.encryption: key policy, exact homomorphic sums, packing, secure FedAvg.

Small keys (512 bits, allow_insecure=True) wherever the property does not depend on the
key size; one 2048-bit key (module-scoped) for the key policy and the ciphertext size.
"""

import copy
import pickle
import threading
from dataclasses import FrozenInstanceError

import numpy as np
import phe
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phe import EncryptedNumber, PaillierPrivateKey
from phe.util import invert, mulmod

from helpers import data
from helpers import encryption as enc
from helpers import federated as fed

SMALL_BITS = 512
FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def keys():
    return enc.generate_keypair(SMALL_BITS, allow_insecure=True)


@pytest.fixture(scope="module")
def keys_2048():
    return enc.generate_keypair(2048)


finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)


# --- key policy -------------------------------------------------------------------------


def test_the_default_key_size_is_3072_bits_for_data_secret_beyond_2030(monkeypatch):
    asked = []

    def fake_generate(n_length):  # records the size instead of searching for primes
        asked.append(n_length)
        return "public", "private"

    monkeypatch.setattr(enc.phe, "generate_paillier_keypair", fake_generate)
    enc.generate_keypair()
    assert asked == [3072] == [enc.DEFAULT_KEY_BITS]
    assert enc.MIN_SECURE_KEY_BITS == 2048
    assert "2030" in enc.generate_keypair.__doc__ and "SP 800-57" in enc.NIST_SP_800_57


def test_2048_bit_keys_are_the_explicit_fast_option_with_512_byte_ciphertexts(keys_2048):
    public_key, private_key = keys_2048
    assert enc.key_bits_of(public_key) == 2048
    assert private_key.public_key == public_key
    assert enc.ciphertext_bytes(public_key) == 512


@pytest.mark.parametrize("bits", [1024, 1536, 2046])
def test_keys_below_2048_bits_are_refused_without_the_insecure_opt_in(bits):
    with pytest.raises(ValueError, match="NIST SP 800-57"):
        enc.generate_keypair(bits)


def test_small_keys_work_when_explicitly_allowed(keys):
    assert enc.key_bits_of(keys[0]) == SMALL_BITS
    assert enc.ciphertext_bytes(keys[0]) == 2 * SMALL_BITS // 8


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"key_bits": 2049}, ValueError),
        ({"key_bits": 64, "allow_insecure": True}, ValueError),
        ({"key_bits": 16384}, ValueError),
        ({"key_bits": 2048.0}, TypeError),
        ({"key_bits": 1024, "allow_insecure": "yes"}, TypeError),
    ],
)
def test_generate_keypair_validates_its_arguments(kwargs, error):
    with pytest.raises(error):
        enc.generate_keypair(**kwargs)


# --- one value per ciphertext -----------------------------------------------------------


@FAST
@given(st.lists(finite, min_size=1, max_size=6), st.lists(finite, min_size=6, max_size=6))
def test_decrypted_sum_of_encrypted_vectors_equals_the_plaintext_sum(keys, a, b):
    public_key, private_key = keys
    a = np.array(a)
    b = np.array(b[: a.size])
    ca, cb = enc.encrypt_vector(public_key, a), enc.encrypt_vector(public_key, b)
    total = enc.decrypt_vector(private_key, ca + cb)  # numpy adds the phe objects pairwise
    step = 16.0 ** enc.exponent_for(2.0**-24)
    assert np.all(np.abs(total - (a + b)) <= step + 1e-9 * np.abs(a + b))


def test_every_value_gets_the_same_exponent_so_the_exponent_leaks_nothing(keys):
    ciphertexts = enc.encrypt_vector(keys[0], [1e-9, 3.0, -12345.678, 0.0, 2.0**40])
    assert len({c.exponent for c in ciphertexts}) == 1


@pytest.mark.parametrize("precision", [1e-6, 2.0**-24, 0.5, 1.0, 16.0, 1000.0])
def test_exponent_for_gives_the_largest_step_not_above_the_precision(precision):
    exponent = enc.exponent_for(precision)
    assert 16.0**exponent <= precision < 16.0 ** (exponent + 1)


def test_encrypt_vector_rejects_bad_input(keys):
    with pytest.raises(ValueError, match="finite"):
        enc.encrypt_vector(keys[0], [1.0, np.nan])
    with pytest.raises(ValueError, match="1-D"):
        enc.encrypt_vector(keys[0], [[1.0]])
    with pytest.raises(TypeError, match="public_key"):
        enc.encrypt_vector("key", [1.0])
    with pytest.raises(ValueError, match="precision"):
        enc.encrypt_vector(keys[0], [1.0], precision=0.0)
    with pytest.raises(TypeError, match="private_key"):
        enc.decrypt_vector(keys[0], [])


# --- packing ----------------------------------------------------------------------------


def test_packing_round_trips_negatives_zeros_and_values_at_the_bound(keys):
    public_key, private_key = keys
    encoder = enc.PackedEncoder(
        precision_bits=16, n_parties=3, value_bound=5.0, public_key=public_key
    )
    vector = np.array([-5.0, 5.0, 0.0, -0.0, 1.25, -3.5, 2.0**-16, -(2.0**-16)] * 9)
    packed = encoder.encrypt(vector)
    assert len(packed.ciphertexts) == encoder.n_ciphertexts(vector.size) > 1
    np.testing.assert_array_equal(encoder.decrypt_sum(packed, private_key), vector)


@FAST
@given(
    st.integers(min_value=1, max_value=4),
    st.lists(st.floats(min_value=-3.0, max_value=3.0), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=30),
)
def test_decrypted_packed_sums_match_plaintext_within_the_quantisation_bound(keys, k, values, bits):
    public_key, private_key = keys
    encoder = enc.PackedEncoder(bits, n_parties=4, value_bound=3.0, public_key=public_key)
    base = np.array(values)
    vectors = [np.roll(base, i) * (-1) ** i for i in range(k)]
    total = sum(encoder.encrypt(v) for v in vectors)
    assert total.n_summed == k
    error = np.abs(encoder.decrypt_sum(total, private_key) - np.sum(vectors, axis=0))
    assert np.all(error <= encoder.quantisation_bound(k) + 1e-12)


def test_a_value_beyond_the_bound_raises_instead_of_wrapping(keys):
    encoder = enc.PackedEncoder(10, 2, 1.0, keys[0])
    with pytest.raises(OverflowError, match="value_bound"):
        encoder.encrypt([0.5, 1.0 + 2.0**-9])


def test_summing_more_than_n_parties_raises(keys):
    encoder = enc.PackedEncoder(10, 2, 1.0, keys[0])
    a, b, c = (encoder.encrypt([1.0, -1.0]) for _ in range(3))
    with pytest.raises(OverflowError, match="n_parties=2"):
        _ = a + b + c


def _sums_correctly(encoder, private_key, n):
    """The sum of n vectors at the bound decrypts to n times the bound, without error."""
    vector = np.full(2 * encoder.slots_per_ciphertext, encoder.value_bound)
    vector[1::2] = -encoder.value_bound
    total = sum(encoder.encrypt(vector) for _ in range(n))
    try:
        return np.array_equal(encoder.decrypt_sum(total, private_key), n * vector)
    except OverflowError:
        return False


class _NoHeadroom(enc.PackedEncoder):
    """A broken twin: slots sized for one party, yet it admits ``n_parties`` sums."""

    def __init__(self, precision_bits, n_parties, value_bound, public_key):
        super().__init__(precision_bits, 1, value_bound, public_key)
        object.__setattr__(self, "n_parties", n_parties)


def test_a_deliberately_broken_encoder_without_headroom_is_caught(keys):
    public_key, private_key = keys
    good = enc.PackedEncoder(12, 3, 7.0, public_key)
    assert _sums_correctly(good, private_key, 3)
    assert not _sums_correctly(_NoHeadroom(12, 3, 7.0, public_key), private_key, 3)


def test_encoders_with_different_layouts_do_not_mix(keys):
    a = enc.PackedEncoder(10, 2, 1.0, keys[0]).encrypt([0.5])
    b = enc.PackedEncoder(11, 2, 1.0, keys[0]).encrypt([0.5])
    with pytest.raises(ValueError, match="different encoders"):
        _ = a + b


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"precision_bits": -1}, ValueError),
        ({"precision_bits": 53}, ValueError),
        ({"n_parties": 0}, ValueError),
        ({"value_bound": 0.0}, ValueError),
        ({"value_bound": float("inf")}, ValueError),
        ({"value_bound": 2.0**40, "precision_bits": 20}, ValueError),
        ({"n_parties": 2**600, "precision_bits": 52, "value_bound": 0.5}, ValueError),
    ],
)
def test_packed_encoder_validates_its_arguments(keys, kwargs, error):
    arguments = {
        "precision_bits": 10,
        "n_parties": 2,
        "value_bound": 1.0,
        "public_key": keys[0],
    } | kwargs
    with pytest.raises(error):
        enc.PackedEncoder(**arguments)


# --- obfuscator pool --------------------------------------------------------------------


def test_the_pool_hands_out_each_obfuscator_once_and_refills_online(keys):
    pool = enc.ObfuscatorPool(keys[0], size=5)
    taken = [pool.take() for _ in range(7)]
    assert len(set(taken)) == 7
    assert len(pool) == 0 and pool.used == 7 and pool.computed_online == 2 and pool.precomputed == 5


def test_encryption_with_precomputed_obfuscators_decrypts_correctly(keys):
    public_key, private_key = keys
    pool = enc.ObfuscatorPool(public_key, size=3)
    values = np.array([2.5, -1.0, 0.125])
    ciphertexts = enc.encrypt_vector(public_key, values, pool=pool)
    np.testing.assert_array_equal(enc.decrypt_vector(private_key, ciphertexts), values)
    encoder = enc.PackedEncoder(8, 1, 3.0, public_key)
    np.testing.assert_array_equal(
        encoder.decrypt_sum(
            encoder.encrypt(values, pool=enc.ObfuscatorPool(public_key, 1)), private_key
        ),
        values,
    )


def test_reusing_an_obfuscator_would_reveal_the_difference_of_two_plaintexts(keys):
    """Why each r**n is used once: c1 / c2 = g**(m1 - m2) = 1 + n (m1 - m2) mod n**2."""
    public_key = keys[0]
    n, n2 = public_key.n, public_key.nsquare
    r = public_key.get_random_lt_n()
    c1 = public_key.raw_encrypt(1234, r_value=r)
    c2 = public_key.raw_encrypt(1000, r_value=r)
    assert (mulmod(c1, invert(c2, n2), n2) - 1) // n == 234
    c3 = public_key.raw_encrypt(1000)  # fresh r: the same trick yields noise
    assert (mulmod(c1, invert(c3, n2), n2) - 1) // n != 234


def test_a_pool_for_another_key_is_refused(keys, keys_2048):
    with pytest.raises(ValueError, match="different public key"):
        enc.encrypt_vector(keys[0], [1.0], pool=enc.ObfuscatorPool(keys_2048[0]))
    with pytest.raises(TypeError, match="pool"):
        enc.encrypt_vector(keys[0], [1.0], pool=[1])


# --- secure_sum -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["packed", "per_value"])
def test_secure_sum_equals_the_plaintext_sum_and_counts_its_costs(keys, method):
    public_key, private_key = keys
    vectors = np.random.default_rng(3).normal(0, 2, size=(4, 50))
    total, cost = enc.secure_sum(vectors, public_key, private_key, method=method, precision_bits=20)
    assert np.max(np.abs(total - vectors.sum(axis=0))) <= cost.quantisation_bound
    assert cost.n_parties == 4 and cost.length == 50 and cost.key_bits == SMALL_BITS
    assert cost.bytes_sent == cost.ciphertexts * enc.ciphertext_bytes(public_key)
    assert cost.plaintext_bytes == 4 * 50 * 8
    if method == "per_value":
        assert cost.ciphertexts == 200
    else:
        encoder = enc.PackedEncoder(20, 4, float(np.max(np.abs(vectors))), public_key)
        assert cost.ciphertexts == 4 * encoder.n_ciphertexts(50) < 200
    assert cost.total_seconds == pytest.approx(
        cost.encrypt_seconds + cost.aggregate_seconds + cost.decrypt_seconds
    )


def test_secure_sum_reports_the_offline_precomputation_separately(keys):
    pool = enc.ObfuscatorPool(keys[0])
    pool.fill(2)
    _, cost = enc.secure_sum(np.ones((2, 3)), *keys, pool=pool)
    assert cost.precompute_seconds == 0.0  # filled before the call: not this sum's cost
    assert pool.used == 2


def test_secure_sum_validates_its_arguments(keys, keys_2048):
    public_key, private_key = keys
    with pytest.raises(ValueError, match="method"):
        enc.secure_sum(np.ones((2, 2)), public_key, private_key, method="fast")
    with pytest.raises(ValueError, match="does not belong"):
        enc.secure_sum(np.ones((2, 2)), public_key, keys_2048[1])
    with pytest.raises(ValueError, match="2-D"):
        enc.secure_sum(np.ones(3), public_key, private_key)
    with pytest.raises(ValueError, match="finite"):
        enc.secure_sum([[1.0, np.inf]], public_key, private_key)


# --- encrypted inference ----------------------------------------------------------------


@FAST
@given(
    st.lists(st.floats(min_value=-50, max_value=50), min_size=3, max_size=3),
    st.lists(st.floats(min_value=-5, max_value=5), min_size=3, max_size=3),
    st.floats(min_value=-10, max_value=10),
)
def test_encrypted_scalar_product_equals_the_plaintext_score(keys, features, weights, intercept):
    public_key, private_key = keys
    encrypted = enc.encrypt_vector(public_key, features)
    score = enc.encrypted_linear_predict(encrypted, weights, intercept)
    assert isinstance(score, EncryptedNumber)
    expected = float(np.dot(features, weights) + intercept)
    # Features and weights are each rounded to 2**-24: the error is bounded by their sizes.
    bound = 2.0**-24 * (np.sum(np.abs(features)) + np.sum(np.abs(weights)) + 1) + 1e-9
    assert abs(private_key.decrypt(score) - expected) <= bound


def test_encrypted_scores_for_many_patients_and_a_fixed_result_exponent(keys):
    public_key, private_key = keys
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    rows = np.array([enc.encrypt_vector(public_key, x) for x in X], dtype=object)
    a = enc.encrypted_linear_predict(rows, [0.5, -1.0], 2.0)
    b = enc.encrypted_linear_predict(rows, [1e-7, 300.0], -0.001)
    np.testing.assert_allclose([private_key.decrypt(s) for s in a], X @ [0.5, -1.0] + 2.0)
    assert {s.exponent for s in a} == {s.exponent for s in b}  # the weights' sizes do not show


def test_encrypted_linear_predict_validates_its_arguments(keys):
    encrypted = enc.encrypt_vector(keys[0], [1.0, 2.0])
    with pytest.raises(ValueError, match="3 columns"):
        enc.encrypted_linear_predict(encrypted, [1.0, 2.0, 3.0], 0.0)
    with pytest.raises(TypeError, match="EncryptedNumber"):
        enc.encrypted_linear_predict([1.0, 2.0], [1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="intercept"):
        enc.encrypted_linear_predict(encrypted, [1.0, 2.0], float("nan"))


# --- secure aggregation in the FedAvg loop ----------------------------------------------


def _private_keys_reachable(obj, seen=None, skip=("key_holder",)):
    """Every PaillierPrivateKey reachable from obj's attributes (not through ``skip``)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, PaillierPrivateKey):
        return [obj]
    found = []
    children = []
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, (list, tuple, set)):
        children = list(obj)
    elif hasattr(obj, "__dict__"):
        children = [v for k, v in vars(obj).items() if k not in skip]
    for child in children:
        found += _private_keys_reachable(child, seen, skip)
    return found


def _aggregator(keys, n_parties=3, **kwargs):
    public_key, private_key = keys
    arguments = {"n_parties": n_parties, "weight_bound": 100.0, "max_samples": 1000} | kwargs
    return enc.SecureAggregator(public_key, enc.KeyHolder(private_key), **arguments)


def test_the_server_side_of_the_secure_aggregator_holds_no_private_key(keys):
    aggregator = _aggregator(keys)
    assert _private_keys_reachable(aggregator) == []
    assert _private_keys_reachable(aggregator, skip=()) != []  # the check can find one
    messages = [aggregator.encode(np.array([1.0, -2.0]), 10) for _ in range(3)]
    holder, aggregator.key_holder = aggregator.key_holder, None  # the server has no key holder
    combined = aggregator.combine(messages)
    aggregator.key_holder = holder
    np.testing.assert_allclose(aggregator.decode(combined), [1.0, -2.0], atol=1e-6)


def test_the_key_holder_refuses_to_decrypt_a_single_hospitals_message(keys):
    aggregator = _aggregator(keys)
    with pytest.raises(PermissionError, match="at least 2"):
        aggregator.decode(aggregator.encode(np.array([1.0]), 5))


def test_secure_fedavg_gives_the_plain_fedavg_model_within_quantisation(keys):
    parts, X_test, y_test = data.python_paillier_example_data(n_hospitals=3)
    hospitals = [fed.Hospital(X, y, name=f"H{i}", model="linear") for i, (X, y) in enumerate(parts)]
    plain = fed.federated_averaging(
        hospitals, rounds=4, local_epochs=2, lr=0.5, rng=0, test_data=(X_test, y_test)
    )
    aggregator = _aggregator(
        keys, n_parties=3, weight_bound=500.0, max_samples=200, precision_bits=20
    )
    secure = fed.federated_averaging(
        hospitals,
        rounds=4,
        local_epochs=2,
        lr=0.5,
        rng=0,
        test_data=(X_test, y_test),
        aggregator=aggregator,
    )
    assert np.max(np.abs(secure.weights - plain.weights)) < 1e-4
    assert secure.history["loss"].iloc[-1] == pytest.approx(
        plain.history["loss"].iloc[-1], rel=1e-6
    )
    per_message = aggregator.encoder.n_ciphertexts(X_test.shape[1] + 2) * enc.ciphertext_bytes(
        keys[0]
    )
    assert (secure.history["bytes_up"].iloc[1:] == 3 * per_message).all()


def test_secure_aggregator_refuses_updates_it_cannot_represent(keys):
    aggregator = _aggregator(keys, weight_bound=1.0, max_samples=10)
    with pytest.raises(OverflowError, match="weight_bound"):
        aggregator.encode(np.array([0.5, 1.5]), 5)
    with pytest.raises(ValueError, match="n_samples"):
        aggregator.encode(np.array([0.5]), 11)
    with pytest.raises(ValueError, match="at least one message"):
        aggregator.combine([])
    with pytest.raises(TypeError, match="KeyHolder"):
        enc.SecureAggregator(keys[0], keys[1], 2, 1.0, 10)


# --- notebook 05 exercise checks ----------------------------------------------------------


def test_notebook_05_checks_accept_right_and_reject_wrong_answers(keys):
    # (every exercise check also has its entry in tests/test_exercise_checks.py)
    from helpers import exercises

    public_key = keys[0]
    size = enc.ciphertext_bytes(public_key)
    bits = enc.key_bits_of(public_key)
    assert exercises.check_05_ciphertext_bytes(size, key_bits=bits).startswith("Correct")
    for wrong in (size // 2, size + 1, ...):
        with pytest.raises(exercises.ExerciseNotSolved):
            exercises.check_05_ciphertext_bytes(wrong, key_bits=bits)

    expected = enc.PackedEncoder(24, 10, 8.0, public_key).n_ciphertexts(1000)
    assert exercises.check_05_ciphertexts_per_hospital(expected, public_key, 10, 8.0, 24, 1000)
    for wrong in (1000, expected + 1, ...):
        with pytest.raises(exercises.ExerciseNotSolved):
            exercises.check_05_ciphertexts_per_hospital(wrong, public_key, 10, 8.0, 24, 1000)


def test_federated_standardisation_through_secure_aggregation_matches_plain(keys):
    from helpers import data

    X, y = data.breast_cancer()
    parts = data.split_across_hospitals(X.iloc[:, :4], y, 3, rng=1)

    def hospitals():
        return [fed.Hospital(Xh, yh, name=f"H{i}") for i, (Xh, yh) in enumerate(parts)]

    plain = fed.federated_standardisation(hospitals(), apply=False)
    aggregator = _aggregator(
        keys, n_parties=3, weight_bound=5e6, max_samples=300, precision_bits=16
    )
    secure = fed.federated_standardisation(hospitals(), aggregator=aggregator, apply=False)
    np.testing.assert_allclose(secure.mean, plain.mean, rtol=1e-6)
    np.testing.assert_allclose(secure.scale, plain.scale, rtol=1e-6)


# --- edge paths (issue 12) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def undeclared_small_keys():
    """A 512-bit key made with phe directly: nobody told the kit it is a demo key."""
    return phe.generate_paillier_keypair(n_length=512)


def test_every_entry_point_refuses_a_small_key_not_declared_insecure(undeclared_small_keys, keys):
    public_key, private_key = undeclared_small_keys
    holder = enc.KeyHolder(keys[1])
    calls = {
        "encrypt_vector": lambda: enc.encrypt_vector(public_key, [1.0]),
        "decrypt_vector": lambda: enc.decrypt_vector(private_key, []),
        "PackedEncoder": lambda: enc.PackedEncoder(10, 2, 1.0, public_key),
        "ObfuscatorPool": lambda: enc.ObfuscatorPool(public_key),
        "secure_sum": lambda: enc.secure_sum([[1.0], [2.0]], public_key, private_key),
        "KeyHolder": lambda: enc.KeyHolder(private_key),
        "SecureAggregator": lambda: enc.SecureAggregator(public_key, holder, 2, 1.0, 10),
        "encrypted_linear_predict": lambda: enc.encrypted_linear_predict(
            [public_key.encrypt(1.0)], [1.0], 0.0
        ),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="512-bit modulus, below the 2048-bit minimum"):
            call()
        assert name  # every entry point in the table was exercised
    # the same size is accepted when the one opt-in declared it at generation (``keys``)
    assert enc.decrypt_vector(keys[1], enc.encrypt_vector(keys[0], [1.5])) == [1.5]
    assert enc.key_bits_of(public_key) == 512  # describing a key is not using it


def test_the_key_holder_cannot_be_pickled_or_copied(keys):
    holder = enc.KeyHolder(keys[1])
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="KeyHolder cannot be"):
            attempt(holder)


def test_the_server_side_aggregator_cannot_serialise_the_private_key(keys):
    aggregator = _aggregator(keys)
    for attempt in (pickle.dumps, copy.deepcopy):
        with pytest.raises(TypeError, match="cannot be"):
            attempt(aggregator)
    # What the server does send, its messages, serialise without any private prime.
    message = aggregator.encode(np.array([1.0, -2.0]), 10)
    blob = pickle.dumps(message)
    p, q = keys[1].p, keys[1].q
    for prime in (p, q):
        assert prime.to_bytes((prime.bit_length() + 7) // 8, "little") not in blob
        assert prime.to_bytes((prime.bit_length() + 7) // 8, "big") not in blob
        assert str(prime).encode() not in blob
    assert pickle.loads(blob).n_summed == 1


def test_the_obfuscator_pool_refuses_copies_and_pickles(keys):
    pool = enc.ObfuscatorPool(keys[0], size=2)
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="ObfuscatorPool cannot be"):
            attempt(pool)


def test_threads_sharing_a_pool_never_receive_the_same_obfuscator(keys):
    pool = enc.ObfuscatorPool(keys[0], size=120)
    taken, lock = [], threading.Lock()

    def worker():
        mine = [pool.take() for _ in range(20)]
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == len(set(taken)) == 160
    assert pool.used == 160 and pool.computed_online == 40 and len(pool) == 0


def test_an_obfuscator_duplicated_by_hand_or_across_a_fork_is_never_used_twice(keys, monkeypatch):
    pool = enc.ObfuscatorPool(keys[0], size=2)
    value = pool._values[-1]
    assert pool.take() == value
    pool._values.append(value)  # what a restored copy of the pool would hold
    with pytest.raises(RuntimeError, match="already handed out"):
        pool.take()
    forked = enc.ObfuscatorPool(keys[0], size=1)
    monkeypatch.setattr(enc.os, "getpid", lambda: -1)  # as seen from a forked child
    with pytest.raises(RuntimeError, match="another process"):
        forked.take()


def test_n_summed_is_read_only_and_derived_so_the_headroom_check_holds(keys):
    encoder = enc.PackedEncoder(10, 2, 1.0, keys[0])
    a, b, c = (encoder.encrypt([0.5, -0.5]) for _ in range(3))
    total = a + b
    with pytest.raises(AttributeError):
        total.n_summed = 1  # the old bypass: reset the counter, then add a third vector
    with pytest.raises(FrozenInstanceError):
        total.contributions = a.contributions
    with pytest.raises(OverflowError, match="n_parties=2"):
        _ = total + c
    with pytest.raises(ValueError, match="already holds it"):
        _ = a + a  # one hospital's vector doubled would pass for two hospitals
    with pytest.raises(AttributeError, match="layout is fixed"):
        encoder.n_parties = 3
    np.testing.assert_array_equal(encoder.decrypt_sum(total, keys[1]), [1.0, -1.0])


def test_per_value_sums_refuse_what_cannot_be_decoded_exactly(keys):
    public_key, private_key = keys
    # Four parties at 0.6 max_int each wrap past the modulus into a wrong, plausible total.
    near_limit = 0.6 * public_key.max_int * 16.0**-13
    with pytest.raises(OverflowError, match="decode exactly"):
        enc.secure_sum(
            [[near_limit]] * 4, public_key, private_key, method="per_value", precision_bits=52
        )
    # 1e17 + 8 at 2**-24 needs more than 53 bits: the float total would be rounded.
    with pytest.raises(OverflowError, match="decode exactly"):
        enc.secure_sum([[1e17 + 8], [1.0]], public_key, private_key, method="per_value")
    total, cost = enc.secure_sum([[1e6], [2.5]], public_key, private_key, method="per_value")
    assert abs(total[0] - 1000002.5) <= cost.quantisation_bound


def test_a_weight_bound_below_one_still_encodes_a_hospital_of_max_samples(keys):
    aggregator = _aggregator(keys, n_parties=2, weight_bound=0.5, max_samples=100)
    messages = [
        aggregator.encode(np.array([0.5, -0.25]), 100),
        aggregator.encode(np.array([0.1, 0.3]), 50),
    ]
    expected = (100 * np.array([0.5, -0.25]) + 50 * np.array([0.1, 0.3])) / 150
    np.testing.assert_allclose(aggregator.decode(aggregator.combine(messages)), expected, atol=1e-5)


def test_the_two_hospital_rule_is_stated_as_an_honest_but_curious_safeguard_only(keys):
    """A malicious server CAN pad one hospital's message with its own E(0): the kit says so."""
    aggregator = _aggregator(keys, n_parties=3)
    hospital = aggregator.encode(np.array([0.7, -1.3]), 10)
    padding = aggregator.encoder.encrypt(np.zeros(3))  # the server's own encryption of zeros
    leaked = aggregator.decode(hospital + padding)  # the key holder is fooled
    np.testing.assert_allclose(leaked, [0.7, -1.3], atol=1e-5)
    for text in (enc.KeyHolder.__doc__, enc.SecureAggregator.__doc__, aggregator.trusted_parties):
        assert "honest-but-curious" in text.lower()
    with pytest.raises(PermissionError, match="honest-but-curious"):
        aggregator.decode(hospital)
