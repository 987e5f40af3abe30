"""The append-only, hash-chained audit log and its signed checkpoints."""

from meshlake.audit.anchor import AuditAnchor, Checkpoint
from meshlake.audit.log import AuditEvent, AuditLog, VerifyReport

__all__ = ["AuditAnchor", "AuditEvent", "AuditLog", "Checkpoint", "VerifyReport"]
