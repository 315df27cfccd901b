import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"  # real media and parity fixtures; never committed, absent in some checkouts


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long checks, run with `-m slow`")
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (parity fixtures and real media) is not present")
    return SHARED


def parity_fixture(name: str) -> Path:
    """Path of a parity fixture folder; skips the test when ../shared is absent."""
    path = SHARED / "parity" / name
    if not path.is_dir():
        pytest.skip(f"parity fixture {name} is not present (../shared is absent)")
    return path
