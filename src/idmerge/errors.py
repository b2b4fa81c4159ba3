"""Every error idmerge raises on purpose, each carrying the HTTP status it answers with.

::

    IdmergeError (500)
    ├── BadRequest (400)             the request or command is wrong; the message says where
    │   └── SplitRefused (400)       the named event or id cannot be split
    ├── PayloadTooLarge (413)        a body, batch or message past the protocol's limits
    ├── Unauthorized (401)           a token or secret matches no project
    ├── NotFound (404)
    │   └── ProjectNotFound (404)
    ├── Conflict (409)
    │   ├── ProjectExists (409)
    │   └── ModeFrozen (409)         the project holds data; its identity mode is fixed
    └── StoreUnavailable (503)
        └── StoreLocked (503)        another process holds the database

A refused identity event is not an error: it is an outcome, recorded as data.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (the database and the expression parser
    go on to point at the problem), or its type's name when it has none."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


class IdmergeError(Exception):
    """Base of idmerge's errors; ``status`` is the HTTP status it maps to."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(IdmergeError):
    status = 400


class SplitRefused(BadRequest):
    pass


class PayloadTooLarge(IdmergeError):
    status = 413


class Unauthorized(IdmergeError):
    status = 401


class NotFound(IdmergeError):
    status = 404


class ProjectNotFound(NotFound):
    pass


class Conflict(IdmergeError):
    status = 409


class ProjectExists(Conflict):
    pass


class ModeFrozen(Conflict):
    pass


class StoreUnavailable(IdmergeError):
    status = 503


class StoreLocked(StoreUnavailable):
    pass
