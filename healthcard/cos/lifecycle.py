"""APPLICATION BLOCK / UNBLOCK and CARD BLOCK with a secure-messaging MAC (JR/T 0025.1 APPLICATION/CARD BLOCK;
sources.md O12).

``84 1E 00 P2 04 MAC`` blocks the current application (P2 ``00`` temporarily, ``01`` permanently);
``84 18 00 00 04 MAC`` lifts a temporary block; ``84 16 00 00 04 MAC`` blocks the whole card for good. The MAC is
the DF's secure-messaging MAC over ``84 xx P1 P2 04`` with the last challenge (:mod:`healthcard.cos.sm`).
A temporarily blocked application answers only SELECT, GET CHALLENGE, EXTERNAL AUTHENTICATE and APPLICATION
UNBLOCK (others 6A81); a permanently blocked one 9303; a blocked card 6A81 to everything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.card import SwError
from apdu.command import Command
from apdu.engine import require_length, require_p1p2
from apdu.status import SW
from healthcard.cos.sm import verify_command_mac
from healthcard.fs.journal import SetLifeCycle
from healthcard.fs.nodes import LifeCycle

if TYPE_CHECKING:
    from healthcard.cos.card import VirtualCard

__all__ = ["application_block", "application_unblock", "card_block"]


def _checked(card: VirtualCard, cmd: Command) -> None:
    """CLA ``84``, a data field of the 4-byte MAC alone, and that MAC right (short form: :meth:`VirtualCard._before
    <healthcard.cos.card.VirtualCard._before>` answers an extended secure-messaging command 6700)."""
    if cmd.cla != 0x84:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    require_length(cmd, 4)
    if verify_command_mac(card, cmd):
        raise SwError(SW.WRONG_LENGTH)


def application_block(card: VirtualCard, cmd: Command) -> bytes:
    """``84 1E 00 P2 04 MAC``."""
    if cmd.p1 or cmd.p2 not in (0x00, 0x01):
        raise SwError(SW.WRONG_P1P2)
    _checked(card, cmd)
    state = LifeCycle.BLOCKED_PERMANENTLY if cmd.p2 else LifeCycle.BLOCKED_TEMPORARILY
    card.commit([SetLifeCycle(card.df_path, state)], "application-block")
    card.refresh_lock()
    return b""


def application_unblock(card: VirtualCard, cmd: Command) -> bytes:
    """``84 18 00 00 04 MAC`` (only a temporary block can be lifted)."""
    require_p1p2(cmd, 0, 0)
    if card.df.life_cycle is LifeCycle.BLOCKED_PERMANENTLY:
        raise SwError(SW.APP_PERMANENTLY_LOCKED)
    _checked(card, cmd)
    card.commit([SetLifeCycle(card.df_path, LifeCycle.ACTIVE)], "application-unblock")
    card.refresh_lock()
    return b""


def card_block(card: VirtualCard, cmd: Command) -> bytes:
    """``84 16 00 00 04 MAC``: the card answers 6A81 to every command from now on."""
    require_p1p2(cmd, 0, 0)
    _checked(card, cmd)
    card.commit([SetLifeCycle((), LifeCycle.CARD_BLOCKED)], "card-block")
    card.refresh_lock()
    return b""
