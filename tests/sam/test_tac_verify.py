"""The host SAM's TAC check ``80 7E`` (project extension, docs/sam.md) and the image kinds demo / psam / host.

Known answers: the TACs of the published purse examples (pboc_purse.json pboc-load-v1 and pboc-purchase-v2, under
the assumed TAC key of regression.json reg-tac-for-published-examples, N = 0: the key used undiversified) and the
diversified 3DES cases of regression.json (one factor level), through the raw APDU and through SamClient.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.channel import Channel
from apdu.errors import DataError, SamError
from apdu.inprocess import InProcessTransport
from sam.client import SamClient
from sam.crypto import Algorithm, diversify, load_tac, load_tac_data, purchase_tac_data, tac_mac
from sam.keystore import KeyEntry, KeyStore, KeyUsage, load_demo_keys
from sam.virtual import SamImageError, VirtualSam, keys_for_kind, new_sam_image
from tests.sam.sam_helpers import H, run, sw_of
from tests.vectors import by_id

PUBLISHED = by_id("regression", "reg-tac-for-published-examples")
PURCHASE = by_id("regression", "reg-3des-purchase-diversified")
LOAD = by_id("regression", "reg-3des-load-diversified")


def _sam(tac_key: bytes, *, version: int = 1) -> VirtualSam:
    store = KeyStore([KeyEntry("tac", "purse", Algorithm.TDES, KeyUsage.TAC, 1, version, tac_key)])
    sam = VirtualSam(new_sam_image(store, pin="123456"))
    sam.power_on()
    assert sw_of(sam, "0020000003123456") == 0x9000
    return sam


def _client(sam: VirtualSam) -> SamClient:
    transport = InProcessTransport(sam)
    transport.connect()
    return SamClient(Channel(transport), pin="123456")


def _apdu(covered: str, tac: str, factors: str = "", *, version: int = 1, p1: str = "") -> str:
    data = covered + tac + f"{version:02X}" + "00" + factors
    p1 = p1 or (covered[8:10] if len(covered) == 44 else covered[20:22])  # the type byte of what the TAC covers
    return f"807E{p1}00{len(data) // 2:02X}{data}"


def test_published_examples_tacs_verify_undiversified() -> None:
    sam = _sam(H(PUBLISHED["DTK"]))
    purchase, load = PUBLISHED["purchase_tac_input"], PUBLISHED["load_tac_input"]
    assert run(sam, _apdu(purchase, PUBLISHED["purchase_TAC"])) == (b"", 0x9000)  # no data: the SAM makes no TAC
    assert run(sam, _apdu(load, PUBLISHED["load_TAC"])) == (b"", 0x9000)  # pboc-load-v1, type 01 (ED)
    assert sw_of(sam, _apdu(purchase, PUBLISHED["load_TAC"])) == 0x9302
    changed = purchase[:6] + "01" + purchase[8:]  # amount 0x1001 instead of 0x1000
    assert sw_of(sam, _apdu(changed, PUBLISHED["purchase_TAC"])) == 0x9302


def test_diversified_tacs_verify_with_the_card_factor() -> None:
    sam = _sam(H(PURCHASE["master_tac_key"]))
    factor = PURCHASE["factor"]
    assert sw_of(sam, _apdu(PURCHASE["tac_input"], PURCHASE["TAC"], factor)) == 0x9000
    assert sw_of(sam, _apdu(LOAD["tac_input"], LOAD["TAC"], factor)) == 0x9000
    assert sw_of(sam, _apdu(LOAD["tac_input"], LOAD["TAC"], "00" * 8)) == 0x9302  # another card's key
    assert sw_of(sam, _apdu(LOAD["tac_input"], LOAD["TAC"])) == 0x9302  # the master key itself is not the card's


def test_sam_client_verify_tac_builds_what_the_card_covers() -> None:
    sam = _sam(H(PURCHASE["master_tac_key"]))
    client = _client(sam)
    f = LOAD["tac_input_fields"]
    covered = load_tac_data(int(f["new_balance"], 16), int(f["online_counter_before_increment"], 16),
                            int(f["amount"], 16), 0x02, H(f["terminal_id"]), H(f["date"] + f["time"]))  # fmt: skip
    assert covered == H(LOAD["tac_input"])
    factor = [H(PURCHASE["factor"])]
    assert client.verify_tac(covered=covered, tac=H(LOAD["TAC"]), key_version=1, algorithm=0, factors=factor)
    assert not client.verify_tac(covered=covered, tac=bytes(4), key_version=1, algorithm=0, factors=factor)
    p = PURCHASE["tac_input_fields"]
    covered = purchase_tac_data(int(p["amount"], 16), 0x06, H(p["terminal_id"]),
                                int(p["terminal_transaction_serial"], 16), H(p["date"] + p["time"]))  # fmt: skip
    assert covered == H(PURCHASE["tac_input"])
    assert client.verify_tac(covered=covered, tac=H(PURCHASE["TAC"]), key_version=1, algorithm=0, factors=factor)
    with pytest.raises(SamError) as info:  # no TAC key of version 2: 9403, an error, not a "wrong TAC"
        client.verify_tac(covered=covered, tac=H(PURCHASE["TAC"]), key_version=2, algorithm=0, factors=factor)
    assert info.value.sw == 0x9403
    with pytest.raises(DataError):
        client.verify_tac(covered=covered[:-1], tac=bytes(4), key_version=1, algorithm=0, factors=factor)


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        (_apdu(PURCHASE["tac_input"], PURCHASE["TAC"], p1="03"), 0x6A86),  # not a TAC'd transaction type
        (_apdu(PURCHASE["tac_input"], PURCHASE["TAC"], p1="02"), 0x6700),  # a purchase is not 24 bytes long
        (_apdu(PURCHASE["tac_input"], PURCHASE["TAC"], p1="05"), 0x6A80),  # type byte 06 under P1 05
        (_apdu(PURCHASE["tac_input"], PURCHASE["TAC"], version=7), 0x9403),
        (_apdu(PURCHASE["tac_input"], PURCHASE["TAC"], "00" * 32), 0x6700),  # four factor levels
        ("807E0601" + _apdu(PURCHASE["tac_input"], PURCHASE["TAC"])[8:], 0x6A86),
    ],
)
def test_status_words(apdu: str, sw: int) -> None:
    assert sw_of(_sam(H(PURCHASE["master_tac_key"])), apdu) == sw


def test_the_pin_gates_the_tac_check() -> None:
    sam = VirtualSam(new_sam_image(keys_for_kind(load_demo_keys(), "host")))
    sam.power_on()
    apdu = _apdu(PURCHASE["tac_input"], PURCHASE["TAC"], PURCHASE["factor"])
    assert sw_of(sam, apdu) == 0x6982
    assert sw_of(sam, "0020000003123456") == 0x9000
    assert sw_of(sam, apdu) == 0x9302  # the demo TAC key is not the vector's


@settings(max_examples=60, deadline=None)
@given(
    balance=st.integers(0, 0xFFFFFFFF), counter=st.integers(0, 0xFFFF), amount=st.integers(0, 0xFFFFFFFF),
    terminal=st.binary(min_size=6, max_size=6), stamp=st.binary(min_size=7, max_size=7),
    factor=st.binary(min_size=8, max_size=8), flip=st.integers(0, 31),
)  # fmt: skip
def test_the_sam_agrees_with_sam_crypto(
    balance: int, counter: int, amount: int, terminal: bytes, stamp: bytes, factor: bytes, flip: int
) -> None:
    """Property: 80 7E accepts exactly the TAC sam.crypto computes with the diversified key, and no other."""
    master = load_demo_keys().by_name("tac").value
    client = _client(_sam(master))
    tac = load_tac(Algorithm.TDES, diversify(Algorithm.TDES, master, factor), balance, counter, amount, 2, terminal,
                   stamp)  # fmt: skip
    covered = load_tac_data(balance, counter, amount, 2, terminal, stamp)
    assert tac == tac_mac(Algorithm.TDES, diversify(Algorithm.TDES, master, factor), covered)
    assert client.verify_tac(covered=covered, tac=tac, key_version=1, algorithm=0, factors=[factor])
    wrong = (int.from_bytes(tac, "big") ^ (1 << flip)).to_bytes(4, "big")
    assert not client.verify_tac(covered=covered, tac=wrong, key_version=1, algorithm=0, factors=[factor])


def test_image_kinds_hold_the_keys_of_their_role() -> None:
    demo = load_demo_keys()
    host = keys_for_kind(demo, "host")
    assert sorted(e.name for e in host) == ["load", "tac", "unload"]  # the issuer's keys (decisions D13)
    psam = keys_for_kind(demo, "psam")
    assert {e.usage for e in psam if e.app == "purse"}.isdisjoint({KeyUsage.LOAD, KeyUsage.TAC, KeyUsage.UNLOAD})
    assert len(psam) == len(demo) - 3 and keys_for_kind(demo, "demo") == demo
    without_unload = KeyStore([e for e in demo if e.name != "unload"])
    assert sorted(e.name for e in keys_for_kind(without_unload, "host")) == ["load", "tac"]  # optional
    with pytest.raises(SamImageError, match="load and TAC"):
        keys_for_kind(psam, "host")
    with pytest.raises(SamImageError, match="kind"):
        keys_for_kind(demo, "hsm")


def test_a_psam_image_authorises_no_load_and_checks_no_tac() -> None:
    sam = VirtualSam(new_sam_image(kind="psam"))
    sam.power_on()
    assert sw_of(sam, "0020000003123456") == 0x9000
    assert sw_of(sam, _apdu(PURCHASE["tac_input"], PURCHASE["TAC"], PURCHASE["factor"])) == 0x9403
    load = "AABBCCDD" + "0005" + "00000100" + "00002710" + "02" + "001122334455" + "20240102030405" + "56F66C19"
    assert sw_of(sam, f"807C00002A{load}0100{PURCHASE['factor']}04") == 0x9403
