"""Card navigation and access control: select each DF once, authenticate only when the file's right needs it.

:class:`CardAccess` keeps track of the current DF path and of the security state the last authentication set in
it (FMCOS semantics, FMCOS 2.0 access rights, sources.md V1: a right ``XY`` allows the states ``Y <= S <= X``; selecting
another DF clears the state). So a read after an update-key authentication in the same DF costs no extra authentication,
and consecutive files of one DF share one SELECT of the DF.

Selection follows ISO/IEC 7816-4 §7.1.1: a file identifier designates a child of the current DF, the parent DF
or a sibling DF, so moving from DF01 to DF02 is one SELECT (the reference DLL selects DDF1 again first,
WS/T 543.3 file tree). ``sibling_select=False`` falls back to going up through the parent.

Health-card authentication (WS/T 543.4 EXTERNAL AUTHENTICATE, docs/decisions.md D1): GET CHALLENGE (8 bytes) → the SAM's
cryptogram for the key (``80 DE P1 P2`` + ``80 FA``) → ``00 82 00 KREF 11 | cryptogram ‖ terminal data ‖ 01``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from apdu import iso
from apdu.channel import Channel
from apdu.command import Command
from apdu.errors import DataError, Layer, LibraryError, MissingInputError
from apdu.fmcos import ALWAYS, Scheme
from apdu.response import Response, check
from apdu.status import SW
from healthcard.codecs.fields import FieldSpec, Kind
from healthcard.profiles.card import MF_FID, CardProfile
from healthcard.profiles.health import city_factor
from healthcard.profiles.model import DFSpec, KeySpec
from sam.client import SamClient

__all__ = ["RK_TERMINAL_DATA", "CardAccess", "allows"]

RK_TERMINAL_DATA = bytes.fromhex("1122334455667788")


def allows(right: int, state: int) -> bool:
    """FMCOS access right ``XY`` allows state ``S`` when ``Y <= S <= X`` (FMCOS 2.0 access rights, sources.md V1)."""
    return (right & 0x0F) <= state <= (right >> 4)


@dataclass
class _Node:
    spec: DFSpec
    parent: str | None
    children: list[str] = field(default_factory=list)


class CardAccess:
    """One card behind a :class:`~apdu.channel.Channel`, with the SAM that holds its keys.

    ``card_no`` is the 8-byte diversification factor from the ATR (WS/T 543.4 diversification factors); the city factor
    comes from YYCSDM (DDF1/EF05 tag 39), read on first need or set by whoever already read it.
    """

    def __init__(
        self,
        channel: Channel,
        profile: CardProfile,
        atr: bytes,
        sam: SamClient | None = None,
        *,
        sibling_select: bool = True,
    ) -> None:
        self.channel = channel
        self.profile = profile
        self.sam = sam
        self.atr = atr
        self.card_no = profile.atr.card_no(atr)
        self.sibling_select = sibling_select
        self.city_code: str | None = None
        #: KH, once read (:meth:`holder_card_number`) or seen in the issuer section.
        self.card_number: str | None = None
        self._nodes: dict[str, _Node] = {}
        self._add("MF", profile.mf, None)
        for app in profile.applications:
            self._add_tree(app, "MF")
        self._path: tuple[str, ...] = ()
        self._state = 0

    # --- the DF tree -------------------------------------------------------------------------------------------

    def _add(self, name: str, spec: DFSpec, parent: str | None) -> None:
        self._nodes[name] = _Node(spec, parent)
        if parent is not None:
            self._nodes[parent].children.append(name)

    def _add_tree(self, df: DFSpec, parent: str) -> None:
        self._add(df.name, df, parent)
        for child in df.dfs:
            self._add_tree(child, df.name)

    def df(self, name: str) -> DFSpec:
        """The DF spec called ``name`` (``MF``, ``DDF1``, ``DF01`` ... ``ADF1001``)."""
        try:
            return self._nodes[name].spec
        except KeyError:
            raise DataError(f"the card profile has no DF called {name!r}", field="df") from None

    def _lineage(self, name: str) -> tuple[str, ...]:
        out: list[str] = []
        node: str | None = name
        while node is not None:
            out.append(node)
            node = self._nodes[node].parent
        return tuple(reversed(out))

    @property
    def current_df(self) -> str | None:
        """The DF the card has selected as far as this object knows (``None`` after a reset)."""
        return self._path[-1] if self._path else None

    @property
    def state(self) -> int:
        """The security state of the current DF (0 = nothing authenticated)."""
        return self._state

    def at_mf(self) -> None:
        """The card was just powered on or reset: the MF is the current DF (ISO/IEC 7816-4 §7.1.1)."""
        self._path = ("MF",)
        self._state = 0

    def forget(self) -> None:
        """Forget the selection and security state (after a reset, an error, or another user of the card)."""
        self._path = ()
        self._state = 0

    # --- commands ----------------------------------------------------------------------------------------------

    def send(self, command: Command, *, accept: Collection[int] = (SW.OK,)) -> Response:
        """Send to the card; any status word outside ``accept`` raises the typed :class:`~apdu.errors.CardError`."""
        return check(self.channel.transmit(command), command, layer=Layer.CARD, accept=accept)

    def select_df(self, name: str, *, accept: Collection[int] = (SW.OK,)) -> DFSpec:
        """Make ``name`` the current DF with as few SELECTs as the tree allows; clears the security state.

        ``accept`` applies to the last SELECT (e.g. ``6283`` for a temporarily blocked application).
        """
        target = self._lineage(name)
        if self._path == target:
            return self._nodes[name].spec
        steps = self._route(target)
        for n, (fid, path) in enumerate(steps):
            self.forget()
            self.send(iso.select_fid(fid), accept=accept if n == len(steps) - 1 else (SW.OK,))
            self._path = path
        return self._nodes[name].spec

    def _route(self, target: tuple[str, ...]) -> list[tuple[int, tuple[str, ...]]]:
        """``(fid, resulting path)`` SELECT steps from the current path to ``target``."""
        here = self._path

        def steps(a: int, b: int) -> list[tuple[int, tuple[str, ...]]]:
            return [(self._nodes[target[i]].spec.fid, target[: i + 1]) for i in range(a, b)]

        if not here:
            return steps(0, len(target))
        common = 0
        while common < min(len(here), len(target)) and here[common] == target[common]:
            common += 1
        if common == len(here):  # the target is below the current DF
            return steps(common, len(target))
        if self.sibling_select and len(here) - common == 1 and len(target) > common:
            return steps(common, len(target))  # a sibling first (ISO/IEC 7816-4 §7.1.1), then down
        if len(here) - common == 1:  # the common ancestor is the parent: select it by FID
            return steps(common - 1, len(target))
        return steps(0, len(target)) if common <= 1 else [(MF_FID, ("MF",)), *steps(1, len(target))]

    def select_ef(self, fid: int) -> None:
        """SELECT an EF of the current DF by file identifier (the current DF and its state stay)."""
        self.send(iso.select_fid(fid))

    def challenge(self, length: int = 8) -> bytes:
        """GET CHALLENGE."""
        data = self.send(iso.get_challenge(length)).data
        if len(data) != length:
            raise LibraryError(f"GET CHALLENGE returned {len(data)} bytes, {length} expected")
        return data

    # --- authentication ----------------------------------------------------------------------------------------

    def city_factor(self, df: DFSpec) -> bytes:
        """The second-level factor (WS/T 543.4 diversification factors); reads YYCSDM from DDF1/EF05 if not known
        yet."""
        if self.city_code is None:
            self.city_code = self.read_city_code()
        return city_factor(self.city_code)

    def read_city_code(self) -> str:
        """YYCSDM from DDF1/EF05 by record identifier ``00 B2 39 2C 00`` (WS/T 543.3 record addressing; free read)."""
        raw = self._ddf1_ef05_record(0x39, restore=True)
        if raw is None:
            raise LibraryError("DDF1/EF05: the YYCSDM record (tag 39) is missing")
        value = FieldSpec("city_code", 57, Kind.DIGITS).decode(raw)
        if not isinstance(value, str) or len(value) != 6:
            raise LibraryError("DDF1/EF05: YYCSDM is not a 6-digit city code")
        return value

    def holder_card_number(self) -> str:
        """KH 卡号 (DDF1/EF05 tag 08, free read ``00 B2 08 2C 00``), read once; ``""`` when the card holds none.

        Cached in :attr:`card_number` (the card API sets it when it reads or writes the issuer section).
        """
        if self.card_number is None:
            raw = self._ddf1_ef05_record(0x08, restore=False)
            value = FieldSpec("card_number", 8, Kind.TEXT).decode(raw) if raw is not None else ""
            self.card_number = value if isinstance(value, str) else ""
        return self.card_number

    def _ddf1_ef05_record(self, tag: int, *, restore: bool) -> bytes | None:
        """The value of the DDF1/EF05 record with ``tag`` (READ RECORD by identifier), ``None`` when the card has no
        such record; with ``restore`` the DF that was current is selected again afterwards."""
        here = self.current_df
        ddf1 = self.profile.health.ddf1
        if here not in ("DDF1",):
            self.select_df("DDF1")
        ef05 = ddf1.ef("EF05")
        raw = self.send(iso.read_record_by_id(tag, sfi=ef05.sfi), accept=(SW.OK, SW.RECORD_NOT_FOUND)).data
        if restore and here is not None and here != "DDF1":
            self.select_df(here)
        if len(raw) < 2 or raw[0] != tag:
            return None
        return bytes(raw[2 : 2 + raw[1]])

    def _require_sam(self) -> SamClient:
        if self.sam is None:
            raise MissingInputError("this operation needs a SAM, and the session has none", needs="sam")
        return self.sam

    def factors(self, df: DFSpec, key: KeySpec) -> tuple[bytes, bytes | None]:
        """``(cardNo, city factor or None)`` for the SAM's ``80 DE`` of ``key``."""
        return self.card_no, self.city_factor(df) if key.levels == 2 else None

    def authenticate(self, df_name: str, key_name: str) -> None:
        """Select ``df_name`` and authenticate with ``key_name`` (health form, WS/T 543.4 EXTERNAL AUTHENTICATE)."""
        df = self.select_df(df_name)
        key = df.key(key_name)
        if df.scheme is not Scheme.HEALTH:
            raise LibraryError(f"{df_name}/{key_name} is not a health-card key the SAM can derive")
        sam = self._require_sam()
        card_no, city = self.factors(df, key)
        ch = self.challenge(8)
        cryptogram = sam.health_auth_cryptogram(key.master or key.name, card_no, ch, RK_TERMINAL_DATA, city)
        self.send(iso.external_authenticate_health(cryptogram, RK_TERMINAL_DATA, key_ref=key.key_id))
        self._state = key.follow_state or 0

    def ensure(self, df_name: str, right: int, key_name: str | None) -> DFSpec:
        """Select ``df_name`` and authenticate with ``key_name`` unless the current state already meets ``right``."""
        df = self.select_df(df_name)
        if right == ALWAYS or allows(right, self._state):
            return df
        if key_name is None:
            raise LibraryError(f"{df_name}: right {right:02X} needs an authentication and no key is known")
        self.authenticate(df_name, key_name)
        if not allows(right, self._state):
            raise LibraryError(f"{df_name}/{key_name} does not grant right {right:02X}")
        return df

    def sm_write(self, df_name: str, command: Command) -> Response:
        """Send ``command`` (CLA 04) as a secure-messaging write with the DF's STK (WS/T 543.4 SM UPDATE RECORD)."""
        df = self.df(df_name)
        stk = next((k for k in df.keys if k.key_type == 0x36), None)
        if stk is None:
            raise LibraryError(f"{df_name} has no secure-messaging key")
        sam = self._require_sam()
        card_no, city = self.factors(df, stk)
        ch = self.challenge(8)
        body = sam.health_sm_wrap(stk.master or stk.name, card_no, ch, command.header, command.data, city)
        wrapped = Command(command.cla, command.ins, command.p1, command.p2, body)
        return self.send(wrapped)
