"""SELECT (ISO/IEC 7816-4 §11.1.1; FMCOS 2.0 base commands, sources.md V1; WS/T 543.3 file tree).

P1: ``00`` by FID (``3F00`` or no data = MF; the current DF, its children, its parent, the parent's DFs),
``01`` child DF, ``02`` EF of the current DF, ``03`` parent DF, ``04`` by DF name (full or leading part),
``08`` path from the MF. P2: ``00``/``04`` return the FCI of a DF, ``0C`` no data. Selecting another DF clears
the security state. A temporarily blocked application answers ``6283`` (selected, invalidated), a permanently
blocked one ``9303`` (JR/T 0025.1 APPLICATION/CARD BLOCK, ISO/IEC 7816-4 and JR/T 0025.1 status words).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apdu.card import SwError
from apdu.command import Command
from apdu.status import SW
from healthcard.fs.nodes import DF, MF_FID, LifeCycle, Node

if TYPE_CHECKING:
    from healthcard.cos.card import VirtualCard

__all__ = ["fci", "find_fid", "select"]


def find_fid(card: VirtualCard, fid: int) -> Node | None:
    """Resolve a FID from the current DF (ISO 7816-4 §7.1 search order)."""
    mf = card.state.mf
    if fid == MF_FID:
        return mf
    cur = card.df
    if fid == cur.fid:
        return cur
    hit = cur.children.get(fid)
    if hit is not None:
        return hit
    parent = cur.parent
    if parent is not None:
        if fid == parent.fid:
            return parent
        sibling = parent.children.get(fid)
        if isinstance(sibling, DF):
            return sibling
    return None


def fci(df: DF) -> bytes:
    """FCI template of a DF: ``6F ‖ 84 DF name ‖ A5 (88 01 SFI)``."""
    body = b""
    if df.name:
        body += bytes((0x84, len(df.name))) + df.name
    body += bytes((0xA5, 0x03, 0x88, 0x01, df.app_sfi))
    return bytes((0x6F, len(body))) + body


def _target(card: VirtualCard, p1: int, data: bytes) -> tuple[Node | None, DF]:
    """The node to select and the DF that holds it when it is an EF."""
    if p1 == 0x08:
        if not data or len(data) % 2:
            raise SwError(SW.WRONG_LENGTH)
        holder: DF = card.state.mf
        node: Node | None = holder
        for i in range(0, len(data), 2):
            fid = int.from_bytes(data[i : i + 2], "big")
            if i == 0 and fid == MF_FID:
                continue
            if isinstance(node, DF):
                holder = node
                node = node.children.get(fid)
            else:
                node = None
        return node, holder
    return _relative(card, p1, data), card.df


def _relative(card: VirtualCard, p1: int, data: bytes) -> Node | None:
    if p1 == 0x00:
        if not data:
            return card.state.mf
        if len(data) != 2:
            raise SwError(SW.WRONG_LENGTH)
        return find_fid(card, int.from_bytes(data, "big"))
    if p1 in (0x01, 0x02):
        if len(data) != 2:
            raise SwError(SW.WRONG_LENGTH)
        child = card.df.children.get(int.from_bytes(data, "big"))
        return child if (p1 == 0x01) == isinstance(child, DF) else None
    if p1 == 0x03:
        return card.df.parent
    if p1 == 0x04:
        if not 1 <= len(data) <= 16:
            raise SwError(SW.WRONG_LENGTH)
        return card.state.mf.find_name(data)
    raise SwError(SW.WRONG_P1P2)


def select(card: VirtualCard, cmd: Command) -> bytes:
    """``00 A4 P1 P2 [Lc data] [Le]``."""
    if cmd.cla & 0xF0:
        raise SwError(SW.CLA_NOT_SUPPORTED)
    p2 = cmd.p2
    if p2 not in (0x00, 0x04, 0x0C):
        raise SwError(SW.WRONG_P1P2)
    node, holder = _target(card, cmd.p1, cmd.data)
    if node is None:
        raise SwError(SW.FILE_NOT_FOUND)
    if not isinstance(node, DF):
        if holder is not card.df:
            card.select_df(holder)
        card.ef = node
        return b""
    card.select_df(node)
    answer = b"" if p2 == 0x0C else fci(node)
    worst = max(d.life_cycle for d in node.lineage())
    if card.state.mf.life_cycle is LifeCycle.CARD_BLOCKED:
        raise SwError(SW.APP_LOCKED)
    if worst is LifeCycle.BLOCKED_PERMANENTLY:
        raise SwError(SW.APP_PERMANENTLY_LOCKED)
    if worst is LifeCycle.BLOCKED_TEMPORARILY:
        raise SwError(SW.FILE_DEACTIVATED, answer)  # a warning with the FCI
    return answer
