"""CPU-card file-system model: DFs, EFs, keys, access rights, journaled atomic changes.

Modules: :mod:`~healthcard.fs.access` (FMCOS ``XY`` rights, FMCOS 2.0 access rights, sources.md V1),
:mod:`~healthcard.fs.keys` (key file, FMCOS 2.0 WRITE KEY, sources.md V1), :mod:`~healthcard.fs.nodes` (MF/DDF/ADF/DF
and EF structures, FMCOS 2.0 CREATE FILE, sources.md V1), :mod:`~healthcard.fs.journal` (idempotent operations),
:mod:`~healthcard.fs.state` (persistent state, commit and tear points),
:mod:`~healthcard.fs.serial` (JSON form for card images).
"""

from healthcard.fs.access import allowed, describe_right
from healthcard.fs.journal import Op, resolve, resolve_df
from healthcard.fs.keys import Key, KeyFile
from healthcard.fs.nodes import (
    DF,
    EF,
    MF_FID,
    LastTransaction,
    LifeCycle,
    Node,
    PurseEF,
    RecordEF,
    TransparentEF,
    default_sfi,
)
from healthcard.fs.state import CardState, TearHook, Torn

__all__ = [
    "DF",
    "EF",
    "MF_FID",
    "CardState",
    "Key",
    "KeyFile",
    "LastTransaction",
    "LifeCycle",
    "Node",
    "Op",
    "PurseEF",
    "RecordEF",
    "TearHook",
    "Torn",
    "TransparentEF",
    "allowed",
    "default_sfi",
    "describe_right",
    "resolve",
    "resolve_df",
]
