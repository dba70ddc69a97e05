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
from apdu.status import SW
from healthcard.cos.sm import verify_command_mac
from healthcard.fs.journal import SetLifeCycle
from healthcard.fs.nodes import LifeCycle

if TYPE_CHECKING:
    from healthcard.cos.card import VirtualCard

__all__ = ["application_block", "application_unblock", "card_block"]


def _checked(card: VirtualCard, apdu: bytes) -> None:
    if apdu[0] != 0x84:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    if len(apdu) not in (9, 10) or apdu[4] != 4:
        raise SwError(SW.WRONG_LENGTH)
    if verify_command_mac(card, apdu):
        raise SwError(SW.WRONG_LENGTH)


def application_block(card: VirtualCard, apdu: bytes) -> bytes:
    """``84 1E 00 P2 04 MAC``."""
    if apdu[2] or apdu[3] not in (0x00, 0x01):
        raise SwError(SW.WRONG_P1P2)
    _checked(card, apdu)
    state = LifeCycle.BLOCKED_PERMANENTLY if apdu[3] else LifeCycle.BLOCKED_TEMPORARILY
    card.commit([SetLifeCycle(card.df_path, state)], "application-block")
    card.refresh_lock()
    return b""


def application_unblock(card: VirtualCard, apdu: bytes) -> bytes:
    """``84 18 00 00 04 MAC`` (only a temporary block can be lifted)."""
    if apdu[2] or apdu[3]:
        raise SwError(SW.WRONG_P1P2)
    if card.df.life_cycle is LifeCycle.BLOCKED_PERMANENTLY:
        raise SwError(SW.APP_PERMANENTLY_LOCKED)
    _checked(card, apdu)
    card.commit([SetLifeCycle(card.df_path, LifeCycle.ACTIVE)], "application-unblock")
    card.refresh_lock()
    return b""


def card_block(card: VirtualCard, apdu: bytes) -> bytes:
    """``84 16 00 00 04 MAC``: the card answers 6A81 to every command from now on."""
    if apdu[2] or apdu[3]:
        raise SwError(SW.WRONG_P1P2)
    _checked(card, apdu)
    card.commit([SetLifeCycle((), LifeCycle.CARD_BLOCKED)], "card-block")
    card.refresh_lock()
    return b""
