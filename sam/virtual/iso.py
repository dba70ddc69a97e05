"""ISO/IEC 7816-4 commands of the SAM: SELECT, READ BINARY, GET RESPONSE, GET CHALLENGE.

* SELECT ``00 A4 00 00 02 FID`` (§11.1.1): the MF, a child or sibling DF, or an EF of the current DF.
* READ BINARY ``00 B0 P1 P2 Le`` (§11.2.3): P1 b8 = 1 → SFI in P1 b5-b1, offset P2 (the SFI's EF becomes
  current); otherwise a 15-bit offset in the current EF. Le larger than what remains → ``6Cxx``; no Le or
  Le = 256 (``00``) returns what remains.
* GET RESPONSE ``00 C0 00 00 Le`` (§11.6.1): the T=0 way of fetching a computation's result after ``61xx``
  (WS/T 543.4 responses, JR/T 0025.2 purchase with a PSAM).
* GET CHALLENGE ``00 84 00 00 04|08`` (JR/T 0025.1 data formats1.5.3).
"""

from __future__ import annotations

import secrets

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_length, require_no_data, require_p1p2
from apdu.status import SW, wrong_le
from sam.virtual.context import SamContext

__all__ = ["get_challenge", "get_response", "read_binary", "select"]


def select(ctx: SamContext, cmd: Command) -> bytes:
    """SELECT by file identifier."""
    if cmd.p1 not in (0x00, 0x01, 0x02) or cmd.p2 not in (0x00, 0x0C):
        raise SwError(SW.WRONG_P1P2)
    fid = int.from_bytes(require_length(cmd, 2), "big")
    s = ctx.session
    df = ctx.files.find_df(s.current_df, fid)
    if df is not None:
        s.current_df, s.current_ef = df, None
        return b""
    ef = s.current_df.ef_by_fid(fid)
    if ef is None:
        raise SwError(SW.FILE_NOT_FOUND)
    s.current_ef = ef
    return b""


def _slice(content: bytes, offset: int, le: int | None) -> bytes:
    if offset > len(content):
        raise SwError(SW.WRONG_OFFSET)
    rest = content[offset:]
    if le is None or le == 256:
        return rest[:256]
    if le > len(rest):
        raise SwError(wrong_le(len(rest)))
    return rest[:le]


def read_binary(ctx: SamContext, cmd: Command) -> bytes:
    """READ BINARY by SFI or from the current EF."""
    require_no_data(cmd)
    s = ctx.session
    if cmd.p1 & 0x80:
        if cmd.p1 & 0x60:
            raise SwError(SW.WRONG_P1P2)
        ef = s.current_df.ef_by_sfi(cmd.p1 & 0x1F)
        if ef is None:
            raise SwError(SW.FILE_NOT_FOUND)
        s.current_ef = ef
        offset = cmd.p2
    else:
        if s.current_ef is None:
            raise SwError(SW.COMMAND_NOT_ALLOWED)
        ef = s.current_ef
        offset = (cmd.p1 << 8) | cmd.p2
    return _slice(ef.read(), offset, cmd.le)


def get_response(ctx: SamContext, cmd: Command) -> bytes:
    """Hand out the data of the previous command (``61xx``); the rest stays for the next GET RESPONSE."""
    require_p1p2(cmd, 0, 0)
    require_no_data(cmd)
    pending = ctx.session.pending_response
    if not pending:
        raise SwError(SW.CONDITIONS_NOT_SATISFIED)
    le = len(pending) if cmd.le is None else cmd.le
    if le > len(pending):
        raise SwError(wrong_le(len(pending)))
    ctx.session.pending_response = pending[le:]
    return pending[:le]


def get_challenge(ctx: SamContext, cmd: Command) -> bytes:
    """A fresh 4- or 8-byte random number, kept for the session."""
    require_p1p2(cmd, 0, 0)
    if cmd.data or cmd.le not in (4, 8):
        raise SwError(SW.WRONG_LENGTH)
    ctx.session.challenge = secrets.token_bytes(cmd.le)
    return ctx.session.challenge
