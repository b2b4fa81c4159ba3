"""Reading credentials off a request: Mixpanel's and Segment's ways of sending them."""

from __future__ import annotations

import base64
import binascii


def basic_credentials(authorization: str | None) -> tuple[str, str | None] | None:
    """``(user, password)`` of an HTTP Basic header; password None when the decoded
    value has no colon (some clients send a bare secret). None when absent or not
    Basic, or not decodable. Plain ``user:secret`` (not base64) is read as it is."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        # Mixpanel also takes service-account credentials as plain ``user:secret``
        if ":" not in encoded:
            return None
        decoded = encoded.strip()
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else (user, None)


def secret_of(authorization: str | None) -> tuple[str, bool] | None:
    """The project secret a request authenticates with, and whether it came as a
    service account (``user:secret``, which needs ``project_id``).

    ``secret:`` (empty password) and a bare ``secret`` carry the secret as the user
    name; ``user:secret`` carries it as the password.
    """
    credentials = basic_credentials(authorization)
    if credentials is None:
        return None
    user, password = credentials
    if not password:
        return (user, False) if user else None
    return password, True
