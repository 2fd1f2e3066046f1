"""Serving benchmark on a tiny random checkpoint (CPU), through the real HTTP server and openai SDK.

Prints, side by side in one run:
  1. throughput of N concurrent clients (continuous batching) vs the same N requests one at a time
     (issue 9 target: >= 6x with 16 streams);
  2. time to first token for a long prompt (default 8k tokens) on a cold cache vs the second request
     sharing that prefix (target: second <= 20% of the first).

    .venv/bin/python benchmarks/serving_bench.py [--clients 16] [--tokens 32] [--prefix 8192]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import openai
from kimi_engine.launch import ServeOptions, build_server
from kimi_engine.server import ServerThread
from kimi_engine.synthetic import (
    TINY_TEXT_CONFIG,
    random_state_dict,
    train_bpe,
    write_checkpoint,
    write_tokenizer,
)


def checkpoint(root: Path) -> Path:
    ranks = train_bpe()
    text = {**TINY_TEXT_CONFIG, "vocab_size": len(ranks) + 256, "eos_token_id": len(ranks) + 1,
            "max_position_embeddings": 32768}
    write_checkpoint(root, random_state_dict(text, seed=7), text)
    write_tokenizer(root, ranks=ranks)
    return root


def ask(client: openai.OpenAI, content: str, max_tokens: int) -> int:
    r = client.chat.completions.create(model="bench", messages=[{"role": "user", "content": content}],
                                       max_tokens=max_tokens, temperature=0)
    return r.usage.completion_tokens


def throughput(client: openai.OpenAI, n: int, tokens: int) -> tuple[float, float]:
    prompts = [f"client {i}: def main(): return {i}" for i in range(n)]
    start = time.perf_counter()
    seq = sum(ask(client, p, tokens) for p in prompts)
    t_seq = time.perf_counter() - start
    counts = [0] * n

    def one(i: int) -> None:
        counts[i] = ask(client, prompts[i], tokens)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_par = time.perf_counter() - start
    return seq / t_seq, sum(counts) / t_par


def ttft(client: openai.OpenAI, prefix_tokens: int) -> tuple[float, float, int]:
    shared = "Paris Beijing def main(): return 42 " * (prefix_tokens // 30)  # ~30 tiny-BPE tokens each
    times = []
    for suffix in ("first question", "second question"):
        start = time.perf_counter()
        stream = client.chat.completions.create(model="bench", stream=True, max_tokens=1, temperature=0,
                                                messages=[{"role": "system", "content": shared},
                                                          {"role": "user", "content": suffix}])
        for chunk in stream:
            if chunk.choices and (chunk.choices[0].delta.content or chunk.choices[0].finish_reason):
                break
        times.append(time.perf_counter() - start)
        stream.close()
    r = client.chat.completions.create(model="bench", max_tokens=1, temperature=0,
                                       messages=[{"role": "system", "content": shared},
                                                 {"role": "user", "content": "third"}])
    return times[0], times[1], r.usage.prompt_tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--prefix", type=int, default=8192)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = checkpoint(Path(tmp))
        server = build_server(path, ServeOptions(model_name="bench", cache_gb=0.5, max_seq_len=32768,
                                                 max_batch=max(32, args.clients), step_tokens=2048))
        thread = ServerThread(server)
        client = openai.OpenAI(base_url=thread.base_url, api_key="x", max_retries=0, timeout=600)
        try:
            seq, par = throughput(client, args.clients, args.tokens)
            print(f"throughput, {args.clients} clients x {args.tokens} tokens: one at a time {seq:.1f} tok/s, "
                  f"continuous batching {par:.1f} tok/s, ratio {par / seq:.2f}x (target >= 6x)")
            cold, warm, n = ttft(client, args.prefix)
            print(f"time to first token, {n}-token prompt: cold {cold * 1000:.0f} ms, shared prefix "
                  f"{warm * 1000:.0f} ms, ratio {warm / cold:.1%} (target <= 20%)")
            print(f"metrics: {server.metrics()}")
        finally:
            thread.stop()


if __name__ == "__main__":
    main()
