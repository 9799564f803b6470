"""The runtime's typed errors: every failure a deployed application meets is one of these.

All derive from `RuntimeApiError`. Argument errors are also `ValueError`s (a dtype
mismatch also a `TypeError`), so generic handlers keep working. Each keeps only its
message as argument, so it pickles: remote calls raise the very same class.
"""

from __future__ import annotations


class RuntimeApiError(Exception):
    """Base of every error the runtime raises."""


class InvalidArgumentError(RuntimeApiError, ValueError):
    """An argument the runtime cannot accept (wrong count, unknown name, bad value)."""


class ShapeError(InvalidArgumentError):
    """A tensor whose shape differs from the model's."""


class TypeMismatchError(InvalidArgumentError, TypeError):
    """A tensor whose dtype differs from the model's (the runtime never casts)."""


class ModelError(RuntimeApiError):
    """A model the runtime cannot run (unsupported target, executable that does not start)."""


class ContainerError(RuntimeApiError):
    """A model folder that is missing, incomplete or corrupt."""


class DeviceError(RuntimeApiError):
    """A device that does not exist here, or cannot run the model."""


class InferError(RuntimeApiError):
    """An inference that failed while running; the TVM error is its `__cause__`."""


class RequestError(RuntimeApiError):
    """An operation the request's state does not allow."""


class RemoteError(RuntimeApiError):
    """A remote model that cannot be reached, or whose actor died."""
