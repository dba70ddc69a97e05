"""DF03 visit-record areas: EE01..EE03 住院信息 (1893 B) and ED01..ED05 门诊信息 (3267 B).

WS/T 543.3 DF03 items (W1 FileMap.h): only item number, offset, length and encoding are public, in the compact
form ``item@offset:length+encoding``. The tables below keep that form verbatim; they are parsed at import and
checked (offsets contiguous from 0, totals 1893 / 3267). Names are not public, so items are ``item_NNN``
except the two trailing signature items (WS/T 543.3 DF03 items [INF]: 64-byte SM2 signature r‖s and the 190-byte
SAM certificate). Fixed areas pad ``an``/``b`` with ``00`` and ``cn`` with ``F`` (WS/T 543.3 record addressing).
The byte layout is a :mod:`construct` ``Struct`` built from the table (:attr:`AreaLayout.struct`, built once);
encoding and decoding use the same table directly — the fields are contiguous, so an area is the empty area with
the given items written at their offsets, and a field is a slice — which makes a record with few or no items
cheap (a free slot is encoded and validated on every read of all sections).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

import construct as cs

from apdu.errors import DataError
from healthcard.codecs.encoding import Encoding, decode_value, encode_value

__all__ = ["ED_LAYOUT", "EE_LAYOUT", "AreaField", "AreaLayout", "parse_layout"]

EE_SPEC = """
64@0:70an 65@70:10an 66@80:4cn 67@84:2cn 68@86:18an 69@104:50an 70@154:1cn 71@155:50an
72@205:7an 73@212:1cn 74@213:1cn 75@214:50an 76@264:7an 77@271:4cn 78@275:20an 79@295:1cn
80@296:20an 81@316:1cn 82@317:1cn 83@318:80an 84@398:5an 85@403:4cn 86@407:50an 87@457:1cn
88@458:1cn 89@459:1cn 90@460:1cn 91@461:50an 92@511:7an 93@518:4cn 94@522:20an 95@542:1cn
96@543:20an 97@563:1cn 98@564:1cn 99@565:80an 100@645:5an 101@650:4cn 102@654:50an 103@704:1cn
104@705:1cn 105@706:1cn 106@707:1cn 107@708:50an 108@758:7an 109@765:4cn 110@769:20an 111@789:1cn
112@790:20an 113@810:1cn 114@811:1cn 115@812:80an 116@892:5an 117@897:4cn 118@901:50an 119@951:1cn
120@952:1cn 121@953:1cn 122@954:2cn 123@956:10an 124@966:1cn 125@967:2cn 126@969:10an 127@979:1cn
128@980:2cn 129@982:10an 130@992:1cn 131@993:2cn 132@995:10an 133@1005:2cn 134@1007:2cn 135@1009:4cn
136@1013:50an 137@1063:3cn 138@1066:1b 139@1067:1b 140@1068:1cn 141@1069:20an 142@1089:1an 143@1090:5cn
144@1095:20an 145@1115:1an 146@1116:5cn 147@1121:20an 148@1141:1an 149@1142:5cn 150@1147:20an 151@1167:1an
152@1168:5cn 153@1173:20an 154@1193:1an 155@1194:5cn 156@1199:20an 157@1219:1an 158@1220:5cn 159@1225:20an
160@1245:1an 161@1246:5cn 162@1251:20an 163@1271:1an 164@1272:5cn 165@1277:20an 166@1297:1an 167@1298:5cn
168@1303:20an 169@1323:1an 170@1324:5cn 171@1329:20an 172@1349:1an 173@1350:5cn 174@1355:20an 175@1375:1an
176@1376:5cn 177@1381:20an 178@1401:1an 179@1402:5cn 180@1407:20an 181@1427:1an 182@1428:5cn 183@1433:20an
184@1453:1an 185@1454:5cn 186@1459:20an 187@1479:1an 188@1480:5cn 189@1485:20an 190@1505:1an 191@1506:5cn
192@1511:20an 193@1531:1an 194@1532:5cn 195@1537:20an 196@1557:1an 197@1558:5cn 198@1563:20an 199@1583:1an
200@1584:5cn 201@1589:5cn 202@1594:5cn 203@1599:5cn 204@1604:5cn 205@1609:5cn 206@1614:5cn 207@1619:5cn
208@1624:5cn 209@1629:5cn 210@1634:5cn 211@1639:64b 212@1703:190b
"""

ED_SPEC = """
213@0:70an 214@70:10an 215@80:7cn 216@87:18an 217@105:50an 218@155:1cn 219@156:50an 220@206:5an
221@211:4cn 222@215:50an 223@265:7an 224@272:7cn 225@279:2cn 226@281:50an 227@331:5an 228@336:4cn
229@340:50an 230@390:7an 231@397:7cn 232@404:2cn 233@406:50an 234@456:5an 235@461:4cn 236@465:50an
237@515:7an 238@522:7cn 239@529:2cn 240@531:50an 241@581:5an 242@586:4cn 243@590:50an 244@640:7an
245@647:7cn 246@654:2cn 247@656:50an 248@706:5an 249@711:4cn 250@715:50an 251@765:7an 252@772:7cn
253@779:2cn 254@781:80an 255@861:1cn 256@862:5cn 257@867:20an 258@887:20an 259@907:80an 260@987:1cn
261@988:5cn 262@993:20an 263@1013:20an 264@1033:80an 265@1113:1cn 266@1114:5cn 267@1119:20an 268@1139:20an
269@1159:80an 270@1239:1cn 271@1240:5cn 272@1245:20an 273@1265:20an 274@1285:80an 275@1365:1cn 276@1366:5cn
277@1371:20an 278@1391:20an 279@1411:80an 280@1491:1cn 281@1492:5cn 282@1497:20an 283@1517:20an 284@1537:80an
285@1617:1cn 286@1618:5cn 287@1623:20an 288@1643:20an 289@1663:80an 290@1743:1cn 291@1744:5cn 292@1749:20an
293@1769:20an 294@1789:80an 295@1869:1cn 296@1870:5cn 297@1875:20an 298@1895:20an 299@1915:80an 300@1995:1cn
301@1996:5cn 302@2001:20an 303@2021:20an 304@2041:50an 305@2091:1cn 306@2092:3cn 307@2095:20an 308@2115:6an
309@2121:3cn 310@2124:6cn 311@2130:2cn 312@2132:50an 313@2182:1cn 314@2183:3cn 315@2186:20an 316@2206:6an
317@2212:3cn 318@2215:6cn 319@2221:2cn 320@2223:50an 321@2273:1cn 322@2274:3cn 323@2277:20an 324@2297:6an
325@2303:3cn 326@2306:6cn 327@2312:2cn 328@2314:50an 329@2364:1cn 330@2365:3cn 331@2368:20an 332@2388:6an
333@2394:3cn 334@2397:6cn 335@2403:2cn 336@2405:50an 337@2455:1cn 338@2456:3cn 339@2459:20an 340@2479:6an
341@2485:3cn 342@2488:6cn 343@2494:2cn 344@2496:80an 345@2576:5an 346@2581:4cn 347@2585:80an 348@2665:5an
349@2670:4cn 350@2674:80an 351@2754:5an 352@2759:4cn 353@2763:20an 354@2783:1cn 355@2784:4cn 356@2788:20an
357@2808:1cn 358@2809:4cn 359@2813:20an 360@2833:1cn 361@2834:4cn 362@2838:20an 363@2858:1cn 364@2859:4cn
365@2863:20an 366@2883:1cn 367@2884:4cn 368@2888:20an 369@2908:1cn 370@2909:4cn 371@2913:20an 372@2933:1cn
373@2934:4cn 374@2938:20an 375@2958:1cn 376@2959:4cn 377@2963:20an 378@2983:1cn 379@2984:4cn 380@2988:20an
381@3008:1cn 382@3009:4cn 383@3013:64b 384@3077:190b
"""

_TOKEN = re.compile(r"^(\d+)@(\d+):(\d+)(an|cn|b)$")
_SIGNATURE_NAMES = {211: "signature", 212: "sam_certificate", 383: "signature", 384: "sam_certificate"}


@dataclass(frozen=True, slots=True)
class AreaField:
    """One item of a DF03 area."""

    item: int
    offset: int
    length: int
    encoding: Encoding

    @property
    def name(self) -> str:
        """``item_NNN``, or the inferred name of the signature items."""
        return _SIGNATURE_NAMES.get(self.item, f"item_{self.item:03d}")

    @property
    def is_signature(self) -> bool:
        """True for the two trailing items written only by the signing operation (WS/T 543.3 DF03 index files)."""
        return self.item in _SIGNATURE_NAMES


@dataclass(frozen=True)
class AreaLayout:
    """A parsed, verified DF03 area layout."""

    name: str
    fields: tuple[AreaField, ...]

    @property
    def size(self) -> int:
        """Total bytes of the file (1893 EE, 3267 ED)."""
        last = self.fields[-1]
        return last.offset + last.length

    @property
    def data_size(self) -> int:
        """The HIS data area without the signature items (1639 EE, 3013 ED)."""
        return sum(f.length for f in self.fields if not f.is_signature)

    @cached_property
    def items(self) -> Mapping[int, AreaField]:
        """Fields by item number."""
        return MappingProxyType({f.item: f for f in self.fields})

    @cached_property
    def struct(self) -> cs.Construct:
        """A construct ``Struct`` of raw byte fields named ``item_NNN`` (the table's byte layout)."""
        return cs.Struct(*(f"item_{f.item:03d}" / cs.Bytes(f.length) for f in self.fields))

    @cached_property
    def blank(self) -> bytes:
        """The empty area: every field padded (``00`` for an/b, ``F`` for cn)."""
        return b"".join(_pad(f) for f in self.fields)

    def field(self, item: int) -> AreaField:
        """The field of ``item``; :class:`DataError` if it is not in this area."""
        try:
            return self.items[item]
        except KeyError:
            raise DataError(f"item {item} is not part of the {self.name} area", field=f"item_{item}") from None

    def encode(self, values: Mapping[int, str | bytes]) -> bytes:
        """Build the whole area from item values (an → text, cn → digits, b → bytes); absent items stay empty.

        Every value is checked (:class:`DataError` naming the item) before anything is built.
        """
        if not values:
            return self.blank
        out = bytearray(self.blank)
        for item, value in values.items():
            f = self.field(item)
            if value is None:  # absent, as in a JSON null
                continue
            out[f.offset : f.offset + f.length] = encode_value(
                value, f.encoding, f.length, field=f"item_{f.item:03d}", pad=True
            )
        return bytes(out)

    def decode(self, data: bytes) -> dict[int, str | bytes]:
        """Parse an area; items that are empty (``00``/``F`` padding only) are left out."""
        if len(data) != self.size:
            raise DataError(f"{self.name}: {len(data)} bytes, the area is {self.size}", field=self.name)
        blank = self.blank
        out: dict[int, str | bytes] = {}
        for f in self.fields:
            start, end = f.offset, f.offset + f.length
            raw = data[start:end]
            if raw == blank[start:end]:  # padding only: decodes to "" or zero bytes, left out
                continue
            if f.encoding is Encoding.B:
                if any(raw):
                    out[f.item] = bytes(raw)
                continue
            value = decode_value(bytes(raw), f.encoding, field=f.name)
            if value:
                out[f.item] = value
        return out


def _pad(f: AreaField) -> bytes:
    return (b"\xff" if f.encoding is Encoding.CN else b"\x00") * f.length


def parse_layout(name: str, spec: str, *, expected_size: int) -> AreaLayout:
    """Parse a compact ``item@offset:length+enc`` table and verify contiguity and the total size."""
    fields: list[AreaField] = []
    offset = 0
    for token in spec.split():
        m = _TOKEN.match(token)
        if m is None:
            raise ValueError(f"{name}: bad layout token {token!r}")
        item, off, length, enc = int(m[1]), int(m[2]), int(m[3]), Encoding(m[4])
        if off != offset:
            raise ValueError(f"{name}: item {item} at offset {off}, expected {offset} (not contiguous)")
        if fields and item != fields[-1].item + 1:
            raise ValueError(f"{name}: item {item} does not follow item {fields[-1].item}")
        fields.append(AreaField(item, off, length, enc))
        offset += length
    if offset != expected_size:
        raise ValueError(f"{name}: total {offset} bytes, expected {expected_size}")
    return AreaLayout(name, tuple(fields))


EE_LAYOUT = parse_layout("EE", EE_SPEC, expected_size=1893)
ED_LAYOUT = parse_layout("ED", ED_SPEC, expected_size=3267)
