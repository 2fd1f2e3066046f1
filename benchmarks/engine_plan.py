"""Memory plan of the real Kimi K2.6 INT4 checkpoint computed from its config alone, against the
published total of about 594 GB, with the per-GPU share for 4 and 8 GPUs (80 GB and 141 GB).

    .venv/bin/python benchmarks/engine_plan.py
"""

from __future__ import annotations

from kimi_engine.config import parse_config
from kimi_engine.plan import describe, memory_plan
from kimi_engine.synthetic import INT4_QUANTIZATION_CONFIG, KIMI_K26_TEXT_CONFIG

PUBLISHED_GB = 594.0


def main() -> None:
    cfg = parse_config({**KIMI_K26_TEXT_CONFIG, "quantization_config": INT4_QUANTIZATION_CONFIG})
    plan = memory_plan(cfg)
    gb = plan.weight_bytes / 1e9
    print(f"computed {gb:.2f} GB vs published {PUBLISHED_GB:.0f} GB: {100 * (gb / PUBLISHED_GB - 1):+.2f}%")
    for gpu_gb in (80.0, 141.0):
        print()
        print(describe(cfg, gpu_counts=(4, 8), gpu_gb=gpu_gb))


if __name__ == "__main__":
    main()
