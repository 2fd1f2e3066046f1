"""Launch configurations: chosen offline per GPU family, looked up by coarse token buckets.

The table is data, shipped in the package: kernels/tuned_configs.json. For every GPU family
('sm90' = Hopper H100/H200/H800, 'default' = any other GPU, 'interp' = the Triton interpreter)
and kernel it lists entries {"max_tokens": N | null, "config": {...}}; a call with T tokens (rows
of x for the W4A16 matmul, tokens for the MoE, batch rows for MLA decode) uses the first entry
whose max_tokens >= T (null = no limit). No timing happens on the request path, so every rank of
a tensor-parallel group picks the same config for the same call, and the choice never depends on
what else ran first.

First-call tuning is opt-in: KIMI_ENGINE_AUTOTUNE=1 times the entry's config and its
"alternatives" once per (kernel, token bucket, shape) with triton.testing.do_bench and keeps the
fastest in-process (it is skipped while a CUDA graph is being captured: warm up first). Use
it to find better entries for the table, not in multi-rank serving (ranks could disagree).

A config is a plain dict of constexpr block sizes plus "num_warps" / "num_stages"; every shipped
one compiles for sm_90a without register spills (benchmarks/kernel_resources.py checks).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from importlib import resources

import torch

from kimi_engine.kernels._checks import env_flag

Config = dict[str, int]
_log = logging.getLogger(__name__)

_LAUNCH_KEYS = ("num_warps", "num_stages")
FAMILIES = ("sm90", "default", "interp")
TABLE_FILE = "tuned_configs.json"


def split_launch(cfg: Config) -> tuple[dict[str, int], dict[str, int]]:
    """(constexpr meta-parameters, launch options) from one config dict."""
    meta = {k: v for k, v in cfg.items() if k not in _LAUNCH_KEYS}
    opts = {k: v for k, v in cfg.items() if k in _LAUNCH_KEYS}
    return meta, opts


def gpu_family(device: torch.device, interpreted: bool) -> str:
    """'interp' under TRITON_INTERPRET (or off-GPU), 'sm90' on Hopper, 'default' on other GPUs."""
    if interpreted or device.type != "cuda":
        return "interp"
    major, minor = torch.cuda.get_device_capability(device)
    return "sm90" if (major, minor) == (9, 0) else "default"


def sm_count(device: torch.device) -> int:
    """Streaming multiprocessors on `device` (132 on H100 SXM / H200); 1 off-GPU."""
    if device.type != "cuda":
        return 1
    return torch.cuda.get_device_properties(device).multi_processor_count


def token_bucket(tokens: int) -> int:
    """The coarse key of a token count: the next power of two (1, 2, 4, 8, ...); 0 -> 1."""
    if tokens < 0:
        raise ValueError(f"token count must be >= 0, got {tokens}")
    return 1 << max(0, int(tokens) - 1).bit_length()


# --- the shipped table --------------------------------------------------------------------

@functools.cache
def table() -> dict:
    """The parsed tuned_configs.json (validated once per process)."""
    raw = json.loads(resources.files("kimi_engine.kernels").joinpath(TABLE_FILE).read_text())
    validate_table(raw)
    return raw


def validate_table(raw: dict) -> None:
    """ValueError naming the first malformed part: unknown family, unsorted or open-ended-first
    buckets, a config without num_warps/num_stages or with a non-integer value."""
    families = raw.get("families")
    if not isinstance(families, dict) or set(families) != set(FAMILIES):
        raise ValueError(f"{TABLE_FILE}: 'families' must have exactly {FAMILIES}")
    kernels = set(families["interp"])
    for fam, per_kernel in families.items():
        if set(per_kernel) != kernels:
            raise ValueError(f"{TABLE_FILE}: family {fam} lists kernels {sorted(per_kernel)}, "
                             f"expected {sorted(kernels)}")
        for kernel, entries in per_kernel.items():
            bounds = [e.get("max_tokens") for e in entries]
            if not entries or bounds[-1] is not None or None in bounds[:-1]:
                raise ValueError(f"{TABLE_FILE}: {fam}/{kernel} must end with one max_tokens null entry")
            if bounds[:-1] != sorted(set(bounds[:-1])):
                raise ValueError(f"{TABLE_FILE}: {fam}/{kernel} max_tokens must increase, got {bounds}")
            for e in entries:
                _check_config(f"{fam}/{kernel}", e.get("config"))
                for alt in e.get("alternatives", []):
                    _check_config(f"{fam}/{kernel} alternative", alt)

def _check_config(where: str, cfg: object) -> None:
    if not isinstance(cfg, dict) or not all(k in cfg for k in _LAUNCH_KEYS):
        raise ValueError(f"{TABLE_FILE}: {where} config needs num_warps and num_stages, got {cfg!r}")
    bad = [k for k, v in cfg.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0]
    if bad:
        raise ValueError(f"{TABLE_FILE}: {where} config values must be integers >= 0, bad: {bad}")


def _entry(kernel: str, family: str, tokens: int) -> dict:
    try:
        entries = table()["families"][family][kernel]
    except KeyError:
        raise KeyError(f"no launch configs for kernel {kernel!r} on {family!r}") from None
    for entry in entries:
        if entry["max_tokens"] is None or tokens <= entry["max_tokens"]:
            return entry
    raise AssertionError("unreachable: validate_table requires a final open-ended entry")


def lookup(kernel: str, family: str, tokens: int) -> Config:
    """The shipped config for `kernel` on `family` at `tokens` (a copy; callers may fill it in)."""
    return dict(_entry(kernel, family, tokens)["config"])


def shipped(family: str) -> dict[str, list[tuple[str, int | None, Config]]]:
    """Every shipped (label, max_tokens, config) per kernel for `family`, alternatives included
    (what benchmarks/kernel_resources.py compiles)."""
    out: dict[str, list[tuple[str, int | None, Config]]] = {}
    for kernel, entries in table()["families"][family].items():
        rows = out.setdefault(kernel, [])
        for e in entries:
            bound = e["max_tokens"]
            label = f"<={bound}" if bound is not None else "rest"
            rows.append((label, bound, dict(e["config"])))
            rows += [(f"{label}~{j}", bound, dict(alt)) for j, alt in enumerate(e.get("alternatives", []))]
    return out


# --- opt-in first-call tuning -------------------------------------------------------------

_TUNED: dict[tuple, Config] = {}


def autotune_enabled() -> bool:
    """KIMI_ENGINE_AUTOTUNE=1 turns on first-call timing (off by default: table lookup only)."""
    return env_flag("KIMI_ENGINE_AUTOTUNE")


def choose(
    kernel: str,
    device: torch.device,
    interpreted: bool,
    tokens: int,
    launch: Callable[[Config], object],
    fixup: Callable[[Config], Config] | None = None,
    shape_key: tuple = (),
) -> Config:
    """The config for `kernel` at `tokens` on `device`: the table's, or (KIMI_ENGINE_AUTOTUNE=1,
    on a GPU) the fastest of it and its alternatives, timed once per (bucket, shape_key).

    launch(cfg) must run the kernel with cfg and be safe to repeat (it only writes outputs).
    fixup(cfg) fills shape-dependent fields (e.g. SPLIT_K) before a config is timed or used.
    """
    family = gpu_family(device, interpreted)
    fix = fixup or (lambda c: c)
    chosen = fix(lookup(kernel, family, tokens))
    if family == "interp" or not autotune_enabled():
        return chosen
    key = (kernel, family, token_bucket(tokens), shape_key)
    if key in _TUNED or torch.cuda.is_current_stream_capturing():
        return _TUNED.get(key, chosen)
    cands = [chosen] + [fix(dict(c)) for c in _entry(kernel, family, tokens).get("alternatives", [])]
    _TUNED[key] = _fastest(kernel, cands, launch)
    return _TUNED[key]


def _fastest(kernel: str, cands: list[Config], launch: Callable[[Config], object]) -> Config:
    from triton.testing import do_bench

    best, best_ms = cands[0], float("inf")
    for cfg in cands:
        try:
            ms = do_bench(lambda cfg=cfg: launch(cfg), warmup=5, rep=25)
        except Exception as exc:  # a candidate can exceed shared memory/registers on some GPUs
            _log.debug("config %s for %s failed: %s", cfg, kernel, exc)
            continue
        if ms < best_ms:
            best, best_ms = cfg, ms
    _log.info("tuned %s: %s (%.1f us)", kernel, best, best_ms * 1e3)
    return best
