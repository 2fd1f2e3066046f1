"""Triton kernels of the INT4 fused MoE (the checked wrapper and reference are in fused_moe.py).

Expert stacks (one layer): gate_up packed int32 [E, 2I, ceil(H/8)] + scale [E, 2I, ceil(H/32)],
rows [0, I) = gate_proj, rows [I, 2I) = up_proj; down packed int32 [E, H, ceil(I/8)] + scale
[E, H, ceil(I/32)]. A pair p = token * TOPK + slot; an expert id < 0 means "skip this pair" (its
loops run zero iterations, so it costs no memory traffic).

Decode (2 launches): gate_up GEMV + SiLU*mul per (pair, I-block, split of H), then down GEMV per
(token, H-block) looping over the token's TOPK experts and summing with the routing weights (and
the shared expert's output, if given) in registers: no atomics, no [T, TOPK, H] round trip.
Prefill (2 launches over moe_align's sorted blocks): the same two steps as grouped tl.dot GEMMs.
"""

from __future__ import annotations

import triton
import triton.language as tl

from kimi_engine.kernels._int4 import (
    dot_acc,
    int4_gemv_tile,
    int4_tile_t,
    load_x_words,
    split_k_reduce,
)


@triton.jit
def moe_gate_up_decode_kernel(
    x_ptr, ids_ptr, p_ptr, s_ptr, act_ptr, ws_ptr, lock_ptr,
    H, INTER, TOPK, K_SPLIT,
    stride_xt, stride_pe, stride_pn, stride_se, stride_sn, stride_ap, stride_ws,
    BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, SPLIT_K: tl.constexpr,
):
    """Grid (T*TOPK, cdiv(INTER, BLOCK_N), SPLIT_K): act[p, n] = silu(x_t . gate_e[n]) * (x_t . up_e[n]).

    act fp32 [T*TOPK, INTER]. Split k of H is [k*K_SPLIT, (k+1)*K_SPLIT): with SPLIT_K > 1 the
    (gate, up) partials go to ws fp32 [SPLIT_K, T*TOPK, 2*INTER] and the last split of each
    (pair, INTER-block) sums them in order and applies SiLU*mul (split_k_reduce; lock: int32
    per (pair, block), zero). Decode under TP8 has I = 256 per rank: without splitting H, one
    token gives only TOPK * I / BLOCK_N programs, far fewer than the SMs.
    """
    pair = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    expert = tl.load(ids_ptr + pair)
    k_start = tl.program_id(2) * K_SPLIT
    k_end = tl.where(expert >= 0, tl.minimum(k_start + K_SPLIT, H), 0)
    e64 = tl.maximum(expert, 0).to(tl.int64)
    gate_p = p_ptr + e64 * stride_pe
    gate_s = s_ptr + e64 * stride_se
    up_p = gate_p + INTER * stride_pn
    up_s = gate_s + INTER * stride_sn
    x_row = x_ptr + (pair // TOPK).to(tl.int64) * stride_xt
    acc_g = tl.zeros([BLOCK_N], dtype=tl.float32)
    acc_u = tl.zeros([BLOCK_N], dtype=tl.float32)
    for k0 in range(k_start, k_end, BLOCK_K):
        x3 = load_x_words(x_row, k0 // 8, H, BLOCK_K // 8)
        acc_g += int4_gemv_tile(gate_p, gate_s, x3, offs_n, k0 // 8, INTER, H, stride_pn, stride_sn, BLOCK_K // 8)
        acc_u += int4_gemv_tile(up_p, up_s, x3, offs_n, k0 // 8, INTER, H, stride_pn, stride_sn, BLOCK_K // 8)
    n_ok = offs_n < INTER
    act_ptrs = act_ptr + pair.to(tl.int64) * stride_ap + offs_n
    if SPLIT_K == 1:
        tl.store(act_ptrs, acc_g * tl.sigmoid(acc_g) * acc_u, mask=n_ok)
    else:
        both = tl.join(acc_g, acc_u)  # [BLOCK_N, 2]: gate at column 0, up at column 1
        ws_offs = pair.to(tl.int64) * (2 * INTER) + offs_n[:, None] + INTER * tl.arange(0, 2)[None, :]
        tile = pair * tl.num_programs(1) + pid_n
        total, last = split_k_reduce(both, ws_ptr, ws_offs, stride_ws, n_ok[:, None], lock_ptr, tile, SPLIT_K)
        if last:
            g, u = tl.split(total)
            tl.store(act_ptrs, g * tl.sigmoid(g) * u, mask=n_ok)


@triton.jit
def moe_down_decode_kernel(
    act_ptr, ids_ptr, w_ptr, p_ptr, s_ptr, shared_ptr, out_ptr,
    H, INTER, TOPK,
    stride_ap, stride_pe, stride_pn, stride_se, stride_sn, stride_sh, stride_ot,
    HAS_SHARED: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """Grid (T, cdiv(H, BLOCK_N)): out[t, n] = sum_j w[t, j] * (act[p] . down_e[n]) (+ shared[t, n])."""
    tok = tl.program_id(0)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros([BLOCK_N], dtype=tl.float32)
    for j in range(0, TOPK):
        pair = tok * TOPK + j
        expert = tl.load(ids_ptr + pair)
        weight = tl.load(w_ptr + pair).to(tl.float32)
        k_hi = tl.where(expert >= 0, INTER, 0)
        e64 = tl.maximum(expert, 0).to(tl.int64)
        down_p = p_ptr + e64 * stride_pe
        down_s = s_ptr + e64 * stride_se
        act_row = act_ptr + pair.to(tl.int64) * stride_ap
        part = tl.zeros([BLOCK_N], dtype=tl.float32)
        for k0 in range(0, k_hi, BLOCK_K):
            a3 = load_x_words(act_row, k0 // 8, INTER, BLOCK_K // 8)
            part += int4_gemv_tile(down_p, down_s, a3, offs_n, k0 // 8, H, INTER, stride_pn, stride_sn, BLOCK_K // 8)
        acc += weight * part
    if HAS_SHARED:
        shared = tl.load(shared_ptr + tok.to(tl.int64) * stride_sh + offs_n, mask=offs_n < H, other=0.0)
        acc += shared.to(tl.float32)
    out_ptrs = out_ptr + tok.to(tl.int64) * stride_ot + offs_n
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=offs_n < H)


@triton.jit
def moe_gate_up_grouped_kernel(
    x_ptr, sorted_ptr, block_expert_ptr, p_ptr, s_ptr, act_ptr,
    H, INTER, TOPK, NUM_PAIRS,
    stride_xt, stride_pe, stride_pn, stride_se, stride_sn, stride_ap,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, IS_FP32: tl.constexpr,
):
    """Grid (num_blocks, cdiv(INTER, BLOCK_N)): one expert's BLOCK_M sorted pairs x one INTER-block."""
    block = tl.program_id(0)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    expert = tl.load(block_expert_ptr + block)
    k_hi = tl.where(expert >= 0, H, 0)
    e64 = tl.maximum(expert, 0).to(tl.int64)
    pairs = tl.load(sorted_ptr + block * BLOCK_M + tl.arange(0, BLOCK_M))
    row_ok = pairs < NUM_PAIRS
    x_rows = x_ptr + (pairs // TOPK).to(tl.int64)[:, None] * stride_xt
    gate_p = p_ptr + e64 * stride_pe
    gate_s = s_ptr + e64 * stride_se
    acc_g = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    acc_u = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, k_hi, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        x = tl.load(x_rows + offs_k[None, :], mask=row_ok[:, None] & (offs_k[None, :] < H), other=0.0)
        g = int4_tile_t(gate_p, gate_s, offs_n, k0 // 8, INTER, H, stride_pn, stride_sn, BLOCK_K)
        acc_g = dot_acc(acc_g, x, g, IS_FP32)
        u = int4_tile_t(gate_p + INTER * stride_pn, gate_s + INTER * stride_sn, offs_n, k0 // 8, INTER, H,
                        stride_pn, stride_sn, BLOCK_K)
        acc_u = dot_acc(acc_u, x, u, IS_FP32)
    act = acc_g * tl.sigmoid(acc_g) * acc_u
    ptrs = act_ptr + pairs.to(tl.int64)[:, None] * stride_ap + offs_n[None, :]
    tl.store(ptrs, act.to(act_ptr.dtype.element_ty), mask=row_ok[:, None] & (offs_n[None, :] < INTER))


@triton.jit
def moe_down_grouped_kernel(
    act_ptr, sorted_ptr, block_expert_ptr, w_ptr, p_ptr, s_ptr, out_ptr,
    H, INTER, NUM_PAIRS,
    stride_ap, stride_pe, stride_pn, stride_se, stride_sn, stride_op,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, IS_FP32: tl.constexpr,
):
    """Grid (num_blocks, cdiv(H, BLOCK_N)): out[p, n] = w[p] * (act[p] . down_e[n]) per sorted pair."""
    block = tl.program_id(0)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    expert = tl.load(block_expert_ptr + block)
    k_hi = tl.where(expert >= 0, INTER, 0)
    e64 = tl.maximum(expert, 0).to(tl.int64)
    pairs = tl.load(sorted_ptr + block * BLOCK_M + tl.arange(0, BLOCK_M))
    row_ok = pairs < NUM_PAIRS
    a_rows = act_ptr + pairs.to(tl.int64)[:, None] * stride_ap
    down_p = p_ptr + e64 * stride_pe
    down_s = s_ptr + e64 * stride_se
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, k_hi, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        a = tl.load(a_rows + offs_k[None, :], mask=row_ok[:, None] & (offs_k[None, :] < INTER), other=0.0)
        wt = int4_tile_t(down_p, down_s, offs_n, k0 // 8, H, INTER, stride_pn, stride_sn, BLOCK_K)
        acc = dot_acc(acc, a, wt, IS_FP32)
    weight = tl.load(w_ptr + pairs, mask=row_ok, other=0.0).to(tl.float32)
    acc = acc * weight[:, None]
    ptrs = out_ptr + pairs.to(tl.int64)[:, None] * stride_op + offs_n[None, :]
    tl.store(ptrs, acc.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & (offs_n[None, :] < H))
