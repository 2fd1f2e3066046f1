"""Parameter counts and a memory plan computed from config.json alone (no weights read)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ModelConfig

BF16 = 2


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
        share = plan.per_gpu(n) / gb
        fits = plan.per_gpu(n) < gpu_gb * gb * 0.9
        tokens = plan.cache_tokens(n, int(gpu_gb * gb)) if fits else 0
        lines.append(f"  {n} GPU{'s' if n > 1 else ' '}          {share:8.2f} GB weights each"
                     + (f", room for {tokens:,} cache tokens" if fits else ", does not fit"))
    return "\n".join(lines)
