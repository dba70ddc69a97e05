"""The virtual card: an FMCOS-style COS executing APDUs on :mod:`healthcard.fs` (docs/virtual-card.md).

Command groups: :mod:`~healthcard.cos.files` (SELECT), :mod:`~healthcard.cos.binary`,
:mod:`~healthcard.cos.record_commands`, :mod:`~healthcard.cos.security`, :mod:`~healthcard.cos.sm`,
:mod:`~healthcard.cos.purse_commands`, :mod:`~healthcard.cos.issuance`, :mod:`~healthcard.cos.lifecycle`; the
table is in :mod:`~healthcard.cos.dispatch`.
"""

from healthcard.cos.card import VirtualCard
from healthcard.cos.tearing import TearAt

__all__ = ["TearAt", "VirtualCard"]
