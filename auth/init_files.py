"""The files ``python -m auth init`` writes into an app, as text: ``app.py``, ``.env``, ``.gitignore``.

Pure functions from what is there (or ``None``) to what should be, plus one
write that never replaces a file by accident; ``auth.init`` decides what to
call and reports it. An existing ``.env`` or ``.gitignore`` is merged, never
rewritten: other tools' settings and the user's own lines stay as they are.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

#: where the wrapper goes, unless the app's entry script already has that name
WRAPPER_NAME = "app.py"
#: the wrapper's name when the entry script is ``app.py`` (which is never moved or replaced)
WRAPPER_NAME_BESIDE_APP_PY = "auth_app.py"

_WRAPPER = '''\
"""{module}.py: ``{run}`` (written by ``python -m auth init``).

Streamlit finds ``app`` (an ``st.App``) here: it runs {entry} and serves the sign-in
routes (/auth/*) beside it. Page scripts use the one configured instance with
``from {module} import auth``, then ``auth.require_login()``.
"""

import os
from pathlib import Path

import streamlit as st

from auth import Auth

HERE = Path(__file__).parent

# Settings: the environment over AUTH_ENV_FILE (set it empty to read none), else .env beside this file.
auth = Auth.from_environment_or_exit(dotenv_path=os.environ.get("AUTH_ENV_FILE", HERE / ".env") or None)

app = st.App(HERE / {entry_literal}, routes=auth.routes)
'''

_ENV_HEADER = """\
# Sign-in settings, written by `python -m auth init`. Real environment variables win over
# this file. Every setting is described in .env.example (`python -m auth init --example`
# writes it). Never commit this file: it holds secrets (it is in .gitignore).
"""

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
#: values written as they are; anything else is single-quoted
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@+,=%~-]*$")


class UnwritableValue(ValueError):
    """A value a ``.env`` file cannot hold as given: python-dotenv would change it when reading."""


#: how a setting meets a different value already in ``.env``: "default" (defaults, generated
#: secrets, placeholders) leaves it; "explicit" (asked for on the command line) replaces it
#: with ``--force``; "extend" (a list that gains an item, ``AUTH_PROVIDERS``) always does
Policy = Literal["default", "explicit", "extend"]


@dataclass(frozen=True)
class EnvSetting:
    """One ``NAME=value`` line of ``.env`` and the comment above it; an empty value is a
    placeholder for the user to fill."""

    name: str
    value: str = ""
    comment: str = ""
    policy: Policy = "default"

    def line(self) -> str:
        """``NAME=value`` as python-dotenv reads it back; ``UnwritableValue`` if it cannot."""
        return f"{self.name}={dotenv_value(self.value)}"

    def block(self) -> str:
        """The line under its comment."""
        return "".join(f"# {line}\n" for line in self.comment.splitlines()) + self.line() + "\n"


@dataclass
class EnvMerge:
    """The merged file and what happened to each setting."""

    text: str
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    #: explicit values the file sets differently, left as they were (no ``force``); a default
    #: the file sets differently is the user's choice and goes unmentioned
    kept: list[str] = field(default_factory=list)


def render_wrapper(entry: str, module: str, run: str) -> str:
    """The ``st.App`` wrapper for ``entry`` (a path relative to the wrapper, ``/``-separated)."""
    return _WRAPPER.format(module=module, run=run, entry=entry, entry_literal=_python_string(entry))


def _python_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dotenv_value(value: str) -> str:
    """``value`` as python-dotenv reads it back unchanged: bare when safe, else single-quoted.

    Raises ``UnwritableValue`` for a line break (it would end the setting) or ``${``
    (python-dotenv expands ``${NAME}`` even inside quotes)."""
    if "\n" in value or "\r" in value or "${" in value:
        raise UnwritableValue("a line break or '${' (which .env files expand) cannot be written to .env")
    if _PLAIN_VALUE.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_env(settings: list[EnvSetting]) -> str:
    """A new ``.env``: the header, then each setting under its comment."""
    text = _ENV_HEADER
    for setting in settings:
        text += ("\n" if setting.comment else "") + setting.block()  # a comment starts a group
    return text


def assigned_names(text: str) -> dict[str, int]:
    """Setting name → index of the (last) line that assigns it, as python-dotenv reads it."""
    names: dict[str, int] = {}
    for index, line in enumerate(text.splitlines()):
        match = _ASSIGNMENT.match(line)
        if match:
            names[match.group(1)] = index
    return names


def merge_env(existing: str, settings: list[EnvSetting], values: dict[str, str | None], *, force: bool) -> EnvMerge:
    """``settings`` merged into an existing ``.env``; ``values`` is what python-dotenv reads from it.

    A setting the file lacks is appended (a placeholder too); one it leaves empty is
    filled in place. One it sets to another value is replaced in place by an "extend"
    setting, or by an "explicit" one under ``force``, and otherwise stays as it is.
    Every other line (comments, other tools' settings) stays untouched.
    """
    lines = existing.splitlines()
    positions = assigned_names(existing)
    merge = EnvMerge(text="")
    appended: list[EnvSetting] = []
    for setting in settings:
        current = (values.get(setting.name) or "").strip()
        if setting.name not in positions:
            appended.append(setting)
            merge.added.append(setting.name)
        elif not setting.value or current == setting.value:
            continue
        elif not current:
            lines[positions[setting.name]] = setting.line()
            merge.added.append(setting.name)
        elif setting.policy == "extend" or (force and setting.policy == "explicit"):
            lines[positions[setting.name]] = setting.line()
            merge.replaced.append(setting.name)
        elif setting.policy == "explicit":
            merge.kept.append(setting.name)
    text = "".join(f"{line}\n" for line in lines)
    if appended:
        text += ("\n" if text.strip() else "") + "# Added by `python -m auth init`:\n"
        text += "".join(setting.block() for setting in appended)
    merge.text = text
    return merge


def _ignore_key(pattern: str) -> str:
    """``/.env``, ``.env`` and ``.env/``-less forms of one pattern compare equal."""
    return pattern.strip().lstrip("/").rstrip("/")


def merge_gitignore(existing: str | None, patterns: list[str]) -> tuple[str, list[str]]:
    """``existing`` with each pattern it does not list yet appended; the text and what was added.

    Compares lines, not git's matching: a broader rule already there (``*.env``) still
    gets ``.env`` added, which is harmless; a line is never added twice."""
    text = existing or ""
    present = {_ignore_key(line) for line in text.splitlines() if line.strip() and not line.startswith("#")}
    added = [pattern for pattern in patterns if _ignore_key(pattern) not in present]
    if not added:
        return text, []
    if text and not text.endswith("\n"):
        text += "\n"
    text += ("\n" if text.strip() else "") + "# Sign-in (python -m auth init): its secrets and its session store\n"
    text += "".join(f"{pattern}\n" for pattern in added)
    return text, added


def write_new(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text``; without ``replace`` only if ``path`` does not exist (``FileExistsError``).

    ``.env`` holds secrets: a new file is made readable by its owner alone (0600)."""
    if replace:
        path.write_text(text, encoding="utf-8")
        return
    mode = 0o600 if path.name == ".env" else 0o666
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
