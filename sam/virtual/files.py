"""The SAM's file tree: transparent EFs whose contents are views of the image (健康卡 SAM spec: files,
PSAM files, sources.md V2).

::

    MF 3F00
    ├── EF 0015 (SFI 15)  public information: SAM serial(10) ‖ version ‖ key-card type ‖ command set ‖ FCI
    ├── EF 0016 (SFI 16)  terminal ID (6 bytes; 00 B0 96 00 06)
    ├── DF 1001           PSAM purse application
    │   └── EF 0017 (SFI 17)  purchase key index (1 byte; 00 B0 97 00 01)
    └── DF DF01           health-card application
        ├── EF 001A (SFI 1A)  application public information (25 bytes)
        ├── EF 001B (SFI 1B)  issuer certificate (180 bytes)
        ├── EF 001C (SFI 1C)  SAM certificate (190 bytes)
        └── EF 001D (SFI 1D)  SM2 public key x ‖ y (64 bytes) — project extension

All files are read-only for the terminal (no UPDATE BINARY): they change only through the image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sam.crypto.sm2 import sm2_load_private_key
from sam.keystore import KeyUsage, UnknownKeyError
from sam.virtual.image import SamImage

__all__ = ["DF", "EF", "FileTree", "build_file_tree"]

MF_FID = 0x3F00
PURSE_DF_FID = 0x1001
HEALTH_DF_FID = 0xDF01
SM2_PUBLIC_KEY_FID = 0x001D


@dataclass(frozen=True, slots=True)
class EF:
    """A transparent EF whose content is computed from the image when read."""

    fid: int
    sfi: int
    read: Callable[[], bytes] = field(compare=False)


@dataclass(slots=True)
class DF:
    """A dedicated file (the MF is a DF with FID 3F00 and no parent)."""

    fid: int
    parent: DF | None = None
    efs: list[EF] = field(default_factory=list)
    dfs: list[DF] = field(default_factory=list)

    def add_df(self, fid: int) -> DF:
        child = DF(fid, self)
        self.dfs.append(child)
        return child

    def ef_by_fid(self, fid: int) -> EF | None:
        return next((ef for ef in self.efs if ef.fid == fid), None)

    def ef_by_sfi(self, sfi: int) -> EF | None:
        return next((ef for ef in self.efs if ef.sfi == sfi), None)

    def df_by_fid(self, fid: int) -> DF | None:
        return next((df for df in self.dfs if df.fid == fid), None)


@dataclass(slots=True)
class FileTree:
    """The MF and a way to find DFs for SELECT."""

    mf: DF

    def find_df(self, current: DF, fid: int) -> DF | None:
        """``fid`` as the MF, a child of ``current`` or a sibling (a child of its parent)."""
        if fid == MF_FID:
            return self.mf
        hit = current.df_by_fid(fid)
        if hit is None and current.parent is not None:
            hit = current.parent.df_by_fid(fid)
        return hit


def _purchase_key_index(image: SamImage) -> bytes:
    try:
        entry = next(e for e in image.keys if e.usage is KeyUsage.PURCHASE)
    except StopIteration:
        raise UnknownKeyError("no purchase key") from None
    return bytes((entry.version,))


def build_file_tree(image: SamImage) -> FileTree:
    """The tree above, reading from ``image`` (so counters and IDs are always current)."""
    mf = DF(MF_FID)
    mf.efs += [EF(0x0015, 0x15, lambda: image.public_info), EF(0x0016, 0x16, lambda: image.terminal_id)]
    purse = mf.add_df(PURSE_DF_FID)
    purse.efs.append(EF(0x0017, 0x17, lambda: _purchase_key_index(image)))
    health = mf.add_df(HEALTH_DF_FID)
    health.efs += [
        EF(0x001A, 0x1A, lambda: image.health_app_info),
        EF(0x001B, 0x1B, lambda: image.issuer_certificate),
        EF(0x001C, 0x1C, lambda: image.sam_certificate),
        EF(SM2_PUBLIC_KEY_FID, 0x1D, lambda: sm2_load_private_key(image.sm2_private_key).public_key().to_bytes()),
    ]
    return FileTree(mf)
