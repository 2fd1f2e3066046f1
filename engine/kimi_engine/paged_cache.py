"""Paged MLA latent cache with prefix caching keyed by token blocks.

The pool holds, per layer, `num_blocks` blocks of `block_size` token slots:
    kv [L, num_blocks * block_size, C]  (normalised compressed KV, C = kv_lora_rank)
    pe [L, num_blocks * block_size, R]  (rotated shared rope key, R = qk_rope_head_dim)
A sequence owns a block table (list of block ids); token position p lives in flat slot
    table[p // block_size] * block_size + p % block_size.

Prefix cache: every *full* block whose latents are computed is registered under a chain hash of
(hash of the previous block, the block's token ids), so a block is only reused when the whole
prefix before it matches too. Blocks are reference counted; a cached block nobody uses stays in
an LRU and is evicted (oldest first) only when a fresh block is needed.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from kimi_engine.config import ModelConfig


class OutOfBlocksError(RuntimeError):
    """The pool has no free or evictable block left."""


def block_hash(parent: bytes, tokens: Sequence[int]) -> bytes:
    """Chain hash of one full block given the hash of the block before it (b"" for the first)."""
    h = hashlib.blake2b(parent, digest_size=16)
    h.update(b",".join(str(t).encode() for t in tokens))
    return h.digest()


@dataclass
class CacheStats:
    """Counters exposed in /metrics: prefix-cache lookups are counted in tokens and blocks."""

    hit_blocks: int = 0
    miss_blocks: int = 0
    hit_tokens: int = 0
    evicted_blocks: int = 0


class PagedLatentCache:
    """Block pool + allocator + prefix cache. Not thread safe: the scheduler thread owns it."""

    def __init__(self, cfg: ModelConfig, num_blocks: int, block_size: int = 16,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"need num_blocks >= 1 and block_size >= 1, got {num_blocks}, {block_size}")
        slots = num_blocks * block_size
        self.kv = torch.zeros(cfg.num_hidden_layers, slots, cfg.kv_lora_rank, device=device, dtype=dtype)
        self.pe = torch.zeros(cfg.num_hidden_layers, slots, cfg.qk_rope_head_dim, device=device, dtype=dtype)
        self.num_blocks, self.block_size = num_blocks, block_size
        self.refcount = [0] * num_blocks
        self.free: list[int] = list(range(num_blocks - 1, -1, -1))  # pop() hands out 0, 1, 2...
        self.block_key: dict[int, bytes] = {}  # block id -> its chain hash, for registered blocks
        self.by_key: dict[bytes, int] = {}  # chain hash -> block id
        self.lru: OrderedDict[int, None] = OrderedDict()  # registered blocks with refcount 0
        self.stats = CacheStats()

    @staticmethod
    def blocks_for_memory(cfg: ModelConfig, nbytes: int, block_size: int, dtype_bytes: int) -> int:
        """How many blocks fit in `nbytes` of cache memory."""
        per_block = cfg.num_hidden_layers * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * dtype_bytes * block_size
        return max(1, nbytes // per_block)

    @property
    def available(self) -> int:
        """Blocks that can be handed out now (free plus evictable)."""
        return len(self.free) + len(self.lru)

    def layer(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat views (kv [slots, C], pe [slots, R]) of layer i."""
        return self.kv[i], self.pe[i]

    def allocate(self) -> int:
        """A fresh block (refcount 1), evicting the least recently used cached block if needed."""
        if self.free:
            block = self.free.pop()
        elif self.lru:
            block, _ = self.lru.popitem(last=False)
            del self.by_key[self.block_key.pop(block)]
            self.stats.evicted_blocks += 1
        else:
            raise OutOfBlocksError(f"all {self.num_blocks} cache blocks are in use")
        self.refcount[block] = 1
        return block

    def release(self, blocks: Sequence[int]) -> None:
        """Drop one reference to each block; unreferenced blocks become free or evictable.
        A table is released back to front, so a chain's tail is evicted before its head (a block
        is only reachable through the blocks before it)."""
        for block in reversed(blocks):
            self.refcount[block] -= 1
            if self.refcount[block] == 0:
                if block in self.block_key:
                    self.lru[block] = None
                else:
                    self.free.append(block)

    def match_prefix(self, tokens: Sequence[int], count: bool = True) -> tuple[list[int], list[bytes]]:
        """Longest cached run of full blocks that prefixes `tokens`. The matched blocks are
        referenced (the caller must release them). At least one token is always left uncached,
        so the caller still has a token to run for the next-token logits. `count=False` leaves
        the hit/miss counters alone (a lookup that may be retried; see count_lookup)."""
        bs, parent = self.block_size, b""
        blocks: list[int] = []
        hashes: list[bytes] = []
        for start in range(0, len(tokens) - 1 - (len(tokens) - 1) % bs, bs):
            key = block_hash(parent, tokens[start : start + bs])
            block = self.by_key.get(key)
            if block is None:
                break
            blocks.append(block)
            hashes.append(key)
            parent = key
        for block in blocks:
            if self.refcount[block] == 0:
                self.lru.pop(block, None)
            self.refcount[block] += 1
        if count:
            self.count_lookup(len(tokens), len(blocks))
        return blocks, hashes

    def count_lookup(self, n_tokens: int, hit_blocks: int) -> None:
        """Count one lookup of `n_tokens` tokens that matched `hit_blocks` cached blocks."""
        full = (n_tokens - 1) // self.block_size
        self.stats.hit_blocks += hit_blocks
        self.stats.miss_blocks += full - hit_blocks
        self.stats.hit_tokens += hit_blocks * self.block_size

    def register(self, table: Sequence[int], tokens: Sequence[int], hashes: list[bytes]) -> None:
        """Register the full blocks of a sequence whose latents for `tokens` are computed.
        `hashes` holds the chain hashes of the blocks already registered (extended in place)."""
        bs = self.block_size
        for i in range(len(hashes), len(tokens) // bs):
            parent = hashes[-1] if hashes else b""
            key = block_hash(parent, tokens[i * bs : (i + 1) * bs])
            hashes.append(key)
            block = table[i]
            if key in self.by_key or block in self.block_key:
                continue  # an identical block is already cached (computed twice concurrently)
            self.by_key[key] = block
            self.block_key[block] = key

    def slots(self, table: Sequence[int], start: int, end: int) -> list[int]:
        """Flat slot index of positions start..end-1 of a sequence with block table `table`."""
        bs = self.block_size
        return [table[p // bs] * bs + p % bs for p in range(start, end)]
