"""Code tables (值域代码) of the health-card data elements, kept as data.

Sources (WS/T 543.1-.6 normative references, WS/T 543.3 data items notes): GB/T 2261.1 gender, GB/T 2261.2 marital
status, GB 3304 ethnicity, GB/T 4658 education, GB/T 4761 family relation, WS 364 value sets (ABO CV04.50.005,
Rh CV04.50.020, payment method, document type, address category). Tables marked ``uncertain`` are the widely
used national codes where the reference only hints at the value set (sources.md O8);
docs/data-elements.md lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from apdu.errors import DataError

__all__ = ["TABLES", "CodeTable", "table"]


@dataclass(frozen=True)
class CodeTable:
    """One value set: code → meaning (中文)."""

    name: str
    source: str
    entries: Mapping[str, str]
    uncertain: bool = False
    notes: str = field(default="", compare=False)

    def meaning(self, code: str) -> str:
        """The meaning of ``code``; raises :class:`DataError` for codes outside the table."""
        try:
            return self.entries[code]
        except KeyError:
            raise DataError(f"{self.name}: code {code!r} is not in {self.source}", field=self.name) from None

    def validate(self, code: str, *, field: str) -> str:
        """Return ``code`` if it is in the table, else raise :class:`DataError` naming ``field``."""
        if code not in self.entries:
            allowed = ", ".join(sorted(self.entries))
            raise DataError(f"{field}: code {code!r} not in {self.source} (allowed: {allowed})", field=field)
        return code


def _parse(spec: str) -> Mapping[str, str]:
    pairs = (item.split("=", 1) for item in spec.split("|") if item.strip())
    return MappingProxyType({k.strip(): v.strip() for k, v in pairs})


_ETHNICITY = (
    "01=汉族|02=蒙古族|03=回族|04=藏族|05=维吾尔族|06=苗族|07=彝族|08=壮族|09=布依族|10=朝鲜族|"
    "11=满族|12=侗族|13=瑶族|14=白族|15=土家族|16=哈尼族|17=哈萨克族|18=傣族|19=黎族|20=傈僳族|"
    "21=佤族|22=畲族|23=高山族|24=拉祜族|25=水族|26=东乡族|27=纳西族|28=景颇族|29=柯尔克孜族|30=土族|"
    "31=达斡尔族|32=仫佬族|33=羌族|34=布朗族|35=撒拉族|36=毛南族|37=仡佬族|38=锡伯族|39=阿昌族|40=普米族|"
    "41=塔吉克族|42=怒族|43=乌孜别克族|44=俄罗斯族|45=鄂温克族|46=德昂族|47=保安族|48=裕固族|49=京族|"
    "50=塔塔尔族|51=独龙族|52=鄂伦春族|53=赫哲族|54=门巴族|55=珞巴族|56=基诺族|97=其他|98=外国血统中国籍人士"
)

TABLES: Mapping[str, CodeTable] = MappingProxyType(
    {
        t.name: t
        for t in (
            CodeTable("gender", "GB/T 2261.1-2003", _parse("0=未知的性别|1=男性|2=女性|9=未说明的性别")),
            CodeTable("ethnicity", "GB 3304-1991", _parse(_ETHNICITY)),
            CodeTable("abo", "WS 364 CV04.50.005", _parse("1=A型|2=B型|3=O型|4=AB型|5=不详")),
            CodeTable(
                "rh",
                "WS 364 CV04.50.020",
                _parse("1=阴性|2=阳性|3=不详|4=未查"),
                uncertain=True,
                notes="only 2 = 阳性 is confirmed (C1); 1/3/4 from the usual WS 364 set",
            ),
            CodeTable(
                "marital",
                "GB/T 2261.2-2003",
                _parse("10=未婚|20=已婚|21=初婚|22=再婚|23=复婚|30=丧偶|40=离婚|90=未说明的婚姻状况"),
            ),
            CodeTable(
                "education",
                "GB/T 4658-2006 (main codes)",
                _parse(
                    "10=研究生教育|20=大学本科教育|30=大学专科教育|40=中等职业教育|60=普通高级中学教育|"
                    "70=初级中学教育|80=小学教育|90=其他"
                ),
            ),
            CodeTable(
                "address_category",
                "WS 364 地址类别代码 (CV02.01.009)",
                _parse(
                    "01=户籍住址|02=工作场所地址|03=家庭常住住址|04=通讯地址|05=暂住地址|06=出生地址|"
                    "07=产后修养地址|08=变迁地址|09=现住址|99=其他地址"
                ),
                uncertain=True,
            ),
            CodeTable(
                "relation",
                "GB/T 4761-2008 (main codes)",
                _parse(
                    "01=本人|02=户主|10=配偶|20=子|30=女|40=孙子、孙女或外孙子、外孙女|50=父母|"
                    "60=祖父母或外祖父母|70=兄、弟、姐、妹|80=其他亲属|99=非亲属"
                ),
                uncertain=True,
            ),
            CodeTable(
                "document_type",
                "WS 364 身份证件类别代码 (CV02.01.101)",
                _parse(
                    "01=居民身份证|02=居民户口簿|03=护照|04=军官证|05=驾驶证|06=港澳居民来往内地通行证|"
                    "07=台湾居民来往内地通行证|99=其他法定有效证件"
                ),
                uncertain=True,
            ),
            CodeTable(
                "payment_method",
                "WS 364 医疗付费方式代码 (CV07.10.005)",
                _parse(
                    "01=城镇职工基本医疗保险|02=城镇居民基本医疗保险|03=新型农村合作医疗|04=贫困救助|"
                    "05=商业医疗保险|06=全公费|07=全自费|08=其他社会保险|99=其他"
                ),
                uncertain=True,
            ),
            CodeTable(
                "flag",
                "project choice (WS/T 543.3 DF02 items: flag values not stated)",
                _parse("0=无|1=有"),
                uncertain=True,
            ),
        )
    }
)


def table(name: str) -> CodeTable:
    """Look up a code table by name."""
    return TABLES[name]
