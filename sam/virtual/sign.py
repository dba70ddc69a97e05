"""SM3 digest and SM2 signing on the SAM (project extensions: no public source shows these APDUs,
健康卡 SAM spec: commands and open point 5).

``80 C8 P1 00 Lc data`` — SM3 DIGEST (GB/T 32905-2016): P1 = ``01`` more data follows (buffered, no output),
``00`` last or only part → the 32-byte digest. At most 16 KiB in total (``6A84``).

``80 CE 00 00 20 e`` — SM2 SIGN DIGEST (GB/T 32918.2-2016 §6.1): signs ``e = SM3(Z_A ‖ M)`` with the SAM's SM2
key and returns ``r ‖ s`` (64 bytes). Needs the verified SAM PIN (健康卡 SAM spec: commands "PIN-gated"). The public
key is readable in DF01/EF001D.
"""

from __future__ import annotations

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_p1p2
from apdu.status import SW
from sam.crypto import sm3
from sam.crypto.sm2 import sm2_load_private_key, sm2_sign_digest
from sam.virtual.context import SamContext, require_pin

__all__ = ["MAX_SM3_INPUT", "sm2_sign", "sm3_digest"]

MAX_SM3_INPUT = 16 * 1024


def sm3_digest(ctx: SamContext, cmd: Command) -> bytes:
    """``80 C8``: SM3 over one or several data parts."""
    if cmd.p2 != 0 or cmd.p1 not in (0x00, 0x01):
        raise SwError(SW.WRONG_P1P2)
    s = ctx.session
    buffer = s.sm3_buffer if s.sm3_buffer is not None else bytearray()
    if len(buffer) + len(cmd.data) > MAX_SM3_INPUT:
        s.sm3_buffer = None
        raise SwError(SW.NOT_ENOUGH_SPACE)
    buffer += cmd.data
    if cmd.p1 == 0x01:
        s.sm3_buffer = buffer
        return b""
    s.sm3_buffer = None
    return sm3(bytes(buffer))


def sm2_sign(ctx: SamContext, cmd: Command) -> bytes:
    """``80 CE``: SM2 signature over a 32-byte digest."""
    require_p1p2(cmd, 0, 0)
    if len(cmd.data) != 32:
        raise SwError(SW.WRONG_LENGTH)
    require_pin(ctx)
    return sm2_sign_digest(sm2_load_private_key(ctx.image.sm2_private_key), cmd.data)
