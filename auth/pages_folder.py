"""Apps with a ``pages/`` folder: which page files have no sign-in guard, and their order.

In such an app (Streamlit's first multipage form) Streamlit runs a page file on its own,
without the entry script: a guard in the entry script protects the home page only, and
every other page is open to signed-out visitors unless it calls ``require_login()``
itself. Nothing here can change that (there is no hook that runs before each page file),
so the package says so: at the first page load it names every page file without a guard
(``unguarded``), and ``Auth.pages_folder`` gives the one-line way to ``auth.navigation``,
where one call protects every page and the signed-out menu is hidden.

Pure file reading: no Streamlit here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

#: calls that stop a signed-out visitor (``auth.require_login()``, ``require_role``, ``require_group``)
GUARDS = frozenset({"require_login", "require_role", "require_group"})
_NUMBER_PREFIX = re.compile(r"^(\d+)")


def page_files(folder: Path) -> list[Path]:
    """The ``*.py`` files of a ``pages/`` folder in Streamlit's menu order: by leading
    number (files without one after those with one), then by name; hidden files skipped."""

    def order(path: Path) -> tuple[float, str]:
        number = _NUMBER_PREFIX.match(path.name)
        return (float(number.group(1)) if number else float("inf"), path.name.lower())

    if not folder.is_dir():
        return []
    return sorted((path for path in folder.glob("*.py") if not path.name.startswith((".", "_"))), key=order)


def is_guarded(source: str) -> bool:
    """Does this page file call one of ``GUARDS`` (as ``auth.require_login()`` or a bare name)?
    A file that does not parse counts as unguarded: Streamlit would show its error anyway."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            if name in GUARDS:
                return True
    return False


def unguarded(folder: Path) -> list[Path]:
    """The page files of ``folder`` that a signed-out visitor could open."""
    found = []
    for path in page_files(folder):
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            source = ""
        if not is_guarded(source):
            found.append(path)
    return found
