"""The data-element dictionary: items 1-63 (WS/T 543.3 DDF1/EF05, DDF1/EF06, DDF1/EF08, DF01 items, DF02 items, DF03
items, W1 FileMap.h + tag table).

Kept as a compact table (one line per element) and parsed at import; the item number is also the TLV tag
(WS/T 543.3 record addressing). Fixed-record fields (58-61) and the DF03 index flags (62, 63) have no TLV tag of their
own but keep their item numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from healthcard.codecs.encoding import Encoding

__all__ = ["ELEMENTS", "DataElement", "by_pinyin", "element"]


@dataclass(frozen=True, slots=True)
class DataElement:
    """One data element: item number (= TLV tag), names, length in bytes, encoding, file, value set."""

    item: int
    pinyin: str
    chinese: str
    length: int
    encoding: Encoding
    file: str
    table: str | None = None
    tlv: bool = True

    @property
    def tag(self) -> int:
        """The TLV tag (equals the item number, WS/T 543.3 record addressing)."""
        return self.item


# item|pinyin|中文|len|enc|file|code table ('-' none)|tlv (T/F)
_TABLE = """
1|KLB|卡的类别|1|an|DDF1/EF05|-|T
2|GFBB|规范版本|4|an|DDF1/EF05|-|T
3|FKJGMC|发卡机构名称|30|an|DDF1/EF05|-|T
4|FKJGDM|发卡机构代码|11|cn|DDF1/EF05|-|T
5|FKJGZS|发卡机构证书|180|b|DDF1/EF05|-|T
6|FKSJ|发卡时间|4|cn|DDF1/EF05|-|T
7|KYXQ|卡有效期|4|cn|DDF1/EF08|-|T
8|KH|卡号|18|an|DDF1/EF05|-|T
9|AQM|安全码|3|an|DDF1/EF05|-|T
10|XPXLH|芯片序列号|10|an|DDF1/EF05|-|T
11|XM|姓名|30|an|DDF1/EF06|-|T
12|XB|性别代码|1|b|DDF1/EF06|gender|T
13|MZ|民族代码|1|cn|DDF1/EF06|ethnicity|T
14|CSRQ|出生日期|4|cn|DDF1/EF06|-|T
15|SFZH|居民身份证号|18|an|DDF1/EF06|-|T
16|BRDH1|本人电话1|20|an|DDF1/EF08|-|T
17|BRDH2|本人电话2|20|an|DDF1/EF08|-|T
18|YLFYZFFS1|医疗费用支付方式1|1|cn|DDF1/EF08|payment_method|T
19|YLFYZFFS2|医疗费用支付方式2|1|cn|DDF1/EF08|payment_method|T
20|YLFYZFFS3|医疗费用支付方式3|1|cn|DDF1/EF08|payment_method|T
21|DZLB1|地址类别1|1|cn|DF01/EF05|address_category|T
22|DZ1|地址1|100|an|DF01/EF05|-|T
23|DZLB2|地址类别2|1|cn|DF01/EF05|address_category|T
24|DZ2|地址2|100|an|DF01/EF05|-|T
25|LXRXM1|联系人姓名1|30|an|DF01/EF06|-|T
26|LXRGX1|联系人关系代码1|1|cn|DF01/EF06|relation|T
27|LXRDH1|联系人电话1|20|an|DF01/EF06|-|T
28|LXRXM2|联系人姓名2|30|an|DF01/EF06|-|T
29|LXRGX2|联系人关系代码2|1|cn|DF01/EF06|relation|T
30|LXRDH2|联系人电话2|20|an|DF01/EF06|-|T
31|LXRXM3|联系人姓名3|30|an|DF01/EF06|-|T
32|LXRGX3|联系人关系代码3|1|cn|DF01/EF06|relation|T
33|LXRDH3|联系人电话3|20|an|DF01/EF06|-|T
34|WHCD|文化程度代码|1|cn|DF01/EF07|education|T
35|HYZK|婚姻状况代码|1|cn|DF01/EF07|marital|T
36|ZY|职业代码|3|an|DF01/EF07|-|T
37|ZJLB|证件类别代码|1|cn|DF01/EF08|document_type|T
38|ZJHM|证件号码|18|an|DF01/EF08|-|T
39|JKDAH|健康档案编号|17|an|DF01/EF08|-|T
40|XNHZH|新农合证号|18|an|DF01/EF08|-|T
41|ABOXX|ABO血型代码|1|b|DF02/EF05|abo|T
42|RHXX|Rh血型代码|1|b|DF02/EF05|rh|T
43|XCBZ|哮喘标志|1|b|DF02/EF05|flag|T
44|XZBBZ|心脏病标志|1|b|DF02/EF05|flag|T
45|XNXGBBZ|心脑血管病标志|1|b|DF02/EF05|flag|T
46|DXBBZ|癫痫病标志|1|b|DF02/EF05|flag|T
47|NXWLBZ|凝血紊乱标志|1|b|DF02/EF05|flag|T
48|TNBBZ|糖尿病标志|1|b|DF02/EF05|flag|T
49|QGYBZ|青光眼标志|1|b|DF02/EF05|flag|T
50|TXBZ|透析标志|1|b|DF02/EF05|flag|T
51|QGYZBZ|器官移植标志|1|b|DF02/EF05|flag|T
52|QGQSBZ|器官缺失标志|1|b|DF02/EF05|flag|T
53|KZXYZBZ|可装卸义肢标志|1|b|DF02/EF05|flag|T
54|XZQBQBZ|心脏起搏器标志|1|b|DF02/EF05|flag|T
55|QTYXJSMC|其他医学警示名称|40|an|DF02/EF05|-|T
56|JSBBZ|精神病标志|1|b|DF02/EF06|flag|T
57|YYCSDM|应用城市代码|3|cn|DDF1/EF05|-|T
58|GMWZMC|过敏物质名称|20|an|DF02/EF07|-|F
59|GMFY|过敏反应|100|an|DF02/EF07|-|F
60|MYJZMC|免疫接种名称|20|an|DF02/EF08|-|F
61|MYJZSJ|免疫接种时间|4|cn|DF02/EF08|-|F
62|ZYJLBS|住院记录有效标志|1|b|DF03/EF05|-|F
63|MZJLBS|门诊记录有效标志|1|b|DF03/EF06|-|F
"""


def _parse(text: str) -> Mapping[int, DataElement]:
    out: dict[int, DataElement] = {}
    for line in text.strip().splitlines():
        item, pinyin, chinese, length, enc, file, tab, tlv = line.split("|")
        el = DataElement(
            int(item), pinyin, chinese, int(length), Encoding(enc), file, None if tab == "-" else tab, tlv == "T"
        )
        out[el.item] = el
    return MappingProxyType(out)


ELEMENTS: Mapping[int, DataElement] = _parse(_TABLE)
_BY_PINYIN = {e.pinyin: e for e in ELEMENTS.values()}


def element(item: int) -> DataElement:
    """The element with this item number (1..63)."""
    return ELEMENTS[item]


def by_pinyin(code: str) -> DataElement:
    """The element with this pinyin code (``"XM"``, ``"SFZH"`` ...)."""
    return _BY_PINYIN[code]
