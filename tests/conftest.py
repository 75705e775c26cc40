import pytest
import torch


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(1234)


def pytest_collection_modifyitems(config, items):
    """Keep the cheap tests first so a broken solver fails fast, before notebooks execute."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
