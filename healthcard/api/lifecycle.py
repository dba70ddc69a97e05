"""Application and card life cycle with SAM-made MACs (JR/T 0025.1 APPLICATION/CARD BLOCK, JR/T 0025.1 secure messaging;
sources.md O12).

APPLICATION BLOCK ``84 1E 00 P2 04 MAC`` (P2 ``00`` temporary, ``01`` permanent), APPLICATION UNBLOCK
``84 18 00 00 04 MAC`` and CARD BLOCK ``84 16 00 00 04 MAC``. The MAC is the FMCOS line-protection MAC over
``84 xx P1 P2 04`` with IV = a fresh 4-byte challenge ‖ ``00 00``, under the application's
line-protection key diversified with the purse factor (EF15); the SAM computes it (``80 1A`` + ``80 FA 05``,
PSAM COS, sources.md V2 example ``80 FA 05 00 10 | rand(4) 00000000 | 84 1E 00 00 04 80 00 00``).

The health-card command set's own block APDUs are not public (sources.md O12); the project applies these
to the purse application, whose FMCOS form is known.
"""

from __future__ import annotations

from apdu.command import Command
from apdu.errors import LibraryError, MissingInputError
from apdu.status import SW
from healthcard.api.purse import PurseContext

__all__ = ["block_application", "block_card", "unblock_application"]


def _send_with_mac(ctx: PurseContext, ins: int, p2: int) -> None:
    sam = ctx.access.sam
    if sam is None:
        raise MissingInputError("life-cycle commands need a SAM for their MAC, and the session has none", needs="sam")
    factor = ctx.factor()
    challenge = ctx.access.challenge(4)
    ctx.access.send(sam.line_protection_mac(Command(0x80, ins, 0x00, p2), challenge, (factor,)))


def block_application(ctx: PurseContext, *, permanent: bool = False) -> None:
    """APPLICATION BLOCK of the purse ADF."""
    ctx.factor()
    ctx.select()
    _send_with_mac(ctx, 0x1E, 0x01 if permanent else 0x00)
    ctx.access.forget()


def unblock_application(ctx: PurseContext, factor: bytes | None = None) -> None:
    """APPLICATION UNBLOCK of a temporarily blocked purse ADF.

    The MAC key is diversified with the purse factor, which cannot be read while the application is blocked:
    the factor read before blocking in this session, or ``factor`` (kept when the card was blocked, or the
    issuer's record of it).
    """
    if factor is not None:
        if len(factor) != 8:
            raise LibraryError(f"the purse factor has 8 bytes, not {len(factor)}")
        ctx._factor = bytes(factor)
    if ctx._factor is None:
        raise LibraryError("read the purse (EF15) before blocking: it cannot be read while blocked")
    purse = ctx.access.profile.purse
    assert purse is not None
    ctx.access.forget()
    ctx.access.select_df(purse.adf.name, accept=(SW.OK, SW.FILE_DEACTIVATED))
    _send_with_mac(ctx, 0x18, 0x00)
    ctx.access.forget()


def block_card(ctx: PurseContext) -> None:
    """CARD BLOCK (irreversible): every later command is refused."""
    ctx.factor()
    ctx.select()
    _send_with_mac(ctx, 0x16, 0x00)
    ctx.access.forget()
