"""`kimi-engine serve --gpus 2 --expert-parallel` end to end: two gloo ranks behind rank 0's HTTP
server answer a greedy chat request exactly like the one-process server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import openai
from kimi_engine.parallel import free_port

from .conftest import MODEL, start


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, timeout: float = 150.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}: {proc.stderr.read().decode()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("serve --gpus 2 --expert-parallel never became healthy")


def _chat(base_url: str) -> Any:
    client = openai.OpenAI(base_url=base_url, api_key="none", max_retries=0)
    return client.chat.completions.create(model=MODEL, max_tokens=10, temperature=0,
                                          messages=[{"role": "user", "content": "hello world"}])


def test_expert_parallel_server_matches_one_process(engine: Any, tiny_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "kimi_engine", "serve", str(tiny_path), "--gpus", "2", "--expert-parallel",
           "--port", str(port), "--device", "cpu", "--cache-gb", "0.02", "--max-seq-len", "1024",
           "--model-name", MODEL]
    env = {k: v for k, v in os.environ.items() if k != "KIMI_ENGINE_API_KEY"}
    # Own session: the ranks spawned by the server are stopped with it, by its process group.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_healthy(proc, port)
        got = _chat(f"http://127.0.0.1:{port}/v1")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    server, thread = start(engine, tiny_path)
    try:
        want = _chat(thread.base_url)
    finally:
        thread.stop()
        server.scheduler.shutdown()
    assert got.usage.completion_tokens == want.usage.completion_tokens > 0
    assert got.choices[0].message.model_dump() == want.choices[0].message.model_dump()  # text and reasoning
