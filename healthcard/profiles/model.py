"""Declarative card-profile model: DF/EF tree, access rights, SM requirements, keys, ATR layout.

FMCOS semantics (FMCOS 2.0 issuance, sources.md V1): access rights are one byte ``XY`` — allowed when the DF's security
state ``S`` satisfies ``Y <= S <= X`` (FMCOS 2.0 access rights, sources.md V1); keys set ``S`` to their follow-up state
on EXTERNAL AUTHENTICATE or VERIFY. CREATE FILE layouts (FMCOS 2.0 CREATE FILE, sources.md V1) and WRITE KEY layouts
(FMCOS 2.0 WRITE KEY, sources.md V1) are produced from these specs by
:mod:`healthcard.issuance`; key-file bytes 6/7 carry the algorithm and scheme (docs/decisions.md D2).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from apdu.fmcos import ALWAYS, EF_TYPES, NEVER, RECORD_TYPES, FileType, Protection, Scheme

__all__ = [
    "MASTER_KEY",
    "AtrLayout",
    "DFSpec",
    "EFSpec",
    "KeySpec",
    "right",
]


def right(low: int, high: int = 0xF) -> int:
    """The access byte ``XY`` allowing states ``low..high`` (FMCOS 2.0 access rights, sources.md V1)."""
    if not 0 <= low <= high <= 0xF:
        raise ValueError(f"bad state range {low}..{high}")
    return (high << 4) | low


@dataclass(frozen=True)
class KeySpec:
    """One key in a DF's key file.

    ``key_type``/``key_id`` are the WRITE KEY type and identifier (FMCOS 2.0 WRITE KEY, sources.md V1); ``follow_state``
    the security state an authentication sets (``None`` for keys that do not authenticate). ``master`` names the
    master key in the :class:`~healthcard.issuance.keysource.KeySource`; ``levels`` the diversification
    levels (1 = card, 2 = city factor then card, docs/decisions.md D1; 0 = used as is). ``sam_p1``/``sam_p2``
    are the health-card SAM's ``80 DE`` parameters (WS/T 543.4 key table).
    """

    name: str
    key_type: int
    key_id: int
    use_right: int = ALWAYS
    change_right: int = NEVER
    follow_state: int | None = None
    error_counter: int = 0x33
    version: int = 0x01
    master: str = ""
    levels: int = 1
    sam_p1: int | None = None
    sam_p2: int | None = None
    length: int = 16
    purpose: str = ""


@dataclass(frozen=True)
class EFSpec:
    """An elementary file: structure, size, rights, SM mode, content description."""

    fid: int
    name: str
    kind: FileType
    read: int
    write: int
    size: int = 0
    records: int = 0
    record_size: int = 0
    sfi: int | None = None
    sm: Protection = Protection.NONE
    read_key: str | None = None
    write_keys: tuple[str, ...] = ()
    tags: tuple[int, ...] = ()
    content: str = ""
    detail_sfi: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EF_TYPES:
            raise ValueError(f"{self.name}: {self.kind!r} is not an EF structure")
        if self.kind is FileType.BINARY and not 0 < self.size <= 0xFFFF:
            raise ValueError(f"{self.name}: a binary EF needs a size")
        if self.kind in RECORD_TYPES and not (0 < self.records <= 0xFF and 0 < self.record_size <= 0xFF):
            raise ValueError(f"{self.name}: a record EF needs a record count and length")
        if self.tags and len(self.tags) != self.records:
            raise ValueError(f"{self.name}: {len(self.tags)} TLV tags for {self.records} records")

    @property
    def type_byte(self) -> int:
        """CREATE FILE type byte including the SM protection bits."""
        return self.kind.value | self.sm.value


MASTER_KEY = (0x39, 0x00)  # the DF master key: external authentication key 00 (FMCOS 2.0 WRITE KEY, sources.md V1)


@dataclass(frozen=True)
class DFSpec:
    """A DF/ADF (or the MF): its key file, keys and children.

    ``create_right``, ``erase_right`` and ``add_key_right`` default to :attr:`master_right`: after issuance,
    creating files, erasing the DF and adding keys need external authentication with the DF master key 39/00
    (issue #11 item 1, docs/decisions.md D10). A DF without a master key must give all three explicitly.
    """

    fid: int
    name: str
    df_name: bytes
    create_right: int | None = None
    erase_right: int | None = None
    app_sfi: int = 0x95
    key_file_fid: int = 0x0000
    key_file_space: int = 0x0200
    add_key_right: int | None = None
    algorithm: int = 0x00
    scheme: Scheme = Scheme.FMCOS
    keys: tuple[KeySpec, ...] = ()
    children: tuple[EFSpec | DFSpec, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if None in (self.create_right, self.erase_right, self.add_key_right):
            self.master_right  # noqa: B018 - raises ValueError when there is no master key to default to

    @property
    def master_key(self) -> KeySpec | None:
        """The DF master key 39/00, if the DF has one."""
        return next((k for k in self.keys if (k.key_type, k.key_id) == MASTER_KEY), None)

    @property
    def master_right(self) -> int:
        """The right ``XF`` satisfied by the master key's follow-up state ``X`` and above (FMCOS 2.0 access rights,
        sources.md V1)."""
        key = self.master_key
        if key is None or key.follow_state is None:
            raise ValueError(f"{self.name}: no master key 39/00 with a follow-up state to give the DF's rights")
        return right(key.follow_state)

    @property
    def create(self) -> int:
        """The CREATE FILE right written into the DF."""
        return self.master_right if self.create_right is None else self.create_right

    @property
    def erase(self) -> int:
        """The ERASE DF right written into the DF."""
        return self.master_right if self.erase_right is None else self.erase_right

    @property
    def add_key(self) -> int:
        """The add-key right written into the DF's key file."""
        return self.master_right if self.add_key_right is None else self.add_key_right

    def key(self, name: str) -> KeySpec:
        """The key called ``name`` in this DF."""
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(name)

    @property
    def efs(self) -> tuple[EFSpec, ...]:
        """The EF children."""
        return tuple(c for c in self.children if isinstance(c, EFSpec))

    @property
    def dfs(self) -> tuple[DFSpec, ...]:
        """The DF children."""
        return tuple(c for c in self.children if isinstance(c, DFSpec))

    def ef(self, name: str) -> EFSpec:
        """The EF child called ``name`` (``"EF05"``)."""
        for e in self.efs:
            if e.name == name:
                return e
        raise KeyError(name)

    def walk(self, path: tuple[DFSpec, ...] = ()) -> Iterator[tuple[tuple[DFSpec, ...], DFSpec]]:
        """Depth-first ``(path from the root, df)`` pairs, the DF itself first."""
        here = (*path, self)
        yield here, self
        for child in self.dfs:
            yield from child.walk(here)


@dataclass(frozen=True)
class AtrLayout:
    """Answer to reset carrying the 8-byte cardNo at ATR bytes 5..12 (WS/T 543.4 diversification factors, S1
    ``loadCardNo``).

    ``prefix`` is ATR bytes 0..4, ``suffix`` what follows cardNo. A real card's layout is a profile change.
    """

    prefix: bytes = bytes.fromhex("3B6D000048")
    suffix: bytes = bytes.fromhex("43484B31")
    card_no_offset: int = 5
    card_no_length: int = 8
    notes: str = field(default="", compare=False)

    def build(self, card_no: bytes) -> bytes:
        """The ATR of a card with this cardNo."""
        if len(card_no) != self.card_no_length:
            raise ValueError(f"cardNo must be {self.card_no_length} bytes")
        return self.prefix + card_no + self.suffix

    def card_no(self, atr: bytes) -> bytes:
        """Extract cardNo from an ATR."""
        end = self.card_no_offset + self.card_no_length
        if len(atr) < end:
            raise ValueError(f"ATR of {len(atr)} bytes is too short to hold cardNo at {self.card_no_offset}..{end - 1}")
        return atr[self.card_no_offset : end]
