"""PBOC PSAM command builders: purchase MAC1/MAC2, generic DES computation, EF15/EF16/EF17 reads.

Layouts: JR/T 0025.2 purchase with a PSAM (``80 70`` INIT_SAM_FOR_PURCHASE, ``80 72`` CREDIT_SAM_FOR_PURCHASE), PSAM
COS, sources.md V2 (``80 1A`` INIT_FOR_DESCRYPT, ``80 FA`` CIPHER DATA), PSAM files, sources.md V2 (PSAM files). P1/P2
values differ between PSAM vendors ("treat P1/P2 as configuration", PSAM COS, sources.md V2), so every builder takes
them as keyword arguments with the reference's values as defaults. T=0 PSAMs answer ``61xx``;
:class:`apdu.channel.Channel` fetches the data.
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Sequence

from apdu import iso
from apdu._checks import check_bytes, check_int
from apdu.bcd import encode_datetime
from apdu.command import Command, Redact
from apdu.errors import ApduFormatError

__all__ = [
    "CipherMode",
    "KeyUsage",
    "cipher_data",
    "credit_sam_for_purchase",
    "descrypt_p1",
    "init_for_descrypt",
    "init_sam_for_purchase",
    "read_public_info",
    "read_purchase_key_index",
    "read_terminal_id",
    "sam_encrypt",
    "sam_mac",
]

PUBLIC_INFO_SFI = 0x15
TERMINAL_INFO_SFI = 0x16
KEY_INDEX_SFI = 0x17


class KeyUsage(enum.IntEnum):
    """PSAM key attribute, the low 5 bits of ``80 1A`` P1: which key (毅能达 PSAM COS 6.0, PSAM COS, sources.md V2;
    vendor-specific). The SAM key store files keys by it too (:mod:`sam.keystore`)."""

    MASTER = 0x00
    PURCHASE = 0x02
    MAINTENANCE = 0x05
    MAC = 0x06
    ENCRYPT = 0x07
    MAC_ENCRYPT = 0x08
    LOAD = 0x09
    TAC = 0x0C
    PIN = 0x0D
    EXTERNAL_AUTH = 0x0E
    INTERNAL_AUTH = 0x0F
    #: The issuer's unload (圈提) key: a project value (FMCOS key type ``3D`` & ``1F``), not a PSAM attribute — real
    #: PSAMs hold no unload key; only the virtual SAM's ``80 7C`` extension and key-store files use it.
    UNLOAD = 0x1D


class CipherMode(enum.IntEnum):
    """P1 of ``80 FA`` CIPHER DATA (PSAM COS, sources.md V2, S7)."""

    ENCRYPT = 0x00  # encrypt, no block follows
    ENCRYPT_MORE = 0x02  # encrypt, more blocks follow
    MAC_ONLY = 0x05  # MAC, only block; data begins with the IV
    MAC_FIRST = 0x07
    MAC_MIDDLE = 0x03
    MAC_LAST = 0x01


_ENCRYPT_MODES = frozenset({CipherMode.ENCRYPT, CipherMode.ENCRYPT_MORE})


def _factors(factors: Sequence[bytes], low: int) -> bytes:
    if not low <= len(factors) <= 3:
        raise ApduFormatError(f"{low}..3 diversification factors are needed, got {len(factors)}", field="factors")
    return b"".join(check_bytes("factors", f, 8) for f in factors)


def init_sam_for_purchase(
    *,
    icc_random: bytes,
    card_counter: int,
    amount: int,
    transaction_type: int,
    when: _dt.datetime,
    key_version: int,
    algorithm: int,
    factors: Sequence[bytes],
    p1: int = 0x00,
    p2: int = 0x00,
    le: int | None = 0x08,
) -> Command:
    """INIT_SAM_FOR_PURCHASE ``80 70 P1 P2 Lc | data | Le 08`` (JR/T 0025.2 purchase with a PSAM step 2), Lc = 14 + 8N.

    Data: ICC random(4) ‖ card offline counter(2) ‖ amount(4) ‖ type(1, 06 or 09) ‖ datetime(7) ‖
    key version(1) ‖ algorithm ID(1) ‖ N factors of 8 bytes (card application serial first, then the issuer
    ID for N = 2). Answer: :class:`~apdu.response_records.SamPurchaseInitResponse` (terminal serial ‖ MAC1).
    """
    data = (
        check_bytes("icc_random", icc_random, 4)
        + check_int("card_counter", card_counter, 0, 0xFFFF).to_bytes(2, "big")
        + check_int("amount", amount, 0, 0xFFFFFFFF).to_bytes(4, "big")
        + bytes((check_int("transaction_type", int(transaction_type), 0, 0xFF),))
        + encode_datetime(when)
        + bytes((check_int("key_version", key_version, 0, 0xFF), check_int("algorithm", algorithm, 0, 0xFF)))
        + _factors(factors, 1)
    )
    if le is not None:
        check_int("le", le, 1, 256)
    return Command(0x80, 0x70, check_int("p1", p1, 0, 0xFF), check_int("p2", p2, 0, 0xFF), data, le)


def credit_sam_for_purchase(mac2: bytes, *, p1: int = 0x00, p2: int = 0x00) -> Command:
    """CREDIT_SAM_FOR_PURCHASE ``80 72 P1 P2 04 | MAC2`` (JR/T 0025.2 purchase with a PSAM step 4): ``9000`` = MAC2
    valid."""
    mac2 = check_bytes("mac2", mac2, 4)
    return Command(0x80, 0x72, check_int("p1", p1, 0, 0xFF), check_int("p2", p2, 0, 0xFF), mac2)


def descrypt_p1(levels: int, attribute: KeyUsage | int) -> int:
    """``80 1A`` P1: levels in the high 3 bits, key attribute in the low 5 (PSAM COS, sources.md V2, S7).

    Example: ``descrypt_p1(2, KeyUsage.MAINTENANCE) == 0x45`` (the observed ``80 1A 45 01 10``).
    """
    return (check_int("levels", levels, 0, 7) << 5) | check_int("attribute", int(attribute), 0, 0x1F)


def init_for_descrypt(key_usage: int, key_index: int, factors: Sequence[bytes] = ()) -> Command:
    """INIT_FOR_DESCRYPT ``80 1A P1 P2 Lc | factors`` (PSAM COS, sources.md V2): Lc = 8N, N = 0..3.

    ``key_usage`` = P1 (see :func:`descrypt_p1`), ``key_index`` = P2 (key index or version). With no factor
    the command is case 1 ``80 1A P1 P2``.
    """
    p1 = check_int("key_usage", key_usage, 0, 0xFF)
    return Command(0x80, 0x1A, p1, check_int("key_index", key_index, 0, 0xFF), _factors(factors, 0))


def cipher_data(mode: CipherMode | int, data: bytes, *, p2: int = 0x00, le: int | None = None) -> Command:
    """CIPHER DATA ``80 FA P1 P2 Lc data`` (PSAM COS, sources.md V2; health SAM 健康卡 SAM spec: commands).

    Encryption modes redact both command and response data (the plaintext may be a PIN block or a key);
    MAC modes redact nothing.
    """
    p1 = check_int("mode", int(mode), 0, 0xFF)
    data = check_bytes("data", data, low=1, high=255)
    if le is not None:
        check_int("le", le, 1, 256)
    redact = Redact.BOTH if p1 in _ENCRYPT_MODES else Redact.NOTHING
    return Command(0x80, 0xFA, p1, check_int("p2", p2, 0, 0xFF), data, le, redact=redact)


def sam_encrypt(data: bytes, *, more: bool = False, p2: int = 0x00) -> Command:
    """Encrypt with the key set up by ``80 1A``/``80 DE``: ``80 FA 00|02 P2 Lc data`` (PSAM COS, sources.md V2).

    Example: the FMCOS EXTERNAL AUTHENTICATE cryptogram ``80 FA 00 00 08 | rand(8)`` (S22).
    """
    return cipher_data(CipherMode.ENCRYPT_MORE if more else CipherMode.ENCRYPT, data, p2=p2)


def sam_mac(iv: bytes, data: bytes, *, p2: int = 0x00) -> Command:
    """MAC over one block chain ``80 FA 05 P2 Lc | IV ‖ data`` (PSAM COS, sources.md V2; WS/T 543.4 SM UPDATE RECORD).

    IV is 8 bytes (PSAM, DES) or 16 (health SAM, SM4). The caller supplies the ``80 00…`` padding of ``data``.
    """
    iv = check_bytes("iv", iv, 8, 16)
    return cipher_data(CipherMode.MAC_ONLY, iv + check_bytes("data", data, low=1, high=255), p2=p2)


def read_public_info(*, sfi: int = PUBLIC_INFO_SFI, length: int = 0x0A) -> Command:
    """Read EF15 (PSAM serial first) ``00 B0 95 00 0A`` (PSAM files, sources.md V2); parse with SamPublicInfo."""
    return iso.read_binary_sfi(sfi, 0, length)


def read_terminal_id(*, sfi: int = TERMINAL_INFO_SFI, length: int = 0x06) -> Command:
    """Read EF16, the 6-byte terminal number ``00 B0 96 00 06`` (PSAM files, sources.md V2); parse with TerminalInfo."""
    return iso.read_binary_sfi(sfi, 0, length)


def read_purchase_key_index(*, sfi: int = KEY_INDEX_SFI, length: int = 0x01) -> Command:
    """Read EF17 under the application DF, the purchase key index ``00 B0 97 00 01`` (JR/T 0025.1 data formats, PSAM
    files, sources.md V2)."""
    return iso.read_binary_sfi(sfi, 0, length)
