"""What a command handler works on: the image (persistent), the file tree, the session (volatile)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apdu.card import SwError
from apdu.command import Command
from apdu.status import SW
from sam.virtual.files import FileTree
from sam.virtual.image import SamImage
from sam.virtual.session import Session

__all__ = ["Handler", "SamContext", "require_pin"]


@dataclass(slots=True)
class SamContext:
    """Handler context. ``persist()`` must be called after every change to the image (counters, PIN)."""

    image: SamImage
    files: FileTree
    session: Session
    persist: Callable[[], None]


#: A command handler: returns the response data (SW 9000) or raises :class:`apdu.card.SwError`.
Handler = Callable[[SamContext, Command], bytes]


def require_pin(ctx: SamContext) -> None:
    """``6982`` unless the SAM PIN was verified since power-on."""
    if not ctx.session.pin_verified:
        raise SwError(SW.SECURITY_NOT_SATISFIED)
