"""FMCOS issuance command builders: ERASE DF, CREATE FILE per file type, WRITE KEY per key type.

Layouts: FMCOS 2.0 issuance, sources.md V1 (FM1208 / FMCOS 2.0 family; sources S3, S13, S14, S15, S17, S18) and the
project's key-file extension docs/decisions.md D2 (key-file bytes 6/7 = algorithm and secure-messaging scheme; a real
FMCOS card ignores them, ``FF FF`` selects 3DES + FMCOS). Access rights are one byte ``XY`` (FMCOS 2.0 access rights,
sources.md V1; ``F0`` =
always, ``EF`` = never). WRITE KEY commands carry ``Redact.COMMAND_DATA``: traces never show key bytes.
"""

from __future__ import annotations

import dataclasses
import enum

from apdu._checks import check_bytes, check_int, check_sfi
from apdu.command import Command, Redact
from apdu.errors import ApduFormatError

__all__ = [
    "ALWAYS",
    "ED_FID",
    "EF_TYPES",
    "EP_FID",
    "NEVER",
    "RECORD_TYPES",
    "FileType",
    "KeyType",
    "Protection",
    "Scheme",
    "create_binary_ef",
    "create_cyclic_ef",
    "create_df",
    "create_key_file",
    "create_linear_fixed_ef",
    "create_linear_variable_ef",
    "create_purse_ef",
    "erase_df",
    "write_external_auth_key",
    "write_maintenance_key",
    "write_pin",
    "write_transaction_key",
]

ALWAYS = 0xF0  # access right satisfied in every security state (FMCOS 2.0 access rights, sources.md V1)
NEVER = 0xEF  # access right no state satisfies (X < Y; FMCOS 2.0 access rights, sources.md V1)

ED_FID = 0x0001  # 电子存折 file (FMCOS 2.0 CREATE FILE, sources.md V1)
EP_FID = 0x0002  # 电子钱包 file (FMCOS 2.0 CREATE FILE, sources.md V1)

_ADD_KEY = 0x01  # WRITE KEY P1 for "add" (FMCOS 2.0 WRITE KEY, sources.md V1)


class FileType(enum.IntEnum):
    """CREATE FILE type byte without the protection bits (FMCOS 2.0 CREATE FILE, sources.md V1); an EF's structure is
    one of
    :data:`EF_TYPES`."""

    DF = 0x38
    KEY_FILE = 0x3F
    BINARY = 0x28
    LINEAR_FIXED = 0x2A
    LINEAR_VARIABLE = 0x2C
    CYCLIC = 0x2E
    PURSE = 0x2F


EF_TYPES = frozenset(
    {FileType.BINARY, FileType.LINEAR_FIXED, FileType.LINEAR_VARIABLE, FileType.CYCLIC, FileType.PURSE}
)
RECORD_TYPES = frozenset({FileType.LINEAR_FIXED, FileType.LINEAR_VARIABLE, FileType.CYCLIC})


class Protection(enum.IntEnum):
    """Protection bits OR-ed into an EF type byte (FMCOS 2.0 CREATE FILE, sources.md V1 "Protection bits")."""

    NONE = 0x00
    MAC = 0x80  # writes need a MAC (CLA 04)
    ENC_MAC = 0xC0  # writes need encryption + MAC


class Scheme(enum.IntEnum):
    """Secure-messaging and authentication scheme of a DF: key-file byte 7 (project extension, decisions.md D2)."""

    FMCOS = 0x00
    HEALTH = 0x01


class KeyType(enum.IntEnum):
    """WRITE KEY key types (FMCOS 2.0 WRITE KEY, sources.md V1)."""

    DES_ENCRYPT = 0x30
    DES_DECRYPT = 0x31
    DES_MAC = 0x32
    INTERNAL = 0x34  # TAC key (内部密钥)
    LINE_PROTECTION = 0x36  # 维护 / secure-messaging key (health card STK keys, D2)
    PIN_UNBLOCK = 0x37
    PIN_RELOAD = 0x38
    EXTERNAL_AUTH = 0x39
    PIN = 0x3A
    OVERDRAFT = 0x3C
    UNLOAD = 0x3D
    PURCHASE = 0x3E
    LOAD = 0x3F


_TRANSACTION_TYPES = frozenset(
    {
        KeyType.DES_ENCRYPT,
        KeyType.DES_DECRYPT,
        KeyType.DES_MAC,
        KeyType.INTERNAL,
        KeyType.OVERDRAFT,
        KeyType.UNLOAD,
        KeyType.PURCHASE,
        KeyType.LOAD,
    }
)
_MAINTENANCE_TYPES = frozenset({KeyType.LINE_PROTECTION, KeyType.PIN_UNBLOCK, KeyType.PIN_RELOAD})


def _right(name: str, value: int) -> int:
    return check_int(name, value, 0, 0xFF)


def _create(fid: int, data: bytes) -> Command:
    check_int("fid", fid, 0, 0xFFFF)
    return Command(0x80, 0xE0, fid >> 8, fid & 0xFF, data)


def erase_df() -> Command:
    """ERASE DF ``80 0E 00 00 00`` (FMCOS 2.0 base commands, sources.md V1): erases everything under the current DF/MF.

    The trailing ``00`` is sent as Le (case 2), as FMCOS transcripts show it.
    """
    return Command(0x80, 0x0E, 0x00, 0x00, le=256)


# --- CREATE FILE ----------------------------------------------------------------------------------------------


def create_df(
    fid: int,
    df_name: bytes,
    *,
    space: int,
    create_right: int = ALWAYS,
    erase_right: int = ALWAYS,
    app_sfi: int = 0x95,
) -> Command:
    """CREATE FILE DF/ADF (or MF) ``80 E0 FID Lc | 38 ‖ space(2) ‖ create ‖ erase ‖ app SFI ‖ FF FF ‖ DF name``.

    Source: FMCOS 2.0 CREATE FILE, sources.md V1, e.g. ``80E03F010D 38 0520 F0 F0 95 FFFF 4444463031`` (S17). The DF
    name is 5..16 bytes.
    """
    data = (
        bytes((FileType.DF,))
        + check_int("space", space, 0, 0xFFFF).to_bytes(2, "big")
        + bytes((_right("create_right", create_right), _right("erase_right", erase_right)))
        + bytes((check_int("app_sfi", app_sfi, 0, 0xFF), 0xFF, 0xFF))
        + check_bytes("df_name", df_name, low=5, high=16)
    )
    return _create(fid, data)


def create_key_file(
    fid: int = 0x0000,
    *,
    space: int,
    df_sfi: int = 0x95,
    add_key_right: int = ALWAYS,
    algorithm: int = 0xFF,
    scheme: int = 0xFF,
) -> Command:
    """CREATE FILE key file ``80 E0 FID 07 | 3F ‖ space(2) ‖ DF SFI ‖ add-key right ‖ algorithm ‖ scheme``.

    Source: FMCOS 2.0 CREATE FILE, sources.md V1 (``80E00000073F005001F0FFFF``, S13/S18) with the project's use of the
    last two bytes (docs/decisions.md D2): ``algorithm`` ``00`` 3DES / ``04`` SM4, ``scheme`` ``00`` FMCOS /
    ``01`` health card; the defaults ``FF FF`` are plain FMCOS.
    """
    data = (
        bytes((FileType.KEY_FILE,))
        + check_int("space", space, 0, 0xFFFF).to_bytes(2, "big")
        + bytes((check_int("df_sfi", df_sfi, 0, 0xFF), _right("add_key_right", add_key_right)))
        + bytes((check_int("algorithm", algorithm, 0, 0xFF), check_int("scheme", scheme, 0, 0xFF)))
    )
    return _create(fid, data)


def create_binary_ef(
    fid: int, size: int, *, read_right: int, write_right: int, protection: Protection = Protection.NONE
) -> Command:
    """CREATE FILE binary EF ``80 E0 FID 07 | 28|prot ‖ size(2) ‖ read ‖ write ‖ FF FF`` (FMCOS 2.0 CREATE FILE,
    sources.md V1).

    Example ``80E00001072800 50 F0F0FFFF`` (S15).
    """
    data = (
        bytes((FileType.BINARY | Protection(protection),))
        + check_int("size", size, 1, 0xFFFF).to_bytes(2, "big")
        + bytes((_right("read_right", read_right), _right("write_right", write_right), 0xFF, 0xFF))
    )
    return _create(fid, data)


def _create_record_ef(
    file_type: FileType,
    fid: int,
    records: int,
    record_length: int,
    read_right: int,
    write_right: int,
    protection: Protection,
) -> Command:
    data = bytes(
        (
            file_type | Protection(protection),
            check_int("records", records, 1, 0xFF),
            check_int("record_length", record_length, 1, 0xFF),
            _right("read_right", read_right),
            _right("write_right", write_right),
            0xFF,
            0xFF,
        )
    )
    return _create(fid, data)


def create_linear_fixed_ef(
    fid: int,
    records: int,
    record_length: int,
    *,
    read_right: int,
    write_right: int,
    protection: Protection = Protection.NONE,
) -> Command:
    """CREATE FILE fixed-length record EF ``… | 2A|prot ‖ count ‖ length ‖ read ‖ write ‖ FF FF`` (FMCOS 2.0 CREATE
    FILE, sources.md V1).

    Example ``2A 0213`` = 2 records of 0x13 bytes (FMCOS 2.0 CREATE FILE, sources.md V1, S18).
    """
    return _create_record_ef(FileType.LINEAR_FIXED, fid, records, record_length, read_right, write_right, protection)


def create_linear_variable_ef(
    fid: int,
    records: int,
    record_length: int,
    *,
    read_right: int,
    write_right: int,
    protection: Protection = Protection.NONE,
) -> Command:
    """CREATE FILE variable-length record EF ``… | 2C|prot ‖ count ‖ max length ‖ read ‖ write ‖ FF FF`` (FMCOS 2.0
    CREATE FILE, sources.md V1)."""
    return _create_record_ef(FileType.LINEAR_VARIABLE, fid, records, record_length, read_right, write_right, protection)


def create_cyclic_ef(
    fid: int,
    records: int,
    record_length: int,
    *,
    read_right: int,
    write_right: int,
    protection: Protection = Protection.NONE,
) -> Command:
    """CREATE FILE cyclic record EF ``… | 2E|prot ‖ count ‖ length ‖ read ‖ write ‖ FF FF`` (FMCOS 2.0 CREATE FILE,
    sources.md V1).

    Example: klks ``2E 0517`` = 5 records of 23 bytes (the EP detail file, S3).
    """
    return _create_record_ef(FileType.CYCLIC, fid, records, record_length, read_right, write_right, protection)


def create_purse_ef(
    fid: int = EP_FID, *, use_right: int, detail_sfi: int, protection: Protection = Protection.NONE
) -> Command:
    """CREATE FILE passbook/purse ``80 E0 FID 07 | 2F 02 08 ‖ use right ‖ 00 FF ‖ detail-file SFI``.

    Source: FMCOS 2.0 CREATE FILE, sources.md V1, ``80E00002 07 2F0208 F0 00FF 18`` (S3); FID ``0001`` = ED, ``0002`` =
    EP.
    """
    data = bytes(
        (FileType.PURSE | Protection(protection), 0x02, 0x08, _right("use_right", use_right), 0x00, 0xFF)
    ) + bytes((check_sfi(detail_sfi, "detail_sfi"),))
    return _create(fid, data)


# --- WRITE KEY ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _KeyKind:
    """One family of WRITE KEY data fields ``type ‖ use ‖ change ‖ byte 3 ‖ byte 4 ‖ secret`` (FMCOS 2.0 WRITE KEY,
    sources.md V1): the key types it covers, what bytes 3 and 4 mean and how long the secret may be."""

    types: frozenset[KeyType]
    byte3: str
    byte4: str
    value_field: str = "key"
    value_range: tuple[int, int] | None = None  # a range of lengths (PIN); else an 8- or 16-byte key


_TRANSACTION = _KeyKind(_TRANSACTION_TYPES, "version", "algorithm")
_EXTERNAL_AUTH = _KeyKind(frozenset({KeyType.EXTERNAL_AUTH}), "follow_state", "error_counter")
_PIN = _KeyKind(frozenset({KeyType.PIN}), "follow_state", "error_counter", value_field="pin", value_range=(2, 8))
_MAINTENANCE = _KeyKind(_MAINTENANCE_TYPES, "byte3", "error_counter")


def _write_key(
    kind: _KeyKind,
    key_type: int,
    key_id: int,
    secret: bytes,
    rights: tuple[int, int],
    bytes34: tuple[int, int],
    *,
    update: bool,
    protected: bool,
) -> Command:
    """``80 D4 P1 KID Lc | type ‖ use ‖ change ‖ byte 3 ‖ byte 4 ‖ secret``; P1 ``01`` adds, P1 = type byte updates;
    ``protected`` sets the two high type bits (the key may then only be written ciphered + MAC'd)."""
    kt = _key_type(key_type, kind.types)
    head = bytes(
        (
            _right("use_right", rights[0]),
            _right("change_right", rights[1]),
            check_int(kind.byte3, bytes34[0], 0, 0xFF),
            check_int(kind.byte4, bytes34[1], 0, 0xFF),
        )
    )
    if kind.value_range is None:
        body = check_bytes(kind.value_field, secret, 8, 16)
    else:
        body = check_bytes(kind.value_field, secret, low=kind.value_range[0], high=kind.value_range[1])
    type_byte = kt | (0xC0 if protected else 0x00)
    p1 = type_byte if update else _ADD_KEY
    data = bytes((type_byte,)) + head + body
    return Command(0x80, 0xD4, p1, check_int("key_id", key_id, 0, 0xFF), data, redact=Redact.COMMAND_DATA)


def _key_type(value: int, allowed: frozenset[KeyType]) -> KeyType:
    try:
        kt = KeyType(value)
    except ValueError:
        kt = None
    if kt is None or kt not in allowed:
        names = ", ".join(f"{t:02X}" for t in sorted(allowed))
        raise ApduFormatError(f"key type {value:02X} is not one of {names}", field="key_type")
    return kt


def write_transaction_key(
    key_type: KeyType | int,
    key_id: int,
    key: bytes,
    *,
    use_right: int = ALWAYS,
    change_right: int = NEVER,
    version: int = 0x01,
    algorithm: int = 0x00,
    update: bool = False,
    protected: bool = False,
) -> Command:
    """WRITE KEY for DES and purse keys ``80 D4 01 KID Lc | type ‖ use ‖ change ‖ version ‖ algorithm ‖ key``.

    Types 30/31/32 (DES encrypt/decrypt/MAC), 34 (TAC, internal), 3C (overdraft), 3D (unload), 3E (purchase),
    3F (load); key 8 or 16 bytes, Lc ``0D``/``15`` (FMCOS 2.0 WRITE KEY, sources.md V1). ``update``: P1 = key type
    instead of ``01``. ``protected``: set the two high type bits (``3E`` → ``FE``), the key may then only be written
    encrypted + MAC'd with ``84 D4`` (JR/T 0025.1 secure messaging). Data redacted.
    """
    rights, bytes34 = (use_right, change_right), (version, algorithm)
    return _write_key(_TRANSACTION, int(key_type), key_id, key, rights, bytes34, update=update, protected=protected)


def write_external_auth_key(
    key_id: int,
    key: bytes,
    *,
    use_right: int = ALWAYS,
    change_right: int = NEVER,
    follow_state: int = 0x00,
    error_counter: int = 0x33,
    update: bool = False,
    protected: bool = False,
) -> Command:
    """WRITE KEY external authentication ``80 D4 01 KID Lc | 39 ‖ use ‖ change ‖ follow-up state ‖ errors ‖ key``.

    Source: FMCOS 2.0 WRITE KEY, sources.md V1 (``80D4010015 39 F0 F0 AA 33 FF×16``, S13); key id ``00`` is the DF
    master key. Data redacted.
    """
    rights, bytes34 = (use_right, change_right), (follow_state, error_counter)
    kind = _EXTERNAL_AUTH
    return _write_key(kind, KeyType.EXTERNAL_AUTH, key_id, key, rights, bytes34, update=update, protected=protected)


def write_pin(
    key_id: int,
    pin: bytes,
    *,
    use_right: int = ALWAYS,
    follow_state: int = 0x01,
    error_counter: int = 0x33,
    update: bool = False,
    protected: bool = False,
) -> Command:
    """WRITE KEY PIN ``80 D4 01 KID Lc | 3A ‖ use ‖ EF ‖ follow-up state ‖ errors ‖ PIN(2..8, BCD)``.

    Source: FMCOS 2.0 WRITE KEY, sources.md V1 (Lc ``07``-``0D``; the change right is fixed ``EF``). Data redacted.
    """
    rights, bytes34 = (use_right, NEVER), (follow_state, error_counter)
    return _write_key(_PIN, KeyType.PIN, key_id, pin, rights, bytes34, update=update, protected=protected)


def write_maintenance_key(
    key_type: KeyType | int,
    key_id: int,
    key: bytes,
    *,
    use_right: int = ALWAYS,
    change_right: int = NEVER,
    error_counter: int = 0x33,
    update: bool = False,
    protected: bool = False,
) -> Command:
    """WRITE KEY line protection / PIN unblock / PIN reload ``80 D4 01 KID Lc | type ‖ use ‖ change ‖ FF ‖ errors
    ‖ key``.

    Types 36 (line protection, the health card's STK keys), 37 (PIN unblock), 38 (PIN reload); source
    FMCOS 2.0 WRITE KEY, sources.md V1 (``80D401000D 36 F0 F0 FF 33 FF×8``, S13). Data redacted.
    """
    rights, bytes34 = (use_right, change_right), (0xFF, error_counter)
    return _write_key(_MAINTENANCE, int(key_type), key_id, key, rights, bytes34, update=update, protected=protected)
