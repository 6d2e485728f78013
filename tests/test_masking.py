"""helpers.masking: secure aggregation by pairwise masking (Bonawitz et al. 2017)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from helpers import dp_learning, evaluation, federated, masking

# ------------------------------------------------------------------------ Shamir sharing


@settings(max_examples=25, deadline=None)
@given(
    secret=st.integers(min_value=0, max_value=2**256 - 1),
    n=st.integers(min_value=1, max_value=9),
    data=st.data(),
)
def test_any_threshold_shares_rebuild_the_secret(secret, n, data):
    t = data.draw(st.integers(min_value=1, max_value=n))
    shares = masking.shamir_split(secret, n, t, rng=data.draw(st.integers(0, 2**32)))
    chosen = data.draw(st.permutations(shares))[:t]
    assert masking.shamir_reconstruct(chosen) == secret


def test_fewer_shares_than_the_threshold_say_nothing_useful():
    secret = 123456789
    shares = masking.shamir_split(secret, 5, 3, rng=0)
    assert masking.shamir_reconstruct(shares[:2]) != secret
    # Two shares fit every secret equally well: whatever the missing third share, each value
    # of it gives another secret, and every secret of the field occurs exactly once.
    small = 101
    two = masking.shamir_split(42, 5, 3, prime=small, rng=1)[:2]
    secrets = {masking.shamir_reconstruct([*two, (3, y)], prime=small) for y in range(small)}
    assert secrets == set(range(small))


def test_shamir_validation():
    with pytest.raises(ValueError, match="threshold must be <= 3"):
        masking.shamir_split(5, 3, 4)
    with pytest.raises(ValueError, match="secret must be <= 100"):
        masking.shamir_split(101, 3, 2, prime=101)
    with pytest.raises(ValueError, match="distinct, non-zero"):
        masking.shamir_reconstruct([(1, 5), (1, 6)])


# --------------------------------------------------------------------- the masked sum


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=7),
    length=st.integers(min_value=1, max_value=12),
    data=st.data(),
)
def test_a_masked_sum_with_dropouts_is_the_exact_sum_of_the_survivors(n, length, data):
    threshold = data.draw(st.integers(min_value=n // 2 + 1, max_value=n))
    dropped = data.draw(st.sets(st.integers(0, n - 1), max_size=n - threshold))
    seed = data.draw(st.integers(0, 2**32))
    vectors = np.random.default_rng(seed).normal(scale=50.0, size=(n, length))
    total, cost = masking.masked_secure_sum(
        vectors,
        dropped=dropped,
        threshold=threshold,
        precision_bits=20,
        value_bound=400.0,
        rng=seed,
    )
    survivors = [i for i in range(n) if i not in dropped]
    quantised = np.rint(vectors[survivors] * 2.0**20).sum(axis=0) / 2.0**20
    np.testing.assert_array_equal(total, quantised)  # exact on the fixed-point values
    assert np.max(np.abs(total - vectors[survivors].sum(axis=0))) <= cost.quantisation_bound
    assert cost.survivors == len(survivors) and cost.dropped == tuple(sorted(dropped))


def test_below_the_threshold_the_round_is_aborted():
    vectors = np.ones((5, 4))
    with pytest.raises(masking.TooFewSurvivorsError, match="fewer than the threshold t=3"):
        masking.masked_secure_sum(vectors, dropped=(0, 1, 2), threshold=3, rng=0)
    assert issubclass(masking.TooFewSurvivorsError, ValueError)
    total, _ = masking.masked_secure_sum(vectors, dropped=(0, 1), threshold=3, rng=0)
    np.testing.assert_array_equal(total, 3 * np.ones(4))


def test_the_threshold_must_be_a_majority():
    for bad in (1, 2):  # n = 4: a threshold of n / 2 or less is refused
        with pytest.raises(ValueError, match="threshold must be >= 3"):
            masking.masked_secure_sum(np.ones((4, 2)), threshold=bad)
    with pytest.raises(ValueError, match="threshold must be <= 4"):
        masking.masked_secure_sum(np.ones((4, 2)), threshold=5)


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="at least 2 hospitals"):
        masking.masked_secure_sum(np.ones((1, 3)))
    with pytest.raises(ValueError, match="finite"):
        masking.masked_secure_sum(np.array([[1.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="dropped index must be <= 2"):
        masking.masked_secure_sum(np.ones((3, 2)), dropped=(3,))
    with pytest.raises(OverflowError, match="exceeds value_bound"):
        masking.masked_secure_sum(np.array([[1.0], [5.0]]), value_bound=2.0)
    with pytest.raises(ValueError, match="below 2\\*\\*63"):
        masking.FixedPoint(40, 1e6, 10)


def _one_masked_vector(length, rng, values=1000.0):
    protocol = masking.MaskingRound(5, length, rng=rng)
    codec = masking.FixedPoint(24, 1000.0, 5)
    return protocol, protocol.mask(2, codec.encode(np.full(length, values)))


def test_the_servers_view_of_one_masked_vector_is_uniform():
    # A constant, large vector: without masks every entry would be the same integer.
    _, masked = _one_masked_vector(4000, rng=3)
    as_unit = masked.astype(np.float64) / 2.0**64
    assert stats.kstest(as_unit, "uniform").pvalue > 1e-3
    low_bytes = (masked & np.uint64(255)).astype(int)
    assert stats.chisquare(np.bincount(low_bytes, minlength=256)).pvalue > 1e-3
    # The broken twin: a hospital that forgot its masks sends its encoding, which the same
    # tests reject outright (and two hospitals' "masked" vectors would be equal).
    unmasked = masking.FixedPoint(24, 1000.0, 5).encode(np.full(4000, 1000.0))
    assert stats.kstest(unmasked.astype(np.float64) / 2.0**64, "uniform").pvalue < 1e-10


def test_masks_cancel_and_the_self_mask_protects_a_late_message():
    vectors = np.arange(12, dtype=float).reshape(3, 4)
    codec = masking.FixedPoint(8, 20.0, 3)
    protocol = masking.MaskingRound(3, 4, threshold=2, rng=5)
    masked = {i: protocol.mask(i, codec.encode(vectors[i])) for i in range(3)}
    plain_sum = sum(masked.values())  # pairwise masks cancel, the self masks do not
    assert not np.array_equal(codec.decode(plain_sum), vectors.sum(axis=0))
    np.testing.assert_array_equal(codec.decode(protocol.unmask(masked)), vectors.sum(axis=0))
    with pytest.raises(ValueError, match="already unmasked"):
        protocol.unmask(masked)


def test_the_server_gets_one_kind_of_share_per_hospital_never_both():
    protocol = masking.MaskingRound(5, 3, threshold=3, rng=9)
    codec = masking.FixedPoint(8, 10.0, 5)
    masked = {i: protocol.mask(i, codec.encode(np.ones(3))) for i in (0, 2, 3, 4)}  # 1 drops
    protocol.unmask(masked)
    revealed = protocol.server_view["revealed shares"]
    assert set(revealed["self-mask seeds"]) == {0, 2, 3, 4}
    assert set(revealed["mask keys"]) == {1}
    # The relayed shares are ciphertexts: no blob contains a share in the clear.
    blobs = protocol.server_view["encrypted shares"]
    assert len(blobs) == 5 * 4
    share = revealed["mask keys"][1][0][1].to_bytes(66, "big")
    assert not any(share in blob for blob in blobs.values())


def test_os_randomness_by_default_and_seeds_reproduce():
    vectors = np.ones((3, 5))
    first = _one_masked_vector(8, rng=None)[1]
    second = _one_masked_vector(8, rng=None)[1]
    assert not np.array_equal(first, second)  # fresh secrets every run
    np.testing.assert_array_equal(_one_masked_vector(8, rng=4)[1], _one_masked_vector(8, rng=4)[1])
    total, cost = masking.masked_secure_sum(vectors)
    assert cost.secure_randomness and np.array_equal(total, 3 * np.ones(5))
    assert not masking.masked_secure_sum(vectors, rng=1)[1].secure_randomness


def test_the_cost_record_counts_bytes_and_rounds():
    _, cost = masking.masked_secure_sum(np.ones((4, 100)), dropped=(3,), rng=0)
    assert cost.rounds == 4 and cost.survivors == 3
    # each hospital: 2 public keys, 3 encrypted share pairs; survivors: 100 values, 4 shares
    per_blob = 12 + 2 * 66 + 16
    assert cost.bytes_up == 4 * 64 + 4 * 3 * per_blob + 3 * 8 * 100 + 3 * 4 * 68
    # every hospital gets all 4 key pairs and its 3 share blobs; the 3 survivors, who reported
    assert cost.bytes_down == 4 * 4 * 64 + 4 * 3 * per_blob + 3 * 3 * 2
    assert cost.bytes_down_per_party == cost.bytes_down / 4
    assert cost.key_agreements > 0 and cost.client_seconds >= 0


# ------------------------------------------------------------------- in federated averaging


@pytest.fixture(scope="module")
def task():
    return evaluation.breast_cancer_task(seed=0)


def test_masked_fedavg_is_plain_fedavg_including_a_dropout(task):
    hospitals = federated.make_hospitals(task.hospital_data)
    lost = {4: ["H2"], 7: ["H1", "H5"]}
    plain = federated.federated_averaging(hospitals, 10, 2, 1.0, dropped=lost)
    aggregator = masking.MaskingAggregator(evaluation.WEIGHT_BOUND, task.n_train, threshold=3)
    masked = federated.federated_averaging(
        hospitals, 10, 2, 1.0, aggregator=aggregator, dropped=lost
    )
    np.testing.assert_allclose(masked.weights, plain.weights, atol=1e-5)
    assert masked.history["reported"].tolist()[1:] == plain.history["reported"].tolist()[1:]
    assert (masked.history["bytes_up"].iloc[1:] > plain.history["bytes_up"].iloc[1:]).all()
    with pytest.raises(masking.TooFewSurvivorsError):
        federated.federated_averaging(
            hospitals,
            3,
            1,
            1.0,
            aggregator=masking.MaskingAggregator(1e3, task.n_train),
            dropped={2: ["H1", "H2", "H3"]},
        )
    with pytest.raises(TypeError, match="encode_as"):
        aggregator.encode(np.zeros(31), 10)


def _bytes_sent(protocol: masking.MaskingRound) -> tuple[int, int]:
    """(up, down) of one round, from the messages themselves (what the server saw and relayed)."""
    view = protocol.server_view
    keys = sum(len(channel) + len(mask) for channel, mask in view["public keys"])
    blobs = sum(len(blob) for blob in view["encrypted shares"].values())
    vectors = sum(vector.nbytes for vector in view["masked vectors"].values())
    revealed = view["revealed shares"]
    shares = [s for kind in revealed.values() for per_party in kind.values() for s in per_party]
    share_bytes = sum(2 + len(masking._field_bytes(value)) for _, value in shares)  # (x, f(x))
    survivors = len(view["masked vectors"])
    up = keys + blobs + vectors + share_bytes  # every hospital's keys and shares, then survivors'
    # every hospital receives every key pair and its own shares; survivors the list of who reported
    down = protocol.n_parties * keys + blobs + survivors * survivors * 2
    return up, down


def test_the_history_counts_every_byte_the_protocol_sends(task):
    """bytes_up and bytes_down of a masked FedAvg run equal the bytes of the messages sent."""
    rounds = []

    class Recording(masking.MaskingAggregator):
        def select(self, round_number, hospitals, rng):
            asked = super().select(round_number, hospitals, rng)
            rounds.append(self._round)
            return asked

    hospitals = federated.make_hospitals(task.hospital_data)
    aggregator = Recording(evaluation.WEIGHT_BOUND, task.n_train, threshold=3)
    lost = {2: ["H2"], 3: ["H1", "H4"]}  # dropped after the key exchange
    run = federated.federated_averaging(hospitals, 3, 1, 1.0, aggregator=aggregator, dropped=lost)
    broadcast = 5 * 8 * (task.n_features + 1)  # the global weights, to every hospital asked
    for protocol, (_, row) in zip(rounds, run.history.iloc[1:].iterrows(), strict=True):
        up, down = _bytes_sent(protocol)
        assert (row["bytes_up"], row["bytes_down"]) == (up, down + broadcast)
        assert (up, down) == (protocol.bytes_up, protocol.bytes_down)  # the round's own count
    # the protocol's downloads are most of a round's: 5 x 5 key pairs, 20 share blobs, the list
    assert run.history["bytes_down"].iloc[1] == 5 * 5 * 64 + 20 * 160 + 5 * 5 * 2 + broadcast
    # through a DP aggregator (central noise over masking) the same bytes are counted
    plan = dp_learning.DPFederatedPlan(
        epsilon=1.0,
        delta=1e-5,
        rounds=2,
        clip_norm=1.0,
        lr=2.0,
        hospitals=[f"H{i + 1}" for i in range(5)],
        total_patients=task.n_train,
    )
    inner = masking.MaskingAggregator(plan.lr * plan.clip_norm, 1)
    dp_run, _ = dp_learning.dp_federated_averaging(plan, task.hospital_data, inner=inner, rng=0)
    assert dp_run.history["bytes_down"].iloc[1:].tolist() == [4850 + broadcast] * 2
    assert (dp_run.history["bytes_up"].iloc[1:] == run.history["bytes_up"].iloc[1]).all()


def test_central_dp_over_masking_is_the_plain_dp_model(task):
    plan = dp_learning.DPFederatedPlan(
        epsilon=1.0,
        delta=1e-5,
        rounds=5,
        clip_norm=1.0,
        lr=2.0,
        hospitals=[f"H{i + 1}" for i in range(5)],
        total_patients=task.n_train,
    )
    plain, _ = dp_learning.dp_federated_averaging(plan, task.hospital_data, rng=3)
    inner = masking.MaskingAggregator(plan.lr * plan.clip_norm, 1)
    masked, _ = dp_learning.dp_federated_averaging(plan, task.hospital_data, inner=inner, rng=3)
    np.testing.assert_allclose(masked.weights, plain.weights, atol=1e-4)
