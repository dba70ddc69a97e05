"""The high-level card API HIS vendors import (docs/api.md; docs/architecture.md "High-level card API").

```python
from healthcard.api import open_virtual_session, Section

with open_virtual_session() as s:
    data = s.read({Section.HOLDER})
    print(data.holder.name, s.balance())
```
"""

from healthcard.api.purse import (
    DebitJournal,
    DemoLoadAuthoriser,
    LoadAuthoriser,
    LoadJournal,
    LoadRequest,
    LoadResult,
    PreparedDebit,
    PreparedLoad,
    PurchaseResult,
    PurseRecord,
)
from healthcard.api.sections import HEALTH_SECTIONS, CardData, CardUpdate, PurseInfo, Section
from healthcard.api.session import CardSession, SamLoadAuthoriser, open_pcsc_session, open_virtual_session
from healthcard.api.signatures import TrustList
from healthcard.codecs.signature import RecordSignature, SignatureStatus

__all__ = [
    "HEALTH_SECTIONS",
    "CardData",
    "CardSession",
    "CardUpdate",
    "DebitJournal",
    "DemoLoadAuthoriser",
    "LoadAuthoriser",
    "LoadJournal",
    "LoadRequest",
    "LoadResult",
    "PreparedDebit",
    "PreparedLoad",
    "PurchaseResult",
    "PurseInfo",
    "PurseRecord",
    "RecordSignature",
    "SamClient",
    "SamLoadAuthoriser",
    "Section",
    "SignatureStatus",
    "TrustList",
    "open_pcsc_session",
    "open_virtual_session",
]
