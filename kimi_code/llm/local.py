"""Provider `engine`: the embedded Kimi engine behind its own OpenAI-compatible server.

- `base_url` set and no `path`: talk to that running server (`kimi-code serve`, vLLM, SGLang).
- otherwise load `path` in this process: the engine's server runs on a background thread on
  127.0.0.1 with a random port and a random bearer token, and the ordinary OpenAI provider talks to
  it. One server per checkpoint per process, so the swarm's subagents share one batch and one
  prefix cache.
- several GPUs: `kimi-code serve --gpus N` is started as a child process and used the same way.

torch and kimi_engine are imported inside functions only (the CLI must start without them).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from kimi_code.config import ConfigError, ModelConfig
from kimi_code.llm.base import Message, StreamEvent, ToolSpec
from kimi_code.llm.openai import OpenAIProvider


class _Local:
    """A running engine server this process started: where it is and how to reach it."""

    def __init__(self, base_url: str, api_key: str, model: str, context_window: int, handle: Any) -> None:
        self.base_url, self.api_key, self.model = base_url, api_key, model
        self.context_window, self.handle = context_window, handle


_SERVERS: dict[str, _Local] = {}
_LOCK = threading.Lock()


class LocalProvider:
    """An OpenAIProvider pointed at the engine's server (which outlives the provider)."""

    def __init__(self, inner: OpenAIProvider) -> None:
        self._inner = inner
        self.model = inner.model
        self.context_window = inner.context_window

    def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *,
               max_tokens: int | None = None) -> AsyncIterator[StreamEvent]:
        return self._inner.stream(messages, tools, max_tokens=max_tokens)

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_local_provider(model: ModelConfig) -> LocalProvider:
    """A ChatProvider for provider = "engine". Raises ConfigError with what to set when the
    checkpoint is missing or cannot be loaded."""
    # A checkpoint path wins: with KIMI_PROVIDER=engine the model may still carry the default
    # API base_url it had as an openai model.
    if model.base_url and not model.path:
        inner = OpenAIProvider(model=model.model or model.name, base_url=model.base_url, api_key=model.api_key,
                               context_window=model.context_window, max_tokens=model.max_tokens,
                               temperature=model.temperature)
        return LocalProvider(inner)
    path = _checkpoint(model.path)
    local = _server_for(path)
    inner = OpenAIProvider(model=local.model, base_url=local.base_url, api_key=local.api_key,
                           context_window=min(model.context_window, local.context_window),
                           max_tokens=model.max_tokens, temperature=model.temperature)
    return LocalProvider(inner)


def _checkpoint(path: str | None) -> Path:
    if not path:
        raise ConfigError("provider \"engine\" needs a checkpoint: set `path` in the model's config table or "
                          "KIMI_MODEL_PATH (or `base_url` of a running `kimi-code serve`)")
    root = Path(path).expanduser().resolve()
    if not (root / "config.json").is_file():
        raise ConfigError(f"{root} is not a Hugging Face checkpoint directory (no config.json); "
                          "check KIMI_MODEL_PATH or the model's `path`")
    return root


def _server_for(path: Path) -> _Local:
    with _LOCK:
        if str(path) not in _SERVERS:
            gpus = _gpu_count()
            _SERVERS[str(path)] = _spawn(path, gpus) if gpus > 1 else _in_process(path)
        return _SERVERS[str(path)]


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _in_process(path: Path) -> _Local:
    from kimi_engine.launch import ServeOptions, build_server
    from kimi_engine.server import ServerThread

    token = secrets.token_urlsafe(24)
    try:
        server = build_server(path, ServeOptions(device=None, api_key=token, model_name=path.name,
                                                 max_seq_len=int(os.environ.get("KIMI_ENGINE_MAX_SEQ_LEN", 32768))))
    except (ValueError, OSError, RuntimeError) as exc:  # RuntimeError: torch (out of memory, bad device)
        raise ConfigError(f"cannot load the engine checkpoint {path}: {exc}") from None
    thread = ServerThread(server, "127.0.0.1", 0)
    return _Local(thread.base_url, token, server.model_name, server.engine.max_seq_len, thread)


def _spawn(path: Path, gpus: int, timeout: float = 1800.0) -> _Local:
    """Start `kimi-engine serve --gpus N` as a child on a free port and wait for /health."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_urlsafe(24)
    env = {**os.environ, "KIMI_ENGINE_API_KEY": token}
    proc = subprocess.Popen([sys.executable, "-m", "kimi_engine", "serve", str(path), "--port", str(port),
                             "--gpus", str(gpus), "--model-name", path.name], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"the engine server for {path} exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    return _Local(base + "/v1", token, path.name, 262144, proc)
        except OSError:
            time.sleep(1.0)
    proc.terminate()
    raise ConfigError(f"the engine server for {path} did not become healthy in {timeout:.0f}s")


def serve_main(model: Path | None, host: str, port: int, gpus: int,
               expert_parallel: bool = False) -> int:
    """`kimi-code serve`: the engine's OpenAI-compatible server in the foreground."""
    path = model or (Path(os.environ["KIMI_MODEL_PATH"]) if os.environ.get("KIMI_MODEL_PATH") else None)
    if path is None:
        print("kimi-code serve: error: --model PATH (or KIMI_MODEL_PATH) is required", file=sys.stderr)
        return 2
    try:
        from kimi_engine.launch import ServeOptions
        from kimi_engine.launch import serve_main as engine_serve
    except ModuleNotFoundError as exc:
        print(f"kimi-code serve: error: the engine is not installed (missing {exc.name!r}); "
              "run ./install.sh --engine", file=sys.stderr)
        return 2
    try:
        root = _checkpoint(str(path))
        return engine_serve(root, host, port, gpus, ServeOptions(expert_parallel=expert_parallel))
    except (ConfigError, ValueError, OSError, RuntimeError) as exc:
        print(f"kimi-code serve: error: {exc}", file=sys.stderr)
        return 2
