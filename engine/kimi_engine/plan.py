"""Parameter counts and a memory plan computed from config.json alone (no weights read).

Pure Python (no torch): `kimi-code doctor` imports it in its own process.

    share = weights_per_gpu(cfg, gpus=8)            # bytes one GPU holds under tensor parallel
    report = fit(cfg, gpus=8, free_bytes=free)      # does it fit, and how many cache tokens
    print(format_fit(report))
"""

from __future__ import annotations

from dataclasses import dataclass

from kimi_engine.config import ModelConfig

BF16 = 2
GIB = 1 << 30
CACHE_SHARE = 0.9  # the server gives the latent cache 90% of what is free after loading (launch.py)
MIN_CACHE_TOKENS = 4096  # below this the model loads but cannot hold a useful conversation


class PlanError(ValueError):
    """The model cannot be split over that many GPUs (the message says why and what to use)."""


@dataclass(frozen=True)
class ParamCounts:
    embeddings: int  # embed_tokens + lm_head (once if tied)
    attention: int  # all layers, incl. their norms
    dense_mlp: int  # the first_k_dense_replace layers
    shared_experts: int
    routers: int
    routed_experts: int
    norms: int  # input/post-attention norms and the final norm

    @property
    def total(self) -> int:
        return (self.embeddings + self.attention + self.dense_mlp + self.shared_experts
                + self.routers + self.routed_experts + self.norms)

    @property
    def active_per_token(self) -> int:
        """Parameters one token touches: everything but the unselected routed experts."""
        return self.total - self.routed_experts


def count_params(cfg: ModelConfig) -> ParamCounts:
    h, heads = cfg.hidden_size, cfg.num_attention_heads
    q = (h * cfg.q_lora_rank + cfg.q_lora_rank + cfg.q_lora_rank * heads * cfg.qk_head_dim
         if cfg.q_lora_rank else h * heads * cfg.qk_head_dim)
    kv = (h * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) + cfg.kv_lora_rank
          + cfg.kv_lora_rank * heads * (cfg.qk_nope_head_dim + cfg.v_head_dim))
    attn = q + kv + heads * cfg.v_head_dim * h
    moe_layers = sum(cfg.is_moe_layer(i) for i in range(cfg.num_hidden_layers))
    dense_layers = cfg.num_hidden_layers - moe_layers
    expert = 3 * h * cfg.moe_intermediate_size
    return ParamCounts(
        embeddings=cfg.vocab_size * h * (1 if cfg.tie_word_embeddings else 2),
        attention=attn * cfg.num_hidden_layers,
        dense_mlp=3 * h * cfg.intermediate_size * dense_layers,
        shared_experts=expert * cfg.n_shared_experts * moe_layers,
        routers=(cfg.n_routed_experts * h + cfg.n_routed_experts) * moe_layers,
        routed_experts=expert * cfg.n_routed_experts * moe_layers,
        norms=(2 * cfg.num_hidden_layers + 1) * h,
    )


@dataclass(frozen=True)
class MemoryPlan:
    weight_bytes: int  # on-disk/in-memory weights as stored (experts INT4 if the config says so)
    kv_bytes_per_token: int  # bf16 latent cache, all layers
    params: ParamCounts

    def per_gpu(self, gpus: int) -> int:
        """Weight bytes per GPU with experts spread by expert parallel and the rest by tensor
        parallel: an even split (the router and norms are tiny and replicated)."""
        return -(-self.weight_bytes // gpus)

    def cache_tokens(self, gpus: int, gpu_bytes: int, reserve: float = 0.1) -> int:
        """Latent-cache tokens that fit beside the weights (cache split across GPUs by heads is
        not possible for MLA's shared latent, so each GPU holds the full cache of its sequences)."""
        free = gpu_bytes * (1 - reserve) - self.per_gpu(gpus)
        return max(0, int(free // self.kv_bytes_per_token))


def memory_plan(cfg: ModelConfig) -> MemoryPlan:
    p = count_params(cfg)
    dense_params = p.total - p.routed_experts
    if cfg.int4 is not None:
        # 4 bits per weight + one bf16 scale per group + the tiny weight_shape tensors
        experts = p.routed_experts // 2 + p.routed_experts // cfg.int4.group_size * BF16
    else:
        experts = p.routed_experts * BF16
    kv = cfg.num_hidden_layers * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * BF16
    return MemoryPlan(weight_bytes=dense_params * BF16 + experts, kv_bytes_per_token=kv, params=p)


def _human(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.0f} "


def describe(cfg: ModelConfig, gpu_counts: tuple[int, ...] = (1, 2, 4, 8), gpu_gb: float = 80.0) -> str:
    """Human-readable summary for `kimi-engine info`."""
    plan = memory_plan(cfg)
    p = plan.params
    gb = 1e9
    lines = [
        f"model_type       {cfg.model_type} ({'INT4 routed experts' if cfg.int4 else cfg.torch_dtype})",
        f"layers           {cfg.num_hidden_layers} ({cfg.first_k_dense_replace} dense), hidden {cfg.hidden_size}, "
        f"heads {cfg.num_attention_heads}, vocab {cfg.vocab_size}",
        f"MLA              q_lora {cfg.q_lora_rank}, kv_lora {cfg.kv_lora_rank}, "
        f"qk nope/rope/v {cfg.qk_nope_head_dim}/{cfg.qk_rope_head_dim}/{cfg.v_head_dim}",
        f"MoE              {cfg.n_routed_experts} experts top-{cfg.num_experts_per_tok} + {cfg.n_shared_experts} shared, "
        f"groups {cfg.n_group}/{cfg.topk_group}, scaling {cfg.routed_scaling_factor}",
        f"rope             {cfg.rope.kind} theta {cfg.rope.theta:g} factor {cfg.rope.factor:g}, "
        f"max positions {cfg.max_position_embeddings}",
        f"parameters       {_human(p.total)} total, {_human(p.active_per_token)} outside routed experts, "
        f"{_human(p.routed_experts)} in routed experts",
        f"weights          {_human(plan.weight_bytes)}B ({plan.weight_bytes / gb:.2f} GB)",
        f"latent KV cache  {plan.kv_bytes_per_token / 1024:.1f} KiB per token (bf16)",
        f"per-GPU plan     ({gpu_gb:g} GB GPUs, 10% reserve)",
    ]
    for n in gpu_counts:
        label = f"  {n} GPU{'s' if n > 1 else ' '}          "
        try:
            report = fit(cfg, n, int(gpu_gb * gb * 0.9))  # 10% of the GPU for the CUDA context etc.
        except PlanError as e:
            lines.append(label + f"cannot split: {e}")
            continue
        lines.append(label + f"{report.share.total / gb:8.2f} GB weights each (tensor parallel)"
                     + (f", room for {report.cache_tokens:,} cache tokens" if report.fits else ", does not fit"))
    return "\n".join(lines)


@dataclass(frozen=True)
class GpuShare:
    """Weight bytes one GPU holds when the model is split over `gpus` ranks like parallel.py does."""

    gpus: int
    replicated: int  # embeddings, lm_head, all norms, q_a/kv_a projections, routers
    split: int  # this rank's heads of q_b/kv_b/o_proj, its slice of the dense MLP and shared experts
    routed_experts: int  # its slice of every routed expert (or its whole experts under expert parallel)
    expert_parallel: bool = False

    @property
    def total(self) -> int:
        return self.replicated + self.split + self.routed_experts


def _split_problem(cfg: ModelConfig, gpus: int, expert_parallel: bool) -> str | None:
    """Why parallel.shard_config would refuse `gpus` ranks (same rules), or None."""
    if gpus < 1:
        return f"--gpus must be >= 1, got {gpus}"
    for name in ("num_attention_heads", "intermediate_size", "moe_intermediate_size"):
        if getattr(cfg, name) % gpus:
            return f"{name}={getattr(cfg, name)} is not divisible by {gpus} GPUs"
    if expert_parallel and cfg.n_routed_experts % gpus:
        return f"expert parallel: n_routed_experts={cfg.n_routed_experts} is not divisible by {gpus} GPUs"
    if cfg.int4 is not None and not expert_parallel and (cfg.moe_intermediate_size // gpus) % cfg.int4.group_size:
        return (f"tensor parallel over {gpus} GPUs cuts the INT4 experts' moe_intermediate_size="
                f"{cfg.moe_intermediate_size} off their quantisation groups of {cfg.int4.group_size} "
                f"(--expert-parallel avoids that)")
    return None


def usable_gpu_counts(cfg: ModelConfig, up_to: int, expert_parallel: bool = False) -> list[int]:
    """GPU counts in 1..up_to that the model can be split over."""
    return [n for n in range(1, up_to + 1) if _split_problem(cfg, n, expert_parallel) is None]


def check_split(cfg: ModelConfig, gpus: int, expert_parallel: bool = False) -> None:
    """Raise PlanError (naming the counts that work) when the model cannot be split over `gpus`."""
    problem = _split_problem(cfg, gpus, expert_parallel)
    if problem is not None:
        counts = ", ".join(map(str, usable_gpu_counts(cfg, 64, expert_parallel)))
        raise PlanError(f"{problem}; GPU counts that work: {counts}")


def weights_per_gpu(cfg: ModelConfig, gpus: int, dtype_bytes: int = BF16, expert_parallel: bool = False) -> GpuShare:
    """Bytes of weights one of `gpus` GPUs holds: attention heads and MLP/expert intermediate split,
    q_a/kv_a, routers, embeddings and norms replicated. 16-bit tensors take `dtype_bytes` (the
    serving dtype: bf16 on GPU); INT4 routed experts take their packed size, half a byte per weight,
    plus one `dtype_bytes` scale per group (the few-byte weight_shape tensors are not kept)."""
    check_split(cfg, gpus, expert_parallel)
    h, heads, layers = cfg.hidden_size, cfg.num_attention_heads, cfg.num_hidden_layers
    moe_layers = sum(cfg.is_moe_layer(i) for i in range(layers))
    if cfg.q_lora_rank:
        q_replicated, q_split = h * cfg.q_lora_rank + cfg.q_lora_rank, cfg.q_lora_rank * heads * cfg.qk_head_dim
    else:
        q_replicated, q_split = 0, h * heads * cfg.qk_head_dim
    kv_replicated = h * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) + cfg.kv_lora_rank
    kv_split = cfg.kv_lora_rank * heads * (cfg.qk_nope_head_dim + cfg.v_head_dim)
    replicated = (cfg.vocab_size * h * (1 if cfg.tie_word_embeddings else 2) + h  # embeddings, lm_head, final norm
                  + layers * (q_replicated + kv_replicated + 2 * h)
                  + moe_layers * (cfg.n_routed_experts * h + cfg.n_routed_experts))
    expert = 3 * h * cfg.moe_intermediate_size
    split = (layers * (q_split + kv_split + heads * cfg.v_head_dim * h)
             + (layers - moe_layers) * 3 * h * cfg.intermediate_size
             + moe_layers * cfg.n_shared_experts * expert)
    routed = moe_layers * cfg.n_routed_experts * expert  # parameters, divisible by gpus (checked)
    if cfg.int4 is not None:
        routed_bytes = routed // 2 + routed // cfg.int4.group_size * dtype_bytes
    else:
        routed_bytes = routed * dtype_bytes
    return GpuShare(gpus, replicated * dtype_bytes, split // gpus * dtype_bytes, routed_bytes // gpus, expert_parallel)


def kv_bytes_per_token(cfg: ModelConfig, dtype_bytes: int = BF16) -> int:
    """MLA latent cache per token, all layers: (kv_lora_rank + qk_rope_head_dim) x layers x dtype.
    Every rank holds the whole latent (it is shared by all heads), so this is also per GPU."""
    return (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * cfg.num_hidden_layers * dtype_bytes


@dataclass(frozen=True)
class FitReport:
    """Whether the model plus a useful latent cache fits in `free_bytes` on each GPU."""

    share: GpuShare
    kv_per_token: int
    free_bytes: int | None  # per GPU; None when unknown (no GPU, no --gpu-memory)
    min_cache_tokens: int

    @property
    def cache_tokens(self) -> int:
        """Latent-cache tokens the server would allocate (90% of what is free after loading)."""
        if self.free_bytes is None:
            return 0
        return max(0, int((self.free_bytes - self.share.total) * CACHE_SHARE) // self.kv_per_token)

    @property
    def fits(self) -> bool | None:
        return None if self.free_bytes is None else self.cache_tokens >= self.min_cache_tokens

    @property
    def shortfall(self) -> int:
        """Bytes per GPU missing for the weights plus min_cache_tokens of cache (0 when it fits)."""
        if self.free_bytes is None:
            return 0
        need = self.share.total + -(-self.min_cache_tokens * self.kv_per_token * 10 // 9)
        return max(0, need - self.free_bytes)


def fit(cfg: ModelConfig, gpus: int, free_bytes: int | None, *, dtype_bytes: int = BF16,
        expert_parallel: bool = False, min_cache_tokens: int = MIN_CACHE_TOKENS) -> FitReport:
    """The plan for `gpus` GPUs with `free_bytes` free on each (the smallest, if they differ)."""
    share = weights_per_gpu(cfg, gpus, dtype_bytes, expert_parallel)
    return FitReport(share, kv_bytes_per_token(cfg, dtype_bytes), free_bytes, min_cache_tokens)


def _gib(n: int) -> str:
    """Bytes in GiB (MiB or KiB for tiny models, so they do not read 0.00 GiB)."""
    for unit, size in (("GiB", GIB), ("MiB", 1 << 20)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n / 1024:.1f} KiB"


def _numbers(report: FitReport) -> str:
    r, n = report, report.share.gpus
    weights = f"{_gib(r.share.total)} of weights " + (f"per GPU on {n} GPUs" if n > 1 else "on 1 GPU")
    if r.free_bytes is None:
        return f"{weights}; KV cache {r.kv_per_token / 1024:.1f} KiB per token"
    if r.fits:
        return f"{weights}, {_gib(r.free_bytes)} free: room for {r.cache_tokens:,} cache tokens"
    return (f"{weights} + {r.min_cache_tokens:,} cache tokens need {_gib(r.free_bytes + r.shortfall)}, "
            f"{_gib(r.free_bytes)} free (short by {_gib(r.shortfall)} per GPU)")


def fit_summary(report: FitReport) -> str:
    """One line: the verdict with its numbers (doctor's "model fits" line)."""
    return ("does not fit: " if report.fits is False else "") + _numbers(report)


def format_fit(cfg: ModelConfig, report: FitReport) -> str:
    """`kimi-engine plan` output: the split, the per-GPU weights, the cache and the verdict."""
    s = report.share
    mode = "expert parallel" if s.expert_parallel else "tensor parallel"
    experts = "INT4" if cfg.int4 else "16-bit"
    lines = [
        f"model            {cfg.model_type}, {cfg.num_hidden_layers} layers, {cfg.n_routed_experts} routed "
        f"experts ({experts})",
        f"split            {s.gpus} GPU{'s' if s.gpus > 1 else ''}, {mode}",
        f"weights per GPU  {_gib(s.total)}  (replicated {_gib(s.replicated)}, split {_gib(s.split)}, "
        f"routed experts {_gib(s.routed_experts)})",
        f"KV cache         {report.kv_per_token:,} bytes per token (MLA latent {cfg.kv_lora_rank}+"
        f"{cfg.qk_rope_head_dim} x {cfg.num_hidden_layers} layers), on every GPU",
    ]
    if report.free_bytes is None:
        lines.append("free memory      unknown (no CUDA GPU visible): pass --gpu-memory GiB to check the fit")
    else:
        lines.append(f"free memory      {_gib(report.free_bytes)} per GPU")
        lines.append(f"cache            {report.cache_tokens:,} tokens "
                     f"({CACHE_SHARE:.0%} of what is left after the weights)")
        verdict = "FITS" if report.fits else "DOES NOT FIT"
        lines.append(f"verdict          {verdict}: {_numbers(report)}")
    return "\n".join(lines)
