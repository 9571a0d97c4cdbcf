"""Session ids and view tokens: 128 random bits each, base64url, and how to tell one.

The id is the edit capability and the view token the read-only one (`view_links`); both
have the same shape, and neither can be derived from the other.
"""

from __future__ import annotations

import secrets

ID_BYTES = 16  # 128 random bits
ID_LENGTH = 22  # base64url of 16 bytes, no padding
ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def new_id() -> str:
    """Return a fresh random session id (or view token)."""
    return secrets.token_urlsafe(ID_BYTES)


def valid_id(session_id: str) -> bool:
    """Return True if the id has the shape of one this service makes."""
    return len(session_id) == ID_LENGTH and set(session_id) <= ID_CHARS
