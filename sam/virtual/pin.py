"""SAM PIN: VERIFY ``00 20 00 00 Lc PIN`` and CHANGE PIN ``80 5E 01 00 Lc old ‖ FF ‖ new`` (健康卡 SAM spec: commands).

* The PIN is decimal digits sent as packed BCD ("123456" → ``12 34 56``).
* A wrong PIN answers ``63Cx`` (x tries left, ``63C0`` for the last one); with no tries left every attempt
  answers ``6983`` (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE, ISO/IEC 7816-4 and JR/T 0025.1 status words). A
  correct PIN restores the counter. VERIFY without data reports the counter (``63Cx``) or ``9000`` if the PIN is already
  verified (ISO/IEC 7816-4 §11.5.6).
* The counter is persistent (saved at every change); the "verified" state is not (cleared at power-on).
"""

from __future__ import annotations

import hmac

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_p1p2
from apdu.status import SW, tries_left
from sam.virtual.context import SamContext

__all__ = ["change_pin", "verify_pin"]


def _pin_ok(ctx: SamContext, candidate: bytes) -> bool:
    image = ctx.image
    if image.pin_tries_left == 0:
        raise SwError(SW.AUTH_BLOCKED)
    if hmac.compare_digest(candidate, bytes.fromhex(image.pin)):
        if image.pin_tries_left != image.pin_max_tries:
            image.pin_tries_left = image.pin_max_tries
            ctx.persist()
        return True
    image.pin_tries_left -= 1
    ctx.persist()
    ctx.session.pin_verified = False
    raise SwError(tries_left(image.pin_tries_left))


def verify_pin(ctx: SamContext, cmd: Command) -> bytes:
    """VERIFY: check the PIN, or report the counter when sent without data."""
    require_p1p2(cmd, 0, 0)
    if not cmd.data:
        if ctx.image.pin_tries_left == 0:
            raise SwError(SW.AUTH_BLOCKED)
        if ctx.session.pin_verified:
            return b""
        raise SwError(tries_left(ctx.image.pin_tries_left))
    if len(cmd.data) > 8:
        raise SwError(SW.WRONG_LENGTH)
    _pin_ok(ctx, cmd.data)
    ctx.session.pin_verified = True
    return b""


def _digits(data: bytes) -> str:
    text = data.hex()
    if not text.isdigit() or not 1 <= len(data) <= 8:
        raise SwError(SW.DATA_INVALID)
    return text


def change_pin(ctx: SamContext, cmd: Command) -> bytes:
    """CHANGE PIN: ``old ‖ FF ‖ new``; the old PIN counts as a verification attempt."""
    require_p1p2(cmd, 0x01, 0x00)
    data = cmd.data
    if data.count(0xFF) != 1:
        raise SwError(SW.DATA_INVALID if data else SW.WRONG_LENGTH)
    old, new = data.split(b"\xff")
    if not old or not new or len(old) > 8:
        raise SwError(SW.WRONG_LENGTH)
    new_pin = _digits(new)
    _pin_ok(ctx, old)
    ctx.image.pin = new_pin
    ctx.persist()
    ctx.session.pin_verified = True
    return b""
