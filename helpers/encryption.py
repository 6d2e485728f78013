"""Paillier homomorphic encryption on ``phe``: safe keys, vectors, packing, secure aggregation.

Paillier encryption is *additively homomorphic*: multiplying two ciphertexts gives a
ciphertext of the SUM of the plaintexts, and raising a ciphertext to a plaintext power
multiplies the plaintext by it. A server can therefore add hospitals' encrypted numbers
without being able to read any of them (P. Paillier, "Public-Key Cryptosystems Based on
Composite Degree Residuosity Classes", EUROCRYPT 1999,
https://doi.org/10.1007/3-540-48910-X_16). All arithmetic here is python-paillier's
(``phe`` 1.5, https://python-paillier.readthedocs.io); this module chooses safe
parameters and adds what a federated study needs:

- :func:`generate_keypair`: 3072-bit keys by default (health data must stay secret beyond
  2030), 2048 bits as the explicit fast option, smaller keys only with
  ``allow_insecure=True`` (classroom speed demos). Every function here that takes a key
  refuses one below 2048 bits unless it was generated with that opt-in.
- :func:`encrypt_vector` / :func:`decrypt_vector`: one ciphertext per value, every value
  with the SAME exponent, so ciphertexts add cheaply and the exponent (which ``phe`` leaves
  unencrypted) says nothing about any value's magnitude.
- :class:`PackedEncoder`: many fixed-point values in one ciphertext (the idea of BatchCrypt:
  C. Zhang et al., "BatchCrypt: Efficient Homomorphic Encryption for Cross-Silo Federated
  Learning", USENIX ATC 2020,
  https://www.usenix.org/conference/atc20/presentation/zhang-chengliang), with headroom so
  that up to ``n_parties`` ciphertexts add slot by slot without carries; it raises
  OverflowError instead of ever wrapping.
- :class:`ObfuscatorPool`: the expensive part of an encryption, ``r**n mod n**2`` for a fresh
  random ``r``, computed ahead of time (offline, e.g. overnight) so the online encryption is
  one multiplication. Each precomputed value is handed out exactly ONCE: two ciphertexts
  that share an obfuscator reveal the difference of their plaintexts. Pools refuse to be
  copied or pickled, hand values out under a lock, and every value handed out in this
  process is remembered (by digest) so that none is ever handed out twice.
- :func:`secure_sum`: the sum of several parties' vectors, per value or packed, with a cost
  record.
- :class:`SecureAggregator` and :class:`KeyHolder`: secure aggregation for
  ``helpers.federated``. The key holder's "at least k hospitals" rule is an
  honest-but-curious safeguard only (see :class:`KeyHolder`); the key holder cannot be
  copied or pickled, so neither can an aggregator that holds a handle on it.
- :func:`encrypted_linear_predict`: a model owner scores encrypted patient features and
  returns an encrypted risk score it cannot read.

Randomness: the random ``r`` of every encryption comes from the operating system's
cryptographic generator (``phe``'s ``get_random_lt_n``, ``random.SystemRandom``), never from
a seeded ``numpy`` generator. Ciphertexts therefore differ between runs; every DECRYPTED
result is deterministic, which is what the notebooks state and check.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
import secrets
import threading
import time
from dataclasses import dataclass

import numpy as np
import phe
from phe import EncodedNumber, EncryptedNumber, PaillierPrivateKey, PaillierPublicKey
from phe.util import mulmod, powmod

from helpers._validation import check_choice, check_integer, check_real, check_real_array
from helpers.federated import Aggregator
from helpers.progress import progress as _progress

#: NIST SP 800-57 Part 1 Rev. 5, "Recommendation for Key Management: Part 1 - General"
#: (E. Barker, May 2020, https://doi.org/10.6028/NIST.SP.800-57pt1r5). Table 2 gives a
#: factoring-based (IFC) modulus of 2048 bits 112 bits of security and one of 3072 bits 128
#: bits; Table 4 accepts 112 bits for applying protection through 2030 and disallows it from
#: 2031, when 128 bits are the minimum. Section 5.6.2 sizes a key by how long the data it
#: protects must stay secret, not by when it is encrypted. (The tables were checked against
#: several independent copies; the NIST PDF itself could not be retrieved while this was
#: written.)
NIST_SP_800_57 = (
    "NIST SP 800-57 Part 1 Rev. 5 (2020), Tables 2 and 4: 2048-bit keys (112-bit security) "
    "through 2030, 3072 bits (128-bit security) for data that must stay secret after 2030"
)

#: The key size ``generate_keypair`` uses by default: health records stay sensitive for
#: decades, well beyond 2030, so they need 128-bit security.
DEFAULT_KEY_BITS = 3072

#: The smallest key size this kit accepts without ``allow_insecure=True`` (112-bit security,
#: acceptable only for data that need not stay secret after 2030).
MIN_SECURE_KEY_BITS = 2048

#: Key sizes above this are refused (key generation would take minutes).
MAX_KEY_BITS = 8192

#: Bytes of one IEEE double, the plaintext a ciphertext replaces.
PLAINTEXT_BYTES = np.dtype(np.float64).itemsize

_BASE = EncodedNumber.BASE  # phe's exponent base (16)

#: Moduli of the keys generated in this process with ``allow_insecure=True``: the one way
#: to tell the kit that a key below 2048 bits is a deliberate classroom demo.
_DECLARED_INSECURE: set[int] = set()
_DECLARED_INSECURE_LOCK = threading.Lock()


# --- keys -----------------------------------------------------------------------------


def generate_keypair(
    key_bits: int = DEFAULT_KEY_BITS, allow_insecure: bool = False
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """Generate a Paillier key pair with ``phe``; refuse keys below 2048 bits unless told.

    Parameters
    ----------
    key_bits : int, even, in [128, 8192]; bits of the public modulus n. Default 3072
        (128-bit security), which NIST SP 800-57 asks for data that must stay secret after
        2030, as health records must. 2048 (112-bit security, about three times faster)
        is the explicit fast option, acceptable when what it protects needs secrecy only
        through 2030: a classroom run, synthetic data, a demonstration.
    allow_insecure : bool; True permits keys below 2048 bits (classroom speed demos only:
        a 1024-bit modulus has about 80 bits of security, which NIST no longer accepts).
        Such a key is then accepted by every function of this module, in this process;
        a small key made any other way is refused everywhere.

    Returns ``(public_key, private_key)`` as ``phe`` objects.

    Reference: NIST SP 800-57 Part 1 Rev. 5, "Recommendation for Key Management", May 2020,
    https://doi.org/10.6028/NIST.SP.800-57pt1r5, Tables 2 and 4 and Section 5.6.2.
    """
    key_bits = check_integer(key_bits, "key_bits", minimum=128, maximum=MAX_KEY_BITS)
    if key_bits % 2:
        raise ValueError(
            f"key_bits must be even (n = p * q, two primes of key_bits/2); got {key_bits}"
        )
    if not isinstance(allow_insecure, bool):
        raise TypeError(f"allow_insecure must be True or False; got {allow_insecure!r}")
    if key_bits < MIN_SECURE_KEY_BITS and not allow_insecure:
        raise ValueError(
            f"key_bits must be >= {MIN_SECURE_KEY_BITS} ({NIST_SP_800_57}); got {key_bits}. "
            "Pass allow_insecure=True only for classroom speed demos."
        )
    public_key, private_key = phe.generate_paillier_keypair(n_length=key_bits)
    if key_bits < MIN_SECURE_KEY_BITS:
        with _DECLARED_INSECURE_LOCK:
            _DECLARED_INSECURE.add(public_key.n)
    return public_key, private_key


def _check_key_type(public_key) -> PaillierPublicKey:
    if not isinstance(public_key, PaillierPublicKey):
        raise TypeError(
            f"public_key must be a phe PaillierPublicKey; got {type(public_key).__name__}"
        )
    return public_key


def _check_public_key(public_key, name: str = "public_key") -> PaillierPublicKey:
    """A phe public key of at least 2048 bits, or one declared insecure at generation."""
    _check_key_type(public_key)
    bits = public_key.n.bit_length()
    if bits < MIN_SECURE_KEY_BITS and public_key.n not in _DECLARED_INSECURE:
        raise ValueError(
            f"{name} has a {bits}-bit modulus, below the {MIN_SECURE_KEY_BITS}-bit minimum "
            f"({NIST_SP_800_57}). For a classroom speed demo, generate the key with "
            f"encryption.generate_keypair({bits}, allow_insecure=True)."
        )
    return public_key


def _check_private_key(private_key) -> PaillierPrivateKey:
    if not isinstance(private_key, PaillierPrivateKey):
        raise TypeError(
            f"private_key must be a phe PaillierPrivateKey; got {type(private_key).__name__}"
        )
    _check_public_key(private_key.public_key, "private_key")
    return private_key


def key_bits_of(public_key) -> int:
    """Bits of the public modulus n (any phe key: this only describes it)."""
    return _check_key_type(public_key).n.bit_length()


def ciphertext_bytes(public_key) -> int:
    """Bytes one ciphertext takes on the wire: a number below n**2 (512 bytes at 2048 bits)."""
    return (_check_key_type(public_key).nsquare.bit_length() + 7) // 8


# --- obfuscators: the expensive, precomputable part of an encryption --------------------


#: Digests of every obfuscator a pool has handed out in this process. A pool is never
#: copied, but if its values were duplicated anyway (by hand, or by a restored copy) the
#: second hand-out would be caught here: no r**n is ever used for two ciphertexts.
_ISSUED_OBFUSCATORS: set[bytes] = set()
_ISSUED_LOCK = threading.Lock()


def _digest(value: int) -> bytes:
    return hashlib.blake2b(
        value.to_bytes((value.bit_length() + 7) // 8, "big"), digest_size=16
    ).digest()


class ObfuscatorPool:
    """Precomputed obfuscators ``r**n mod n**2`` for one public key, each used ONCE.

    A Paillier ciphertext is ``g**m * r**n mod n**2``. With phe's ``g = n + 1`` the first
    factor is one multiplication; nearly all the time goes into ``r**n`` -- which does not
    depend on the message, so it can be computed before the message exists (the "offline
    phase"). :meth:`take` hands each value out once and forgets it: re-using an obfuscator
    for two ciphertexts ``c1, c2`` lets anyone compute ``c1 / c2 = g**(m1 - m2)``, i.e. the
    difference of the plaintexts. When the pool is empty, :meth:`take` computes a fresh one
    (slower, still secure) and counts it in ``computed_online``.

    Never twice, whatever happens to the object: a pool refuses ``copy``, ``deepcopy`` and
    ``pickle`` (a copy would hand out the same values again) and refuses to hand out values
    in a process forked from the one that built it; :meth:`take` and :meth:`fill` run under
    a lock, so threads sharing a pool never receive the same value; and every
    value handed out is remembered by a 16-byte digest for the life of the process, so a
    value that reappears anyway raises RuntimeError instead of being used.

    The random ``r`` comes from ``phe``'s cryptographic generator (``SystemRandom``).

    Parameters
    ----------
    public_key : phe PaillierPublicKey (at least 2048 bits unless declared insecure).
    size : int >= 0, obfuscators to precompute now.
    progress : show a progress bar while precomputing.
    """

    def __init__(self, public_key, size: int = 0, progress: bool = False):
        self.public_key = _check_public_key(public_key)
        self._values: list[int] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.precomputed = 0
        self.used = 0
        self.computed_online = 0
        self.precompute_seconds = 0.0
        self.fill(size, progress=progress)

    def _fresh(self) -> int:
        r = self.public_key.get_random_lt_n()
        return powmod(r, self.public_key.n, self.public_key.nsquare)

    def fill(self, count: int, progress: bool = False) -> float:
        """Precompute ``count`` more obfuscators; return the CPU seconds it took."""
        count = check_integer(count, "count", minimum=0)
        start = time.process_time()
        fresh = [
            self._fresh()
            for _ in _progress(range(count), progress, desc="precomputing r^n", total=count)
        ]
        seconds = time.process_time() - start
        with self._lock:
            self._values.extend(fresh)
            self.precomputed += count
            self.precompute_seconds += seconds
        return seconds

    def take(self) -> int:
        """Return one obfuscator and remove it from the pool (never handed out twice)."""
        if os.getpid() != self._pid:
            raise RuntimeError(
                "this ObfuscatorPool was created in another process (copied by fork): both "
                "processes would hand out the same obfuscators. Build a new pool here."
            )
        with self._lock:
            value = self._values.pop() if self._values else None
            self.used += 1
            if value is None:
                self.computed_online += 1
        if value is None:
            value = self._fresh()
        digest = _digest(value)
        with _ISSUED_LOCK:
            if digest in _ISSUED_OBFUSCATORS:
                raise RuntimeError(
                    "this obfuscator was already handed out once in this process; using it "
                    "again would reveal the difference of two plaintexts. Was the pool copied?"
                )
            _ISSUED_OBFUSCATORS.add(digest)
        return value

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return (
            f"ObfuscatorPool(available={len(self)}, used={self.used}, "
            f"computed_online={self.computed_online})"
        )

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "an ObfuscatorPool cannot be pickled: a restored copy would hand out the same "
            "obfuscators again. Build a new pool (and fill it) where it is needed."
        )

    def __copy__(self):
        raise TypeError("an ObfuscatorPool cannot be copied: each obfuscator is used once")

    def __deepcopy__(self, memo):
        raise TypeError("an ObfuscatorPool cannot be copied: each obfuscator is used once")


def _check_pool(pool, public_key) -> ObfuscatorPool | None:
    if pool is None:
        return None
    if not isinstance(pool, ObfuscatorPool):
        raise TypeError(f"pool must be an ObfuscatorPool or None; got {type(pool).__name__}")
    if pool.public_key != public_key:
        raise ValueError("pool was built for a different public key")
    return pool


def _encrypt_encoded(
    public_key, encoding: EncodedNumber, pool: ObfuscatorPool | None
) -> EncryptedNumber:
    """Encrypt an EncodedNumber with phe, taking the obfuscator from ``pool`` if given."""
    if pool is None:
        return public_key.encrypt(encoding)  # phe draws r and obfuscates
    # r_value=1 makes phe compute only g**m (its obfuscator 1**n = 1); the precomputed
    # r**n then hides it, exactly as phe's EncryptedNumber.obfuscate() does with a fresh r.
    bare = public_key.encrypt_encoded(encoding, r_value=1)
    hidden = EncryptedNumber(
        public_key,
        mulmod(bare.ciphertext(be_secure=False), pool.take(), public_key.nsquare),
        bare.exponent,
    )
    # Mark it obfuscated so phe does not spend another r**n when it is serialised.
    hidden._EncryptedNumber__is_obfuscated = True
    return hidden


# --- one value per ciphertext ---------------------------------------------------------


def exponent_for(precision: float) -> int:
    """phe's base-16 exponent whose step ``16**exponent`` is at most ``precision``.

    Every value encoded with this exponent is rounded to a multiple of ``16**exponent``,
    so its encoding error is at most ``16**exponent / 2 <= precision / 2``.
    """
    precision = check_real(precision, "precision", low=0.0, low_inclusive=False)
    exponent = math.floor(math.log(precision, _BASE))
    # Guard against log rounding: make sure BASE**exponent <= precision < BASE**(exponent+1).
    while _BASE ** float(exponent) > precision:
        exponent -= 1
    while _BASE ** float(exponent + 1) <= precision:
        exponent += 1
    return exponent


def _encode_fixed(public_key, value, exponent: int) -> EncodedNumber:
    """phe's EncodedNumber of ``value`` with exactly ``exponent`` (no magnitude leak)."""
    # A precision of 2 * BASE**exponent makes phe's floor(log_BASE(precision)) equal
    # `exponent`; max_exponent keeps it from choosing anything coarser.
    encoded = EncodedNumber.encode(
        public_key, float(value), precision=2.0 * _BASE ** float(exponent), max_exponent=exponent
    )
    if encoded.exponent != exponent:  # pragma: no cover - phe behaviour changed
        raise RuntimeError(f"phe encoded with exponent {encoded.exponent}, expected {exponent}")
    return encoded


def _as_vector(values, name: str = "values") -> np.ndarray:
    """A non-empty 1-D vector of finite real numbers (booleans and text are refused)."""
    array = check_real_array(values, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector; got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must hold at least one value")
    return array


def encrypt_vector(
    public_key,
    values,
    precision: float = 2.0**-24,
    pool: ObfuscatorPool | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Encrypt each value of a vector as its own phe EncryptedNumber, all with one exponent.

    Parameters
    ----------
    public_key : phe PaillierPublicKey.
    values : 1-D array of finite floats.
    precision : float > 0; values are rounded to multiples of ``16**exponent_for(precision)``
        (error at most ``precision / 2`` per value); values too large for the key's
        plaintexts (with room to add 2**53 of them) raise OverflowError. A fixed exponent
        for every value means the unencrypted exponent leaks nothing (phe's documented
        caveat, "Security Caveats",
        https://python-paillier.readthedocs.io/en/stable/caveats.html) and ciphertexts add
        without rescaling.
    pool : optional ObfuscatorPool (precomputed r**n); None = phe draws r online.
    progress : show a progress bar.

    Returns a 1-D numpy object array of EncryptedNumber.
    """
    public_key = _check_public_key(public_key)
    values = _as_vector(values)
    pool = _check_pool(pool, public_key)
    exponent = exponent_for(precision)
    steps = float(np.max(np.abs(values))) / _BASE ** float(exponent)
    if steps + 1 > public_key.max_int // _MAX_EXACT:  # room left for 2**53 summands
        raise OverflowError(
            f"values up to {float(np.max(np.abs(values))):g} at a step of "
            f"{_BASE ** float(exponent):g} do not fit this key's plaintexts with room to add "
            "them; lower the precision or rescale the values"
        )
    out = np.empty(values.size, dtype=object)
    for i in _progress(range(values.size), progress, desc="encrypting", total=values.size):
        out[i] = _encrypt_encoded(public_key, _encode_fixed(public_key, values[i], exponent), pool)
    return out


#: Largest |integer| of fixed-point steps a float64 holds exactly.
_MAX_EXACT = 2**53


def _check_exact_sum(values: np.ndarray, exponent: int, n_summands: int, name: str):
    """Refuse values whose sum over ``n_summands`` parties would not decode exactly.

    The decrypted sum is an integer number of steps ``16**exponent``; below 2**53 steps
    its float is exact, so the sum is right up to the rounding of each value (and far
    below the key's plaintext range, so it can never wrap around the modulus).
    """
    largest = float(np.max(np.abs(values)))
    steps = largest / _BASE ** float(exponent)
    if n_summands * (steps + 1) > _MAX_EXACT:
        raise OverflowError(
            f"{name} up to {largest:g} at a step of {_BASE ** float(exponent):g}, summed over "
            f"{n_summands} parties, need more than 2**53 steps: the sum would not decode "
            "exactly; lower precision_bits or rescale the values"
        )


def decrypt_vector(private_key, ciphertexts, progress: bool = False) -> np.ndarray:
    """Decrypt a sequence of EncryptedNumber into a float64 vector (phe's decrypt)."""
    private_key = _check_private_key(private_key)
    ciphertexts = list(ciphertexts)
    out = np.empty(len(ciphertexts))
    for i in _progress(
        range(len(ciphertexts)), progress, desc="decrypting", total=len(ciphertexts)
    ):
        if not isinstance(ciphertexts[i], EncryptedNumber):
            raise TypeError(
                "ciphertexts must hold phe EncryptedNumber; "
                f"item {i} is {type(ciphertexts[i]).__name__}"
            )
        out[i] = float(private_key.decrypt(ciphertexts[i]))
    return out


# --- packing many fixed-point values into one plaintext --------------------------------


@dataclass(frozen=True, eq=False)
class PackedCiphertext:
    """A vector packed by a :class:`PackedEncoder`: its ciphertexts and whose vectors it sums.

    ``n_summed`` is read-only and derived: the number of distinct fresh encryptions
    (``encoder.encrypt`` calls, each with its own random tag) added into it. The headroom
    of the slots allows at most ``encoder.n_parties``, so ``+`` raises OverflowError beyond
    that instead of letting a slot carry into its neighbour, and it refuses to add a vector
    to a sum that already holds it (``m + m`` would double one party's values and pass for
    two parties). Tags travel in the clear: they stop mistakes and an honest-but-curious
    server, not a malicious one (see :class:`KeyHolder`).

    Only :meth:`PackedEncoder.encrypt` and ``+`` make these.
    """

    ciphertexts: tuple
    length: int
    encoder: PackedEncoder
    contributions: frozenset

    def __post_init__(self):
        if not isinstance(self.encoder, PackedEncoder):
            raise TypeError(f"encoder must be a PackedEncoder; got {type(self.encoder).__name__}")
        if not isinstance(self.contributions, frozenset) or not self.contributions:
            raise ValueError("contributions must be a non-empty frozenset of encryption tags")
        if len(self.contributions) > self.encoder.n_parties:
            raise OverflowError(
                f"a packed sum of {len(self.contributions)} vectors exceeds the headroom of "
                f"n_parties={self.encoder.n_parties}"
            )
        object.__setattr__(self, "ciphertexts", tuple(self.ciphertexts))

    @property
    def n_summed(self) -> int:
        """How many parties' vectors this holds (derived from its tags; read-only)."""
        return len(self.contributions)

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: one full-size ciphertext each (the layout is public)."""
        return len(self.ciphertexts) * ciphertext_bytes(self.encoder.public_key)

    def __repr__(self) -> str:
        return (
            f"PackedCiphertext(length={self.length}, n_summed={self.n_summed}, "
            f"ciphertexts={len(self.ciphertexts)})"
        )

    def __add__(self, other):
        if not isinstance(other, PackedCiphertext):
            return NotImplemented
        if other.encoder is not self.encoder and other.encoder.layout != self.encoder.layout:
            raise ValueError(
                "cannot add vectors packed with different encoders (layout or key differ)"
            )
        if other.length != self.length:
            raise ValueError(
                f"cannot add packed vectors of lengths {self.length} and {other.length}"
            )
        if self.contributions & other.contributions:
            raise ValueError(
                "cannot add a packed vector to a sum that already holds it: each party's "
                "encryption may be counted once"
            )
        total = self.n_summed + other.n_summed
        if total > self.encoder.n_parties:
            raise OverflowError(
                f"adding would sum {total} vectors, but the slots have headroom for "
                f"n_parties={self.encoder.n_parties}; a slot would carry into its neighbour"
            )
        summed = [
            a + b for a, b in zip(self.ciphertexts, other.ciphertexts, strict=True)
        ]  # phe: c1 * c2 mod n^2
        return PackedCiphertext(
            summed, self.length, self.encoder, self.contributions | other.contributions
        )

    def __radd__(self, other):
        if isinstance(other, numbers.Number) and other == 0:  # lets sum() start from 0
            return self
        return NotImplemented


class PackedEncoder:
    """Pack fixed-point values into as few Paillier plaintexts as fit, with headroom for sums.

    Each value ``x`` with ``|x| <= value_bound`` becomes the non-negative integer
    ``q = round(x * 2**precision_bits) + offset`` with ``offset = ceil(value_bound *
    2**precision_bits)`` (an offset instead of two's complement, so slots never borrow).
    Every slot is ``slot_bits`` wide, enough for the sum of ``n_parties`` such integers, and
    ``slots_per_ciphertext`` slots are concatenated into one plaintext below phe's
    ``max_int`` (about n / 3). Adding ciphertexts adds every slot at once; the key holder
    subtracts ``n_summed * offset`` and divides by ``2**precision_bits``. A decrypted sum of
    k vectors is exact up to the rounding of each value: error at most
    ``k / 2**(precision_bits + 1)`` per entry (:meth:`quantisation_bound`).

    Parameters
    ----------
    precision_bits : int in [0, 52]; fractional bits kept per value.
    n_parties : int >= 1; the most vectors that may be summed (headroom).
    value_bound : float > 0; the largest |value| any party may encode. Values beyond it
        raise OverflowError (they are never clipped or wrapped: the protocol must agree on a
        bound that holds, e.g. by clipping updates BEFORE encoding).
    public_key : phe PaillierPublicKey.

    Reference: C. Zhang et al., "BatchCrypt: Efficient Homomorphic Encryption for
    Cross-Silo Federated Learning", USENIX ATC 2020,
    https://www.usenix.org/conference/atc20/presentation/zhang-chengliang
    """

    def __setattr__(self, name, value):
        if getattr(self, "_frozen", False):
            raise AttributeError(
                f"a PackedEncoder's layout is fixed at construction; build a new encoder "
                f"instead of setting {name!r}"
            )
        super().__setattr__(name, value)

    def __init__(self, precision_bits: int, n_parties: int, value_bound: float, public_key):
        self.precision_bits = check_integer(precision_bits, "precision_bits", minimum=0, maximum=52)
        self.n_parties = check_integer(n_parties, "n_parties", minimum=1)
        self.value_bound = check_real(value_bound, "value_bound", low=0.0, low_inclusive=False)
        self.public_key = _check_public_key(public_key)
        self.scale = 2**self.precision_bits
        if self.value_bound * self.scale >= 2.0**52:
            raise ValueError(
                "value_bound * 2**precision_bits must be < 2**52 so values convert to integers "
                f"exactly; got {self.value_bound} * 2**{self.precision_bits}"
            )
        self.offset = math.ceil(self.value_bound * self.scale)
        self.slot_max = self.n_parties * 2 * self.offset  # largest possible slot of a full sum
        self.slot_bits = max(1, self.slot_max.bit_length())
        # Packed plaintexts stay below 2**capacity_bits <= phe's max_int (~ n/3).
        self.capacity_bits = public_key.max_int.bit_length() - 1
        self.slots_per_ciphertext = self.capacity_bits // self.slot_bits
        if self.slots_per_ciphertext < 1:
            raise ValueError(
                f"one slot needs {self.slot_bits} bits but a {key_bits_of(public_key)}-bit key "
                f"holds {self.capacity_bits}; lower precision_bits, value_bound or n_parties"
            )
        self._mask = (1 << self.slot_bits) - 1
        self._frozen = True

    @property
    def layout(self) -> tuple:
        """What two parties must agree on for their packed vectors to add."""
        return (self.public_key.n, self.precision_bits, self.n_parties, self.offset, self.slot_bits)

    def __repr__(self) -> str:
        return (
            f"PackedEncoder(precision_bits={self.precision_bits}, n_parties={self.n_parties}, "
            f"value_bound={self.value_bound:g}, slot_bits={self.slot_bits}, "
            f"slots_per_ciphertext={self.slots_per_ciphertext})"
        )

    def n_ciphertexts(self, length: int) -> int:
        """Ciphertexts needed for a vector of ``length`` values."""
        length = check_integer(length, "length", minimum=1)
        return -(-length // self.slots_per_ciphertext)

    def quantisation_bound(self, n_summed: int = 1) -> float:
        """Largest |error| of one entry of a decrypted sum of ``n_summed`` vectors."""
        n_summed = check_integer(n_summed, "n_summed", minimum=1)
        return n_summed * 0.5 / self.scale

    def quantise(self, vector) -> np.ndarray:
        """The integers the slots hold for ``vector`` (before the offset is added)."""
        vector = _as_vector(vector, "vector")
        too_big = np.abs(vector) > self.value_bound
        if np.any(too_big):
            i = int(np.flatnonzero(too_big)[0])
            raise OverflowError(
                f"value {vector[i]!r} at index {i} exceeds value_bound={self.value_bound:g}; "
                "packing refuses rather than wrapping (clip before encoding, or raise the bound)"
            )
        return np.rint(vector * self.scale).astype(np.int64)

    def pack(self, vector) -> list[int]:
        """The plaintext integers (one per ciphertext) for ``vector``."""
        slots = self.quantise(vector) + self.offset
        plaintexts = []
        k = self.slots_per_ciphertext
        for start in range(0, slots.size, k):
            packed = 0
            # Slot i of a chunk sits at bits [i*slot_bits, (i+1)*slot_bits).
            for value in reversed(slots[start : start + k].tolist()):
                packed = (packed << self.slot_bits) | value
            plaintexts.append(packed)
        return plaintexts

    def unpack(self, plaintexts, length: int, n_summed: int) -> np.ndarray:
        """Invert :meth:`pack` for a sum of ``n_summed`` vectors: return the float sums."""
        length = check_integer(length, "length", minimum=1)
        n_summed = check_integer(n_summed, "n_summed", minimum=1, maximum=self.n_parties)
        out = np.empty(length)
        k = self.slots_per_ciphertext
        limit = n_summed * 2 * self.offset
        for c, packed in enumerate(plaintexts):
            count = min(k, length - c * k)
            if packed < 0 or packed >> (count * self.slot_bits):
                raise OverflowError(
                    "decrypted plaintext has bits beyond its slots: it overflowed or is corrupt"
                )
            for i in range(count):
                slot = (packed >> (i * self.slot_bits)) & self._mask
                if slot > limit:
                    raise OverflowError(
                        f"slot {c * k + i} holds {slot} > {limit}: the sum overflowed"
                    )
                out[c * k + i] = (slot - n_summed * self.offset) / self.scale
        return out

    def encrypt(
        self, vector, pool: ObfuscatorPool | None = None, progress: bool = False
    ) -> PackedCiphertext:
        """Pack and encrypt ``vector`` (values in [-value_bound, value_bound]).

        ``pool`` supplies precomputed obfuscators (see :class:`ObfuscatorPool`).
        """
        pool = _check_pool(pool, self.public_key)
        vector = _as_vector(vector, "vector")
        plaintexts = self.pack(vector)
        ciphertexts = [
            _encrypt_encoded(self.public_key, EncodedNumber(self.public_key, m, 0), pool)
            for m in _progress(
                plaintexts, progress, desc="encrypting packed", total=len(plaintexts)
            )
        ]
        tag = secrets.token_bytes(16)  # this encryption's identity in sums (not secret)
        return PackedCiphertext(ciphertexts, int(vector.size), self, frozenset([tag]))

    def decrypt_sum(self, packed: PackedCiphertext, private_key) -> np.ndarray:
        """Decrypt a (summed) packed vector and return the float sums of its entries."""
        private_key = _check_private_key(private_key)
        if not isinstance(packed, PackedCiphertext):
            raise TypeError(f"packed must be a PackedCiphertext; got {type(packed).__name__}")
        if packed.encoder is not self and packed.encoder.layout != self.layout:
            raise ValueError("packed was made by an encoder with a different layout or key")
        if private_key.public_key != self.public_key:
            raise ValueError("private_key does not belong to this encoder's public key")
        plaintexts = [
            private_key.raw_decrypt(c.ciphertext(be_secure=False)) for c in packed.ciphertexts
        ]
        return self.unpack(plaintexts, packed.length, packed.n_summed)


# --- secure sums with a cost record --------------------------------------------------


@dataclass
class SecureSumCost:
    """What one secure sum cost (all parties simulated in one process, one after another).

    Seconds are CPU seconds of this process (``time.process_time``, the clock masking's cost
    record uses too, so the two compare like for like): ``encrypt_seconds`` summed over all
    parties (online part only when a pool of precomputed obfuscators was used; the offline
    part is ``precompute_seconds``),
    ``aggregate_seconds`` at the server, ``decrypt_seconds`` at the key holder.
    ``ciphertexts`` and ``bytes_sent`` count every party's upload; ``plaintext_bytes`` is
    what the same vectors take as float64.
    """

    method: str
    n_parties: int
    length: int
    key_bits: int
    encrypt_seconds: float
    aggregate_seconds: float
    decrypt_seconds: float
    ciphertexts: int
    bytes_sent: int
    plaintext_bytes: int
    quantisation_bound: float
    precompute_seconds: float = 0.0

    @property
    def total_seconds(self) -> float:
        """Online seconds: encrypt + aggregate + decrypt (without precomputation)."""
        return self.encrypt_seconds + self.aggregate_seconds + self.decrypt_seconds

    @property
    def expansion(self) -> float:
        """bytes_sent / plaintext_bytes."""
        return self.bytes_sent / self.plaintext_bytes


SECURE_SUM_METHODS = ("packed", "per_value")


def secure_sum(
    vectors,
    public_key,
    private_key,
    method: str = "packed",
    precision_bits: int = 24,
    value_bound: float | None = None,
    pool: ObfuscatorPool | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, SecureSumCost]:
    """Sum several parties' vectors under Paillier encryption; return (sum, cost).

    Every party encrypts its vector with ``public_key``; the server multiplies the
    ciphertexts (adding the plaintexts) with the public key only; the key holder decrypts
    the total with ``private_key``.

    Parameters
    ----------
    vectors : 2-D array (parties x length), one row per party.
    public_key, private_key : a phe key pair.
    method : "packed" (a :class:`PackedEncoder`, many values per ciphertext) or
        "per_value" (one ciphertext per value, :func:`encrypt_vector`).
    precision_bits : int; values are rounded to multiples of 2**-precision_bits (packed),
        or of the largest power of 16 not above it (per_value). Either way the sum must
        decode exactly: values beyond the packed bound, or per-value sums of more than 2**53
        steps, raise OverflowError (never a silently wrapped or rounded total).
    value_bound : float > 0 or None; the agreed largest |value| (packed only). None uses
        the largest |value| present, which a real protocol would fix in advance instead.
    pool : optional ObfuscatorPool of precomputed r**n; its precomputation time is reported
        as ``precompute_seconds`` (the offline phase), not in ``encrypt_seconds``.
    progress : progress bar over parties.
    """
    method = check_choice(method, "method", SECURE_SUM_METHODS)
    public_key = _check_public_key(public_key)
    private_key = _check_private_key(private_key)
    if private_key.public_key != public_key:
        raise ValueError("private_key does not belong to public_key")
    matrix = check_real_array(vectors, "vectors")
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
        raise ValueError(
            f"vectors must be a 2-D array (parties x length); got shape {matrix.shape}"
        )
    pool = _check_pool(pool, public_key)
    precision_bits = check_integer(precision_bits, "precision_bits", minimum=0, maximum=52)
    n_parties, length = matrix.shape
    precompute_before = pool.precompute_seconds if pool is not None else 0.0
    rows = _progress(range(n_parties), progress, desc=f"parties ({method})", total=n_parties)

    if method == "packed":
        if value_bound is None:
            value_bound = max(float(np.max(np.abs(matrix))), 2.0**-precision_bits)
        encoder = PackedEncoder(precision_bits, n_parties, value_bound, public_key)
        start = time.process_time()
        messages = [encoder.encrypt(matrix[i], pool=pool) for i in rows]
        encrypt_seconds = time.process_time() - start
        start = time.process_time()
        combined = sum(messages[1:], messages[0])
        aggregate_seconds = time.process_time() - start
        start = time.process_time()
        total = encoder.decrypt_sum(combined, private_key)
        decrypt_seconds = time.process_time() - start
        n_ciphertexts = sum(len(m.ciphertexts) for m in messages)
        bound = encoder.quantisation_bound(n_parties)
    else:
        precision = 2.0**-precision_bits
        _check_exact_sum(matrix, exponent_for(precision), n_parties, "vectors")
        start = time.process_time()
        messages = [
            encrypt_vector(public_key, matrix[i], precision=precision, pool=pool) for i in rows
        ]
        encrypt_seconds = time.process_time() - start
        start = time.process_time()
        combined = list(messages[0])
        for message in messages[1:]:
            combined = [a + b for a, b in zip(combined, message, strict=True)]
        aggregate_seconds = time.process_time() - start
        start = time.process_time()
        total = decrypt_vector(private_key, combined)
        decrypt_seconds = time.process_time() - start
        n_ciphertexts = n_parties * length
        bound = n_parties * 0.5 * _BASE ** float(exponent_for(precision))

    cost = SecureSumCost(
        method=method,
        n_parties=n_parties,
        length=length,
        key_bits=key_bits_of(public_key),
        encrypt_seconds=encrypt_seconds,
        aggregate_seconds=aggregate_seconds,
        decrypt_seconds=decrypt_seconds,
        ciphertexts=n_ciphertexts,
        bytes_sent=n_ciphertexts * ciphertext_bytes(public_key),
        plaintext_bytes=n_parties * length * PLAINTEXT_BYTES,
        quantisation_bound=bound,
        precompute_seconds=(pool.precompute_seconds - precompute_before)
        if pool is not None
        else 0.0,
    )
    return total, cost


# --- secure aggregation for helpers.federated -------------------------------------------


class KeyHolder:
    """The one party that holds the private key; it decrypts only sums of enough parties.

    In a deployment this is a separate organisation (an ethics board, a trusted third
    party) or the key is split between several; here it is an object the aggregator can
    call but whose key the server-side code never touches. It refuses ``copy``,
    ``deepcopy`` and ``pickle``, so the private key can never be duplicated, written to
    disk or sent along with an object that holds this handle (a :class:`SecureAggregator`).

    Parameters
    ----------
    private_key : phe PaillierPrivateKey (at least 2048 bits unless declared insecure).
    min_summands : int >= 1; refuse to decrypt a combined message holding fewer parties'
        vectors, so that an honest mistake never decrypts a single hospital's update.

    HONEST-BUT-CURIOUS SAFEGUARD ONLY. The key holder never sees the individual hospitals'
    ciphertexts (it must not: it could decrypt them), so it cannot check who contributed
    to a sum. It trusts the count of distinct encryptions the server reports
    (``PackedCiphertext.n_summed``). A malicious server can encrypt zeros itself with the
    public key and add them to ONE hospital's message; the key holder then decrypts that
    hospital's update as if it were a sum. Binding each contribution to a registered
    hospital and a round (authenticated, per-round tags that survive the homomorphic sum)
    would close this; this kit does not implement it. What protects a hospital against a
    malicious server here is only that the server does not also hold the key.
    """

    def __init__(self, private_key, min_summands: int = 2):
        self.__private_key = _check_private_key(private_key)
        self.min_summands = check_integer(min_summands, "min_summands", minimum=1)
        self.decryptions = 0

    @property
    def public_key(self) -> PaillierPublicKey:
        """The public key everyone else uses."""
        return self.__private_key.public_key

    def decrypt_aggregate(self, combined: PackedCiphertext) -> np.ndarray:
        """Decrypt a combined packed vector; refuse one that sums too few parties."""
        if not isinstance(combined, PackedCiphertext):
            raise TypeError(f"combined must be a PackedCiphertext; got {type(combined).__name__}")
        if combined.n_summed < self.min_summands:
            raise PermissionError(
                f"the key holder decrypts only sums of at least {self.min_summands} parties; "
                f"this message holds {combined.n_summed}. (The count is the server's word: "
                "this stops mistakes and an honest-but-curious server, not a server that "
                "pads one hospital's message with encryptions of zero.)"
            )
        self.decryptions += 1
        return combined.encoder.decrypt_sum(combined, self.__private_key)

    def __repr__(self) -> str:
        return f"KeyHolder(public_key={self.public_key!r}, min_summands={self.min_summands})"

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "a KeyHolder cannot be pickled: it holds the private key, which never leaves the "
            "key holder. Send ciphertexts, not the key holder."
        )

    def __copy__(self):
        raise TypeError("a KeyHolder cannot be copied: there is one key holder per key")

    def __deepcopy__(self, memo):
        raise TypeError("a KeyHolder cannot be copied: there is one key holder per key")


class SecureAggregator(Aggregator):
    """Secure aggregation for FedAvg: packed Paillier ciphertexts, a server without the key.

    encode (AT THE HOSPITAL): pack and encrypt ``[n * w, n]`` under the public key.
    combine (AT THE SERVER): add the ciphertexts (public key only; the server cannot read a
    single weight). decode (AT THE KEY HOLDER): decrypt only the sum and return
    ``sum(n w) / sum(n)``, the same weighted mean as plain FedAvg up to quantisation.

    Trust model: the server sees ciphertexts, their number and size, and which hospitals
    sent them. The key holder sees the pooled sums ``sum(n w)`` and ``sum(n)`` -- the
    next global model, which every hospital receives anyway. The key holder's minimum
    number of hospitals per sum holds only against an honest-but-curious server: a
    malicious one can pad a single hospital's message with its own encryptions of zero
    (see :class:`KeyHolder`). A server and key holder who COLLUDE can decrypt every
    hospital's message and learn everything plain FedAvg reveals. Nothing here stops a
    hospital from sending a malicious update, and the global model itself still leaks what
    models leak (add differential privacy for that).

    The aggregator holds a handle on the key holder, never the key: it cannot be pickled
    (neither can the key holder), and no method returns the key.

    Parameters
    ----------
    public_key : phe PaillierPublicKey (the key holder's; at least 2048 bits unless
        declared insecure).
    key_holder : :class:`KeyHolder` -- a handle on the party that decrypts, not a key.
    n_parties : int >= 1, hospitals per round (slot headroom).
    weight_bound : float > 0, the largest |weight| any hospital may send; a larger one
        raises OverflowError at the hospital (never wraps).
    max_samples : int >= 1, the largest patient count of one hospital (bounds ``n * w``
        and the count itself: slots hold ``max_samples * max(weight_bound, 1)``).
    precision_bits : int, fractional bits of ``n * w`` (quantisation 2**-precision_bits).
    pool : optional ObfuscatorPool; stands for each hospital's own precomputed obfuscators.
    """

    name = "secure aggregation (Paillier, packed)"
    trusted_parties = (
        "server sees only ciphertexts; the key holder sees only sums, and its minimum number "
        "of hospitals per sum holds only against an honest-but-curious server; a colluding "
        "server and key holder see every update"
    )

    def __init__(
        self,
        public_key,
        key_holder: KeyHolder,
        n_parties: int,
        weight_bound: float,
        max_samples: int,
        precision_bits: int = 20,
        pool: ObfuscatorPool | None = None,
    ):
        self.public_key = _check_public_key(public_key)
        if not isinstance(key_holder, KeyHolder):
            raise TypeError(f"key_holder must be a KeyHolder; got {type(key_holder).__name__}")
        if key_holder.public_key != self.public_key:
            raise ValueError("key_holder's key does not match public_key")
        self.key_holder = key_holder
        self.weight_bound = check_real(weight_bound, "weight_bound", low=0.0, low_inclusive=False)
        self.max_samples = check_integer(max_samples, "max_samples", minimum=1)
        # One vector carries n * w (|n w| <= max_samples * weight_bound) AND the count n
        # (<= max_samples): the slots must hold the larger of the two.
        self.encoder = PackedEncoder(
            precision_bits,
            n_parties,
            max(self.weight_bound, 1.0) * self.max_samples,
            self.public_key,
        )
        self.pool = _check_pool(pool, self.public_key)

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "a SecureAggregator cannot be pickled: it holds a handle on the key holder. "
            "Send its messages (PackedCiphertext) instead."
        )

    def encode(self, weights, n_samples, rng=None) -> PackedCiphertext:
        """AT THE HOSPITAL: encrypt ``[n * w, n]`` (rng unused: encryption uses OS randomness)."""
        weights = _as_vector(weights, "weights")
        n_samples = check_integer(n_samples, "n_samples", minimum=1, maximum=self.max_samples)
        if np.any(np.abs(weights) > self.weight_bound):
            raise OverflowError(
                f"a weight of magnitude {np.max(np.abs(weights)):g} exceeds weight_bound="
                f"{self.weight_bound:g}; raise weight_bound (secure aggregation never wraps)"
            )
        return self.encoder.encrypt(
            np.append(n_samples * weights, float(n_samples)), pool=self.pool
        )

    def combine(self, messages) -> PackedCiphertext:
        """AT THE SERVER: add the ciphertexts slot-wise; needs only the public key."""
        messages = list(messages)
        if not messages:
            raise ValueError("combine needs at least one message; got none")
        for m in messages:
            if not isinstance(m, PackedCiphertext):
                raise TypeError(f"messages must be PackedCiphertext; got {type(m).__name__}")
        return sum(messages[1:], messages[0])

    def decode(self, combined, rng=None) -> np.ndarray:
        """AT THE KEY HOLDER: decrypt only the sum; return ``sum(n w) / sum(n)``."""
        totals = self.key_holder.decrypt_aggregate(combined)
        count = round(totals[-1])  # an integer sum, exact up to quantisation
        if count <= 0:
            raise ValueError(f"the combined patient count must be > 0; got {totals[-1]}")
        return totals[:-1] / count

    def message_bytes(self, message) -> int:
        """Bytes of one hospital's ciphertexts."""
        return int(message.nbytes)


# --- encrypted inference --------------------------------------------------------------


def encrypted_linear_predict(
    encrypted_features, weights, intercept: float, precision: float = 2.0**-24
):
    """Score encrypted patient features with a plaintext linear model; return encrypted scores.

    A hospital encrypts a patient's features with ITS public key and sends them; the model
    owner computes ``intercept + sum_j w_j * x_j`` on the ciphertexts (phe: ciphertext to the
    power of an encoded weight, then ciphertext products) and returns the encrypted score,
    re-randomised with a fresh obfuscator so it reveals nothing about the weights. Only the
    hospital can decrypt it; the model owner never sees the features or the score. (The
    hospital learns the score, and by asking many questions could learn the model.)

    Parameters
    ----------
    encrypted_features : 1-D sequence of EncryptedNumber (one patient) or 2-D object array
        (patients x features), all under one public key and with one exponent (as made by
        :func:`encrypt_vector`).
    weights : 1-D array of floats, one per feature (the model owner's secret).
    intercept : float.
    precision : float > 0; the weights and intercept are encoded with the fixed exponent
        ``exponent_for(precision)``, so the result's exponent does not depend on them.

    Returns an EncryptedNumber (one patient) or a 1-D object array of them.
    """
    weights = _as_vector(weights, "weights")
    intercept = check_real(intercept, "intercept")
    rows = np.asarray(encrypted_features, dtype=object)
    single = rows.ndim == 1
    if single:
        rows = rows[None, :]
    if rows.ndim != 2 or rows.shape[1] != weights.size:
        raise ValueError(
            f"encrypted_features must have {weights.size} columns (one per weight); "
            f"got shape {rows.shape}"
        )
    first = rows[0, 0]
    if not isinstance(first, EncryptedNumber):
        raise TypeError(
            f"encrypted_features must hold phe EncryptedNumber; got {type(first).__name__}"
        )
    public_key = _check_public_key(first.public_key, "the features' public key")
    w_exponent = exponent_for(precision)
    encoded_weights = [_encode_fixed(public_key, w, w_exponent) for w in weights]
    scores = np.empty(rows.shape[0], dtype=object)
    for i, row in enumerate(rows):
        total = None
        for x, w in zip(row, encoded_weights, strict=True):
            if not isinstance(x, EncryptedNumber) or x.public_key != public_key:
                raise ValueError(
                    "every encrypted feature must be an EncryptedNumber under one public key"
                )
            term = x * w  # phe: E(x)^w = E(w x)
            total = term if total is None else total + term
        total = total + _encode_fixed(public_key, intercept, total.exponent)
        total.obfuscate()  # fresh r**n: the returned ciphertext hides the weights
        scores[i] = total
    return scores[0] if single else scores


# --- the python-paillier federated example's data, for a like-for-like comparison -------
