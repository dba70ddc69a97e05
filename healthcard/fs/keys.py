"""Keys and the key file of a DF (FMCOS 2.0 CREATE FILE, sources.md V1 key file, FMCOS 2.0 WRITE KEY, sources.md V1
WRITE KEY; docs/decisions.md D2).

A key is identified by its type and identifier (``(0x39, 0x00)`` = external authentication / DF master key,
``(0x3A, 0x00)`` the PIN, ``(0x3E, 0x01)`` the purchase key ...). The error counter byte of WRITE KEY is read
as ``max tries`` (high nibble) and ``tries left`` (low nibble): ``33`` = 3 of 3 (FMCOS 2.0 WRITE KEY, sources.md V1
[INF]). A key written with the two high bits of its type byte set (``39`` → ``F9``) is ``protected``: it may only be
added or replaced with WRITE KEY in ciphertext + MAC, ``84 D4`` (JR/T 0025.1 secure messaging); it keeps its plain type.
Key values never appear in ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apdu.fmcos import Scheme

__all__ = [
    "Key",
    "KeyFile",
]


@dataclass(frozen=True, slots=True)
class Key:
    """One key (or PIN) of a key file."""

    key_type: int
    key_id: int
    use_right: int
    change_right: int
    value: bytes = field(repr=False)
    follow_state: int | None = None
    version: int = 0
    algorithm: int = 0
    max_tries: int = 0
    tries_left: int = 0
    protected: bool = False

    @property
    def counted(self) -> bool:
        """True for keys with an error counter (PIN, authentication, maintenance keys)."""
        return self.max_tries > 0

    @property
    def blocked(self) -> bool:
        """An error-counted key with no tries left (6983)."""
        return self.max_tries > 0 and self.tries_left == 0


@dataclass(eq=True, slots=True)
class KeyFile:
    """The key file of a DF: creation attributes and the keys by ``(type, id)``.

    ``algorithm`` is the card's 算法标识 for the DF's keys (``00`` 3DES, ``04`` SM4) and ``scheme`` the SM /
    authentication scheme (docs/decisions.md D2).
    """

    fid: int
    space: int
    sfi: int
    add_right: int
    algorithm: int = 0x00
    scheme: Scheme = Scheme.FMCOS
    keys: dict[tuple[int, int], Key] = field(default_factory=dict)

    def find(self, key_type: int, key_id: int) -> Key | None:
        """The key ``(key_type, key_id)`` or ``None``."""
        return self.keys.get((key_type, key_id))

    def first_of_type(self, key_type: int) -> Key | None:
        """The key of ``key_type`` with the lowest identifier (SM keys are looked up by type)."""
        found = [k for (t, _), k in self.keys.items() if t == key_type]
        return min(found, key=lambda k: k.key_id) if found else None
