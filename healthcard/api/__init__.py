"""The high-level card API HIS vendors import (docs/api.md; docs/architecture.md "High-level card API").

```python
from healthcard.api import open_virtual_session, Section

with open_virtual_session() as s:
    data = s.read({Section.HOLDER})
    print(data.holder.name, s.balance())
```
"""

from healthcard.api.issuing import IssueResult, issue_card
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
from healthcard.api.session import (
    DEMO_PURSE_PIN,
    DEMO_SAM_PIN,
    CardSession,
    SamLoadAuthoriser,
    SamUnloadAuthoriser,
    open_pcsc_session,
    open_virtual_session,
)
from healthcard.api.signatures import TrustList, check_reported, stored_signature
from healthcard.api.unload import (
    DemoUnloadAuthoriser,
    NoUnloadKeyError,
    UnloadAnswerError,
    UnloadAuthorisation,
    UnloadAuthoriser,
    UnloadJournal,
)
from healthcard.codecs.fixed import InpatientRecord, OutpatientRecord
from healthcard.codecs.signature import RecordSignature, SignatureStatus
from healthcard.cos.card import VirtualCard
from healthcard.issuance import IssuerConfig, card_no_for, new_chip_number
from healthcard.person import Person
from healthcard.store import LoggedCardState, open_logged_card, open_sam
from healthcard.virtual import DEMO_PERSONS, blank_card, demo_issuer, load_demo_person, new_demo_card

__all__ = [
    "DEMO_PERSONS",
    "DEMO_PURSE_PIN",
    "DEMO_SAM_PIN",
    "HEALTH_SECTIONS",
    "CardData",
    "CardSession",
    "CardUpdate",
    "DebitJournal",
    "DemoLoadAuthoriser",
    "DemoUnloadAuthoriser",
    "InpatientRecord",
    "IssueResult",
    "IssuerConfig",
    "LoadAuthoriser",
    "LoadJournal",
    "LoadRequest",
    "LoadResult",
    "LoggedCardState",
    "NoUnloadKeyError",
    "OutpatientRecord",
    "Person",
    "PreparedDebit",
    "PreparedLoad",
    "PurchaseResult",
    "PurseInfo",
    "PurseRecord",
    "RecordSignature",
    "SamClient",
    "SamLoadAuthoriser",
    "SamUnloadAuthoriser",
    "Section",
    "SignatureStatus",
    "TrustList",
    "UnloadAnswerError",
    "UnloadAuthorisation",
    "UnloadAuthoriser",
    "UnloadJournal",
    "VirtualCard",
    "blank_card",
    "card_no_for",
    "check_reported",
    "demo_issuer",
    "issue_card",
    "load_demo_person",
    "new_chip_number",
    "new_demo_card",
    "open_logged_card",
    "open_pcsc_session",
    "open_sam",
    "open_virtual_session",
    "stored_signature",
]
