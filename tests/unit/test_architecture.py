"""The module map of the README's "Architecture" section, enforced: which module may import which.

A module imports only modules of lower layers (plus the few same-layer pairs
listed), the Streamlit layer sees only what ``SignInUi`` hands it, and only
the modules that must touch Streamlit import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "auth"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"secret", "errors", "events", "html_pages", "redirects", "app_id", "pages_folder"}),
    # auth/stores/: the interface, then its backends, then the factory. They import only the
    # first layer (errors, secret, ...) and each other, so every layer after them may use a store.
    frozenset({"stores.base", "stores.__init__"}),
    frozenset({"stores.memory", "stores.sqlite", "stores.redis"}),
    frozenset({"stores.factory"}),
    frozenset({"reader", "signing", "throttle", "id_token", "vault", "record_claims"}),
    frozenset({"presets"}),
    frozenset({"config"}),
    frozenset({"identity", "access", "claims", "address"}),
    frozenset({"session_cookie", "transaction"}),
    frozenset({"oidc", "sessions"}),
    frozenset({"login", "ui", "logout_token", "refresh_lock"}),
    frozenset({"routes", "tokens", "dev_providers"}),
    # python -m auth init: which script is the entry, the files' text, what .env should say ...
    frozenset({"init_entry", "init_files"}),
    frozenset({"init_settings"}),
    # ... and, beside the other tools, what to tell the user (init_report) and the command (init).
    frozenset({"wiring", "doctor", "bench", "dev", "init", "init_report", "__main__", "__init__"}),
)
SAME_LAYER = {
    ("claims", "identity"),
    ("identity", "access"),
    ("access", "identity"),
    ("__init__", "wiring"),
    ("__main__", "doctor"),
    ("__main__", "init"),
    ("init", "init_report"),
    # init checks a configuration without a provider as `python -m auth.dev` will run it
    ("init_report", "dev"),
}
UI_MAY_IMPORT = {"access", "identity", "redirects", "events", "pages_folder"}
STREAMLIT_USERS = {"ui", "wiring", "address", "__main__"}


def layer_of(module: str) -> int:
    return next(index for index, layer in enumerate(LAYERS) if module in layer)


def module_name(path: Path) -> str:
    """``auth/errors.py`` → ``errors``, ``auth/stores/base.py`` → ``stores.base``."""
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


MODULES = sorted(module_name(path) for path in PACKAGE.rglob("*.py"))


def package_modules(module: str, node: ast.ImportFrom | ast.Import) -> set[str]:
    """The map names of the package modules one import statement reaches (relative or ``auth.``)."""
    if isinstance(node, ast.Import):
        targets = [alias.name.split(".")[1:] for alias in node.names if alias.name.split(".")[0] == "auth"]
        return {name for target in targets if (name := known_module(target, []))}
    if node.level:
        package = module.split(".")[:-1]  # a package's __init__ is relative to the package itself
        base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    elif (node.module or "").split(".")[0] == "auth":
        base = (node.module or "").split(".")[1:]
    else:
        return set()
    return {name for alias in node.names if (name := known_module(base, [alias.name]))}


def known_module(base: list[str], name: list[str]) -> str | None:
    """``from base import name``: ``name`` if it is a module or package, else ``base`` (likewise)."""
    for candidate in (base + name, [*base, *name, "__init__"], base, [*base, "__init__"]):
        if ".".join(candidate) in MODULES:
            return ".".join(candidate)
    return None


def imports_of(module: str) -> tuple[set[str], bool]:
    """Package modules that ``module`` imports (any depth), and whether it imports streamlit."""
    tree = ast.parse((PACKAGE / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
    own: set[str] = set()
    streamlit = False
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom | ast.Import):
            own |= package_modules(module, node)
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] == "streamlit"
            and node.level == 0
            or isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "streamlit" for a in node.names)
        ):
            streamlit = True
    return own, streamlit


@pytest.mark.parametrize(
    ("module", "statement", "reached"),
    [
        ("wiring", "from .session_cookie import SessionCookie", {"session_cookie"}),
        ("wiring", "from . import config, session_cookie", {"config", "session_cookie"}),
        ("wiring", "from .stores.base import SessionStore", {"stores.base"}),
        ("wiring", "from .stores import base", {"stores.base"}),
        ("wiring", "from . import stores", {"stores.__init__"}),
        ("wiring", "import auth.stores.sqlite", {"stores.sqlite"}),
        ("stores.base", "from ..errors import AuthError", {"errors"}),
        ("stores.memory", "from .base import SessionRecord", {"stores.base"}),
        ("stores.__init__", "from .factory import open_store", {"stores.factory"}),
        ("stores.redis", "import redis", set()),
    ],
)
def test_imports_are_resolved_to_the_modules_they_reach(module: str, statement: str, reached: set[str]) -> None:
    node = ast.parse(statement).body[0]
    assert isinstance(node, ast.ImportFrom | ast.Import)
    assert package_modules(module, node) == reached


def test_every_module_is_on_the_map() -> None:
    mapped = set().union(*LAYERS)
    assert set(MODULES) == mapped


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down_the_layers(module: str) -> None:
    imported, _ = imports_of(module)
    for other in imported:
        allowed = layer_of(other) < layer_of(module) or (module, other) in SAME_LAYER
        assert allowed, f"auth.{module} (layer {layer_of(module)}) imports auth.{other} (layer {layer_of(other)})"


def test_the_streamlit_layer_depends_on_narrow_parts_only() -> None:
    imported, _ = imports_of("ui")
    assert imported <= UI_MAY_IMPORT


@pytest.mark.parametrize("module", MODULES)
def test_only_the_streamlit_facing_modules_import_streamlit(module: str) -> None:
    _, streamlit = imports_of(module)
    assert streamlit == (module in STREAMLIT_USERS)
