"""Resident health card SAM (居民健康卡 SAM) command builders.

Layouts: WS/T 543.4 key table (``80 DE`` key diversification + session key, P1/P2 per key), WS/T 543.4 EXTERNAL
AUTHENTICATE, SM UPDATE RECORD (``80 FA`` encrypt/MAC for EXTERNAL AUTHENTICATE and secure-messaging writes), 健康卡 SAM
spec: files (SAM files 0015/0016/001A/001B/001C, read by FID then READ BINARY), 健康卡 SAM spec: commands (PIN
verify/change). The SAM answers with ``61xx`` + GET RESPONSE (WS/T 543.4 responses), resolved by
:class:`apdu.channel.Channel`. P1/P2 of ``80 DE`` come from the card profile (KeySpec.sam_p1/p2): they are arguments
here, never constants.
"""

from __future__ import annotations

import enum

from apdu import iso
from apdu._checks import check_bytes, check_int
from apdu.command import Command
from apdu.errors import ApduFormatError
from apdu.psam import sam_encrypt, sam_mac

__all__ = [
    "APP_DF_FID",
    "APP_INFO_FID",
    "ISSUER_CERT_FID",
    "PUBLIC_INFO_FID",
    "SAM_CERT_FID",
    "TERMINAL_INFO_FID",
    "KeyUsage",
    "change_pin",
    "derive_key",
    "derive_p1",
    "encrypt",
    "mac",
    "pin_bytes",
    "read_app_info",
    "read_issuer_certificate",
    "read_public_info",
    "read_sam_certificate",
    "read_terminal_info",
    "verify_pin",
]

PUBLIC_INFO_FID = 0x0015  # MF/EF0015 公共信息, 14 bytes
TERMINAL_INFO_FID = 0x0016  # MF/EF0016 终端信息, 6 bytes
APP_DF_FID = 0xDF01  # the SAM's health-card application DF
APP_INFO_FID = 0x001A  # DF01/EF001A 健康卡应用公共信息, 25 bytes
ISSUER_CERT_FID = 0x001B  # DF01/EF001B 发卡机构证书, 180 bytes
SAM_CERT_FID = 0x001C  # DF01/EF001C SAM卡机构证书, 190 bytes


class KeyUsage(enum.IntEnum):
    """Low nibble of ``80 DE`` P1 (WS/T 543.4 key table, [INF])."""

    AUTHENTICATION = 0x07
    PROTECTION = 0x08


def derive_p1(levels: int, usage: KeyUsage | int) -> int:
    """``80 DE`` P1: high nibble 2 = one level (card) + session, 4 = two levels (city, card) + session.

    Source: WS/T 543.4 key table (e.g. RK ``47``, UK_DDF1 ``27``, STK_DDF1 ``28``, STK_DF02 ``48``).
    """
    check_int("levels", levels, 1, 2)
    return (0x20 if levels == 1 else 0x40) | check_int("usage", int(usage), 0, 0x0F)


def derive_key(p1: int, p2: int, card_no: bytes, challenge: bytes, *, city_factor: bytes | None = None) -> Command:
    """Key diversification / session init ``80 DE P1 P2 Lc | cardNo(8) ‖ [cityFactor(8)] ‖ challenge(8)``.

    Lc ``10`` (one level) or ``18`` (two levels). Source: WS/T 543.4 key table, diversification factors, WS/T 543.4
    EXTERNAL AUTHENTICATE (``80 DE 47 3x 18``).
    """
    data = check_bytes("card_no", card_no, 8)
    if city_factor is not None:
        data += check_bytes("city_factor", city_factor, 8)
    data += check_bytes("challenge", challenge, 8)
    return Command(0x80, 0xDE, check_int("p1", p1, 0, 0xFF), check_int("p2", p2, 0, 0xFF), data)


def encrypt(data: bytes) -> Command:
    """Encrypt with the derived key ``80 FA 00 00 Lc data`` (WS/T 543.4 EXTERNAL AUTHENTICATE, SM UPDATE RECORD, 健康卡
    SAM spec: commands); data redacted.

    EXTERNAL AUTHENTICATE: ``encrypt(terminal_data + bytes(8))`` (``80 FA 00 00 10``).
    """
    return sam_encrypt(data)


def mac(iv: bytes, data: bytes) -> Command:
    """MAC with the derived key ``80 FA 05 00 Lc | IV(16) ‖ data`` (WS/T 543.4 SM UPDATE RECORD, 健康卡 SAM spec:
    commands)."""
    return sam_mac(iv, data)


def pin_bytes(pin: str | bytes) -> bytes:
    """The SAM PIN as sent: hex digits, two per byte ("123456" → ``12 34 56``, 健康卡 SAM spec: commands)."""
    if isinstance(pin, bytes | bytearray):
        return check_bytes("pin", pin, low=1, high=8)
    if not pin or len(pin) % 2 or not pin.isdigit() or not pin.isascii():
        raise ApduFormatError("the SAM PIN must be an even number of decimal digits", field="pin")
    return check_bytes("pin", bytes.fromhex(pin), low=1, high=8)


def verify_pin(pin: str | bytes, *, key_id: int = 0x00) -> Command:
    """SAM VERIFY PIN ``00 20 00 00 Lc PIN`` in DF01 (健康卡 SAM spec: commands); data redacted."""
    return iso.verify(pin_bytes(pin), key_id=key_id)


def change_pin(old_pin: str | bytes, new_pin: str | bytes, *, key_id: int = 0x00) -> Command:
    """SAM CHANGE PIN ``80 5E 01 00 Lc old ‖ FF ‖ new`` (健康卡 SAM spec: commands); data redacted."""
    return iso.change_pin(pin_bytes(old_pin), pin_bytes(new_pin), key_id=key_id)


def read_public_info(length: int = 0x0E) -> Command:
    """Read EF0015 (after SELECT 3F00, 0015) ``00 B0 00 00 0E`` (健康卡 SAM spec: files); parse with SamPublicInfo."""
    return iso.read_binary(0, length)


def read_terminal_info(length: int = 0x06) -> Command:
    """Read EF0016 ``00 B0 00 00 06``: terminal number (健康卡 SAM spec: files); parse with TerminalInfo."""
    return iso.read_binary(0, length)


def read_app_info(length: int = 0x19) -> Command:
    """Read DF01/EF001A ``00 B0 00 00 19`` (健康卡 SAM spec: files); parse with HealthSamAppInfo."""
    return iso.read_binary(0, length)


def read_issuer_certificate(length: int = 0xB4) -> Command:
    """Read DF01/EF001B ``00 B0 00 00 B4``: issuer certificate, 180 bytes (健康卡 SAM spec: files)."""
    return iso.read_binary(0, length)


def read_sam_certificate(length: int = 0xBE) -> Command:
    """Read DF01/EF001C ``00 B0 00 00 BE``: SAM certificate, 190 bytes (健康卡 SAM spec: files)."""
    return iso.read_binary(0, length)
