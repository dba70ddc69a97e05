"""The host key store's unload MACs (HostKeyStore.unload_macs, docs/decisions.md D13): the known answer of
tests/api/test_unload.py (computed there with pycryptodome from the JR/T 0025.2 layouts), and refusals."""

from __future__ import annotations

import dataclasses

import pytest

from apdu.inprocess import InProcessTransport
from daemon.host.errors import HostKeysUnavailableError
from daemon.host.keystore import DemoKeyStore, LoadFields
from daemon.host.samkeys import SamKeyStore
from sam.keystore import KeyUsage, load_demo_keys
from sam.virtual import VirtualSam, new_sam_image

KNOWN = LoadFields(
    algorithm=0, amount_fen=10_000, balance_before_fen=10_000, online_counter=5,
    icc_random=bytes.fromhex("11223344"), mac1=bytes.fromhex("9989B5C2"), terminal_id=bytes.fromhex("000000000001"),
    card_time="20261204100000",
)  # fmt: skip
FACTOR = bytes(7) + b"\x01"


def test_unload_macs_known_answer() -> None:
    macs = DemoKeyStore.from_demo_keys().unload_macs(FACTOR, KNOWN)
    assert macs is not None
    assert (macs.mac2.hex().upper(), macs.answer.hex().upper()) == ("A7FB315C", "74422D95")
    assert "A7FB" not in repr(macs).upper()


def test_no_unload_macs_for_a_wrong_mac1_a_load_mac1_or_a_store_without_the_key() -> None:
    store = DemoKeyStore.from_demo_keys()
    assert store.unload_macs(FACTOR, dataclasses.replace(KNOWN, amount_fen=9_999)) is None  # MAC1 over 10000
    assert store.unload_macs(bytes(8), KNOWN) is None  # another card's key
    assert store.load_mac2(FACTOR, KNOWN) is None  # the unload MAC1 is not a load MAC1 (other key, type 03)
    without = DemoKeyStore(bytes(16), bytes(16))
    assert without.unload_macs(FACTOR, KNOWN) is None


def _host_sam_store(kind: str) -> SamKeyStore:
    sam = VirtualSam(new_sam_image(load_demo_keys(), pin="123456", kind=kind))
    return SamKeyStore([InProcessTransport(sam, name="host-sam")], pin="123456")


def test_a_host_sam_gives_the_same_unload_macs_and_a_psam_has_no_unload_key() -> None:
    """SamKeyStore.unload_macs (80 7C type 03 in a host SAM) equals the known answer; a host-kind image takes the
    unload key, a psam-kind one does not (docs/decisions.md D13)."""
    macs = _host_sam_store("host").unload_macs(FACTOR, KNOWN)
    assert macs is not None and (macs.mac2.hex().upper(), macs.answer.hex().upper()) == ("A7FB315C", "74422D95")
    assert _host_sam_store("host").unload_macs(FACTOR, dataclasses.replace(KNOWN, amount_fen=1)) is None
    assert all(e.usage is not KeyUsage.UNLOAD for e in new_sam_image(load_demo_keys(), kind="psam").keys)
    with pytest.raises(HostKeysUnavailableError, match="9403"):
        _host_sam_store("psam").unload_macs(FACTOR, KNOWN)
