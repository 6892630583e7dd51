"""A transparency-log ledger (RFC 6962/9162 Merkle tree, C2SP signed-note checkpoints and tlog-proof receipts) in the
harness store: records put 上链 cannot be altered, deleted or reordered without a third party noticing offline."""

from harness.ledger.log import DEFAULT_ORIGIN, SCHEMA, Audit, BatchAppender, Ledger, Sequenced, audit
from harness.ledger.note import Checkpoint, NoteError, Signer, Verifier
from harness.ledger.receipt import ReceiptError, Refused, verify_receipt

__all__ = [
    "DEFAULT_ORIGIN",
    "SCHEMA",
    "Audit",
    "BatchAppender",
    "Checkpoint",
    "Ledger",
    "NoteError",
    "ReceiptError",
    "Refused",
    "Sequenced",
    "Signer",
    "Verifier",
    "audit",
    "verify_receipt",
]
