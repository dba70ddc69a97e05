"""SM2 digital signatures for the DF03 record signatures (WS/T 543.3 data items, 健康卡 SAM spec: items 211/383 are r ‖
s).

* Algorithm: GB/T 32918.2-2016 (= GM/T 0003.2-2012) §6 signature generation, §7 verification, on the recommended
  curve sm2p256v1 of GB/T 32918.5-2017 (= GM/T 0003.5-2012) §2.
* Pre-hash: ``e = SM3(Z_A ‖ M)`` with ``Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)``
  (GB/T 32918.2-2016 §5.5); the default ``ID_A`` is ``"1234567812345678"`` (GM/T 0009-2012 §10). ``Z_A`` is
  computed here, with :func:`sam.crypto.digest.sm3`, so the user-ID handling is explicit and testable.
* Formats: private key = 32-byte big-endian ``d`` with ``1 <= d <= n - 2`` (GB/T 32918.1-2016 §6.1); public key =
  64-byte ``x ‖ y`` (or 65 bytes with the uncompressed-point prefix ``04``); signature = 64-byte ``r ‖ s``
  (the form stored in the DF03 files and returned by GM/T 0018-style devices).
* Backend: ``gmalglib`` (C extension) for the scalar multiplications, its ``k`` drawn from ``/dev/urandom``; the
  choice and the measurements behind it are in ``docs/sm2.md`` (``python benchmarks/crypto.py --sm2-candidates``).

The private scalar never appears in a ``repr``, ``str`` or error message, and private keys refuse to pickle.
"""

from __future__ import annotations

import hmac
import secrets
from typing import NoReturn

from gmalglib import sm2 as _engine

from sam.crypto.digest import sm3
from sam.crypto.errors import CryptoError

__all__ = [
    "SM2_DEFAULT_UID",
    "SM2_SIGNATURE_BYTES",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "sm2_generate_private_key",
    "sm2_load_private_key",
    "sm2_load_public_key",
    "sm2_sign",
    "sm2_sign_digest",
    "sm2_verify",
    "sm2_verify_digest",
    "sm2_z",
]

SM2_DEFAULT_UID = b"1234567812345678"
"""The default signer ID of GM/T 0009-2012 §10 (ASCII ``1234567812345678``, ENTL = 0x0080)."""

SM2_SIGNATURE_BYTES = 64

# Recommended curve sm2p256v1, GB/T 32918.5-2017 §2 / GM/T 0003.5-2012 §2.
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
_CURVE_BYTES = b"".join(v.to_bytes(32, "big") for v in (_A, _B, _GX, _GY))

_SCALAR_BYTES = 32
_POINT_BYTES = 64
_UNCOMPRESSED = b"\x04"
_MAX_UID_BYTES = 0xFFFF // 8  # ENTL is the ID length in bits, two bytes (GB/T 32918.2-2016 §5.5)
_DIGEST_BYTES = 32


def _as_bytes(name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise CryptoError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _check_uid(uid: bytes) -> bytes:
    uid = _as_bytes("uid", uid)
    if len(uid) > _MAX_UID_BYTES:
        raise CryptoError(f"uid: {len(uid)} bytes is longer than the {_MAX_UID_BYTES} bytes ENTL can express")
    return uid


def _on_curve(x: int, y: int) -> bool:
    return x < _P and y < _P and (y * y - (x * x * x + _A * x + _B)) % _P == 0


class Sm2PublicKey:
    """An SM2 public key: a point of sm2p256v1 checked to lie on the curve (GB/T 32918.1-2016 §6.2)."""

    __slots__ = ("_point", "_verifier", "_z_default")

    def __init__(self, point: bytes) -> None:
        """A 64-byte ``x ‖ y`` on the curve, else :class:`CryptoError` (see also :func:`sm2_load_public_key`)."""
        point = _as_bytes("SM2 public key", point)
        if len(point) != _POINT_BYTES:
            raise CryptoError(f"SM2 public key must be {_POINT_BYTES} bytes (x‖y), got {len(point)}")
        if not _on_curve(int.from_bytes(point[:32], "big"), int.from_bytes(point[32:], "big")):
            raise CryptoError("SM2 public key is not a point of sm2p256v1 (GB/T 32918.1-2016 §6.2)")
        self._point = point
        self._verifier = _engine.SM2(pk=_UNCOMPRESSED + point)
        self._z_default = _z(point, SM2_DEFAULT_UID)

    def to_bytes(self) -> bytes:
        """The 64-byte ``x ‖ y`` (no ``04`` prefix)."""
        return self._point

    def z(self, uid: bytes = SM2_DEFAULT_UID) -> bytes:
        """``Z_A`` for this key and signer ID (GB/T 32918.2-2016 §5.5)."""
        uid = _check_uid(uid)
        return self._z_default if uid == SM2_DEFAULT_UID else _z(self._point, uid)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2PublicKey) and other._point == self._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"Sm2PublicKey({self._point.hex()})"


class Sm2PrivateKey:
    """An SM2 private key. Its scalar is never printed; :meth:`private_bytes` is the only way out."""

    __slots__ = ("_public", "_scalar", "_signer")

    def __init__(self, scalar: bytes) -> None:
        """A 32-byte big-endian ``d`` with ``1 <= d <= n - 2`` (GB/T 32918.1-2016 §6.1), else :class:`CryptoError`."""
        scalar = _as_bytes("SM2 private key", scalar)
        if len(scalar) != _SCALAR_BYTES:
            raise CryptoError(f"SM2 private key must be {_SCALAR_BYTES} bytes, got {len(scalar)}")
        if not 1 <= int.from_bytes(scalar, "big") <= _N - 2:
            raise CryptoError("SM2 private key is out of range [1, n-2] (GB/T 32918.1-2016 §6.1)")
        self._scalar = scalar
        self._signer = _engine.SM2(scalar)
        self._public = Sm2PublicKey(_engine.SM2.get_pk(scalar)[1:])

    def public_key(self) -> Sm2PublicKey:
        """The matching public key ``P = [d]G``."""
        return self._public

    def private_bytes(self) -> bytes:
        """The 32-byte big-endian scalar ``d`` — secret: for key stores only, never for logs or messages."""
        return self._scalar

    def __repr__(self) -> str:
        return f"Sm2PrivateKey(<hidden>, public={self._public.to_bytes()[:8].hex()}…)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2PrivateKey) and hmac.compare_digest(other._scalar, self._scalar)

    def __hash__(self) -> int:
        return hash(self._public)

    def __reduce__(self) -> NoReturn:
        raise TypeError("Sm2PrivateKey cannot be pickled or copied (it would write out the secret scalar)")


def _z(point: bytes, uid: bytes) -> bytes:
    entl = (len(uid) * 8).to_bytes(2, "big")
    return sm3(entl + uid + _CURVE_BYTES + point)


def sm2_z(public_key: Sm2PublicKey, uid: bytes = SM2_DEFAULT_UID) -> bytes:
    """``Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)`` (GB/T 32918.2-2016 §5.5)."""
    return public_key.z(uid)


def sm2_generate_private_key() -> Sm2PrivateKey:
    """A fresh key with ``d`` uniform in ``[1, n - 2]`` from :mod:`secrets` (GB/T 32918.1-2016 §6.1)."""
    d = secrets.randbelow(_N - 2) + 1
    return Sm2PrivateKey(d.to_bytes(_SCALAR_BYTES, "big"))


def sm2_load_private_key(raw: bytes) -> Sm2PrivateKey:
    """Load a 32-byte big-endian scalar; raises :class:`CryptoError` unless ``1 <= d <= n - 2``."""
    return Sm2PrivateKey(raw)


def sm2_load_public_key(raw: bytes) -> Sm2PublicKey:
    """Load ``x ‖ y`` (64 bytes) or ``04 ‖ x ‖ y`` (65 bytes); raises :class:`CryptoError` if not on the curve."""
    raw = _as_bytes("SM2 public key", raw)
    if len(raw) == _POINT_BYTES + 1 and raw[:1] == _UNCOMPRESSED:
        raw = raw[1:]
    elif len(raw) != _POINT_BYTES:
        raise CryptoError(f"SM2 public key must be 64 bytes (x‖y) or 65 bytes (04‖x‖y), got {len(raw)}")
    return Sm2PublicKey(raw)


def _digest(public_key: Sm2PublicKey, message: bytes, uid: bytes) -> bytes:
    return sm3(public_key.z(uid) + _as_bytes("message", message))


def sm2_sign_digest(private_key: Sm2PrivateKey, digest: bytes) -> bytes:
    """Sign a ready 32-byte ``e = SM3(Z_A ‖ M)`` (what a SAM's SM2SignHash receives, 健康卡 SAM spec)."""
    digest = _as_bytes("digest", digest)
    if len(digest) != _DIGEST_BYTES:
        raise CryptoError(f"SM2 digest must be {_DIGEST_BYTES} bytes, got {len(digest)}")
    if not isinstance(private_key, Sm2PrivateKey):
        raise CryptoError(f"private_key must be an Sm2PrivateKey, not {type(private_key).__name__}")
    return bytes(private_key._signer.sign_digest(digest))


def sm2_verify_digest(public_key: Sm2PublicKey, digest: bytes, signature: bytes) -> bool:
    """Verify ``r ‖ s`` over a ready 32-byte ``e``; ``r`` or ``s`` outside ``[1, n-1]`` verifies as False (§7.1)."""
    digest = _as_bytes("digest", digest)
    signature = _as_bytes("signature", signature)
    if len(digest) != _DIGEST_BYTES:
        raise CryptoError(f"SM2 digest must be {_DIGEST_BYTES} bytes, got {len(digest)}")
    if len(signature) != SM2_SIGNATURE_BYTES:
        raise CryptoError(f"SM2 signature must be {SM2_SIGNATURE_BYTES} bytes (r‖s), got {len(signature)}")
    if not isinstance(public_key, Sm2PublicKey):
        raise CryptoError(f"public_key must be an Sm2PublicKey, not {type(public_key).__name__}")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (1 <= r < _N and 1 <= s < _N):
        return False
    return bool(public_key._verifier.verify_digest(digest, signature))


def sm2_sign(private_key: Sm2PrivateKey, message: bytes, uid: bytes = SM2_DEFAULT_UID) -> bytes:
    """The 64-byte ``r ‖ s`` over ``SM3(Z_A(uid) ‖ message)`` with a fresh random ``k`` (GB/T 32918.2-2016 §6.1)."""
    if not isinstance(private_key, Sm2PrivateKey):
        raise CryptoError(f"private_key must be an Sm2PrivateKey, not {type(private_key).__name__}")
    return sm2_sign_digest(private_key, _digest(private_key.public_key(), message, uid))


def sm2_verify(public_key: Sm2PublicKey, message: bytes, signature: bytes, uid: bytes = SM2_DEFAULT_UID) -> bool:
    """True if ``signature`` (64-byte ``r ‖ s``) is valid for ``message`` and ``uid`` (GB/T 32918.2-2016 §7.1).

    Raises :class:`CryptoError` for a signature that is not 64 bytes or arguments of the wrong type.
    """
    if not isinstance(public_key, Sm2PublicKey):
        raise CryptoError(f"public_key must be an Sm2PublicKey, not {type(public_key).__name__}")
    return sm2_verify_digest(public_key, _digest(public_key, message, uid), signature)
