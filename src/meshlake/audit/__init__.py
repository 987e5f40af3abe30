"""The append-only, hash-chained audit log."""

from meshlake.audit.log import AuditEvent, AuditLog, VerifyReport

__all__ = ["AuditEvent", "AuditLog", "VerifyReport"]
