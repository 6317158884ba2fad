"""One structured log line per sign-in event, in logfmt (``key=value``).

Operators grep and ship these; keeping them one line each with stable keys
makes that reliable. Values are identifiers and reasons only: never a code,
token, cookie or secret.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger("auth")

_PLAIN = re.compile(r"^[A-Za-z0-9_.:@/+\-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def format_fields(**fields: object) -> str:
    parts = []
    for key, value in fields.items():
        if value is None or value == "":
            continue
        text = str(value)
        if not _PLAIN.match(text):
            # Control characters (CR, LF, ...) could forge extra log lines: flatten them.
            text = '"' + _CONTROL.sub(" ", text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


def log_event(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    logger.log(level, "%s", format_fields(event=event, **fields))
