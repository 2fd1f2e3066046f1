"""A tiny random checkpoint (real on-disk format + tokenizer) and a server over it on 127.0.0.1.

The model is random, so tests that need particular output (tool calls, reasoning, stop strings)
script the sampled ids: a prompt containing `[[tag]]` makes the scheduler's sample hook emit
`scripts[tag]` token by token (then the end-of-turn id); all other requests sample normally.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from kimi_engine.engine import Engine
from kimi_engine.launch import ServeOptions, build_server
from kimi_engine.scheduler import Request
from kimi_engine.server import EngineServer, ServerThread
from kimi_engine.synthetic import (
    TINY_TEXT_CONFIG,
    random_state_dict,
    train_bpe,
    write_checkpoint,
    write_tokenizer,
)

MODEL = "tiny-kimi"


def write_tiny(path: Path, seed: int = 3) -> Path:
    ranks = train_bpe()
    text = {**TINY_TEXT_CONFIG, "vocab_size": len(ranks) + 256, "eos_token_id": len(ranks) + 1}
    write_checkpoint(path, random_state_dict(text, seed=seed), text)
    write_tokenizer(path, ranks=ranks)
    return path


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("tiny-kimi"))


@pytest.fixture(scope="session")
def engine(tiny_path: Path) -> Engine:
    return Engine.from_pretrained(tiny_path, max_seq_len=1024)


class Scripts:
    """Sample hook: scripted token ids for prompts that carry a `[[tag]]` (the last one wins)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_tag: dict[str, list[int]] = {}
        self.end = engine.tokenizer.special_id("<|im_end|>")

    def add(self, tag: str, text: str) -> None:
        """Script `text` (markers become their special ids) for prompts containing [[tag]]."""
        ids: list[int] = []
        tok = self.engine.tokenizer
        for part in _split_markers(text, list(tok.specials)):
            ids += [tok.special_id(part)] if part in tok.specials else tok.encode(part)
        self.by_tag[tag] = ids

    def __call__(self, req: Request, logits: torch.Tensor) -> int | None:
        script = req.__dict__.get("_script", ...)
        if script is ...:
            text = self.engine.tokenizer.decode(req.prompt)
            found = [(text.rfind(f"[[{tag}]]"), ids) for tag, ids in self.by_tag.items() if f"[[{tag}]]" in text]
            script = max(found, key=lambda f: f[0])[1] if found else None  # the latest turn's tag wins
            req.__dict__["_script"] = script
        if script is None:
            return None
        n = len(req.output)
        return script[n] if n < len(script) else self.end


def _split_markers(text: str, markers: list[str]) -> list[str]:
    out, buf, i = [], "", 0
    while i < len(text):
        hit = next((m for m in markers if text.startswith(m, i)), None)
        if hit:
            out += [buf, hit] if buf else [hit]
            buf, i = "", i + len(hit)
        else:
            buf, i = buf + text[i], i + 1
    return out + ([buf] if buf else [])


@pytest.fixture(scope="session")
def scripts(engine: Engine) -> Scripts:
    return Scripts(engine)


def start(engine: Engine, tiny_path: Path, scripts: Scripts | None = None, **opts: Any) -> tuple[EngineServer, ServerThread]:
    options = ServeOptions(model_name=MODEL, cache_gb=0.02, max_seq_len=1024, **opts)
    server = build_server(tiny_path, options, engine=engine, sample_hook=scripts)
    return server, ServerThread(server, "127.0.0.1", 0)


@pytest.fixture(scope="module")
def served(engine: Engine, tiny_path: Path, scripts: Scripts) -> Iterator[tuple[EngineServer, ServerThread]]:
    server, thread = start(engine, tiny_path, scripts, api_key="sekret")
    yield server, thread
    thread.stop()
