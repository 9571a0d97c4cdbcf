"""Read-only links: each session's view token, a second random name for it.

The session id is the edit capability: whoever holds it may change the session. The
view token lets its holder read the session — the page, its fragments, the live frames
and every JSON read — and nothing else: the web and API layers answer a token only on
read routes (`/v/{token}`, `/api/views/{token}`), never on a write route, and a token is
not an id (no write route finds a session by it).

A token is 128 random bits, drawn independently of the id, so the id cannot be derived
from it; the store records it with the session (`Store.view_token`) and forgets it with
the session. A new session gets its token when it is made; one made before view tokens
existed gets it the first time someone with its id asks for it (the page's share view,
or the API's session read). The service offers these as `view_token`,
`view_token_if_any` and `get_by_view`.
"""

from __future__ import annotations

import secrets

from .errors import StorageFull, StoreUnavailable, not_found
from .ids import ID_BYTES, valid_id
from .stores.base import LockTimeout, Store, ViewTokenTaken

DRAWS = 3  # fresh tokens tried when one is taken (each time: a 2⁻¹²⁸-ish event)


def token_of(store: Store, session_id: str) -> str:
    """Return the session's view token, drawing and recording one the first time (raise
    the 404 for an unknown session; a store that cannot record it raises its refusal)."""
    if not valid_id(session_id):
        raise not_found()
    for _ in range(DRAWS):
        try:
            token = store.view_token(session_id, secrets.token_urlsafe(ID_BYTES))
        except ViewTokenTaken:  # 128 random bits met another session's: draw again
            continue
        except LockTimeout:  # the store's writer is held past its timeout
            raise StoreUnavailable() from None
        if token is None:
            raise not_found()
        return token
    raise RuntimeError("no fresh view token in DRAWS draws: the random source is broken")


def token_if_any(store: Store, session_id: str) -> str | None:
    """Return the session's view token, or None when the store cannot record the first
    one now (full, or not answering): a read, or the answer to a write already made, is
    never refused for the sake of its view link."""
    try:
        return token_of(store, session_id)
    except (StorageFull, StoreUnavailable):
        return None


def session_id_of(store: Store, token: str) -> str:
    """Return the id of the session a view token names, or raise the 404 (the same one as
    for an unknown id: a token that names nothing says nothing about ids)."""
    if not valid_id(token):
        raise not_found()
    session_id = store.session_of_view(token)
    if session_id is None:
        raise not_found()
    return session_id
