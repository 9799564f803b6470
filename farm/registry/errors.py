"""The registry's errors: each carries a message a user can act on, and the API maps each class to an HTTP status."""

from __future__ import annotations


class RegistryError(Exception):
    """Something the registry refused or could not find; `message` says what, in words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(RegistryError):
    """No record (or artifact) with the id or key asked for."""


class Conflict(RegistryError):
    """The change clashes with what is stored: a taken name, a state that does not allow it, a record still in use."""


class InvalidInput(RegistryError):
    """A value that can never be accepted: a bad name, a file that is not ONNX, a malformed key."""


class PermissionDenied(RegistryError):
    """A token that is unknown or revoked, a deactivated user, or a role that does not allow the action."""


class CorruptArtifact(RegistryError):
    """A stored artifact whose bytes no longer match its key: the server's storage is at fault, not the request."""
