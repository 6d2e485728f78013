"""Property tests of helpers.encryption, one promise per test, over every public function that
takes a key or data:

1. a key below 2048 bits is refused unless it was declared insecure at generation, and a
   2048-bit key is accepted, by every entry point;
2. bad data (not finite real numbers) are refused with the kit's message naming them;
3. decryption reproduces the same numbers although the ciphertexts differ (fresh OS
   randomness): the decrypted result is what is reproducible, never a seeded ciphertext;
4. numpy's and Python's global random states are never touched;
5. nothing is printed and no warning escapes;
6. a decrypted result is finite and within its quantisation bound, or the call refuses
   (OverflowError / ValueError) -- never a silently wrapped number.

Speed: one 512-bit key declared insecure (``allow_insecure=True``) for the arithmetic, one
512-bit key made with phe directly (undeclared), and ONE 2048-bit key for the session.
"""

from __future__ import annotations

import random
import warnings

import numpy as np
import phe
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import encryption as enc

FAST = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="session")
def demo_keys():
    return enc.generate_keypair(512, allow_insecure=True)


@pytest.fixture(scope="session")
def undeclared_keys():
    return phe.generate_paillier_keypair(n_length=512)


@pytest.fixture(scope="session")
def keys_2048():
    return enc.generate_keypair(2048)


def _entry_points(public_key, private_key):
    """Every public function of the module that takes a key, called with valid data."""
    encoder_key = public_key

    def aggregator():
        return enc.SecureAggregator(public_key, enc.KeyHolder(private_key), 2, 10.0, 100)

    return {
        "encrypt_vector": lambda: enc.encrypt_vector(public_key, [1.0, -2.5]),
        "decrypt_vector": lambda: enc.decrypt_vector(private_key, []),
        "PackedEncoder": lambda: enc.PackedEncoder(10, 2, 1.0, encoder_key),
        "ObfuscatorPool": lambda: enc.ObfuscatorPool(public_key, size=1),
        "secure_sum": lambda: enc.secure_sum([[1.0], [2.0]], public_key, private_key),
        "KeyHolder": lambda: enc.KeyHolder(private_key),
        "SecureAggregator": aggregator,
        "encrypted_linear_predict": lambda: enc.encrypted_linear_predict(
            [public_key.encrypt(1.0)], [1.0], 0.0
        ),
    }


ENTRY_POINTS = sorted(_entry_points(None, None))


# ------------------------------------------------------------------------ 1. keys


@FAST
@given(name=st.sampled_from(ENTRY_POINTS))
def test_an_undeclared_small_key_is_refused_by_every_entry_point(undeclared_keys, name):
    with pytest.raises(ValueError, match="below the 2048-bit minimum"):
        _entry_points(*undeclared_keys)[name]()


@FAST
@given(name=st.sampled_from(ENTRY_POINTS))
def test_a_2048_bit_key_and_a_declared_demo_key_are_accepted_by_every_entry_point(
    keys_2048, demo_keys, name
):
    _entry_points(*keys_2048)[name]()
    _entry_points(*demo_keys)[name]()


@FAST
@given(
    bits=st.one_of(
        st.integers(-(10**400), 2047).filter(lambda b: b % 2 == 0), st.sampled_from([2049, 9000])
    )
)
def test_key_generation_refuses_a_size_below_2048_without_the_opt_in_or_an_odd_or_huge_one(bits):
    with pytest.raises(ValueError, match="key_bits"):
        enc.generate_keypair(bits)


@FAST
@given(bad=st.sampled_from([2048.0, "2048", True, None]))
def test_key_generation_refuses_a_size_that_is_not_an_integer(bad):
    with pytest.raises(TypeError, match="key_bits"):
        enc.generate_keypair(bad)


# ------------------------------------------------------------------------ 2. data

BAD_DATA = st.sampled_from(
    [[1.0, float("nan")], [float("inf")], [True, False], ["1.5"], [None], [1 + 2j], [10**400],
     np.array(["1"]), "12"]
)  # fmt: skip


def _data_calls(public_key, private_key):
    encoder = enc.PackedEncoder(10, 2, 5.0, public_key)
    aggregator = enc.SecureAggregator(public_key, enc.KeyHolder(private_key), 2, 10.0, 100)
    return {
        "values": lambda bad: enc.encrypt_vector(public_key, bad),
        "vector": lambda bad: encoder.encrypt(bad),
        "vectors": lambda bad: enc.secure_sum([bad, bad], public_key, private_key),
        "weights": lambda bad: aggregator.encode(bad, 10),
    }


@FAST
@given(data=st.data(), bad=BAD_DATA)
def test_data_that_are_not_finite_real_numbers_are_refused_naming_them(demo_keys, data, bad):
    calls = _data_calls(*demo_keys)
    name = data.draw(st.sampled_from(sorted(calls)))
    with pytest.raises((ValueError, TypeError), match=name):
        calls[name](bad)


# ------------------------------------------------------------------------ 3. reproducibility

VALUES = st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=5)


@FAST
@given(values=VALUES)
def test_decryption_reproduces_the_numbers_although_ciphertexts_are_fresh(demo_keys, values):
    public_key, private_key = demo_keys
    first, second = (enc.encrypt_vector(public_key, values) for _ in range(2))
    assert all(a.ciphertext() != b.ciphertext() for a, b in zip(first, second, strict=True))
    np.testing.assert_array_equal(
        enc.decrypt_vector(private_key, first), enc.decrypt_vector(private_key, second)
    )


@FAST
@given(rows=st.integers(2, 4), values=VALUES)
def test_secure_sums_decrypt_to_the_same_total_every_time(demo_keys, rows, values):
    vectors = np.array([np.roll(values, i) for i in range(rows)])
    for method in enc.SECURE_SUM_METHODS:
        first, _ = enc.secure_sum(vectors, *demo_keys, method=method)
        second, _ = enc.secure_sum(vectors, *demo_keys, method=method)
        np.testing.assert_array_equal(first, second)


# ------------------------------------------------------------------------ 4. global state


@FAST
@given(name=st.sampled_from(ENTRY_POINTS))
def test_no_global_random_state_is_touched(demo_keys, name):
    np.random.seed(2024)
    random.seed(2024)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    _entry_points(*demo_keys)[name]()
    numpy_after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(numpy_before, numpy_after, strict=True))
    assert random.getstate() == python_before


# ------------------------------------------------------------------------ 5. printing


@FAST
@given(name=st.sampled_from(ENTRY_POINTS))
def test_nothing_is_printed_and_no_warning_escapes(demo_keys, capsys, name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _entry_points(*demo_keys)[name]()
    assert caught == [] and capsys.readouterr() == ("", "")


# ------------------------------------------------------------------------ 6. finiteness

WIDE = st.lists(
    st.one_of(st.floats(-1.7e308, 1.7e308), st.sampled_from([1e300, -1e17 - 8, 2.0**60])),
    min_size=1,
    max_size=3,
)


@settings(max_examples=30, deadline=None)
@given(
    values=WIDE,
    parties=st.integers(1, 4),
    bits=st.integers(0, 52),
    method=st.sampled_from(enc.SECURE_SUM_METHODS),
)
def test_a_secure_sum_is_exact_within_its_bound_or_refused(
    demo_keys, values, parties, bits, method
):
    vectors = np.array([values] * parties)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            total, cost = enc.secure_sum(vectors, *demo_keys, method=method, precision_bits=bits)
        except (OverflowError, ValueError):
            return  # refused: never a wrapped or silently rounded total
    assert np.all(np.isfinite(total))
    expected = np.sum(vectors, axis=0)  # exact here: equal rows
    assert np.all(np.abs(total - expected) <= cost.quantisation_bound)


@settings(max_examples=30, deadline=None)
@given(values=WIDE, parties=st.integers(1, 3))
def test_packed_sums_are_exact_within_their_bound_or_refused(demo_keys, values, parties):
    public_key, private_key = demo_keys
    try:
        encoder = enc.PackedEncoder(8, parties, max(abs(v) for v in values) or 1.0, public_key)
    except ValueError:
        return  # a bound the slots cannot hold is refused at construction
    total = sum(encoder.encrypt(values) for _ in range(parties))
    decrypted = encoder.decrypt_sum(total, private_key)
    assert np.all(
        np.abs(decrypted - parties * np.array(values)) <= encoder.quantisation_bound(parties)
    )
