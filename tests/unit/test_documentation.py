"""Every setting the code reads is documented in .env.example and the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auth.config import GLOBAL_SETTINGS
from auth.presets import PROVIDER_SUFFIXES

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", GLOBAL_SETTINGS)
def test_global_setting_is_in_env_example(name: str) -> None:
    assert re.search(rf"^# {name}=", ENV_EXAMPLE, re.MULTILINE), name


@pytest.mark.parametrize("suffix", PROVIDER_SUFFIXES)
def test_provider_setting_is_in_env_example(suffix: str) -> None:
    assert re.search(rf"^# AUTH_CORP_{suffix}=", ENV_EXAMPLE, re.MULTILINE), suffix


@pytest.mark.parametrize("name", [n for n in GLOBAL_SETTINGS if not n.endswith("_FILE")])
def test_global_setting_is_in_readme_table(name: str) -> None:
    assert f"| `{name}`" in README, name


@pytest.mark.parametrize("suffix", [s for s in PROVIDER_SUFFIXES if not s.endswith("_FILE")])
def test_provider_setting_is_in_readme_table(suffix: str) -> None:
    assert f"`AUTH_<NAME>_{suffix}`" in README, suffix


def test_the_package_ships_the_same_env_example() -> None:
    """An installed package has no repository: start-up's message names .env.example, and
    ``python -m auth init --example`` writes it from this copy (package data)."""
    assert (ROOT / "auth" / "env.example").read_text(encoding="utf-8") == ENV_EXAMPLE, (
        "auth/env.example differs from .env.example: cp .env.example auth/env.example"
    )


def test_env_example_sets_nothing_by_default() -> None:
    """Copied as-is to .env it must not configure anything by accident."""
    active = [line for line in ENV_EXAMPLE.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert active == []


def test_readme_names_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    assert "scripts/run.sh" in README and "scripts/test.sh" in README
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
