"""dispatch: which path runs under which switch, and that both paths agree."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from kimi_engine.kernels import dispatch
from kimi_engine.quant import quantize_int4

from .test_kernel_fused_moe import make_experts, routing


def test_cpu_uses_torch_by_default(monkeypatch):
    monkeypatch.delenv("KIMI_ENGINE_TRITON_ON_CPU", raising=False)
    monkeypatch.delenv("KIMI_ENGINE_TORCH_OPS", raising=False)
    assert dispatch.use_triton(torch.device("cpu")) is False


def test_torch_ops_switch_wins(monkeypatch):
    monkeypatch.setenv("KIMI_ENGINE_TORCH_OPS", "1")
    monkeypatch.setenv("KIMI_ENGINE_TRITON_ON_CPU", "1")
    assert dispatch.use_triton(torch.device("cpu")) is False
    assert dispatch.use_triton(torch.device("cuda", 0)) is False


def test_triton_on_cpu_requires_interpreter(monkeypatch):
    monkeypatch.setenv("KIMI_ENGINE_TRITON_ON_CPU", "1")
    monkeypatch.delenv("KIMI_ENGINE_TORCH_OPS", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="needs TRITON_INTERPRET=1"):
        dispatch.use_triton(torch.device("cpu"))
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert dispatch.use_triton(torch.device("cpu")) is True


def _interpreter_or_skip():
    from kimi_engine.kernels.int4_matmul import is_interpreted

    if not is_interpreted():
        pytest.skip("needs the Triton interpreter (TRITON_INTERPRET=1)")


def _both_paths(monkeypatch, fn):
    """Run fn() on the torch path, then on the Triton path (CPU interpreter)."""
    monkeypatch.delenv("KIMI_ENGINE_TORCH_OPS", raising=False)
    monkeypatch.delenv("KIMI_ENGINE_TRITON_ON_CPU", raising=False)
    torch_out = fn()
    monkeypatch.setenv("KIMI_ENGINE_TRITON_ON_CPU", "1")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    return torch_out, fn()


def test_int4_linear_both_paths_agree_on_nd_input(monkeypatch):
    _interpreter_or_skip()
    packed, scale = quantize_int4(torch.randn(48, 96))
    x = torch.randn(96, 6).t().reshape(2, 3, 96)  # leading dims and a non-contiguous source
    ref, got = _both_paths(monkeypatch, lambda: dispatch.int4_linear(x, packed, scale, (48, 96)))
    assert got.shape == (2, 3, 48)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-4)


def test_fused_moe_and_mla_both_paths_agree(monkeypatch):
    _interpreter_or_skip()
    experts = make_experts(5, 64, 32, torch.device("cpu"))
    ids, weights = routing(3, 2, 5, seed=1)
    hidden = torch.randn(3, 64)
    ref, got = _both_paths(monkeypatch, lambda: dispatch.fused_moe(hidden, ids, weights, experts))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-4)
    q, qr, c, kr = torch.randn(2, 4, 32), torch.randn(2, 4, 16), torch.randn(2, 9, 32), torch.randn(2, 9, 16)
    lengths = torch.tensor([9, 4])
    ref, got = _both_paths(monkeypatch, lambda: dispatch.mla_decode(q, qr, c, kr, lengths, 0.25))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_torch_path_validates_too(monkeypatch):
    monkeypatch.delenv("KIMI_ENGINE_TRITON_ON_CPU", raising=False)
    packed, scale = quantize_int4(torch.randn(16, 64))
    with pytest.raises(ValueError, match="x has 32 features but the weight shape is"):
        dispatch.int4_linear(torch.randn(2, 32), packed, scale, (16, 64))
    with pytest.raises(ValueError, match="lengths must lie"):
        dispatch.mla_decode(torch.randn(1, 2, 8), torch.randn(1, 2, 4), torch.randn(1, 3, 8),
                            torch.randn(1, 3, 4), torch.tensor([4]), 0.5)


def test_importing_dispatch_does_not_import_triton():
    code = ("import sys, kimi_engine.kernels.dispatch as d, torch; "
            "d.int4_linear(torch.randn(1, 32), torch.zeros(4, 4, dtype=torch.int32), torch.ones(4, 1), (4, 32)); "
            "print('triton' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIMI_ENGINE_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
