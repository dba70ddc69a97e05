"""The host key store's unload MACs (HostKeyStore.unload_macs, docs/decisions.md D13): the known answer of
tests/api/test_unload.py (computed there with pycryptodome from the JR/T 0025.2 layouts), and refusals."""

from __future__ import annotations

import dataclasses

from daemon.host.keystore import DemoKeyStore, LoadFields

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
