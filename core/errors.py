"""Typed errors. Each carries a message key of the catalogue and its parameters; the UI shows
`translate(lang, err.key, **err.params)` so the user reads it in their language."""
from __future__ import annotations


class CRMError(Exception):
    default_key = "error.generic"

    def __init__(self, key: str | None = None, **params):
        self.key = key or self.default_key
        self.params = params
        super().__init__(f"{self.key} {params}" if params else self.key)


class ValidationError(CRMError):
    default_key = "error.invalid"


class PermissionDenied(CRMError):
    default_key = "error.permission"


class DuplicateError(CRMError):
    default_key = "error.duplicate"
    matches: tuple = ()   # core.dedup.Match list the form shows (the duplicate guard sets it)
    warn = False          # True: a warning the user may override ("save anyway", confirmed=True)


class NotFound(CRMError):
    default_key = "error.not_found"


class Conflict(CRMError):
    default_key = "error.conflict"


class AuthError(CRMError):
    default_key = "auth.failed"


class DatabaseBusy(CRMError):
    default_key = "error.db_busy"
