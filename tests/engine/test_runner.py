"""The paged runner is the model's own MLA path: a ragged step (prefill chunks beside decodes of
other sequences) gives the logits of an uncached full forward, on the torch path and through the
Triton decode kernel (interpreted on CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from kimi_engine import load_model
from kimi_engine.model import KimiForCausalLM
from kimi_engine.paged_cache import PagedLatentCache
from kimi_engine.runner import Chunk, forward_chunks
from kimi_engine.synthetic import TINY_TEXT_CONFIG, random_state_dict, write_checkpoint

TOL = 1e-4

# Three sequences over three steps, block size 4. Step 2 mixes a continued prefill (A), a decode
# (B) and a fresh prefill (C); step 3 decodes all three at different lengths (ragged padding).
SEQS = {"A": list(range(3, 15)), "B": list(range(40, 47)), "C": list(range(90, 97))}
TABLES = {"A": [0, 1, 2], "B": [3, 4], "C": [5, 6]}
STEPS = [[("A", 0, 8), ("B", 0, 5)],
         [("A", 8, 11), ("B", 5, 6), ("C", 0, 6)],
         [("A", 11, 12), ("B", 6, 7), ("C", 6, 7)]]


def step_chunks(step: list[tuple[str, int, int]]) -> list[Chunk]:
    return [Chunk(SEQS[name][a:b], a, TABLES[name]) for name, a, b in step]


def expected_logits(model: KimiForCausalLM, step: list[tuple[str, int, int]]) -> torch.Tensor:
    """The last-token logits of each chunk from an uncached full forward of its prefix."""
    rows = [model(torch.tensor([SEQS[name][:b]]))[0, -1] for name, _, b in step]
    return torch.stack(rows).float()


@pytest.fixture(scope="module")
def tiny_dense(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runner") / "ckpt"
    return write_checkpoint(path, random_state_dict(TINY_TEXT_CONFIG, seed=4), TINY_TEXT_CONFIG)


def test_ragged_steps_match_the_uncached_model(tiny_dense: Path) -> None:
    model = load_model(tiny_dense)
    cache = PagedLatentCache(model.config, 8, 4)
    for step in STEPS:
        got = forward_chunks(model, cache, step_chunks(step))
        want = expected_logits(model, step)
        assert got.shape == want.shape
        assert (got - want).abs().max().item() <= TOL


SCRIPT = r"""
import json, os
import torch
import kimi_engine.kernels.mla_decode as md
from kimi_engine import load_model
from kimi_engine.paged_cache import PagedLatentCache
from kimi_engine.runner import Chunk, forward_chunks

STEPS = [[Chunk(*c) for c in step] for step in json.loads(os.environ["RUNNER_STEPS"])]

calls = []
kernel = md.mla_decode_triton
md.mla_decode_triton = lambda *a, **k: calls.append(a[0].shape[0]) or kernel(*a, **k)
model = load_model(os.environ["RUNNER_CKPT"])

def run():
    cache = PagedLatentCache(model.config, 8, 4)
    return [forward_chunks(model, cache, s) for s in STEPS]

kernels = run()
used = list(calls)
os.environ["KIMI_ENGINE_TORCH_OPS"] = "1"
reference = run()
assert calls == used, (calls, used)  # the torch switch really bypasses the kernel
print("calls", " ".join(map(str, used)))
print("maxdiff", max((k - r).abs().max().item() for k, r in zip(kernels, reference)))
"""


def test_ragged_decodes_reach_the_triton_kernel(tiny_dense: Path) -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1", "KIMI_ENGINE_TRITON_ON_CPU": "1", "KIMI_ENGINE_AUTOTUNE": "0",
           "RUNNER_CKPT": str(tiny_dense),
           "RUNNER_STEPS": json.dumps([[[c.tokens, c.start, c.table] for c in step_chunks(s)] for s in STEPS])}
    env.pop("KIMI_ENGINE_TORCH_OPS", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=280)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    layers = TINY_TEXT_CONFIG["num_hidden_layers"]
    # one kernel call per layer for each step with decodes: step 2 has one decode, step 3 three
    assert lines["calls"].split() == ["1"] * layers + ["3"] * layers
    assert float(lines["maxdiff"]) <= TOL
