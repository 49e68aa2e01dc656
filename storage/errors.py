"""Errors the storage layer raises on purpose."""
from __future__ import annotations

from rules.errors import ScanPassError


class StorageError(ScanPassError):
    """Base of the storage layer's errors."""


class ConfigurationError(StorageError):
    """A setting in the environment or `.env` cannot be read."""


class UploadTooLarge(StorageError):
    """An upload exceeded MAX_UPLOAD_MB; nothing of it was kept."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"upload larger than {limit_bytes // (1024 * 1024)} MB")
        self.limit_bytes = limit_bytes


class CaseFull(StorageError):
    """A file would take the case past MAX_CASE_MB or MAX_CASE_FILES; nothing of it was kept.

    `what` is "bytes" (then `limit` is in MB) or "files" (then `limit` is a number of files)."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"the case is full: at most {limit} {'MB' if what == 'bytes' else 'files'}")
        self.what, self.limit = what, limit

    @property
    def params(self) -> dict:
        return {"what": self.what, "limit": self.limit}


class ConsentRequired(StorageError):
    """A file was offered for a case whose patient has not agreed to storage yet."""


class NestedStep(StorageError):
    """A step, delete or purge was started inside another step of the same thread (it would deadlock)."""
