"""Secure aggregation by pairwise masking: the server learns the sum, and nobody holds a key.

The protocol of K. Bonawitz, V. Ivanov, B. Kreuter, A. Marcedone, H. B. McMahan, S. Patel,
D. Ramage, A. Segal and K. Seth, "Practical Secure Aggregation for Privacy-Preserving Machine
Learning", ACM CCS 2017, https://eprint.iacr.org/2017/281 (its semi-honest version, with
double masking), for hospitals that each hold a vector of fixed-point numbers:

1. **Advertise keys.** Every hospital makes two X25519 key pairs (RFC 7748: one to encrypt
   messages to the others, one to agree mask seeds) and sends the public halves to the server,
   which forwards them to everyone.
2. **Share keys.** Every hospital draws a self-mask seed ``b_i`` and splits it and its
   mask-agreement private key into ``n`` Shamir shares with threshold ``t`` (A. Shamir, "How to
   Share a Secret", Communications of the ACM 22(11), 1979,
   https://doi.org/10.1145/359168.359176); share ``j`` goes to hospital ``j``, encrypted and
   authenticated (AES-GCM) under the key it agrees with ``j``, relayed by the server.
3. **Masked input.** Hospital ``i`` sends ``y_i = x_i + PRG(b_i) + sum_{j > i} PRG(s_ij) -
   sum_{j < i} PRG(s_ij)`` modulo ``2**64``, where ``s_ij`` is the seed it agreed with ``j``
   by Diffie-Hellman (``j`` computes the same seed from its own private key). Over all
   hospitals the pairwise masks cancel; each ``y_i`` alone is uniformly distributed.
4. **Unmask.** The server announces who sent ``y``. Each survivor reveals, for every other
   hospital, ONE share: of ``b_u`` if ``u`` sent its input, of ``u``'s mask key if ``u``
   dropped out (never both for the same hospital). With ``t`` shares the server rebuilds the
   self masks of the survivors and the pairwise masks the dropped hospitals left behind,
   removes them, and holds the exact sum of the survivors' vectors, and nothing else.

What each party sees: the server sees public keys, encrypted shares, the masked vectors
(each uniformly random on its own), the ``t`` shares needed to unmask, and the sum of the
survivors. No party holds a key that decrypts anything else, so there is no key holder to
trust; the guarantee is that fewer than ``t`` colluding parties (hospitals, or the server
with ``t - 1`` hospitals) learn nothing beyond the sum. Fewer than ``t`` survivors: the masks
cannot be removed, :class:`TooFewSurvivorsError` is raised, and nothing is revealed.

What is simulated: all parties run in one process and the server relays messages by a
function call; the cryptography (X25519, HKDF-SHA256, AES-GCM, a ChaCha20 keystream as the
PRG, Shamir over the Mersenne prime ``2**521 - 1``) is the ``cryptography`` package's real
primitives. The threshold must exceed ``n / 2``: with less, a server that lies to two halves
of the hospitals about who dropped out could collect both kinds of share for one hospital.

Randomness: with ``rng=None`` (the default) every secret comes from the operating system's
cryptographic generator (``secrets``); a seed makes a run reproducible for tests and
demonstrations only (anyone who knows it can recompute every mask).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from helpers import federated
from helpers._validation import check_integer, check_real, check_rng

#: Arithmetic is modulo 2**RING_BITS (numpy's uint64 wrap-around).
RING_BITS = 64
#: Shamir shares live in the field of this prime (a Mersenne prime above every 256-bit secret).
SHAMIR_PRIME = 2**521 - 1
_KEY_BYTES = 32  # an X25519 key, a seed
_FIELD_BYTES = (SHAMIR_PRIME.bit_length() + 7) // 8  # 66 bytes per field element
_SHARE_BYTES = 2 + _FIELD_BYTES  # the share's x-coordinate (2 bytes) and its value
_NONCE_BYTES, _TAG_BYTES = 12, 16  # AES-GCM
_INDEX_BYTES = 2  # a hospital's number in a list the server sends
#: The protocol's rounds of communication (advertise keys, share keys, masked input, unmask).
ROUNDS = 4


class TooFewSurvivorsError(ValueError):
    """Fewer hospitals reported than the threshold: their masks cannot be removed."""


# --- randomness ---------------------------------------------------------------------------


class _Randomness:
    """Secret bytes from the OS (rng None) or, for reproducible demonstrations, a seed."""

    def __init__(self, rng):
        self.secure = rng is None
        self._rng = None if self.secure else check_rng(rng)

    def bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n) if self.secure else self._rng.bytes(n)

    def below(self, bound: int) -> int:
        if self.secure:
            return secrets.randbelow(bound)
        n_bytes = (bound.bit_length() + 7) // 8 + 8  # 64 extra bits: the modulo bias is < 2**-64
        return int.from_bytes(self._rng.bytes(n_bytes), "big") % bound


# --- Shamir secret sharing ----------------------------------------------------------------


def shamir_split(
    secret: int, n_shares: int, threshold: int, prime: int = SHAMIR_PRIME, rng=None
) -> list[tuple[int, int]]:
    """Split ``secret`` into ``n_shares`` points of a random polynomial of degree ``threshold - 1``.

    ``f(x) = secret + a_1 x + ... + a_{t-1} x^{t-1} mod prime`` with random ``a_k``; share ``j``
    is ``(j, f(j))`` for ``j = 1..n_shares``. Any ``threshold`` shares give ``f(0) = secret``
    back (:func:`shamir_reconstruct`); fewer say nothing about it (every secret fits them
    equally well).

    Parameters
    ----------
    secret : int in [0, prime).  n_shares : int >= 1.  threshold : int in [1, n_shares].
    prime : a prime larger than the secret and than ``n_shares``.
    rng : None (OS randomness) or a seed / Generator (reproducible, not secret).

    Reference: A. Shamir, "How to Share a Secret", Communications of the ACM 22(11), 1979.
    """
    prime = check_integer(prime, "prime", minimum=3)
    n_shares = check_integer(n_shares, "n_shares", minimum=1, maximum=prime - 1)
    threshold = check_integer(threshold, "threshold", minimum=1, maximum=n_shares)
    secret = check_integer(secret, "secret", minimum=0, maximum=prime - 1)
    randomness = _Randomness(rng)
    coefficients = [secret] + [randomness.below(prime) for _ in range(threshold - 1)]
    shares = []
    for x in range(1, n_shares + 1):
        value = 0
        for a in reversed(coefficients):  # Horner's rule
            value = (value * x + a) % prime
        shares.append((x, value))
    return shares


def shamir_reconstruct(shares, prime: int = SHAMIR_PRIME) -> int:
    """The secret ``f(0)`` from shares ``(x, f(x))`` with distinct x, by Lagrange interpolation.

    Give at least the threshold's number of shares: fewer return a wrong number, and nothing
    here can tell (that is the point of the scheme).
    """
    prime = check_integer(prime, "prime", minimum=3)
    shares = [(int(x) % prime, int(y) % prime) for x, y in shares]
    if not shares:
        raise ValueError("shares must hold at least one (x, f(x)) pair; got none")
    xs = [x for x, _ in shares]
    if len(set(xs)) != len(xs) or 0 in xs:
        raise ValueError(f"shares need distinct, non-zero x-coordinates; got {xs}")
    secret = 0
    for j, (x_j, y_j) in enumerate(shares):
        numerator, denominator = 1, 1
        for m, x_m in enumerate(xs):
            if m != j:
                numerator = numerator * (-x_m) % prime
                denominator = denominator * (x_j - x_m) % prime
        secret = (secret + y_j * numerator * pow(denominator, -1, prime)) % prime
    return secret


# --- the primitives -----------------------------------------------------------------------


def expand_seed(seed: bytes, length: int) -> np.ndarray:
    """A pseudorandom mask of ``length`` integers modulo 2**64 from a 32-byte seed (ChaCha20)."""
    if not isinstance(seed, bytes) or len(seed) != _KEY_BYTES:
        raise ValueError(f"seed must be {_KEY_BYTES} bytes; got {type(seed).__name__}")
    length = check_integer(length, "length", minimum=1)
    keystream = Cipher(algorithms.ChaCha20(seed, b"\x00" * 16), mode=None).encryptor()
    return np.frombuffer(keystream.update(b"\x00" * (8 * length)), dtype=np.uint64).copy()


def _raw(key) -> bytes:
    if isinstance(key, X25519PrivateKey):
        return key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _agree(private_key: X25519PrivateKey, public_key: X25519PublicKey, purpose: bytes) -> bytes:
    """Diffie-Hellman on X25519, then HKDF-SHA256: a 32-byte key both parties compute alike."""
    shared = private_key.exchange(public_key)
    return HKDF(hashes.SHA256(), length=_KEY_BYTES, salt=None, info=purpose).derive(shared)


def _field_bytes(value: int) -> bytes:
    return value.to_bytes(_FIELD_BYTES, "big")


# --- fixed point --------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedPoint:
    """Real numbers as integers modulo 2**64: ``q = round(x * 2**precision_bits)``.

    Sums of up to ``n_parties`` values of magnitude at most ``value_bound`` decode exactly
    (two's complement, no wrap-around): the constructor refuses a layout without that headroom.
    """

    precision_bits: int
    value_bound: float
    n_parties: int

    def __post_init__(self):
        check_integer(self.precision_bits, "precision_bits", minimum=0, maximum=52)
        check_real(self.value_bound, "value_bound", low=0.0, low_inclusive=False)
        check_integer(self.n_parties, "n_parties", minimum=1)
        largest = self.n_parties * (self.value_bound * 2.0**self.precision_bits + 1)
        if largest >= 2.0 ** (RING_BITS - 1):
            raise ValueError(
                f"n_parties * value_bound * 2**precision_bits must stay below 2**{RING_BITS - 1} "
                f"so the sum decodes without wrapping; got {self.n_parties} * {self.value_bound:g}"
                f" * 2**{self.precision_bits}: lower precision_bits or value_bound"
            )

    def encode(self, values) -> np.ndarray:
        """The ring elements (uint64) for ``values``; refuses values beyond the bound."""
        values = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("values must hold only finite numbers")
        if np.any(np.abs(values) > self.value_bound):
            raise OverflowError(
                f"a value of magnitude {np.max(np.abs(values)):g} exceeds value_bound="
                f"{self.value_bound:g}; clip before masking (masking never wraps silently)"
            )
        return np.rint(values * 2.0**self.precision_bits).astype(np.int64).view(np.uint64)

    def decode(self, ring_values) -> np.ndarray:
        """Ring elements (a sum of encodings) back to floats."""
        signed = np.asarray(ring_values, dtype=np.uint64).view(np.int64)
        return signed.astype(np.float64) / 2.0**self.precision_bits

    def quantisation_bound(self, n_summed: int) -> float:
        """Largest |error| of one entry of a decoded sum of ``n_summed`` encoded vectors."""
        return check_integer(n_summed, "n_summed", minimum=1) * 0.5 / 2.0**self.precision_bits


# --- the protocol -------------------------------------------------------------------------


@dataclass
class MaskingCost:
    """What one masked secure sum cost; every party simulated in one process.

    Seconds are CPU seconds of this process (``time.process_time``), summed over the
    hospitals (``client_seconds``) and at the server (``server_seconds``). Bytes count what
    travels, without transport overhead: ``bytes_up`` from the hospitals to the server,
    ``bytes_down`` from the server to the hospitals, over the protocol's ``rounds``.
    ``key_agreements`` and ``prg_values`` count Diffie-Hellman exchanges and mask integers
    expanded, by everyone. ``secure_randomness`` is False when a seed made the run
    reproducible (not secret).
    """

    n_parties: int
    length: int
    threshold: int
    dropped: tuple
    client_seconds: float
    server_seconds: float
    bytes_up: int
    bytes_down: int
    key_agreements: int
    prg_values: int
    quantisation_bound: float
    secure_randomness: bool
    rounds: int = ROUNDS

    @property
    def survivors(self) -> int:
        return self.n_parties - len(self.dropped)

    @property
    def total_seconds(self) -> float:
        return self.client_seconds + self.server_seconds

    @property
    def bytes_up_per_party(self) -> float:
        """Upload of one hospital that reported, on average."""
        return self.bytes_up / max(1, self.survivors)

    @property
    def bytes_down_per_party(self) -> float:
        """Download of one hospital, on average: keys and shares relayed, who reported."""
        return self.bytes_down / self.n_parties

    @property
    def expansion(self) -> float:
        """Upload per reporting hospital over its vector as float64 (8 bytes a value)."""
        return self.bytes_up_per_party / (8 * self.length)


class _Hospital:
    """One party's secrets and what it has received; lives at the hospital."""

    def __init__(self, index: int, randomness: _Randomness):
        self.index = index
        self.channel_key = X25519PrivateKey.from_private_bytes(randomness.bytes(_KEY_BYTES))
        self.mask_key = X25519PrivateKey.from_private_bytes(randomness.bytes(_KEY_BYTES))
        self.self_seed = randomness.bytes(_KEY_BYTES)
        self.received = {}  # sender -> ciphertext of (share of b_sender, share of mask key)


class MaskingRound:
    """One run of the protocol among ``n_parties`` hospitals (numbered 0..n-1).

    Construction runs rounds 1 and 2 (keys advertised, seeds shared); :meth:`mask` is round
    3 at one hospital; :meth:`unmask` is round 4 at the server, given the masked vectors that
    arrived. ``server_view`` lists what the server has received. Fresh keys every round: a
    MaskingRound unmasks once.

    Parameters
    ----------
    n_parties : int >= 2.  length : int >= 1, values per vector.
    threshold : int with n_parties / 2 < threshold <= n_parties; None: ``n_parties // 2 + 1``.
    rng : None (OS randomness, the default) or a seed (reproducible, not secret).
    """

    def __init__(self, n_parties: int, length: int, threshold: int | None = None, rng=None):
        self.n_parties = check_integer(n_parties, "n_parties", minimum=2)
        self.length = check_integer(length, "length", minimum=1)
        self.threshold = _check_threshold(threshold, self.n_parties)
        self._randomness = _Randomness(rng)
        self._clock = {"client": 0.0, "server": 0.0}
        self.bytes_up = self.bytes_down = self.key_agreements = self.prg_values = 0
        self.server_view: dict = {}
        self._unmasked = False
        n = self.n_parties

        # Round 1: every hospital advertises two public keys; the server forwards all of them.
        start = time.process_time()
        self._hospitals = [_Hospital(i, self._randomness) for i in range(n)]
        self._public = [
            (h.channel_key.public_key(), h.mask_key.public_key()) for h in self._hospitals
        ]
        self._clock["client"] += time.process_time() - start
        self.server_view["public keys"] = [(_raw(c), _raw(m)) for c, m in self._public]
        self.bytes_up += n * 2 * _KEY_BYTES
        self.bytes_down += n * n * 2 * _KEY_BYTES

        # Round 2: each hospital Shamir-shares its self-mask seed and its mask key, and sends
        # share j to hospital j encrypted under the key they agree (the server relays blobs).
        start = time.process_time()
        relayed = {}
        for h in self._hospitals:
            b_shares = shamir_split(
                int.from_bytes(h.self_seed, "big"), n, self.threshold, rng=self._next_seed()
            )
            key_shares = shamir_split(
                int.from_bytes(_raw(h.mask_key), "big"), n, self.threshold, rng=self._next_seed()
            )
            for j in range(n):
                if j == h.index:
                    continue
                channel = _agree(h.channel_key, self._public[j][0], b"ppml-kit share channel")
                self.key_agreements += 1
                plaintext = _field_bytes(b_shares[j][1]) + _field_bytes(key_shares[j][1])
                nonce = self._randomness.bytes(_NONCE_BYTES)
                header = bytes([h.index >> 8, h.index & 255, j >> 8, j & 255])
                relayed[(h.index, j)] = nonce + AESGCM(channel).encrypt(nonce, plaintext, header)
            h.own_shares = (b_shares[h.index][1], key_shares[h.index][1])
        self._clock["client"] += time.process_time() - start
        blob = _NONCE_BYTES + 2 * _FIELD_BYTES + _TAG_BYTES
        self.bytes_up += n * (n - 1) * blob
        self.bytes_down += n * (n - 1) * blob
        self.server_view["encrypted shares"] = relayed
        for (sender, receiver), ciphertext in relayed.items():
            self._hospitals[receiver].received[sender] = ciphertext

    def _next_seed(self):
        return None if self._randomness.secure else self._randomness._rng

    def _pairwise_mask(self, i: int, j: int, private_key: X25519PrivateKey) -> np.ndarray:
        """+PRG(s_ij) for i < j, -PRG(s_ij) for i > j: what i adds for the pair (i, j)."""
        seed = _agree(private_key, self._public[j][1], b"ppml-kit mask seed")
        self.key_agreements += 1
        self.prg_values += self.length
        mask = expand_seed(seed, self.length)
        return mask if i < j else (np.uint64(0) - mask)

    def mask(self, index: int, ring_values) -> np.ndarray:
        """Round 3, AT HOSPITAL ``index``: its vector (ring elements) plus all its masks."""
        index = check_integer(index, "index", minimum=0, maximum=self.n_parties - 1)
        values = np.asarray(ring_values, dtype=np.uint64).reshape(-1)
        if values.size != self.length:
            raise ValueError(f"the vector must hold length={self.length} values; got {values.size}")
        start = time.process_time()
        h = self._hospitals[index]
        masked = values + expand_seed(h.self_seed, self.length)
        self.prg_values += self.length
        for j in range(self.n_parties):
            if j != index:
                masked = masked + self._pairwise_mask(index, j, h.mask_key)
        self._clock["client"] += time.process_time() - start
        self.bytes_up += 8 * self.length
        return masked

    def unmask(self, masked: dict) -> np.ndarray:
        """Round 4, AT THE SERVER: the exact sum (mod 2**64) of the vectors in ``masked``.

        ``masked`` maps hospital index -> the masked vector it sent; absent hospitals dropped
        out. Raises :class:`TooFewSurvivorsError` when fewer than ``threshold`` reported.
        """
        if self._unmasked:
            raise ValueError("this MaskingRound has already unmasked; start a new round")
        survivors = sorted(
            check_integer(i, "hospital index", 0, self.n_parties - 1) for i in masked
        )
        dropped = [i for i in range(self.n_parties) if i not in masked]
        if len(survivors) < self.threshold:
            raise TooFewSurvivorsError(
                f"only {len(survivors)} of {self.n_parties} hospitals reported, fewer than the "
                f"threshold t={self.threshold}: the masks cannot be removed, the round is aborted "
                "and nothing is revealed"
            )
        self.server_view["masked vectors"] = {i: np.array(masked[i]) for i in survivors}
        self.bytes_down += len(survivors) * _INDEX_BYTES * len(survivors)  # who reported

        # Each survivor reveals ONE share per other hospital: of b_u (u reported) or of u's
        # mask key (u dropped), never both for the same u.
        start = time.process_time()
        revealed_b = {u: [] for u in survivors}
        revealed_key = {u: [] for u in dropped}
        for v in survivors:
            h = self._hospitals[v]
            for u in range(self.n_parties):
                if u == v:
                    b_share, key_share = h.own_shares
                else:
                    channel = _agree(h.channel_key, self._public[u][0], b"ppml-kit share channel")
                    self.key_agreements += 1
                    blob = h.received[u]
                    header = bytes([u >> 8, u & 255, v >> 8, v & 255])
                    plain = AESGCM(channel).decrypt(
                        blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], header
                    )
                    b_share = int.from_bytes(plain[:_FIELD_BYTES], "big")
                    key_share = int.from_bytes(plain[_FIELD_BYTES:], "big")
                if u in masked:
                    revealed_b[u].append((v + 1, b_share))
                else:
                    revealed_key[u].append((v + 1, key_share))
        self._clock["client"] += time.process_time() - start
        self.bytes_up += len(survivors) * self.n_parties * _SHARE_BYTES
        self.server_view["revealed shares"] = {
            "self-mask seeds": revealed_b,
            "mask keys": revealed_key,
        }

        start = time.process_time()
        total = np.zeros(self.length, dtype=np.uint64)
        for v in survivors:
            total = total + np.asarray(masked[v], dtype=np.uint64)
        for u in survivors:  # remove each survivor's self mask
            seed = shamir_reconstruct(revealed_b[u][: self.threshold]).to_bytes(_KEY_BYTES, "big")
            total = total - expand_seed(seed, self.length)
            self.prg_values += self.length
        for u in dropped:  # remove the pairwise masks a dropped hospital left in survivors' inputs
            raw = shamir_reconstruct(revealed_key[u][: self.threshold]).to_bytes(_KEY_BYTES, "big")
            key = X25519PrivateKey.from_private_bytes(raw)
            for v in survivors:
                # v added its mask for the pair (v, u); the server recomputes it from u's key.
                seed = _agree(key, self._public[v][1], b"ppml-kit mask seed")
                self.key_agreements += 1
                self.prg_values += self.length
                mask = expand_seed(seed, self.length)
                total = total - (mask if v < u else (np.uint64(0) - mask))
        self._clock["server"] += time.process_time() - start
        self._unmasked = True
        self.dropped = tuple(dropped)
        return total

    def cost(self, quantisation_bound: float = 0.0) -> MaskingCost:
        return MaskingCost(
            n_parties=self.n_parties,
            length=self.length,
            threshold=self.threshold,
            dropped=getattr(self, "dropped", ()),
            client_seconds=self._clock["client"],
            server_seconds=self._clock["server"],
            bytes_up=self.bytes_up,
            bytes_down=self.bytes_down,
            key_agreements=self.key_agreements,
            prg_values=self.prg_values,
            quantisation_bound=quantisation_bound,
            secure_randomness=self._randomness.secure,
        )


def _check_threshold(threshold, n_parties: int) -> int:
    if threshold is None:
        return n_parties // 2 + 1
    return check_integer(threshold, "threshold", minimum=n_parties // 2 + 1, maximum=n_parties)


def masked_secure_sum(
    vectors,
    dropped=(),
    threshold: int | None = None,
    precision_bits: int = 24,
    value_bound: float | None = None,
    rng=None,
) -> tuple[np.ndarray, MaskingCost]:
    """The sum of the vectors of the hospitals that did not drop out, by pairwise masking.

    Every hospital masks its fixed-point vector; the server adds the masked vectors of those
    who reported and removes the masks with ``threshold`` Shamir shares per hospital. The
    server learns the survivors' sum and nothing else; no party holds a decryption key.

    Parameters
    ----------
    vectors : 2-D array (hospitals x length) of finite numbers, one row per hospital.
    dropped : indices of hospitals that lose their connection after the key exchange and
        never send their masked vector (the protocol removes the masks they left behind).
    threshold : int, the most hospitals that may collude is ``threshold - 1``; must satisfy
        ``n / 2 < threshold <= n``; None: ``n // 2 + 1``. At least ``threshold`` hospitals
        must report, else :class:`TooFewSurvivorsError` (a ValueError).
    precision_bits : int in [0, 52]; values are rounded to multiples of 2**-precision_bits.
    value_bound : float > 0, the agreed largest |value| (None: the largest present, which a
        real protocol fixes in advance instead).
    rng : None (the default: secrets from the OS) or a seed/Generator (reproducible masks,
        for tests and demonstrations only).

    Returns ``(total, cost)``: the decoded sum of the survivors' rounded vectors (exact: it
    equals the sum of ``round(x * 2**p) / 2**p`` over them) and a :class:`MaskingCost`.

    Reference: Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine
    Learning", ACM CCS 2017, https://eprint.iacr.org/2017/281.
    """
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 1:
        raise ValueError(
            f"vectors must be a 2-D array (hospitals x length) with at least 2 hospitals; "
            f"got shape {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError("vectors must hold only finite numbers")
    n, length = matrix.shape
    dropped = _check_dropped(dropped, n)
    if value_bound is None:
        value_bound = max(float(np.max(np.abs(matrix))), 2.0**-precision_bits)
    codec = FixedPoint(precision_bits, value_bound, n)
    protocol = MaskingRound(n, length, threshold, rng)
    masked = {i: protocol.mask(i, codec.encode(matrix[i])) for i in range(n) if i not in dropped}
    total = codec.decode(protocol.unmask(masked))
    return total, protocol.cost(codec.quantisation_bound(n - len(dropped)))


def _check_dropped(dropped, n: int) -> frozenset:
    if isinstance(dropped, int | np.integer) and not isinstance(dropped, bool):
        dropped = (dropped,)
    try:
        indices = [check_integer(i, "dropped index", minimum=0, maximum=n - 1) for i in dropped]
    except TypeError as error:
        raise TypeError(f"dropped must be a list of hospital indices; {error}") from None
    return frozenset(indices)


# --- for helpers.federated ----------------------------------------------------------------


@dataclass
class MaskedMessage:
    """What one hospital sends in round 3: its index and its masked vector (uint64)."""

    sender: int
    masked: np.ndarray
    protocol_bytes: int


class MaskingAggregator(federated.Aggregator):
    """Secure aggregation for FedAvg by pairwise masking: no key holder, dropouts tolerated.

    select (AT THE SERVER): the asked hospitals run rounds 1-2 (fresh keys every round).
    encode_as (AT HOSPITAL ``sender``): mask ``[n w, n]``. combine (AT THE SERVER): unmask the
    sum of the hospitals that reported, or raise TooFewSurvivorsError. decode: ``sum(n w) /
    sum(n)``, the same weighted mean as plain FedAvg up to the fixed-point rounding.

    Trust model: the server sees masked vectors (each uniformly random) and the sum over the
    hospitals that reported; fewer than ``threshold`` colluding parties learn nothing more.
    Nobody holds a key; a hospital can still send a malicious update, and the sum still
    reveals what sums reveal (add DP for that).

    Bytes: ``message_bytes`` is everything a reporting hospital uploads in a round (keys,
    shares, masked vector, unmasking shares); ``protocol_bytes`` adds what the server relays
    down (every hospital's public keys, the shares addressed to each, who reported) and the
    uploads of hospitals that dropped out, so a FedAvg history counts every byte sent.

    Parameters
    ----------
    weight_bound : float > 0, the largest |weight| a hospital may send (OverflowError above).
    max_samples : int >= 1, the largest patient count of one hospital (bounds ``n * w``).
    threshold : None (a majority of the hospitals asked each round) or an int with
        n / 2 < threshold <= n, the hospitals that must report for a round to complete.
    precision_bits : int, fractional bits of ``n * w``.
    rng : None (OS randomness) or a seed (reproducible masks; for tests only).
    """

    name = "secure aggregation (pairwise masking)"
    trusted_parties = (
        "server sees masked vectors and the sum over the hospitals that reported; "
        "fewer than the threshold of colluding parties learn nothing more; no key holder"
    )

    def __init__(
        self,
        weight_bound: float,
        max_samples: int,
        threshold: int | None = None,
        precision_bits: int = 20,
        rng=None,
    ):
        self.weight_bound = check_real(weight_bound, "weight_bound", low=0.0, low_inclusive=False)
        self.max_samples = check_integer(max_samples, "max_samples", minimum=1)
        self.threshold = threshold
        self.precision_bits = check_integer(precision_bits, "precision_bits", minimum=0, maximum=52)
        self._rng = rng
        self._round = None
        self._index = {}
        self._uncounted = None  # the last round, until protocol_bytes has counted it
        self._uploaded = 0  # what its arrived messages counted (message_bytes)

    def _codec(self, n_parties: int) -> FixedPoint:
        return FixedPoint(self.precision_bits, self.weight_bound * self.max_samples, n_parties)

    def select(self, round_number, hospitals, rng):
        asked = list(hospitals)
        if len(asked) < 2:
            raise ValueError(
                "masking needs at least 2 hospitals in a round (one alone would reveal its update)"
            )
        self._index = {h.name: i for i, h in enumerate(asked)}
        self._codec(len(asked))  # refuse a layout without headroom before anyone computes
        self._length = asked[0].n_features + 2  # n * w (coefficients and intercept) and n
        self._round = MaskingRound(len(asked), self._length, self.threshold, self._rng)
        self._uncounted, self._uploaded = self._round, 0
        return asked

    def encode(self, weights, n_samples, rng=None):
        raise TypeError(
            "MaskingAggregator masks with pairwise keys, so it must know who sends: the FedAvg "
            "loop calls encode_as(sender, ...)"
        )

    def encode_as(self, sender, weights, n_samples, rng=None) -> MaskedMessage:
        """AT HOSPITAL ``sender``: mask ``[n * w, n]``."""
        if self._round is None or sender not in self._index:
            raise ValueError(f"hospital {sender!r} was not asked in this round")
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        n_samples = check_integer(n_samples, "n_samples", minimum=1, maximum=self.max_samples)
        if weights.size + 1 != self._length:
            raise ValueError(f"weights must hold {self._length - 1} values; got {weights.size}")
        if np.any(np.abs(weights) > self.weight_bound):
            raise OverflowError(
                f"a weight of magnitude {np.max(np.abs(weights)):g} exceeds weight_bound="
                f"{self.weight_bound:g}; raise weight_bound (masking never wraps)"
            )
        codec = self._codec(self._round.n_parties)
        index = self._index[sender]
        before = self._round.bytes_up
        masked = self._round.mask(index, codec.encode(np.append(n_samples * weights, n_samples)))
        n = self._round.n_parties
        setup = 2 * _KEY_BYTES + (n - 1) * (_NONCE_BYTES + 2 * _FIELD_BYTES + _TAG_BYTES)
        unmask = n * _SHARE_BYTES
        return MaskedMessage(index, masked, setup + (self._round.bytes_up - before) + unmask)

    def combine(self, messages):
        """AT THE SERVER: unmask the sum of the hospitals that reported."""
        messages = list(messages)
        if self._round is None:
            raise ValueError("combine before select: no masking round is running")
        total = self._round.unmask({m.sender: m.masked for m in messages})
        self._uploaded = sum(int(m.protocol_bytes) for m in messages)
        self.last_cost = self._round.cost()
        self._round = None
        return self._codec(self.last_cost.n_parties).decode(total)

    def decode(self, combined, rng=None) -> np.ndarray:
        totals = np.asarray(combined, dtype=np.float64)
        count = round(totals[-1])
        if count <= 0:
            raise ValueError(f"the combined patient count must be > 0; got {totals[-1]}")
        return totals[:-1] / count

    def message_bytes(self, message) -> int:
        """Everything one hospital uploads in the round: keys, shares, masked vector, unmasking."""
        return int(message.protocol_bytes)

    def protocol_bytes(self) -> tuple[int, int]:
        """AT THE SERVER, after combine: the round's bytes beyond the messages and the weights.

        Down: the public keys relayed to every hospital, the encrypted shares delivered, the
        list of who reported (what :class:`MaskingRound` counted as ``bytes_down``). Up: the
        keys and shares of hospitals that dropped out after sending them (a reporting
        hospital's are in its message). Each round is counted once.
        """
        protocol, self._uncounted = self._uncounted, None
        if protocol is None:
            return (0, 0)
        return (protocol.bytes_up - self._uploaded, protocol.bytes_down)
