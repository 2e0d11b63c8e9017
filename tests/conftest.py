import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CUB_MINI = SHARED / "data" / "cub-mini"
REFERENCE = SHARED / "reference" / "stackgan-v2-state-dicts.json"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def cub_mini() -> Path:
    if not (CUB_MINI / "birds").exists():
        pytest.skip(f"cub-mini not found at {CUB_MINI} (CI puts ../shared beside the repo)")
    return CUB_MINI


@pytest.fixture
def reference_shapes() -> dict:
    import json

    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} not found")
    return json.loads(REFERENCE.read_text())
