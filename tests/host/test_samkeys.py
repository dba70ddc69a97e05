"""The host's keys in a SAM (daemon/host/samkeys.py) against the in-process virtual host SAM.

Known answers (regression.json reg-3des-load-diversified / reg-3des-purchase-diversified: one-level diversified
3DES load MAC1/MAC2 and load/purchase TACs) give the same answers from :class:`SamKeyStore` and
:class:`DemoKeyStore`; a property test compares both on random loads and TACs of the demo key set. Attacker and
failure tests: a forged MAC1, a PSAM image that has no host keys, a wrong PIN (never repeated, never shown), a
removed SAM, concurrent RPCs on one SAM — each answers HOST_KEYS_UNAVAILABLE or WRONG_MAC and books nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.inprocess import InProcessTransport
from daemon.config import ConfigError, Secret
from daemon.errors import classify
from daemon.host.clearing import Clearing, Upload
from daemon.host.config import HostConfig, KeysConfig, load_host_config
from daemon.host.db import LedgerDb
from daemon.host.errors import HostKeysUnavailableError
from daemon.host.keystore import DemoKeyStore, LoadFields
from daemon.host.loads import Loads, WrongMac1Error
from daemon.host.registry import Registry
from daemon.host.samkeys import SamKeyStore, open_key_store
from sam.crypto import Algorithm, diversify, load_mac1, load_session_key, load_tac, purchase_tac
from sam.keystore import KeyEntry, KeyStore, KeyUsage, load_demo_keys
from sam.virtual import VirtualSam, new_sam_image, save_sam_image
from tests.vectors import by_id

H = bytes.fromhex
LOAD = by_id("regression", "reg-3des-load-diversified")
PURCHASE = by_id("regression", "reg-3des-purchase-diversified")
PIN = "123456"


def _vector_keys() -> KeyStore:
    return KeyStore([
        KeyEntry("load", "purse", Algorithm.TDES, KeyUsage.LOAD, 1, 1, H(LOAD["master_load_key"])),
        KeyEntry("tac", "purse", Algorithm.TDES, KeyUsage.TAC, 1, 1, H(PURCHASE["master_tac_key"])),
    ])  # fmt: skip


def _store(keys: KeyStore | None = None, *, kind: str = "host", pin: str = PIN, sams: int = 1) -> SamKeyStore:
    transports = [
        InProcessTransport(VirtualSam(new_sam_image(keys, pin=PIN, kind=kind)), name=f"host-sam-{i}")
        for i in range(sams)
    ]
    return SamKeyStore(transports, pin=pin)


def _vector_load(mac1: str = LOAD["MAC1"]) -> LoadFields:
    f = LOAD["mac1_input_fields"]
    return LoadFields(
        algorithm=0, amount_fen=int(f["amount"], 16), balance_before_fen=int(f["old_balance"], 16), online_counter=5,
        icc_random=H("AABBCCDD"), mac1=H(mac1), terminal_id=H(f["terminal_id"]), card_time="20240102030405",
    )  # fmt: skip


def _upload(kind: str, tac: str, **changes: object) -> Upload:
    if kind == "load":
        f = LOAD["tac_input_fields"]
        base = Upload("t1", "load", "C1", int(f["amount"], 16), 0x100, int(f["new_balance"], 16),
                      int(f["online_counter_before_increment"], 16), f["terminal_id"], 0, tac, f["date"] + f["time"],
                      "2024-01-02T03:04:05+00:00")  # fmt: skip
    else:
        f = PURCHASE["tac_input_fields"]
        base = Upload("t2", "debit", "C1", int(f["amount"], 16), 0x10000, 0x10000 - int(f["amount"], 16), 0,
                      f["terminal_id"], int(f["terminal_transaction_serial"], 16), tac, f["date"] + f["time"],
                      "2012-02-29T13:51:00+00:00")  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_known_answers_same_as_the_demo_store() -> None:
    sam, demo = _store(_vector_keys()), DemoKeyStore(H(PURCHASE["master_tac_key"]), H(LOAD["master_load_key"]))
    factor = H(LOAD["factor"])
    assert sam.load_mac2(factor, _vector_load()) == demo.load_mac2(factor, _vector_load()) == H(LOAD["MAC2"])
    for kind, vector in (("load", LOAD), ("debit", PURCHASE)):
        right, wrong = _upload(kind, vector["TAC"]), _upload(kind, vector["TAC"], amount_fen=1)
        assert sam.tac_matches(factor, right, H(vector["TAC"])) is demo.tac_matches(factor, right, H(vector["TAC"]))
        assert sam.tac_matches(factor, right, H(vector["TAC"])) is True
        assert sam.tac_matches(factor, wrong, H(vector["TAC"])) is demo.tac_matches(factor, wrong, H(vector["TAC"]))
        assert sam.tac_matches(factor, wrong, H(vector["TAC"])) is False
    assert sam.load_mac2(H("00" * 8), _vector_load()) is None  # another card: MAC1 does not verify
    sam.probe()  # reachable, PIN accepted, both keys there


DEMO_KEYS = load_demo_keys()
DEMO = DemoKeyStore.from_demo_keys()
SAM_STORE = _store()


@settings(max_examples=40, deadline=None)
@given(
    factor=st.binary(min_size=8, max_size=8), random=st.binary(min_size=4, max_size=4),
    counter=st.integers(0, 0xFFFF), balance=st.integers(0, 10**8), amount=st.integers(1, 10**6),
    terminal=st.binary(min_size=6, max_size=6), serial=st.integers(0, 0xFFFFFFFF), forge=st.booleans(),
)  # fmt: skip
def test_property_the_sam_store_answers_as_the_demo_store(
    factor: bytes, random: bytes, counter: int, balance: int, amount: int, terminal: bytes, serial: int, forge: bool
) -> None:
    dlk = diversify(Algorithm.TDES, DEMO_KEYS.by_name("load").value, factor)
    mac1 = load_mac1(Algorithm.TDES, load_session_key(Algorithm.TDES, dlk, random, counter), balance, amount, 2,
                     terminal)  # fmt: skip
    if forge:
        mac1 = bytes(b ^ 0x01 for b in mac1)
    fields = LoadFields(algorithm=0, amount_fen=amount, balance_before_fen=balance, online_counter=counter,
                        icc_random=random, mac1=mac1, terminal_id=terminal, card_time="20261204101112")  # fmt: skip
    expected = DEMO.load_mac2(factor, fields)
    assert SAM_STORE.load_mac2(factor, fields) == expected and (expected is None) is forge
    dtk = diversify(Algorithm.TDES, DEMO_KEYS.by_name("tac").value, factor)
    stamp = H("20261204101112")
    tacs = {
        "load": load_tac(Algorithm.TDES, dtk, balance + amount, counter, amount, 2, terminal, stamp),
        "debit": purchase_tac(Algorithm.TDES, dtk, amount, 6, terminal, serial, stamp),
    }
    for kind, tac in tacs.items():
        upload = Upload("t", kind, "C", amount, balance, balance + amount if kind == "load" else balance - amount,
                        counter, terminal.hex().upper(), serial, tac.hex(), "20261204101112", "x")  # fmt: skip
        sent = bytes(b ^ 0x80 for b in tac) if forge else tac
        assert SAM_STORE.tac_matches(factor, upload, sent) is DEMO.tac_matches(factor, upload, sent) is (not forge)


def _registered(ledger: LedgerDb) -> Registry:
    registry = Registry(ledger)
    registry.register(card_number="C1", masked_id="1101**********0030", institution="H", purse_factor=LOAD["factor"],
                      opening_balance_fen=0x100, operator_id="o", client="t")  # fmt: skip
    return registry


def _authorise(loads: Loads, mac1: str) -> object:
    f = LOAD["mac1_input_fields"]
    return loads.authorise(
        node_id="k1", card_number="C1", amount_fen=int(f["amount"], 16), balance_before_fen=int(f["old_balance"], 16),
        online_counter=5, icc_random="AABBCCDD", mac1=mac1, terminal_id=f["terminal_id"], card_time="20240102030405",
        algorithm=0, key_version=1,
    )  # fmt: skip


def test_a_forged_mac1_gets_no_mac2_and_is_wrong_mac(ledger: LedgerDb) -> None:
    loads = Loads(ledger, _registered(ledger), _store(_vector_keys()))
    with pytest.raises(WrongMac1Error) as info:
        _authorise(loads, "00000000")
    assert classify(info.value).reason_name == "WRONG_MAC"
    assert ledger.query("SELECT * FROM load_authorisations") == []
    granted = _authorise(loads, LOAD["MAC1"])
    assert granted.mac2 == H(LOAD["MAC2"])  # type: ignore[attr-defined]


def test_a_psam_image_holds_no_host_keys_and_nothing_is_booked(ledger: LedgerDb) -> None:
    store = _store(kind="psam")
    with pytest.raises(HostKeysUnavailableError) as info:
        store.probe()
    failure = classify(info.value)
    assert (failure.code, failure.reason_name) == (grpc.StatusCode.UNAVAILABLE, "HOST_KEYS_UNAVAILABLE")
    assert (failure.layer, failure.status_word) == ("SAM", "9403") and "9403" in failure.message
    assert failure.message_zh.startswith("主机安全模块") and "host-sam-0" in failure.message
    registry = _registered(ledger)
    with pytest.raises(HostKeysUnavailableError):
        _authorise(Loads(ledger, registry, store), LOAD["MAC1"])
    with pytest.raises(HostKeysUnavailableError):  # the whole batch is refused: the daemon keeps it and retries
        Clearing(ledger, registry, store).record("k1", [_upload("load", LOAD["TAC"])])
    assert ledger.query("SELECT * FROM load_authorisations") == [] and ledger.query("SELECT * FROM ledger") == []


def test_a_wrong_pin_is_tried_once_and_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    sam = VirtualSam(new_sam_image(kind="host", pin=PIN))
    store = SamKeyStore([InProcessTransport(sam, name="host-sam")], pin="987654")
    caplog.set_level(logging.DEBUG)
    errors = []
    for _ in range(3):
        with pytest.raises(HostKeysUnavailableError) as info:
            store.tac_matches(H("00" * 8), _upload("debit", PURCHASE["TAC"]), H(PURCHASE["TAC"]))
        errors.append(info.value)
    assert sam.image.pin_tries_left == 2  # sent once; the SAM is not locked by retries
    assert {e.status_word for e in errors} == {"63C2"} and all(
        "refused the configured PIN" in e.message for e in errors
    )
    shown = " ".join([caplog.text, repr(store), *(e.message + e.message_zh + str(e) for e in errors)])
    assert "987654" not in shown and PIN not in shown
    assert "refused the configured PIN" in caplog.text


def test_a_removed_sam_is_unavailable_and_works_again_when_back() -> None:
    sam = VirtualSam(new_sam_image(_vector_keys(), pin=PIN, kind="host"))
    transport = InProcessTransport(sam, name="Virtual PCD 00 01")
    store = SamKeyStore([transport], pin=PIN)
    states: list[bool] = []
    store.on_state = states.append  # the host's healthcard_host_keys_ready gauge
    factor = H(LOAD["factor"])
    assert store.load_mac2(factor, _vector_load()) == H(LOAD["MAC2"])
    transport.remove()
    with pytest.raises(HostKeysUnavailableError) as info:
        store.load_mac2(factor, _vector_load())
    failure = classify(info.value)
    assert failure.layer == "reader" and "Virtual PCD 00 01" in failure.message and failure.message_zh
    transport.insert(sam)  # powered up again: the PIN is verified again before the next key command
    assert store.load_mac2(factor, _vector_load()) == H(LOAD["MAC2"])
    assert sam.image.pin_tries_left == 3 and states == [True, False, True]


def test_a_pool_survives_one_removed_sam() -> None:
    store = _store(_vector_keys(), sams=2)
    transports = [s.transport for s in store._sams]  # the test pulls one SAM out
    assert isinstance(transports[0], InProcessTransport)
    transports[0].remove()
    for _ in range(4):
        assert store.load_mac2(H(LOAD["factor"]), _vector_load()) == H(LOAD["MAC2"])


def test_one_sam_serves_concurrent_requests() -> None:
    store = _store(_vector_keys())
    factor = H(LOAD["factor"])
    results: list[tuple[bytes | bool | None, bool]] = []
    failures: list[Exception] = []

    def work() -> None:
        try:
            for i in range(25):
                wrong = i % 2 == 1
                results.append((store.load_mac2(factor, _vector_load("00000000" if wrong else LOAD["MAC1"])), wrong))
                upload = _upload("debit", PURCHASE["TAC"])
                results.append((store.tac_matches(factor, upload, H(PURCHASE["TAC"])), False))
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and len(results) == 400
    assert all((got is None) if wrong else got in (H(LOAD["MAC2"]), True) for got, wrong in results)


def test_configuration_of_the_key_store(tmp_path: Path) -> None:
    image = tmp_path / "host-sam.json"
    save_sam_image(new_sam_image(kind="host", pin=PIN), image)
    (tmp_path / "pin").write_text(PIN + "\n", encoding="utf-8")
    (tmp_path / "pin").chmod(0o644)
    conf = tmp_path / "host.toml"
    conf.write_text('[keys]\nstore = "sam"\nimage = "host-sam.json"\npin_file = "pin"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="readable by other users") as refused:  # like the CLI's PIN files
        load_host_config(conf, env={})
    assert PIN not in refused.value.message
    (tmp_path / "pin").chmod(0o600)
    conf = tmp_path / "host.toml"
    conf.write_text('[keys]\nstore = "sam"\nimage = "host-sam.json"\npin_file = "pin"\n', encoding="utf-8")
    config = load_host_config(conf, env={}).validate()
    assert config.keys.pin == Secret(PIN) and PIN not in config.keys.describe() and PIN not in repr(config)
    store = open_key_store(config.keys)
    assert isinstance(store, SamKeyStore)
    store.probe()
    assert isinstance(open_key_store(HostConfig().keys), DemoKeyStore)
    for text, field in (
        ('[keys]\nstore = "hsm"\n', "keys.store"),
        ('[keys]\nstore = "sam"\nimage = "host-sam.json"\n', "keys.pin"),
        ('[keys]\nstore = "sam"\npin = "1234"\n', "keys.readers"),
        ('[keys]\nstore = "sam"\nreaders = ["r"]\nimage = "host-sam.json"\npin = "1234"\n', "keys.readers"),
        ('[keys]\nstore = "sam"\nreaders = ["r"]\npin_file = "nope"\n', "keys.pin_file"),
        ('[keys]\nstore = "sam"\nreaders = ["r"]\npin_env = "X"\n', "pin_env"),
        ('[keys]\nstore = "sam"\nreaders = ["r"]\npin = "1234"\nalgorithm = "AES"\n', "keys.algorithm"),
        ('[keys]\nreader = "r"\n', "keys.reader"),
    ):
        conf.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_host_config(conf, env={}).validate()
        assert info.value.field == field, text
    assert KeysConfig().describe().startswith("demo")
