"""Health-card data elements: an/cn/b encodings, code tables, TLV and fixed record layouts, validation.

Sources: WS/T 543.3 file tree, data items (W1 FileMap.h, tag table), JR/T 0025.1 transaction detail file; element list
in docs/data-elements.md.
"""

from healthcard.codecs.codetables import TABLES, CodeTable, table
from healthcard.codecs.df03 import ED_LAYOUT, EE_LAYOUT, AreaField, AreaLayout
from healthcard.codecs.elements import ELEMENTS, DataElement, by_pinyin, element
from healthcard.codecs.encoding import Encoding
from healthcard.codecs.fixed import Allergy, Immunisation, InpatientRecord, OutpatientRecord, VisitRecord
from healthcard.codecs.idnumber import check_character, validate_id_number
from healthcard.codecs.purse_records import PurseApplicationData, PurseDetail
from healthcard.codecs.tlv_records import (
    Addresses,
    ClinicalFlags,
    Contacts,
    Documents,
    Holder,
    IssuerData,
    OccupationMarriage,
    SpecialInfo,
    TlvFile,
    Validity,
)

__all__ = [
    "ED_LAYOUT",
    "EE_LAYOUT",
    "ELEMENTS",
    "TABLES",
    "Addresses",
    "Allergy",
    "AreaField",
    "AreaLayout",
    "ClinicalFlags",
    "CodeTable",
    "Contacts",
    "DataElement",
    "Documents",
    "Encoding",
    "Holder",
    "Immunisation",
    "InpatientRecord",
    "IssuerData",
    "OccupationMarriage",
    "OutpatientRecord",
    "PurseApplicationData",
    "PurseDetail",
    "SpecialInfo",
    "TlvFile",
    "Validity",
    "VisitRecord",
    "by_pinyin",
    "check_character",
    "element",
    "table",
    "validate_id_number",
]
