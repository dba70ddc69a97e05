"""VirtualSam: a software PSAM + health-card SAM that speaks APDUs (an :class:`apdu.card.SimulatedCard`).

Architecture after vsmartcard's ``Iso7816OS`` (anchors.md §2): a dispatch table from (CLA, INS) to small handler
functions (:mod:`sam.virtual.iso`, :mod:`~sam.virtual.pin`, :mod:`~sam.virtual.purse_commands`,
:mod:`~sam.virtual.cipher`, :mod:`~sam.virtual.sign`) that return data or raise :class:`apdu.card.SwError`, run by
the simulators' engine (:class:`apdu.engine.Engine`). Unlike vicc, ``execute`` never raises, PIN failures answer
``63Cx`` (``6983`` once no try is left), and no handler ever logs or returns a master key.

Persistent state is a :class:`~sam.virtual.image.SamImage`; each change to it (PIN counter, terminal serial) is
saved at once when the SAM was opened with a ``path`` (atomic replace), and reported to ``on_change``.
Computations that carry command data and answer data (``80 70``, ``80 FA``, ``80 C8``, ``80 CE``, ``80 7C``)
answer ``61xx`` and hand out the data by GET RESPONSE, as T=0 SAMs do (WS/T 543.4 responses, JR/T 0025.2 purchase with a
PSAM), unless the image sets ``t0_get_response`` to false.

The full command set and file tree are documented in ``docs/sam.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from apdu.command import Command
from apdu.engine import Engine
from apdu.status import SW, more_data, sw_bytes
from sam.virtual import cipher, iso, pin, purse_commands, sign
from sam.virtual.context import Handler, SamContext
from sam.virtual.files import build_file_tree
from sam.virtual.image import SamImage, load_sam_image, new_sam_image, save_sam_image
from sam.virtual.session import Session

__all__ = ["COMMANDS", "ENGINE", "VirtualSam"]

#: (CLA, INS) → handler. docs/sam.md lists them with their data layouts.
COMMANDS: Mapping[tuple[int, int], Handler] = {
    (0x00, 0xA4): iso.select,
    (0x00, 0xB0): iso.read_binary,
    (0x00, 0xC0): iso.get_response,
    (0x00, 0x84): iso.get_challenge,
    (0x00, 0x20): pin.verify_pin,
    (0x80, 0x5E): pin.change_pin,
    (0x80, 0x70): purse_commands.init_for_purchase,
    (0x80, 0x72): purse_commands.credit_for_purchase,
    (0x80, 0x7C): purse_commands.authorise_load,
    (0x80, 0x7E): purse_commands.verify_tac,
    (0x80, 0x1A): cipher.init_cipher,
    (0x80, 0xDE): cipher.health_derive,
    (0x80, 0xFA): cipher.cipher_data,
    (0x80, 0xC8): sign.sm3_digest,
    (0x80, 0xCE): sign.sm2_sign,
}
_GET_RESPONSE = 0xC0


def make_atr(historical: bytes) -> bytes:
    """``3B 8K 80 01 ‖ historical ‖ TCK``: T=0 and T=1 offered, TCK = XOR of T0..the last historical byte
    (ISO/IEC 7816-3 §8.2)."""
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes((tck,))


class VirtualSam:
    """A virtual SAM over an image.

    Parameters
    ----------
    image:
        The persistent state; a fresh demo image (:func:`~sam.virtual.image.new_sam_image`) if omitted.
    path:
        If given, the image is saved there (atomically) after every persistent change.
    on_change:
        Called with the image after every persistent change (after the save).
    """

    def __init__(
        self,
        image: SamImage | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        on_change: Callable[[SamImage], None] | None = None,
    ) -> None:
        self._image = image if image is not None else new_sam_image()
        self._path = Path(path) if path is not None else None
        self._on_change = on_change
        self._files = build_file_tree(self._image)
        self._atr = make_atr(b"HCSAM" + self._image.sam_serial[-4:])
        self._ctx = SamContext(self._image, self._files, Session(self._files.mf), self._persist)

    @classmethod
    def open(cls, path: str | os.PathLike[str], **kwargs: Callable[[SamImage], None]) -> VirtualSam:
        """Load the image at ``path`` and keep saving it there."""
        return cls(load_sam_image(path), path=path, **kwargs)

    def __repr__(self) -> str:
        return f"VirtualSam({self._image!r})"

    @property
    def image(self) -> SamImage:
        """The persistent state (live object)."""
        return self._image

    @property
    def atr(self) -> bytes:
        return self._atr

    def power_on(self) -> None:
        self._ctx.session = Session(self._files.mf)

    def power_off(self) -> None:
        self._ctx.session = Session(self._files.mf)

    def reset(self) -> None:
        self._ctx.session = Session(self._files.mf)

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Save the image to ``path`` (default: the path given at construction)."""
        target = Path(path) if path is not None else self._path
        if target is None:
            raise ValueError("no path to save the SAM image to")
        save_sam_image(self._image, target)

    def _persist(self) -> None:
        if self._path is not None:
            save_sam_image(self._image, self._path)
        if self._on_change is not None:
            self._on_change(self._image)

    def execute(self, apdu: bytes) -> bytes:
        """Run one command APDU; never raises (unexpected failures answer ``6F00``)."""
        raw = bytes(apdu)
        if len(raw) < 2 or raw[1] != _GET_RESPONSE:
            self._ctx.session.pending_response = b""  # GET RESPONSE must follow the 61xx at once
        return ENGINE.execute(self._ctx, raw)


def _respond(ctx: SamContext, cmd: Command, data: bytes) -> bytes:
    """``data ‖ 9000``; with the image's T=0 behaviour a case-4 answer waits for GET RESPONSE (``61xx``)."""
    session = ctx.session
    if cmd.ins == _GET_RESPONSE and session.pending_response:
        return data + sw_bytes(more_data(len(session.pending_response)))
    if data and cmd.data and ctx.image.t0_get_response:
        session.pending_response = data
        return sw_bytes(more_data(len(data)))
    return data + sw_bytes(SW.OK)


#: The SAM's command engine: (CLA, INS) dispatch, handlers take a parsed :class:`~apdu.command.Command`.
ENGINE: Engine[SamContext] = Engine(by_cla_ins=COMMANDS, after=_respond, name="virtual SAM")
