"""JSON form of file-system nodes, keys and journal operations (used by :mod:`healthcard.image`).

Bytes are upper-case hex strings, rights and FIDs two/four hex digits, so an image reads like an APDU trace.
Every ``*_from_json`` validates types and raises ``ValueError`` (with the offending field) on bad input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apdu.fmcos import FileType, Protection, Scheme
from apdu.hexdata import from_hex
from healthcard.fs.journal import (
    EraseDF,
    Op,
    PutKey,
    PutKeyFile,
    PutNode,
    SetKeyTries,
    SetLifeCycle,
    SetPurse,
    SetRecords,
    WriteBinary,
)
from healthcard.fs.keys import Key, KeyFile
from healthcard.fs.nodes import DF, EF, LastTransaction, LifeCycle, Node, PurseEF, RecordEF, TransparentEF

__all__ = ["key_from_json", "key_to_json", "node_from_json", "node_to_json", "op_from_json", "op_to_json"]


def _h(value: bytes) -> str:
    return value.hex().upper()


def _b(data: Mapping[str, Any], name: str, size: int | None = None) -> bytes:
    value = from_hex(data[name], name, ValueError)
    if size is not None and len(value) != size:
        raise ValueError(f"{name}: {size} bytes expected")
    return value


def _x(data: Mapping[str, Any], name: str, high: int = 0xFF) -> int:
    raw = data[name]
    if not isinstance(raw, str):
        raise ValueError(f"{name}: hex number expected")
    value = int(raw, 16)
    if not 0 <= value <= high:
        raise ValueError(f"{name}: out of range")
    return value


def _i(data: Mapping[str, Any], name: str, high: int) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ValueError(f"{name}: integer 0..{high} expected")
    return value


def _flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{name}: true or false expected")
    return value


def _sm(data: Mapping[str, Any], name: str) -> Protection:
    try:
        return Protection[str(data.get(name, "none")).upper()]
    except KeyError:
        raise ValueError(f"{name}: none, mac or enc_mac expected") from None


def key_to_json(key: Key) -> dict[str, Any]:
    """A key as JSON (the value in hex: images are test artefacts holding demo keys)."""
    out: dict[str, Any] = {
        "type": f"{key.key_type:02X}", "id": f"{key.key_id:02X}", "use": f"{key.use_right:02X}",
        "change": f"{key.change_right:02X}", "version": key.version, "algorithm": f"{key.algorithm:02X}",
        "max_tries": key.max_tries, "tries_left": key.tries_left, "value": _h(key.value),
    }  # fmt: skip
    if key.follow_state is not None:
        out["follow_state"] = f"{key.follow_state:X}"
    if key.protected:
        out["protected"] = True
    return out


def key_from_json(data: Mapping[str, Any]) -> Key:
    """Inverse of :func:`key_to_json`."""
    follow = data.get("follow_state")
    return Key(
        key_type=_x(data, "type"), key_id=_x(data, "id"), use_right=_x(data, "use"), change_right=_x(data, "change"),
        value=_b(data, "value"), follow_state=None if follow is None else _x(data, "follow_state", 0xF),
        version=_i(data, "version", 0xFF), algorithm=_x(data, "algorithm"), max_tries=_i(data, "max_tries", 15),
        tries_left=_i(data, "tries_left", 15), protected=_flag(data, "protected"),
    )  # fmt: skip


def _key_file_to_json(kf: KeyFile) -> dict[str, Any]:
    return {
        "fid": f"{kf.fid:04X}", "space": kf.space, "sfi": f"{kf.sfi:02X}", "add_right": f"{kf.add_right:02X}",
        "algorithm": f"{kf.algorithm:02X}", "scheme": kf.scheme.name.lower(),
        "keys": [key_to_json(k) for k in kf.keys.values()],
    }  # fmt: skip


def _key_file_from_json(data: Mapping[str, Any]) -> KeyFile:
    keys = [key_from_json(k) for k in data["keys"]]
    return KeyFile(
        fid=_x(data, "fid", 0xFFFF), space=_i(data, "space", 0xFFFF), sfi=_x(data, "sfi"),
        add_right=_x(data, "add_right"), algorithm=_x(data, "algorithm"), scheme=Scheme[str(data["scheme"]).upper()],
        keys={(k.key_type, k.key_id): k for k in keys},
    )  # fmt: skip


def _last_to_json(last: LastTransaction | None) -> dict[str, Any] | None:
    if last is None:
        return None
    return {
        "type": f"{last.tx_type:02X}",
        "counter_after": last.counter_after,
        "mac": _h(last.mac),
        "tac": _h(last.tac),
    }


def _last_from_json(data: Mapping[str, Any] | None) -> LastTransaction | None:
    if data is None:
        return None
    return LastTransaction(_x(data, "type"), _i(data, "counter_after", 0x10000), _b(data, "mac", 4), _b(data, "tac", 4))


def node_to_json(node: Node) -> dict[str, Any]:
    """A node (recursively for DFs) as JSON."""
    if isinstance(node, DF):
        return {
            "kind": "DF", "fid": f"{node.fid:04X}", "name": _h(node.name), "name_text": node.name.decode("latin-1"),
            "create_right": f"{node.create_right:02X}", "erase_right": f"{node.erase_right:02X}",
            "app_sfi": f"{node.app_sfi:02X}", "life_cycle": node.life_cycle.name.lower(),
            "key_file": None if node.key_file is None else _key_file_to_json(node.key_file),
            "children": [node_to_json(c) for c in node.children.values()],
        }  # fmt: skip
    base: dict[str, Any] = {
        "fid": f"{node.fid:04X}", "read": f"{node.read:02X}", "write": f"{node.write:02X}",
        "sm": node.sm.name.lower(),
    }  # fmt: skip
    if node.read_sm is not Protection.NONE:
        base["read_sm"] = node.read_sm.name.lower()
    if isinstance(node, TransparentEF):
        return {"kind": "transparent", **base, "size": node.size, "data": _h(node.data)}
    if isinstance(node, RecordEF):
        return {
            "kind": node.structure.name.lower(), **base, "count": node.count, "length": node.length,
            "records": [_h(r) for r in node.records],
        }  # fmt: skip
    assert isinstance(node, PurseEF)
    return {
        "kind": "purse", **base, "detail_sfi": f"{node.detail_sfi:02X}", "balance": node.balance,
        "online_counter": node.online_counter, "offline_counter": node.offline_counter,
        "overdraft_limit": node.overdraft_limit, "last": _last_to_json(node.last),
    }  # fmt: skip


def node_from_json(data: Mapping[str, Any]) -> Node:
    """Inverse of :func:`node_to_json` (validating)."""
    kind = data.get("kind")
    fid = _x(data, "fid", 0xFFFF)
    if kind == "DF":
        kf = data.get("key_file")
        df = DF(
            fid=fid, name=_b(data, "name"), create_right=_x(data, "create_right"), erase_right=_x(data, "erase_right"),
            app_sfi=_x(data, "app_sfi"), life_cycle=LifeCycle[str(data["life_cycle"]).upper()],
            key_file=None if kf is None else _key_file_from_json(kf),
        )  # fmt: skip
        for child in data["children"]:
            df.add(node_from_json(child))
        return df
    read, write, sm, read_sm = _x(data, "read"), _x(data, "write"), _sm(data, "sm"), _sm(data, "read_sm")
    ef: EF
    if kind == "transparent":
        size = _i(data, "size", 0xFFFF)
        ef = TransparentEF(fid, read, write, sm, read_sm, size=size, data=_b(data, "data", size))
    elif kind in ("linear_fixed", "linear_variable", "cyclic"):
        count, length = _i(data, "count", 0xFF), _i(data, "length", 0xFF)
        records = [bytes.fromhex(str(r)) for r in data["records"]]
        if len(records) > count or any(len(r) > length for r in records):
            raise ValueError(f"records of {fid:04X}: more or longer than the file allows")
        ef = RecordEF(fid, read, write, sm, read_sm, structure=FileType[str(kind).upper()], count=count,
                      length=length, records=records)  # fmt: skip
    elif kind == "purse":
        ef = PurseEF(
            fid, read, write, sm, read_sm, detail_sfi=_x(data, "detail_sfi", 0x1F),
            balance=_i(data, "balance", 0xFFFFFFFF), online_counter=_i(data, "online_counter", 0xFFFF),
            offline_counter=_i(data, "offline_counter", 0xFFFF),
            overdraft_limit=_i(data, "overdraft_limit", 0xFFFFFF), last=_last_from_json(data.get("last")),
        )  # fmt: skip
    else:
        raise ValueError(f"unknown node kind {kind!r}")
    return ef


def _path(data: Mapping[str, Any]) -> tuple[int, ...]:
    return tuple(int(str(p), 16) for p in data["path"])


def op_to_json(op: Op) -> dict[str, Any]:
    """A journal operation as JSON."""
    path = [f"{p:04X}" for p in op.path]
    if isinstance(op, WriteBinary):
        return {"op": "write_binary", "path": path, "offset": op.offset, "data": _h(op.data)}
    if isinstance(op, SetRecords):
        return {"op": "set_records", "path": path, "records": [_h(r) for r in op.records]}
    if isinstance(op, SetPurse):
        return {"op": "set_purse", "path": path, "balance": op.balance, "online_counter": op.online_counter,
                "offline_counter": op.offline_counter, "last": _last_to_json(op.last)}  # fmt: skip
    if isinstance(op, PutKey):
        return {"op": "put_key", "path": path, "key": key_to_json(op.key)}
    if isinstance(op, SetKeyTries):
        return {"op": "set_key_tries", "path": path, "type": f"{op.key_type:02X}", "id": f"{op.key_id:02X}",
                "tries_left": op.tries_left}  # fmt: skip
    if isinstance(op, PutKeyFile):
        return {"op": "put_key_file", "path": path, "key_file": _key_file_to_json(op.key_file)}
    if isinstance(op, PutNode):
        return {"op": "put_node", "path": path, "node": node_to_json(op.node)}
    if isinstance(op, EraseDF):
        return {"op": "erase_df", "path": path}
    return {"op": "set_life_cycle", "path": path, "state": op.state.name.lower()}


def op_from_json(data: Mapping[str, Any]) -> Op:
    """Inverse of :func:`op_to_json`."""
    kind, path = data.get("op"), _path(data)
    if kind == "write_binary":
        return WriteBinary(path, _i(data, "offset", 0xFFFF), _b(data, "data"))
    if kind == "set_records":
        return SetRecords(path, tuple(bytes.fromhex(str(r)) for r in data["records"]))
    if kind == "set_purse":
        return SetPurse(path, _i(data, "balance", 0xFFFFFFFF), _i(data, "online_counter", 0xFFFF),
                        _i(data, "offline_counter", 0xFFFF), _last_from_json(data.get("last")))  # fmt: skip
    if kind == "put_key":
        return PutKey(path, key_from_json(data["key"]))
    if kind == "set_key_tries":
        return SetKeyTries(path, _x(data, "type"), _x(data, "id"), _i(data, "tries_left", 15))
    if kind == "put_key_file":
        return PutKeyFile(path, _key_file_from_json(data["key_file"]))
    if kind == "put_node":
        return PutNode(path, node_from_json(data["node"]))
    if kind == "erase_df":
        return EraseDF(path)
    if kind == "set_life_cycle":
        return SetLifeCycle(path, LifeCycle[str(data["state"]).upper()])
    raise ValueError(f"unknown journal operation {kind!r}")
