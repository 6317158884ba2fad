"""A session record's claims, tagged so that the store cannot change who is signed in.

The store keeps the whole identity of a session (``SessionRecord.claims``), and
every rerun builds the user from it. The store is shared infrastructure (a
Redis other services reach, a file on disk), so what it holds is checked, not
trusted: the claims carry an HMAC-SHA256 tag (itsdangerous, keys from the
cookie secrets, a salt of their own) over the session id and the claims. A
writer to the store who holds a cookie of their own can still end sessions,
but can neither give their session another identity nor more roles, nor move
another session's claims into theirs: a tag made for one session id fails
for any other.

Verifying costs a canonical JSON encoding and one HMAC; the last claims
verified per session are remembered (compared by value), so a rerun that
reads the same claims again costs a dict comparison.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from itsdangerous import BadSignature, Signer

from .secret import Secret

RECORD_SALT = "streamlit-oidc-auth.session-record.v1"
#: the key of the tag inside the stored claims (never a claim name: claims have no leading "_")
TAG_KEY = "_tag"
#: sessions whose verified claims are remembered (least recently used forgotten first)
MAX_REMEMBERED = 4096


def _message(session_id: str, claims: Mapping[str, Any]) -> bytes:
    """What the tag covers: the session id and the claims, in one canonical spelling."""
    body = json.dumps(dict(claims), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return f"{session_id}\n{body}".encode()


class RecordClaims:
    """Tags claims for the store and checks them when they come back."""

    def __init__(self, secrets: Sequence[Secret]) -> None:
        # itsdangerous signs with the last key and verifies with every key: newest first
        # (the configured order) reversed, so rotating the cookie secret keeps records readable.
        self._signer = Signer(
            [secret.value for secret in reversed(secrets)],
            salt=RECORD_SALT,
            key_derivation="hmac",
            digest_method=hashlib.sha256,
        )
        # session id -> (the stored claims last verified, the same without their tag)
        self._verified: OrderedDict[str, tuple[dict[str, Any], dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def tag(self, session_id: str, claims: Mapping[str, Any]) -> dict[str, Any]:
        """``claims`` with their tag, as the store should keep them."""
        plain = {key: value for key, value in claims.items() if key != TAG_KEY}
        signature = self._signer.get_signature(_message(session_id, plain)).decode("ascii")
        return {**plain, TAG_KEY: signature}

    def verify(self, session_id: str, stored: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The claims without their tag when the tag holds for ``session_id``; else None.
        (Read-only: the same mapping may be handed out again.)"""
        with self._lock:
            remembered = self._verified.get(session_id)
            if remembered is not None and remembered[0] == stored:
                self._verified.move_to_end(session_id)
                return remembered[1]
        signature = stored.get(TAG_KEY)
        if not isinstance(signature, str):
            return None
        plain = _untagged(stored)
        try:
            valid = self._signer.verify_signature(_message(session_id, plain), signature.encode("ascii"))
        except (BadSignature, UnicodeError, ValueError, TypeError):  # not text, not JSON-able: not ours
            valid = False
        if not valid:
            return None
        with self._lock:
            self._verified[session_id] = (dict(stored), plain)
            self._verified.move_to_end(session_id)
            while len(self._verified) > MAX_REMEMBERED:
                self._verified.popitem(last=False)
        return plain


def _untagged(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stored.items() if key != TAG_KEY}
