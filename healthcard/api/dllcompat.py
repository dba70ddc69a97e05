"""The reader-DLL interface (``WSB_RWInterface.dll``, 健康卡应用接口规范 §6) on top of a :class:`CardSession`.

Porting a HIS integration is a rename: the same function names (``iR_DDF1EF05Info``, ``iW_DF01EF06Info``,
``iR_DF03EEInfo(rec, pos, len, style)`` ...), the same field codes (``KLB``, ``GFBB``, ``XM``, ``SFZH`` ...) and
the DLL's value forms (健康卡应用接口规范 §6: ``an`` items are raw GBK bytes, ``cn`` and ``b`` items are upper-case hex
strings — ``cn`` without its ``F`` padding), and the DLL's return codes (interface error codes, sources.md V3: 0 OK, 101
input error, 102 file not found, 103 read record failed, 104 card error, 105 PSAM error, 106 authentication failed, 107
read binary failed, 108 write record failed, 109 write binary failed, 110/111 DF03 index write/erase failed, 112 record
not valid (index ``FF``), 113 photo data error).

DF03 records are signed like every record the card API writes: ``iW_DF03EF05Info(n)`` / ``iW_DF03EF06Info(n)``
sign slot n's data area with the SAM (SM2) before marking it valid, and ``iW_DF03EEInfo`` / ``EDInfo`` into a
valid slot sign it again (issue #11 item 5).

Read functions return ``(code, values)``: a dict by field code (or bytes / a list, as noted); write functions
take the field codes as keyword arguments and return the code. ``iW_`` functions of the record files change only
the fields given: a field not passed keeps what the card holds, a field passed as ``""`` / ``b""`` is erased
(issue #11 item 4). ``HANDLE hDev`` is the object itself.
The mapping table is in docs/dll-mapping.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from apdu.errors import (
    DataError,
    FileError,
    HealthCardError,
    PinError,
    RecordNotFoundError,
    SamError,
    SecurityStatusError,
)
from apdu.hexdata import from_hex
from apdu.status import SW, StatusInfo, describe
from healthcard.api import reading, writing
from healthcard.api.sections import Section
from healthcard.api.session import CardSession
from healthcard.codecs import Allergy, Immunisation, InpatientRecord, OutpatientRecord, by_pinyin
from healthcard.codecs.encoding import Encoding, decode_an, decode_cn, encode_cn
from healthcard.codecs.fixed import INDEX_VALID
from healthcard.codecs.tlv import decode_tlv
from sam.crypto import sm3

__all__ = ["DLL_FILES", "ERRORS", "IRV", "STYLE_AN", "STYLE_B", "STYLE_CN", "STYLE_NO", "HealthCardDll"]

STYLE_NO, STYLE_AN, STYLE_CN, STYLE_B = 0x00, 0x01, 0x0F, 0xFF


class IRV:
    """Return codes of W1 (interface error codes, sources.md V3)."""

    OK = 0
    PARAM = 101
    NO_FILE = 102
    READ_RECORD = 103
    CARD = 104
    PSAM = 105
    AUTH = 106
    READ_BIN = 107
    WRITE_RECORD = 108
    WRITE_BIN = 109
    WRITE_INDEX = 110
    ERASE_INDEX = 111
    NOT_VALID = 112
    PHOTO = 113


ERRORS: dict[int, str] = {
    0: "OK", 101: "输入参数错", 102: "文件不存在", 103: "读记录失败", 104: "卡片响应异常", 105: "PSAM卡片响应异常",
    106: "内部认证失败", 107: "读BIN失败", 108: "写记录失败", 109: "写BIN失败", 110: "写DF03EF05失败",
    111: "擦除DF03EF05失败", 112: "记录不可用(有效标记为FF)", 113: "照片文件数据异常",
}  # fmt: skip

#: DLL file name → (section, field codes in the DLL's parameter order) (健康卡应用接口规范 §6.2).
DLL_FILES: dict[str, tuple[Section, tuple[str, ...]]] = {
    "DDF1EF05": (Section.ISSUER, ("KLB", "GFBB", "FKJGMC", "FKJGDM", "FKJGZS", "FKSJ", "KH", "AQM", "XPXLH",
                                  "YYCSDM")),
    "DDF1EF06": (Section.HOLDER, ("XM", "XB", "MZ", "CSRQ", "SFZH")),
    "DDF1EF08": (Section.VALIDITY, ("KYXQ", "BRDH1", "BRDH2", "YLFYZFFS1", "YLFYZFFS2", "YLFYZFFS3")),
    "DF01EF05": (Section.ADDRESSES, ("DZLB1", "DZ1", "DZLB2", "DZ2")),
    "DF01EF06": (Section.CONTACTS, ("LXRXM1", "LXRGX1", "LXRDH1", "LXRXM2", "LXRGX2", "LXRDH2", "LXRXM3", "LXRGX3",
                                    "LXRDH3")),
    "DF01EF07": (Section.OCCUPATION_MARRIAGE, ("WHCD", "HYZK", "ZY")),
    "DF01EF08": (Section.DOCUMENTS, ("ZJLB", "ZJHM", "JKDAH", "XNHZH")),
    "DF02EF05": (Section.CLINICAL, ("ABOXX", "RHXX", "XCBZ", "XZBBZ", "XNXGBBZ", "DXBBZ", "NXWLBZ", "TNBBZ", "QGYBZ",
                                    "TXBZ", "QGYZBZ", "QGQSBZ", "KZXYZBZ", "XZQBQBZ", "QTYXJSMC")),
    "DF02EF06": (Section.SPECIAL, ("JSBBZ",)),
}  # fmt: skip

_ALIASES = {"ZYDM": "ZY", "JKDABH": "JKDAH"}

T = TypeVar("T")


def code_for(exc: BaseException, default: int) -> int:
    """The interface error codes, sources.md V3 return code for an exception raised while executing a DLL function."""
    if isinstance(exc, DataError):
        return IRV.PARAM
    if isinstance(exc, SamError):
        return IRV.PSAM
    if isinstance(exc, PinError | SecurityStatusError) and not isinstance(exc, RecordNotFoundError):
        return IRV.AUTH
    if isinstance(exc, FileError) and not isinstance(exc, RecordNotFoundError):
        return IRV.NO_FILE
    return default


def dll_value(pinyin: str, raw: bytes) -> bytes | str:
    """An element's stored bytes as the DLL returns them: an → GBK bytes, cn → digits, b → hex (健康卡应用接口规范
    WS/T 543.4 commands)."""
    el = by_pinyin(_ALIASES.get(pinyin, pinyin))
    if el.encoding is Encoding.AN:
        return raw.rstrip(b"\x00")
    if el.encoding is Encoding.CN:
        return decode_cn(raw, field=pinyin)
    return raw.hex().upper()


def stored_value(pinyin: str, value: bytes | str) -> bytes:
    """Inverse of :func:`dll_value`: the bytes stored on the card (TLV value)."""
    el = by_pinyin(_ALIASES.get(pinyin, pinyin))
    if el.encoding is Encoding.AN:
        raw = value if isinstance(value, bytes) else value.encode("gbk")
        if len(raw) > el.length:
            raise DataError(f"{pinyin}: {len(raw)} bytes, at most {el.length}", field=pinyin)
        return raw
    text = value.decode("ascii") if isinstance(value, bytes) else value
    if el.encoding is Encoding.CN:
        return encode_cn(text, el.length, field=pinyin) if text else b""
    raw = from_hex(text, pinyin, lambda message: DataError(message, field=pinyin))
    if len(raw) > el.length:
        raise DataError(f"{pinyin}: {len(raw)} bytes, at most {el.length}", field=pinyin)
    return raw


class HealthCardDll:
    """The DLL's functions on an open :class:`CardSession` (``with`` block of the caller)."""

    def __init__(self, session: CardSession) -> None:
        self.s = session
        self.last_error = 0

    def _run(self, default: int, fn: Callable[[], T], empty: T) -> tuple[int, T]:
        try:
            value = fn()
        except HealthCardError as exc:
            self.last_error = code_for(exc, default)
            self.s.access.forget()
            return self.last_error, empty
        self.last_error = 0
        return 0, value

    # --- TLV record files (iR_/iW_DDF1EF05Info ... DF02EF06Info) ------------------------------------------------

    def _read_file(self, name: str) -> dict[str, bytes | str]:
        section, codes = DLL_FILES[name]
        by_tag: dict[int, bytes] = {}
        for record in reading.read_records(self.s.access, section.df, section.ef):
            if record and record[0] not in (0x00, 0xFF):
                tag, raw = decode_tlv(record)
                by_tag[tag] = raw
        out: dict[str, bytes | str] = {}
        for code in codes:
            raw = by_tag.get(by_pinyin(code).item, b"")
            out[code] = dll_value(code, raw)
        return out

    def _write_file(self, name: str, values: dict[str, bytes | str]) -> None:
        section, codes = DLL_FILES[name]
        unknown = sorted(set(values) - set(codes))
        if unknown:
            raise DataError(f"iW_{name}Info has no parameter {unknown[0]}", field=unknown[0])
        kind = section.tlv_type
        assert kind is not None
        by_item = {spec.item: spec for spec in kind.FIELDS}
        changes: dict[str, Any] = {}
        clear: list[str] = []
        for code, value in values.items():  # a parameter not given keeps the card's value; "" / b"" erases it
            spec = by_item[by_pinyin(code).item]
            raw = stored_value(code, value)
            if raw:
                changes[spec.attr] = spec.decode(raw)
            else:
                clear.append(spec.attr)
        writing.update_tlv(self.s.access, section, changes, clear)

    def read_info(self, name: str) -> tuple[int, dict[str, bytes | str]]:
        """Generic ``iR_<name>Info`` (``name`` like ``DDF1EF06``)."""
        return self._run(IRV.READ_RECORD, lambda: self._read_file(name), {})

    def write_info(self, name: str, **values: bytes | str) -> int:
        """Generic ``iW_<name>Info``."""
        return self._run(IRV.WRITE_RECORD, lambda: self._write_file(name, dict(values)), None)[0]

    # --- the TLV files under their DLL names ------------------------------------------------------------------

    def iR_DDF1EF05Info(self) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802
        """Read DDF1EF05 (fields in :data:`DLL_FILES`)."""
        return self.read_info("DDF1EF05")

    def iW_DDF1EF05Info(self, **values: bytes | str) -> int:  # noqa: N802
        """Write DDF1EF05 (keyword arguments = field codes)."""
        return self.write_info("DDF1EF05", **values)

    def iR_DDF1EF06Info(self) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802
        """Read DDF1EF06 (fields in :data:`DLL_FILES`)."""
        return self.read_info("DDF1EF06")

    def iW_DDF1EF06Info(self, **values: bytes | str) -> int:  # noqa: N802
        """Write DDF1EF06 (keyword arguments = field codes)."""
        return self.write_info("DDF1EF06", **values)

    def iR_DDF1EF08Info(self) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802
        """Read DDF1EF08 (fields in :data:`DLL_FILES`)."""
        return self.read_info("DDF1EF08")

    def iW_DDF1EF08Info(self, **values: bytes | str) -> int:  # noqa: N802
        """Write DDF1EF08 (keyword arguments = field codes)."""
        return self.write_info("DDF1EF08", **values)

    def iR_DF01EF05Info(self) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802
        """Read DF01EF05 (fields in :data:`DLL_FILES`)."""
        return self.read_info("DF01EF05")

    def iW_DF01EF05Info(self, **values: bytes | str) -> int:  # noqa: N802
        """Write DF01EF05 (keyword arguments = field codes)."""
        return self.write_info("DF01EF05", **values)

    def iR_DF01EF06Info(self) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802
        """Read DF01EF06 (fields in :data:`DLL_FILES`)."""
        return self.read_info("DF01EF06")

    def iW_DF01EF06Info(self, **values: bytes | str) -> int:  # noqa: N802
        """Write DF01EF06 (keyword arguments = field codes)."""
        return self.write_info("DF01EF06", **values)

    def iR_DF01EF07Info(self) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802
        """Read DF01EF07 (fields in :data:`DLL_FILES`)."""
        return self.read_info("DF01EF07")

    def iW_DF01EF07Info(self, **values: bytes | str) -> int:  # noqa: N802
        """Write DF01EF07 (keyword arguments = field codes)."""
        return self.write_info("DF01EF07", **values)

    def iR_DF01EF08Info(self) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802
        """Read DF01EF08 (fields in :data:`DLL_FILES`)."""
        return self.read_info("DF01EF08")

    def iW_DF01EF08Info(self, **values: bytes | str) -> int:  # noqa: N802
        """Write DF01EF08 (keyword arguments = field codes)."""
        return self.write_info("DF01EF08", **values)

    def iR_DF02EF05Info(self) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802
        """Read DF02EF05 (fields in :data:`DLL_FILES`)."""
        return self.read_info("DF02EF05")

    def iW_DF02EF05Info(self, **values: bytes | str) -> int:  # noqa: N802
        """Write DF02EF05 (keyword arguments = field codes)."""
        return self.write_info("DF02EF05", **values)

    def iR_DF02EF06Info(self) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802
        """Read DF02EF06 (fields in :data:`DLL_FILES`)."""
        return self.read_info("DF02EF06")

    def iW_DF02EF06Info(self, **values: bytes | str) -> int:  # noqa: N802
        """Write DF02EF06 (keyword arguments = field codes)."""
        return self.write_info("DF02EF06", **values)

    # --- photo -------------------------------------------------------------------------------------------------

    def iR_DDF1EF07Info(self) -> tuple[int, bytes]:  # noqa: N802
        """ZHAOPIAN: the raw file content (2-byte length ‖ image), as the 2012 interface."""

        def read() -> bytes:
            image = reading.read_photo(self.s.access) or b""
            return len(image).to_bytes(2, "big") + image

        return self._run(IRV.READ_BIN, read, b"")

    def iW_DDF1EF07Info(self, zhaopian: bytes) -> int:  # noqa: N802
        """Write ZHAOPIAN given as 2-byte length ‖ image (WS/T 543.3 photo: ≤ 3072 bytes, else 113)."""
        size = int.from_bytes(zhaopian[:2], "big") if len(zhaopian) >= 2 else -1
        if size < 0 or size + 2 != len(zhaopian) or len(zhaopian) > 3072:
            self.last_error = IRV.PHOTO
            return IRV.PHOTO
        return self._run(IRV.WRITE_BIN, lambda: writing.write_photo(self.s.access, zhaopian[2:]), None)[0]

    def iR_DDF1EF07Info_path(self, path: str) -> int:  # noqa: N802
        """Later interface version: the photo is written to ``path`` (S3/S4)."""
        code, raw = self.iR_DDF1EF07Info()
        if code == 0:
            with open(path, "wb") as f:
                f.write(raw[2:])
        return code

    # --- cyclic files ------------------------------------------------------------------------------------------

    def iR_DF02EF07Info(self, nRecorderNo: int) -> tuple[int, dict[str, bytes]]:  # noqa: N802, N803
        """Allergy record 1..3 (1 = newest): GMWZMC, GMFY as GBK bytes."""
        if not 1 <= nRecorderNo <= 3:
            return IRV.PARAM, {}

        def read() -> dict[str, bytes]:
            items = reading.read_cyclic(self.s.access, Section.ALLERGIES)
            a = items[nRecorderNo - 1] if nRecorderNo <= len(items) else None
            if not isinstance(a, Allergy):
                raise RecordNotFoundError(SW.RECORD_NOT_FOUND, _info(SW.RECORD_NOT_FOUND))
            return {"GMWZMC": a.substance.encode("gbk"), "GMFY": a.reaction.encode("gbk")}

        return self._run(IRV.READ_RECORD, read, {})

    def iW_DF02EF07Info(self, GMWZMC: bytes | str, GMFY: bytes | str) -> int:  # noqa: N802, N803
        """Append an allergy (cyclic)."""

        def write() -> None:
            writing.append_allergy(self.s.access, Allergy(_text(GMWZMC), _text(GMFY)))

        return self._run(IRV.WRITE_RECORD, write, None)[0]

    def iR_DF02EF08Info(self, nRecorderNo: int) -> tuple[int, dict[str, bytes | str]]:  # noqa: N802, N803
        """Immunisation record 1..10 (1 = newest): MYJZMC (GBK bytes), MYJZSJ (cn digits)."""
        if not 1 <= nRecorderNo <= 10:
            return IRV.PARAM, {}

        def read() -> dict[str, bytes | str]:
            items = reading.read_cyclic(self.s.access, Section.IMMUNISATIONS)
            i = items[nRecorderNo - 1] if nRecorderNo <= len(items) else None
            if not isinstance(i, Immunisation):
                raise RecordNotFoundError(SW.RECORD_NOT_FOUND, _info(SW.RECORD_NOT_FOUND))
            return {"MYJZMC": i.name.encode("gbk"), "MYJZSJ": "" if i.date is None else i.date.strftime("%Y%m%d")}

        return self._run(IRV.READ_RECORD, read, {})

    def iW_DF02EF08Info(self, MYJZMC: bytes | str, MYJZSJ: str) -> int:  # noqa: N802, N803
        """Append an immunisation (cyclic)."""

        def write() -> None:
            from healthcard.codecs.encoding import parse_date  # noqa: PLC0415

            when = parse_date(MYJZSJ, field="MYJZSJ") if MYJZSJ else None
            writing.append_immunisation(self.s.access, Immunisation(_text(MYJZMC), when))

        return self._run(IRV.WRITE_RECORD, write, None)[0]

    # --- DF03 index and visit records ---------------------------------------------------------------------------

    def _index(self, inpatient: bool) -> tuple[int, dict[str, str]]:
        prefix = "ZYJLBS" if inpatient else "MZJLBS"

        def read() -> dict[str, str]:
            flags = reading.read_index(self.s.access, inpatient)
            return {f"{prefix}{n}": f"{flag:02X}" for n, flag in enumerate(flags, 1)}

        return self._run(IRV.READ_RECORD, read, {})

    def iR_DF03EF05Info(self) -> tuple[int, dict[str, str]]:  # noqa: N802
        """ZYJLBS1..3 as hex ("00" valid, "FF" free)."""
        return self._index(True)

    def iR_DF03EF06Info(self) -> tuple[int, dict[str, str]]:  # noqa: N802
        """MZJLBS1..5."""
        return self._index(False)

    def iW_DF03EF05Info(self, n: int) -> int:  # noqa: N802
        """Slot n := 00."""
        return self._flag(True, n, valid=True)

    def iErase_DF03EF05Info(self, n: int) -> int:  # noqa: N802
        """Slot n := FF."""
        return self._flag(True, n, valid=False)

    def iW_DF03EF06Info(self, n: int) -> int:  # noqa: N802
        """Slot n := 00."""
        return self._flag(False, n, valid=True)

    def iErase_DF03EF06Info(self, n: int) -> int:  # noqa: N802
        """Slot n := FF."""
        return self._flag(False, n, valid=False)

    def _flag(self, inpatient: bool, n: int, *, valid: bool) -> int:
        if not 1 <= n <= (3 if inpatient else 5):
            return IRV.PARAM
        a = self.s.access
        if valid:  # the record is complete: sign it (SM2 by the SAM), then mark it valid

            def sign_and_mark() -> None:
                writing.sign_visit(a, inpatient, n)
                writing.mark_visit_valid(a, inpatient, n)

            return self._run(IRV.WRITE_INDEX, sign_and_mark, None)[0]
        return self._run(IRV.ERASE_INDEX, lambda: writing.erase_visit(a, inpatient, n), None)[0]

    def _area(self, inpatient: bool, rec: int, pos: int, length: int, style: int, data: bytes | str | None) -> Any:
        layout = (InpatientRecord if inpatient else OutpatientRecord).LAYOUT
        if not 1 <= rec <= (3 if inpatient else 5) or pos < 0 or length <= 0 or pos + length > layout.data_size:
            raise DataError("record number, position or length out of range", field="nPos")
        if style not in (STYLE_NO, STYLE_AN, STYLE_CN, STYLE_B):
            raise DataError("nStyle must be 0x00, 0x01, 0x0F or 0xFF", field="nStyle")
        a = self.s.access
        name = f"{'EE' if inpatient else 'ED'}{rec:02d}"
        ef = a.df("DF03").ef(name)
        if data is None:
            if reading.read_index(a, inpatient)[rec - 1] != INDEX_VALID:
                raise _NotValidError
            a.ensure("DF03", ef.read, "RK_DF03")
            raw = reading.read_binary(a, ef, length, offset=pos)
            if style == STYLE_AN:
                return decode_an(raw, field="szData").encode("gbk")
            if style == STYLE_CN:
                return decode_cn(raw, field="szData")
            if style == STYLE_B:
                return raw.hex().upper()
            return raw
        if style in (STYLE_CN, STYLE_B):
            text = data.decode("ascii") if isinstance(data, bytes) else data
            raw = encode_cn(text, length, field="szData") if style == STYLE_CN else bytes.fromhex(text)
        else:
            raw = data if isinstance(data, bytes) else data.encode("gbk")
        if len(raw) > length:
            raise DataError(f"{len(raw)} bytes do not fit nLen {length}", field="szData")
        raw = raw.ljust(length, b"\xff" if style == STYLE_CN else b"\x00")
        a.ensure("DF03", ef.write, "UK_DF03_1")
        writing._update_binary(a, ef, raw, offset=pos)
        if reading.read_index(a, inpatient)[rec - 1] == INDEX_VALID:  # a signed record changed: sign it again
            writing.sign_visit(a, inpatient, rec)
        return None

    def _area_call(self, inpatient: bool, rec: int, pos: int, length: int, style: int, data: Any, default: int) -> Any:
        try:
            value = self._area(inpatient, rec, pos, length, style, data)
        except _NotValidError:
            self.last_error = IRV.NOT_VALID
            return IRV.NOT_VALID, None
        except HealthCardError as exc:
            self.last_error = code_for(exc, default)
            self.s.access.forget()
            return self.last_error, None
        self.last_error = 0
        return 0, value

    def iR_DF03EEInfo(self, nRecorderNo: int, nPos: int, nLen: int, nStyle: int) -> tuple[int, Any]:  # noqa: N802, N803
        """In-patient record bytes ``nPos..nPos+nLen`` of EE0n in ``nStyle``; 112 if the slot is free."""
        return self._area_call(True, nRecorderNo, nPos, nLen, nStyle, None, IRV.READ_BIN)  # type: ignore[no-any-return]

    def iW_DF03EEInfo(self, nRecorderNo: int, szData: bytes | str, nPos: int, nLen: int, nStyle: int) -> int:  # noqa: N802, N803
        """Write ``szData`` at ``nPos`` of EE0n (``nLen`` bytes, padded)."""
        return int(self._area_call(True, nRecorderNo, nPos, nLen, nStyle, szData, IRV.WRITE_BIN)[0])

    def iR_DF03EDInfo(self, nRecorderNo: int, nPos: int, nLen: int, nStyle: int) -> tuple[int, Any]:  # noqa: N802, N803
        """Out-patient record bytes of ED0n."""
        return self._area_call(False, nRecorderNo, nPos, nLen, nStyle, None, IRV.READ_BIN)  # type: ignore[no-any-return]

    def iW_DF03EDInfo(self, nRecorderNo: int, szData: bytes | str, nPos: int, nLen: int, nStyle: int) -> int:  # noqa: N802, N803
        """Write into ED0n."""
        return int(self._area_call(False, nRecorderNo, nPos, nLen, nStyle, szData, IRV.WRITE_BIN)[0])

    def iReader_GetLastEEIndex(self) -> int:  # noqa: N802
        """The slot for a new in-patient record (WS/T 543.3 DF03 index files): 1..3, or −1."""
        code, slot = self._run(IRV.READ_RECORD, lambda: writing.choose_slot(self.s.access, True), -1)
        return slot if code == 0 else -1

    def iReader_GetLastEDIndex(self) -> int:  # noqa: N802
        """The slot for a new out-patient record: 1..5, or −1."""
        code, slot = self._run(IRV.READ_RECORD, lambda: writing.choose_slot(self.s.access, False), -1)
        return slot if code == 0 else -1

    # --- algorithm services (健康卡应用接口规范 §6.3) -------------------------------------------------------------

    def SM3Digest(self, pbData: bytes) -> tuple[int, bytes]:  # noqa: N802, N803
        """SM3 of ``pbData`` (32 bytes)."""
        return 0, sm3(pbData)

    def VerifyPin(self, szPin: str) -> tuple[int, int]:  # noqa: N802, N803
        """SAM PIN verification: ``(code, retries left)``; code 0 on success, −7 (WS_ERR PIN failed) otherwise."""
        try:
            self.s.verify_sam_pin(szPin)
        except PinError as exc:
            return -7, exc.tries_left or 0
        except HealthCardError as exc:
            return code_for(exc, IRV.PSAM), 0
        return 0, 3

    def iVerifyPIN(self, PIN: str) -> int:  # noqa: N802, N803
        """2012 name of :meth:`VerifyPin`."""
        return self.VerifyPin(PIN)[0]

    def iChange_Pin(self, oldPin: str, newPin: str) -> int:  # noqa: N802, N803
        """SAM PIN change."""
        return self._run(IRV.PSAM, lambda: self.s.change_sam_pin(oldPin, newPin), None)[0]

    def SM2SignHash(self, pbData: bytes) -> tuple[int, bytes]:  # noqa: N802, N803
        """SM2 signature r‖s of a 32-byte hash by the SAM (needs a prior PIN verification)."""
        sam = self.s.sam
        if sam is None or len(pbData) != 32:
            return IRV.PARAM, b""
        return self._run(IRV.PSAM, lambda: sam.sm2_sign_digest(pbData), b"")


class _NotValidError(Exception):
    """The DF03 slot's index flag is FF (DLL error 112)."""


def _text(value: bytes | str) -> str:
    return value.decode("gbk") if isinstance(value, bytes) else value


def _info(sw: int) -> StatusInfo:
    return describe(sw)
