"""The contract's files, in the order they are imported (each refers only to earlier ones)."""

from __future__ import annotations

from collections.abc import Sequence

from service.ingest.borrowers import BORROWERS, CONTACTS
from service.ingest.contract import FileSpec
from service.ingest.history import ATTEMPTS
from service.ingest.loans import INSTALLMENTS, LOANS, PAYMENTS
from service.ingest.restrictions import HOLDS, OPT_OUTS

FILES: Sequence[FileSpec] = (
    BORROWERS,
    CONTACTS,
    LOANS,
    INSTALLMENTS,
    PAYMENTS,
    ATTEMPTS,
    HOLDS,
    OPT_OUTS,
)
FILES_BY_NAME = {spec.file: spec for spec in FILES}
