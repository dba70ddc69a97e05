"""File-system nodes of a CPU card: DFs (MF, DDF, ADF, DF) and EFs (ISO/IEC 7816-4 §7; FMCOS 2.0 CREATE FILE, sources.md
V1).

EF structures: transparent (binary), linear fixed, linear variable (records addressed by number or by
identifier = first byte), cyclic (record 1 is the newest, WS/T 543.3 cyclic files), and the PBOC purse (ED ``0001``
/ EP ``0002``) with balance, online/offline counters, overdraft limit and the SFI of its cyclic detail file
(JR/T 0025.1 purse commands, JR/T 0025.1 transaction detail file). Every EF carries a read and a write right (FMCOS 2.0
access rights, sources.md V1) and a secure-messaging requirement for writes (the type byte's protection bits: ``80``
MAC, ``C0`` MAC + encryption, FMCOS 2.0 CREATE FILE, sources.md V1) and one for reads (``read_sm``: ``MAC`` = reads only
with CLA ``04`` and a response MAC, JR/T 0025.1 secure messaging; project extension, see docs/virtual-card.md "Secure
messaging on reads").

Nodes are plain mutable objects; they are changed only by :mod:`healthcard.fs.journal` operations so that
every change is journaled and atomic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from apdu.fmcos import FileType, Protection
from healthcard.fs.keys import KeyFile

__all__ = [
    "DF",
    "EF",
    "MF_FID",
    "LastTransaction",
    "LifeCycle",
    "Node",
    "PurseEF",
    "RecordEF",
    "TransparentEF",
    "default_sfi",
]

MF_FID = 0x3F00


class LifeCycle(enum.IntEnum):
    """Application / card life cycle (JR/T 0025.1 APPLICATION/CARD BLOCK; sources.md O12)."""

    ACTIVE = 0
    BLOCKED_TEMPORARILY = 1
    BLOCKED_PERMANENTLY = 2
    CARD_BLOCKED = 3


def default_sfi(fid: int) -> int | None:
    """The SFI this COS gives an EF: the low 5 bits of FIDs ``00xx``/``EFxx`` with ``xx <= 1F``, else none.

    FMCOS derives the SFI from the FID; the DF03 ``EE0n``/``ED0n`` files get none (docs/profiles.md "SFIs").
    """
    if fid >> 8 in (0x00, 0xEF) and 0 < fid & 0xFF <= 0x1F:
        return fid & 0x1F
    return None


@dataclass(eq=True, slots=True)
class EF:
    """Attributes common to every EF."""

    fid: int
    read: int
    write: int
    sm: Protection = Protection.NONE
    read_sm: Protection = Protection.NONE

    @property
    def sfi(self) -> int | None:
        """Short EF identifier (see :func:`default_sfi`)."""
        return default_sfi(self.fid)


@dataclass(eq=True, slots=True)
class TransparentEF(EF):
    """A binary EF of fixed size (initialised with ``00``)."""

    size: int = 0
    data: bytes = b""

    def __post_init__(self) -> None:
        if not self.data:
            self.data = bytes(self.size)


@dataclass(eq=True, slots=True)
class RecordEF(EF):
    """A linear fixed, linear variable or cyclic record EF.

    ``records`` holds the written records, record 1 first. Linear fixed files are created with all ``count``
    records (``00``); linear variable and cyclic files start empty and grow by APPEND RECORD (cyclic: the new
    record becomes record 1 and the oldest drops out when the file is full).
    """

    structure: FileType = FileType.LINEAR_FIXED
    count: int = 1
    length: int = 1
    records: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LastTransaction:
    """What GET TRANSACTION PROVE returns for the last purse transaction (JR/T 0025.1 GET TRANSACTION PROVE)."""

    tx_type: int
    counter_after: int
    mac: bytes
    tac: bytes


@dataclass(eq=True, slots=True)
class PurseEF(EF):
    """An ED (``0001``) or EP (``0002``) purse: balance and counters in fen / units (JR/T 0025.1 purse commands)."""

    detail_sfi: int = 0x18
    balance: int = 0
    online_counter: int = 0
    offline_counter: int = 0
    overdraft_limit: int = 0
    last: LastTransaction | None = None

    @property
    def is_ep(self) -> bool:
        """True for the EP (electronic purse, FID ``0002``), False for the ED (passbook)."""
        return self.fid != 0x0001


@dataclass(eq=True, slots=True)
class DF:
    """A dedicated file (MF, DDF, ADF or DF) with its key file and children by FID."""

    fid: int
    name: bytes = b""
    create_right: int = 0xF0
    erase_right: int = 0xF0
    app_sfi: int = 0x95
    life_cycle: LifeCycle = LifeCycle.ACTIVE
    key_file: KeyFile | None = None
    children: dict[int, Node] = field(default_factory=dict)
    parent: DF | None = field(default=None, compare=False, repr=False)

    def add(self, node: Node) -> None:
        """Attach a child (replacing one with the same FID)."""
        if isinstance(node, DF):
            node.parent = self
        self.children[node.fid] = node

    def by_sfi(self, sfi: int) -> EF | None:
        """The first EF child with this SFI."""
        for node in self.children.values():
            if not isinstance(node, DF) and node.sfi == sfi:
                return node
        return None

    def path(self) -> tuple[int, ...]:
        """FIDs from the MF (excluded) down to this DF."""
        out: list[int] = []
        node: DF | None = self
        while node is not None and node.parent is not None:
            out.append(node.fid)
            node = node.parent
        return tuple(reversed(out))

    def lineage(self) -> list[DF]:
        """This DF and its ancestors up to the MF."""
        out: list[DF] = []
        node: DF | None = self
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    def find_name(self, name: bytes) -> DF | None:
        """The DF in this subtree whose DF name equals ``name`` (or starts with it, ISO partial selection)."""
        if self.name and self.name.startswith(name):
            return self
        for node in self.children.values():
            if isinstance(node, DF):
                hit = node.find_name(name)
                if hit is not None:
                    return hit
        return None


Node = DF | EF
