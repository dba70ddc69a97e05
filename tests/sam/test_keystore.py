"""sam.keystore: the demo key set, typed entries, round trips, hidden bytes, typed errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apdu.errors import Layer
from sam.crypto import Algorithm
from sam.keystore import (
    KeyEntry,
    KeyLengthError,
    KeyStore,
    KeyStoreError,
    KeyUsage,
    UnknownKeyError,
    load_demo_keys,
    load_keystore,
    save_keystore,
)
from sam.virtual.image import SamImageError, load_sam_image

DATA = Path(__file__).resolve().parents[2] / "sam" / "data" / "demo-keys.json"


def demo_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    return data


def test_demo_copy_is_the_shared_reference_plus_the_project_unload_key() -> None:
    """The shipped set is the shared reference's, plus the unload master key it lacks (docs/decisions.md D13)."""
    shared = Path(__file__).resolve().parents[3] / "shared" / "reference" / "demo-keys.json"
    if not shared.is_file():
        pytest.skip("shared/reference is not beside this checkout")
    ours = demo_json()
    unload = ours["purse_app"]["master_keys"].pop("unload")
    assert unload == "D5A3C1E7F9B20468AC13E5F7092B4D6F"
    assert ours == json.loads(shared.read_text(encoding="utf-8"))


def test_demo_keys_are_typed() -> None:
    store = load_demo_keys()
    assert len(store) == 15 + 8 + 2
    purchase = store.by_name("purchase")
    assert (purchase.app, purchase.algorithm, purchase.usage, purchase.index, purchase.version) == (
        "purse",
        Algorithm.TDES,
        KeyUsage.PURCHASE,
        1,
        1,
    )
    assert purchase.value == bytes.fromhex("C3949BB04B7E3E466AF2F0D7A13585C0")
    rk = store.find(KeyUsage.ENCRYPT, 0x31)
    assert (rk.name, rk.algorithm, rk.app) == ("RK_DDF1", Algorithm.SM4, "health")
    assert store.find(KeyUsage.MAC_ENCRYPT, 0x04).name == "STK_DF02"
    assert store.find(KeyUsage.ENCRYPT, 0x30).name == "UK_DF03_2"
    assert store.by_name("pin_reload").index == 2
    assert store.sam_pin == "123456"
    assert store.terminal_id == bytes.fromhex("000000000001")
    assert store.purchase_key(1, Algorithm.TDES) == purchase
    assert store.load_key(1, Algorithm.TDES).name == "load"
    unload = store.unload_key(1, Algorithm.TDES)
    assert (unload.name, unload.usage, unload.index) == ("unload", KeyUsage.UNLOAD, 1)


def test_repr_never_shows_key_bytes_or_pin() -> None:
    store = load_demo_keys()
    texts = [repr(store), str(store)] + [repr(e) for e in store] + [str(e) for e in store]
    for entry in store:
        for text in texts:
            assert entry.value.hex() not in text.lower()
    assert all("<hidden>" in repr(e) for e in store)
    assert "123456" not in repr(store)


def test_json_round_trip_and_file_round_trip(tmp_path: Path) -> None:
    store = load_demo_keys()
    assert KeyStore.from_json(store.to_json()) == store
    path = tmp_path / "keys.json"
    save_keystore(store, path)
    assert load_keystore(path) == store
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temporary file left behind
    assert load_keystore(DATA) == store


def test_unknown_key_index_is_a_typed_sam_error() -> None:
    store = load_demo_keys()
    with pytest.raises(UnknownKeyError) as info:
        store.find(KeyUsage.TAC, 0x07)
    assert info.value.layer is Layer.SAM
    assert "TAC" in str(info.value) and "0x07" in str(info.value)
    with pytest.raises(UnknownKeyError):
        store.purchase_key(2, Algorithm.TDES)
    with pytest.raises(UnknownKeyError):
        store.purchase_key(1, Algorithm.SM4)
    with pytest.raises(UnknownKeyError):
        store.by_name("nope")


@pytest.mark.parametrize(
    ("algorithm", "length"), [(Algorithm.SM4, 15), (Algorithm.SM4, 24), (Algorithm.TDES, 12), (Algorithm.TDES, 0)]
)
def test_wrong_key_length(algorithm: Algorithm, length: int) -> None:
    value = bytes(range(1, length + 1))
    with pytest.raises(KeyLengthError) as info:
        KeyEntry("k", "purse", algorithm, KeyUsage.MAC, 1, 0, value)
    assert info.value.layer is Layer.SAM
    assert value.hex() not in str(info.value).lower() or not value
    assert str(length) in str(info.value)


def test_wrong_length_in_a_file_names_the_key_not_the_bytes() -> None:
    data = demo_json()
    data["health_app"]["master_keys"]["RK_DF01"] = "00112233445566778899AABBCCDDEE"
    with pytest.raises(KeyLengthError) as info:
        KeyStore.from_json(data)
    assert "RK_DF01" in str(info.value)
    assert "00112233" not in str(info.value)


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (("health_app", "master_keys", "XX_DF09"), "00" * 16, UnknownKeyError),
        (("purse_app", "master_keys", "purchase"), "not hex", KeyStoreError),
        (("purse_app", "algorithm"), "AES", KeyStoreError),
        (("purse_app", "key_version"), "1", KeyStoreError),
        (("health_app", "sam_pin"), "12a4", KeyStoreError),
        (("psam", "terminal_id"), "0001", KeyStoreError),
    ],
)
def test_malformed_files(path: tuple[str, ...], value: str, error: type[Exception]) -> None:
    data = demo_json()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(error):
        KeyStore.from_json(data)


def test_two_keys_with_the_same_reference_are_refused() -> None:
    key = bytes(16)
    with pytest.raises(KeyStoreError):
        KeyStore(
            [
                KeyEntry("a", "purse", Algorithm.TDES, KeyUsage.MAC, 1, 0, key),
                KeyEntry("b", "purse", Algorithm.TDES, KeyUsage.MAC, 1, 0, key),
            ]
        )


@pytest.mark.parametrize(
    ("load", "error", "layer"),
    [(load_keystore, KeyStoreError, Layer.SAM), (load_sam_image, SamImageError, Layer.SAM)],
)
def test_invalid_json_file(
    tmp_path: Path, load: Callable[[Path], object], error: type[Exception], layer: Layer
) -> None:
    """Each JSON file loader (apdu.files.read_json) raises its own layer's error naming the file and the line."""
    path = tmp_path / "bad.json"
    path.write_text('{\n  "a": 1,\n}', encoding="utf-8")
    with pytest.raises(error) as caught:
        load(path)
    assert caught.value.layer is layer  # type: ignore[attr-defined]
    assert str(path) in str(caught.value) and "not valid JSON" in str(caught.value) and "line 3" in str(caught.value)
