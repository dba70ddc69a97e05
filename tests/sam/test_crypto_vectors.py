"""sam.crypto reproduces every known-answer vector of shared/vectors (copied in tests/vectors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from apdu.command import Command
from sam import crypto
from sam.crypto import Algorithm, purse_crypto
from tests.vectors import VECTORS_DIR, by_id, load

H = bytes.fromhex
TDES, SM4 = Algorithm.TDES, Algorithm.SM4


_CITATIONS = ("description", "source")  # the copies cite public standards where shared/ cites private notes


def _without_citations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_citations(v) for k, v in value.items() if k not in _CITATIONS}
    if isinstance(value, list):
        return [_without_citations(v) for v in value]
    return value


def test_vector_copies_match_shared_reference() -> None:
    """Every value of the copies equals shared/vectors; only the citation texts may differ (tests/test_sources.py)."""
    shared = Path(__file__).resolve().parents[3] / "shared" / "vectors"
    if not shared.is_dir():
        pytest.skip("shared/vectors is not beside this checkout")
    for original in shared.glob("*.json"):
        copy = json.loads((VECTORS_DIR / original.name).read_text(encoding="utf-8"))
        assert _without_citations(copy) == _without_citations(json.loads(original.read_text(encoding="utf-8")))


@pytest.mark.parametrize("vector", load("sm4")["vectors"], ids=lambda v: v["id"])
def test_sm4(vector: dict[str, Any]) -> None:
    key, block = H(vector["key"]), H(vector["plaintext"])
    rounds = vector.get("iterations", 1)
    if rounds == 1:
        block = crypto.encrypt_ecb(SM4, key, block)
    else:  # GB/T 32907 example 2: one long-lived OpenSSL context, as sam.crypto would use per call
        encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
        for _ in range(rounds):
            block = encryptor.update(block)
        assert crypto.encrypt_ecb(SM4, key, crypto.decrypt_ecb(SM4, key, block)) == block
    assert block == H(vector["ciphertext"])
    if rounds == 1:
        assert crypto.decrypt_ecb(SM4, key, block) == H(vector["plaintext"])


@pytest.mark.parametrize("vector", load("sm3")["vectors"], ids=lambda v: v["id"])
def test_sm3(vector: dict[str, Any]) -> None:
    assert crypto.sm3(H(vector["message_hex"])) == H(vector["digest"])


@pytest.mark.parametrize("vector", [v for v in load("des_mac")["vectors"] if "mac" in v], ids=lambda v: v["id"])
def test_fmcos_secure_messaging_mac(vector: dict[str, Any]) -> None:
    assert crypto.mac(TDES, H(vector["key"]), H(vector["data"]), H(vector["iv"])) == H(vector["mac"])


def test_fmcos_sm_mac_of_a_command_matches_vector_1() -> None:
    vector = by_id("des_mac", "fmcos-sm-mac-1")
    data = H(vector["data"])
    plain = Command(0x00, data[1], data[2], data[3], data[5:])
    wrapped = crypto.sm_mac_command(TDES, H(vector["key"]), plain, H(vector["iv"])[:4])
    assert wrapped.encode() == data[:4] + bytes((len(data) - 5 + 4,)) + data[5:] + H(vector["mac"])
    assert crypto.verify_sm_command(TDES, H(vector["key"]), wrapped.encode(), H(vector["iv"])[:4]) == data[5:]


def test_external_authenticate_real_card() -> None:
    vector = by_id("des_mac", "fm1208-external-authenticate")
    got = crypto.external_auth_cryptogram(TDES, H(vector["key"]), H(vector["challenge"]))
    assert got == H(vector["cryptogram"])


def test_diversification_emv_option_a() -> None:
    vector = by_id("diversification", "emv-option-a-pyemv")
    assert crypto.diversify(TDES, H(vector["master_key"]), H(vector["factor"])) == H(vector["derived_key_raw"])


def test_published_load() -> None:
    v = by_id("pboc_purse", "pboc-load-v1")
    dlk = H(v["keys"]["DLK"])
    f = v["initialize_for_load"]["response_fields"]
    sk = crypto.load_session_key(TDES, dlk, H(f["icc_random"]), int(f["online_counter"], 16))
    assert sk == H(v["session_key"]["value"])
    cmd = v["initialize_for_load"]["command_fields"]
    amount, term = int(cmd["amount"], 16), H(cmd["terminal_id"])
    assert crypto.load_mac1(TDES, sk, int(f["old_balance"], 16), amount, 0x01, term) == H(f["mac1"])
    m2 = v["mac2"]["input_fields"]
    when = H(m2["date"] + m2["time"])
    assert crypto.load_mac2(TDES, sk, amount, 0x01, term, when) == H(v["mac2"]["value"])
    assert crypto.des_mac(sk, H(v["mac1"]["input"])) == H(v["mac1"]["last_block"])


def test_published_purchase() -> None:
    v = by_id("pboc_purse", "pboc-purchase-v2")
    f = v["session_key"]["input_fields"]
    sk = crypto.purchase_session_key(
        TDES,
        H(v["keys"]["DPK"]),
        H(f["icc_random"]),
        int(f["offline_counter"], 16),
        int(f["terminal_transaction_serial_low_2_bytes"], 16),
    )
    assert sk == H(v["session_key"]["value"])
    m1 = v["mac1"]["input_fields"]
    mac1 = crypto.purchase_mac1(TDES, sk, int(m1["amount"], 16), 0x06, H(m1["terminal_id"]), H(m1["date"] + m1["time"]))
    assert mac1 == H(v["mac1"]["value"])
    assert crypto.purchase_mac2(TDES, sk, int(m1["amount"], 16)) == H(v["mac2"]["value"])


@pytest.mark.parametrize("alg_id", ["reg-3des-purchase-diversified", "reg-sm4-purchase"])
def test_regression_purchase(alg_id: str) -> None:
    v = by_id("regression", alg_id)
    alg = SM4 if "sm4" in alg_id else TDES
    dpk = crypto.diversify(alg, H(v["master_purchase_key"]), H(v["factor"]))
    assert dpk == H(v["DPK"])
    block = H(v["session_key_input"])
    sk = crypto.purchase_session_key(alg, dpk, block[:4], int.from_bytes(block[4:6]), int.from_bytes(block[6:8]))
    assert sk == H(v["SESPK"] if alg is TDES else v["SESK"])
    m1 = H(v["mac1_input"])
    assert crypto.purchase_mac1(alg, sk, int.from_bytes(m1[:4]), m1[4], m1[5:11], m1[11:]) == H(v["MAC1"])
    assert crypto.purchase_mac2(alg, sk, int.from_bytes(H(v["mac2_input"]))) == H(v["MAC2"])
    dtk = crypto.diversify(alg, H(v["master_tac_key"]), H(v["factor"]))
    assert dtk == H(v["DTK"])
    if alg is TDES:
        assert crypto.tac_session_key(alg, dtk) == H(v["tac_key_L_xor_R"])
    t = H(v["tac_input"])
    tac = crypto.purchase_tac(alg, dtk, int.from_bytes(t[:4]), t[4], t[5:11], int.from_bytes(t[11:15]), t[15:])
    assert tac == H(v["TAC"])


def test_regression_load() -> None:
    v = by_id("regression", "reg-3des-load-diversified")
    dlk = crypto.diversify(TDES, H(v["master_load_key"]), H(v["factor"]))
    assert dlk == H(v["DLK"])
    sk = crypto.load_session_key(TDES, dlk, H("AABBCCDD"), 5)
    assert sk == H(v["SESLK"])
    f = v["mac1_input_fields"]
    term = H(f["terminal_id"])
    assert crypto.load_mac1(TDES, sk, int(f["old_balance"], 16), int(f["amount"], 16), 2, term) == H(v["MAC1"])
    m2 = H(v["mac2_input"])
    assert crypto.load_mac2(TDES, sk, int.from_bytes(m2[:4]), m2[4], m2[5:11], m2[11:]) == H(v["MAC2"])
    dtk = crypto.diversify(TDES, H("00112233445566778899AABBCCDDEEFF"), H(v["factor"]))
    assert crypto.tac_session_key(TDES, dtk) == H(v["tac_key_L_xor_R"])
    t = H(v["tac_input"])
    tac = crypto.load_tac(
        TDES, dtk, int.from_bytes(t[:4]), int.from_bytes(t[4:6]), int.from_bytes(t[6:10]), t[10], t[11:17], t[17:]
    )
    assert tac == H(v["TAC"])


def test_regression_two_level_order() -> None:
    v = by_id("regression", "reg-3des-two-level-order")
    mk, issuer, card = H(v["master_key"]), H(v["issuer_factor"]), H(v["card_factor"])
    assert crypto.diversify_path(TDES, mk, [issuer, card]) == H(v["issuer_then_card"])
    assert crypto.diversify_path(TDES, mk, [card, issuer]) == H(v["card_then_issuer"])


def test_regression_tac_for_published_examples() -> None:
    v = by_id("regression", "reg-tac-for-published-examples")
    dtk = H(v["DTK"])
    assert crypto.tac_session_key(TDES, dtk) == H(v["tac_key_L_xor_R"])
    t = H(v["purchase_tac_input"])
    tac = crypto.purchase_tac(TDES, dtk, int.from_bytes(t[:4]), t[4], t[5:11], int.from_bytes(t[11:15]), t[15:])
    assert tac == H(v["purchase_TAC"])
    t = H(v["load_tac_input"])
    tac = crypto.load_tac(
        TDES, dtk, int.from_bytes(t[:4]), int.from_bytes(t[4:6]), int.from_bytes(t[6:10]), t[10], t[11:17], t[17:]
    )
    assert tac == H(v["load_TAC"])


def test_regression_retail_mac_distinct_halves() -> None:
    for case in by_id("regression", "reg-retail-mac-distinct-halves")["cases"]:
        got = crypto.mac(TDES, H(case["key"]), H(case["data"]), H(case["iv"]))
        assert got == H(case["retail_mac"])
        if "full_3des_cbc_mac_for_comparison" in case:
            assert got != H(case["full_3des_cbc_mac_for_comparison"])


def test_regression_line_encryption_padding() -> None:
    v = by_id("regression", "reg-line-encryption-padding")
    key = H(v["key"])
    for case in v["cases"]:
        plain = H(case["plaintext"])
        pad_always = case.get("padding_rule") == "always-pad"
        got = crypto.sm_encrypt_data(TDES, key, plain[1:], pad_always=pad_always)
        assert got == H(case["ciphertext"])
        assert crypto.sm_decrypt_data(TDES, key, got) == plain[1:]


def test_mac_data_layouts_split_and_rebuild_the_published_tac_inputs() -> None:
    """The TAC inputs of the regression vector split by the declared layouts and rebuild byte for byte; the unload
    answer MAC is the session-key MAC over the load TAC layout."""
    v = by_id("regression", "reg-tac-for-published-examples")
    purchase_input, load_input = H(v["purchase_tac_input"]), H(v["load_tac_input"])
    purchase = purse_crypto.PURCHASE_TAC_DATA.parse("purchase TAC data", purchase_input)
    assert purse_crypto.PURCHASE_TAC_DATA.build(purchase) == purchase_input
    assert crypto.purchase_tac(TDES, H(v["DTK"]), **purchase) == H(v["purchase_TAC"])
    load = purse_crypto.LOAD_TAC_DATA.parse("load TAC data", load_input)
    assert purse_crypto.LOAD_TAC_DATA.build(load) == load_input
    session_key = bytes.fromhex("9B1D924E05595603")  # the published load example's SESLK
    assert crypto.unload_mac(TDES, session_key, **load) == crypto.session_mac(TDES, session_key, load_input)
