"""One structured log line per sign-in event, in logfmt (``key=value``).

Operators grep and ship these; keeping them one line each with stable keys
makes that reliable. Values are identifiers and reasons only: never a code,
token, cookie or secret. Values can still come from outside (a provider's
``sub`` or error text), so every one goes through ``log_value``. An event that
strangers can trigger at will (a refused back-channel logout) is a
``CountedEvent``, so a flood of them is a line and a count, not a flooded log.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable

logger = logging.getLogger("auth")

_PLAIN = re.compile(r"^[A-Za-z0-9_.,:@/+\-]+$")
# Unicode categories that can end, fake or visually rewrite a log line: controls
# (Cc: CR, LF, NEL U+0085, ESC), format characters (Cf: bidi overrides such as
# U+202E), and the line and paragraph separators (Zl U+2028, Zp U+2029).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
MAX_VALUE_LENGTH = 500
#: identical lines of a ``CountedEvent`` within this many seconds are counted, not repeated
REPEAT_WINDOW = 10.0
#: kinds of line one ``CountedEvent`` remembers (a handful in practice: its fields are fixed texts)
MAX_COUNTED_KINDS = 256


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


class CountedEvent:
    """One kind of log line that a flood cannot multiply: identical lines within ``window``
    seconds are counted instead of written, and the next identical line after the window
    carries the count (``repeated=49``: that many were left out since the last one written).

    Lines are identical when their fields are (``key_fields`` names the fields that decide,
    by default all). A different line is written at once, so a new kind of failure is never
    hidden behind a flood of another. The count of the last window is written only when the
    line comes again; nothing runs in the background to flush it. At most ``max_kinds``
    kinds of line are remembered, the least recently seen forgotten first, so fields that
    vary cannot grow memory without bound.
    """

    def __init__(
        self,
        event: str,
        *,
        level: int = logging.INFO,
        window: float = REPEAT_WINDOW,
        key_fields: tuple[str, ...] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = MAX_COUNTED_KINDS,
    ) -> None:
        self.event = event
        self.level = level
        self.window = window
        self.key_fields = key_fields
        self._clock = clock
        self._max_kinds = max_kinds
        # line key -> (when it was last written, identical lines left out since)
        self._seen: OrderedDict[tuple[tuple[str, str], ...], tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def log(self, **fields: object) -> None:
        """Write the line, or count it when an identical one was written within the window."""
        names = self.key_fields if self.key_fields is not None else tuple(sorted(fields))
        key = tuple((name, str(fields.get(name))) for name in names)
        now = self._clock()
        with self._lock:
            written_at, left_out = self._seen.pop(key, (None, 0))
            if written_at is not None and 0 <= now - written_at < self.window:
                self._seen[key] = (written_at, left_out + 1)
                return
            self._seen[key] = (now, 0)
            while len(self._seen) > self._max_kinds:
                self._seen.popitem(last=False)
        log_event(self.event, level=self.level, **fields, repeated=left_out or None)
