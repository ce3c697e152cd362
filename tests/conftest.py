import pytest

from nbwarden.engine import Engine


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.default()
