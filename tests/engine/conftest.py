"""Fixtures for the engine tests (helpers live in engine_helpers.py)."""

from __future__ import annotations

import pytest
import torch
from kimi_engine.synthetic import TINY_TEXT_CONFIG, random_state_dict


@pytest.fixture(scope="session")
def tiny_state() -> dict[str, torch.Tensor]:
    return random_state_dict(TINY_TEXT_CONFIG, seed=1)
