from __future__ import annotations

import secrets

import pytest

from auth.secret import Secret
from tests.support.clock import Clock


@pytest.fixture
def secret() -> Secret:
    """A fresh cookie secret per test."""
    return Secret(secrets.token_urlsafe(32))


@pytest.fixture
def clock() -> Clock:
    return Clock()
