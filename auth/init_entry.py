"""Which script of an existing app ``streamlit run`` is given: the one ``app.py`` will wrap.

``python -m auth init`` must not guess. It reads the app's top-level scripts
(never runs them) and keeps those that can be the entry script:

1. it imports ``streamlit``;
2. no other script of the app imports it as a module (``utils.py`` with
   ``st.cache_data`` helpers is imported; an entry script is run, not imported);
3. no other script names it in ``st.Page("home.py")``: a page of an
   ``st.navigation`` app, not its entry;
4. it is not a wrapper that already builds ``st.App(..., routes=...)``
   (``app.py`` from an earlier ``python -m auth init``), a test or ``setup.py``.

One script left is the answer. Among several, the only one with a name people
give entry scripts (``streamlit_app.py``, Community Cloud's default,
``app.py``, ``main.py``) is. Otherwise the answer is "cannot tell", with the
candidates, and ``--entry FILE`` decides.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: the file names people give a Streamlit app's entry script
USUAL_ENTRY_NAMES = ("streamlit_app.py", "app.py", "main.py")
#: a page of a ``pages/`` folder app may import the app's modules too
PAGE_FOLDERS = ("pages",)


@dataclass(frozen=True)
class Script:
    """What one script says about itself, read from its syntax tree alone."""

    path: Path
    imports_streamlit: bool
    #: top-level module names it imports (``import utils``, ``from utils import x``)
    imported_modules: frozenset[str]
    #: file names it passes to ``Page(...)`` as a string (``st.Page("pages/home.py")`` → ``home.py``)
    page_files: frozenset[str]
    #: it builds ``App(..., routes=...)``: a wrapper such as the one ``python -m auth init`` writes
    builds_app_with_routes: bool
    #: it calls ``navigation(...)`` (``st.navigation``): its menu is where pages get guarded
    calls_navigation: bool = False


@dataclass(frozen=True)
class EntryDecision:
    """The entry script, or why there is none: ``candidates`` then lists what was left."""

    entry: Path | None
    reason: str
    candidates: tuple[Path, ...] = ()


def read_script(path: Path) -> Script | None:
    """``None`` for a file that is not Python this interpreter can parse (it cannot be run either)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    imports_streamlit = False
    modules: set[str] = set()
    pages: set[str] = set()
    builds_app = navigation = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                imports_streamlit |= top == "streamlit"
                modules.add(top)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            imports_streamlit |= top == "streamlit"
            modules.add(top)
        elif isinstance(node, ast.Call):
            name = _called_name(node)
            if name == "Page" and node.args and isinstance(node.args[0], ast.Constant):
                if isinstance(node.args[0].value, str):
                    pages.add(Path(node.args[0].value).name)
            elif name == "App" and any(keyword.arg == "routes" for keyword in node.keywords):
                builds_app = True
            navigation |= name == "navigation"
    return Script(
        path=path,
        imports_streamlit=imports_streamlit,
        imported_modules=frozenset(modules),
        page_files=frozenset(pages),
        builds_app_with_routes=builds_app,
        calls_navigation=navigation,
    )


def _called_name(call: ast.Call) -> str | None:
    """``st.Page(...)`` and ``Page(...)`` → ``"Page"``."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def is_test_or_setup(path: Path) -> bool:
    """Scripts nobody gives ``streamlit run``: tests, packaging, ``__init__.py``."""
    name = path.name
    return (
        name in {"setup.py", "conftest.py", "noxfile.py"}
        or name.startswith(("test_", "__"))
        or name.endswith("_test.py")
    )


def app_scripts(folder: Path) -> list[Script]:
    """The readable top-level scripts of the app, then those of its ``pages/`` folder."""
    paths = sorted(folder.glob("*.py"))
    for pages in PAGE_FOLDERS:
        paths += sorted((folder / pages).glob("*.py"))
    return [script for path in paths if not is_test_or_setup(path) and (script := read_script(path)) is not None]


def find_entry(folder: Path) -> EntryDecision:
    """Apply the rules of this module's docstring to the scripts in ``folder``."""
    scripts = app_scripts(folder)
    top_level = [script for script in scripts if script.path.parent == folder]
    imported = set().union(*(script.imported_modules for script in scripts))
    paged = set().union(*(script.page_files for script in top_level))
    candidates = [
        script.path
        for script in top_level
        if script.imports_streamlit
        and not script.builds_app_with_routes
        and script.path.stem not in imported
        and script.path.name not in paged
    ]
    if len(candidates) == 1:
        return EntryDecision(candidates[0], "the only script that imports streamlit and that no other script uses")
    if not candidates:
        return EntryDecision(
            None, f"no script in {folder} imports streamlit without being imported or made a page by another"
        )
    usual = [path for path in candidates if path.name in USUAL_ENTRY_NAMES]
    if len(usual) == 1:
        return EntryDecision(usual[0], f"of {_names(candidates)}, the one named like an entry script")
    return EntryDecision(None, "several scripts could be the entry script", tuple(candidates))


def _names(paths: Iterable[Path]) -> str:
    return ", ".join(path.name for path in paths)
