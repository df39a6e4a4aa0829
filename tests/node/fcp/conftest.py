"""Async FCP tests run on anyio's pytest plugin, on asyncio."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
