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
    frozenset({"secret", "errors", "events", "html_pages", "redirects"}),
    frozenset({"reader", "signing", "throttle", "id_token"}),
    frozenset({"presets"}),
    frozenset({"config"}),
    frozenset({"identity", "access", "claims", "address"}),
    frozenset({"session", "transaction"}),
    frozenset({"oidc"}),
    frozenset({"login", "ui"}),
    frozenset({"routes"}),
    frozenset({"wiring", "doctor", "bench", "dev", "__main__", "__init__"}),
)
SAME_LAYER = {
    ("claims", "identity"),
    ("identity", "access"),
    ("access", "identity"),
    ("__init__", "wiring"),
    ("__main__", "doctor"),
}
UI_MAY_IMPORT = {"access", "identity", "redirects"}
STREAMLIT_USERS = {"ui", "wiring", "address", "__main__"}


def layer_of(module: str) -> int:
    return next(index for index, layer in enumerate(LAYERS) if module in layer)


def imports_of(module: str) -> tuple[set[str], bool]:
    """Package modules that ``module`` imports (any depth), and whether it imports streamlit."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    own: set[str] = set()
    streamlit = False
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            own.update([node.module] if node.module else [alias.name for alias in node.names])
        elif (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] == "streamlit"
            or isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "streamlit" for a in node.names)
        ):
            streamlit = True
    return {name.split(".")[0] for name in own}, streamlit


MODULES = sorted(path.stem for path in PACKAGE.glob("*.py"))


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
