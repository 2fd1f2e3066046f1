"""Kernel tests run the real Triton kernels: under the interpreter on CPU (fp32), compiled on CUDA.

TRITON_INTERPRET is read when a kernel is decorated (when its module is imported), so it is set
here, at conftest import, before any test module imports the kernels. It is set only when the
caller did not choose and there is no GPU: on a CUDA machine the same tests run compiled kernels
(run them with TRITON_INTERPRET=1 to exercise the interpreter there). Setting it does not change
other test directories: dispatch still sends CPU tensors to torch unless
KIMI_ENGINE_TRITON_ON_CPU=1.
"""

from __future__ import annotations

import os

import pytest
import torch

if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"


def _interpreted() -> bool:
    from kimi_engine.kernels.int4_matmul import is_interpreted  # imports triton lazily

    return is_interpreted()


TARGETS = [
    pytest.param(("cpu", torch.float32), id="cpu-fp32"),
    pytest.param(("cuda", torch.bfloat16), id="cuda-bf16", marks=pytest.mark.gpu),
    pytest.param(("cuda", torch.float16), id="cuda-fp16", marks=pytest.mark.gpu),
]

@pytest.fixture(params=TARGETS)
def target(request) -> tuple[torch.device, torch.dtype]:
    """(device, activation dtype) the kernel runs on; skips what this machine cannot run."""
    kind, dtype = request.param
    if kind == "cpu" and not _interpreted():
        pytest.skip("CPU kernel tests need TRITON_INTERPRET=1 (set automatically without CUDA)")
    if kind == "cuda" and (not torch.cuda.is_available() or _interpreted()):
        pytest.skip("needs CUDA with compiled (not interpreted) Triton kernels")
    return torch.device(kind), dtype
