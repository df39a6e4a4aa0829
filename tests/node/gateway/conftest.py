"""Async gateway tests run on anyio's pytest plugin, on asyncio (uvicorn needs it)."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
