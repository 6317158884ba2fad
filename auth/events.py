"""One structured log line per sign-in event, in logfmt (``key=value``).

Operators grep and ship these; keeping them one line each with stable keys
makes that reliable. Values are identifiers and reasons only: never a code,
token, cookie or secret. Values can still come from outside (a provider's
``sub`` or error text), so every one goes through ``log_value``.
"""

from __future__ import annotations

import logging
import re
import unicodedata

logger = logging.getLogger("auth")

_PLAIN = re.compile(r"^[A-Za-z0-9_.,:@/+\-]+$")
# Unicode categories that can end, fake or visually rewrite a log line: controls
# (Cc: CR, LF, NEL U+0085, ESC), format characters (Cf: bidi overrides such as
# U+202E), and the line and paragraph separators (Zl U+2028, Zp U+2029).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
MAX_VALUE_LENGTH = 500


def log_value(value: object) -> str:
    """``value`` as one logfmt token that cannot break or forge a log line.

    Anything that is not a plain identifier is quoted, with backslash, quote
    and every control, format and line-separator character written as an
    escape (``\\n``, ``\\u2028``), so the log shows what was sent without
    acting on it. Long values are cut.
    """
    text = str(value)
    if len(text) > MAX_VALUE_LENGTH:
        text = text[:MAX_VALUE_LENGTH] + "…"
    if _PLAIN.match(text):
        return text
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif unicodedata.category(char) in _HIDDEN_CATEGORIES:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def format_fields(**fields: object) -> str:
    return " ".join(f"{key}={log_value(value)}" for key, value in fields.items() if value is not None and value != "")


def log_event(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    logger.log(level, "%s", format_fields(event=event, **fields))
