"""The exceptions of the hpsweep client: one class per kind of failure, all under Error.

Each carries the coordinator's own message intact (a bad sweep file's "file:line: key 'units':
..." text), `code` (the gRPC status name, e.g. "INVALID_ARGUMENT") and `details` (the message
alone). They also derive from the built-in exception a Python user would catch for the same
failure: InvalidArgument is a ValueError, NotFound a LookupError, Unavailable a ConnectionError.
No message ever contains a token.
"""


class Error(Exception):
    """Something the coordinator refused, or that kept the call from reaching it."""

    code = "UNKNOWN"

    def __init__(self, message, details=None, code=None):
        super().__init__(message)
        self.details = message if details is None else details
        if code is not None:
            self.code = code


class InvalidArgument(Error, ValueError):
    """A bad sweep file (file:line:key in the message), a bad argument or setting."""

    code = "INVALID_ARGUMENT"


class NotFound(Error, LookupError):
    """An unknown sweep or trial, or a file that is not there."""

    code = "NOT_FOUND"


class Unauthenticated(Error, PermissionError):
    """No token, or one the coordinator does not know."""

    code = "UNAUTHENTICATED"


class PermissionDenied(Error, PermissionError):
    """A token whose role may not make this call (a reader cannot submit)."""

    code = "PERMISSION_DENIED"


class Unavailable(Error, ConnectionError):
    """No coordinator answered at the address (or TLS did not agree)."""

    code = "UNAVAILABLE"


class DeadlineExceeded(Error, TimeoutError):
    """The call took longer than the client's timeout."""

    code = "DEADLINE_EXCEEDED"


class ResourceExhausted(Error):
    """The coordinator is at a limit (too many watches, a message over its size limit)."""

    code = "RESOURCE_EXHAUSTED"


class FailedPrecondition(Error):
    """The call does not fit the state of the sweep or trial."""

    code = "FAILED_PRECONDITION"


_BY_CODE = {cls.code: cls for cls in (InvalidArgument, NotFound, Unauthenticated,
                                       PermissionDenied, Unavailable, DeadlineExceeded,
                                       ResourceExhausted, FailedPrecondition)}


def error_class(code_name):
    """The Error subclass of a gRPC status name ("NOT_FOUND"), Error for the others."""
    return _BY_CODE.get(code_name, Error)
