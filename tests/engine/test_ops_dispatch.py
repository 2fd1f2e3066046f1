"""The model's ops really reach the Triton kernels when dispatch selects them: a tiny INT4 model
run under TRITON_INTERPRET=1 (Triton on CPU tensors) equals the pure torch path."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import os, tempfile
import torch
import kimi_engine.kernels.fused_moe as fm
import kimi_engine.kernels.mla_decode as md
from kimi_engine import load_model
from kimi_engine.synthetic import TINY_TEXT_CONFIG, quantize_experts, random_state_dict, write_checkpoint

calls = {"moe": 0, "mla": 0}
def counted(key, fn):
    def wrapper(*a, **k):
        calls[key] += 1
        return fn(*a, **k)
    return wrapper
fm.fused_moe_triton = counted("moe", fm.fused_moe_triton)
md.mla_decode_triton = counted("mla", md.mla_decode_triton)

state, _ = quantize_experts(random_state_dict(TINY_TEXT_CONFIG, seed=5))
model = load_model(write_checkpoint(tempfile.mkdtemp(), state, TINY_TEXT_CONFIG, int4=True))
seq = torch.randint(0, 320, (2, 9), generator=torch.Generator().manual_seed(0))

def run():
    cache = model.new_cache(2, 9)
    outs = [model(seq[:, :6], cache)] + [model(seq[:, i : i + 1], cache) for i in range(6, 9)]
    return torch.cat(outs, 1)

kernels = run()
used = dict(calls)
os.environ["KIMI_ENGINE_TORCH_OPS"] = "1"
reference = run()
assert calls == used, (calls, used)  # the torch switch really bypasses the kernels
print("calls", used["moe"], used["mla"])
print("maxdiff", (kernels - reference).abs().max().item())
"""


def test_tiny_int4_model_through_interpreted_triton_kernels() -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1", "KIMI_ENGINE_TRITON_ON_CPU": "1", "KIMI_ENGINE_AUTOTUNE": "0"}
    env.pop("KIMI_ENGINE_TORCH_OPS", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=280)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    moe_calls, mla_calls = map(int, lines["calls"].split())
    assert moe_calls == 2 * 4  # 2 MoE layers x (1 prefill + 3 decode steps)
    assert mla_calls == 3 * 3  # 3 layers x 3 single-token decode steps
    assert float(lines["maxdiff"]) <= 1e-4
