"""Engine: model + tokenizer + latent cache, for generation and chat (one request at a time).

    engine = Engine.from_pretrained(path)
    for event in engine.chat(messages, tools, SamplingParams(max_tokens=200), thinking=True):
        ...  # parsers.Delta (reasoning / content / tool_call), then one Finish
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from kimi_engine.chat_template import render_segments
from kimi_engine.model import KimiForCausalLM, load_model
from kimi_engine.parsers import Delta, ParsedMessage, StreamParser
from kimi_engine.sampling import SamplingParams, sample
from kimi_engine.tokenizer import StreamDecoder, Tokenizer

FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class Finish:
    """Last event of a generation."""

    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    message: ParsedMessage | None = None


class StopMatcher:
    """Cuts a text stream at the first stop string, holding back text that may start one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self._buf = ""
        self.hit = False

    def push(self, text: str) -> str:
        """Feed text; returns what is safe to emit now. Sets `hit` when a stop string appears."""
        if self.hit:
            return ""
        self._buf += text
        found = [self._buf.find(s) for s in self.stops if s in self._buf]
        if found:
            self.hit = True
            out, self._buf = self._buf[: min(found)], ""
            return out
        keep = max((n for s in self.stops for n in range(len(s) - 1, 0, -1) if self._buf.endswith(s[:n])), default=0)
        out, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep :]
        return out

    def flush(self) -> str:
        out, self._buf = ("" if self.hit else self._buf), ""
        return out


def generation_eos_ids(path: str | Path) -> list[int]:
    """The eos_token_id(s) of the checkpoint's generation_config.json ([] without one)."""
    gen_cfg = Path(path) / "generation_config.json"
    if not gen_cfg.is_file():
        return []
    eos = json.loads(gen_cfg.read_text()).get("eos_token_id")
    return list(eos) if isinstance(eos, list) else ([eos] if isinstance(eos, int) else [])


class Engine:
    def __init__(self, model: KimiForCausalLM, tokenizer: Tokenizer, max_seq_len: int = 4096,
                 extra_stop_ids: Sequence[int] = ()) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_seq_len = min(max_seq_len, model.config.max_position_embeddings)
        stops = set(model.config.eos_token_ids) | set(extra_stop_ids)
        for token in ("<|im_end|>", "[EOS]"):
            if token in tokenizer.specials:
                stops.add(tokenizer.specials[token])
        self.stop_ids = sorted(stops)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu",
                        dtype: torch.dtype | None = None, max_seq_len: int = 4096) -> Engine:
        """Load model (fp32 on CPU, bf16 on GPU unless `dtype`), tokenizer and generation_config."""
        if dtype is None:
            dtype = torch.float32 if torch.device(device).type == "cpu" else torch.bfloat16
        model = load_model(path, device=device, dtype=dtype)
        tokenizer = Tokenizer.from_pretrained(path)
        return cls(model, tokenizer, max_seq_len, generation_eos_ids(path))

    @property
    def device(self) -> torch.device:
        return self.model.device

    def token_budget(self, prompt_len: int, params: SamplingParams) -> int:
        """How many tokens may be generated: max_tokens, capped by the room left in max_seq_len."""
        budget = self.max_seq_len - prompt_len
        if budget < 1:
            raise ValueError(f"prompt of {prompt_len} tokens leaves no room in max_seq_len={self.max_seq_len}")
        return min(params.max_tokens, budget)

    def generate_ids(self, prompt_ids: Sequence[int], params: SamplingParams) -> Iterator[int]:
        """Yield sampled token ids until a stop id (not yielded) or max_tokens; prefill, then the
        absorbed single-token decode over the preallocated latent cache."""
        if not prompt_ids:
            raise ValueError("prompt is empty")
        steps = self.token_budget(len(prompt_ids), params)
        stop_ids = set(self.stop_ids) | set(params.stop_token_ids)
        gen = torch.Generator(device=self.device)
        if params.seed is not None:
            gen.manual_seed(params.seed)
        cache = self.model.new_cache(1, len(prompt_ids) + steps)
        ids = torch.tensor([list(prompt_ids)], device=self.device)
        logits = self.model(ids, cache)[:, -1]
        for _ in range(steps):
            token = int(sample(logits, params, gen)[0])
            if token in stop_ids:
                return
            yield token
            logits = self.model(torch.tensor([[token]], device=self.device), cache)[:, -1]

    def complete(self, prompt: str | Sequence[int], params: SamplingParams) -> Iterator[str]:
        """Plain completion: text deltas, cut at params.stop strings."""
        prompt_ids = self.tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
        decoder, stops = StreamDecoder(self.tokenizer), StopMatcher(params.stop)
        for token in self.generate_ids(prompt_ids, params):
            text = stops.push(decoder.push(token))
            if text:
                yield text
            if stops.hit:
                return
        tail = stops.push(decoder.flush()) + stops.flush()
        if tail:
            yield tail

    def encode_chat(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None,
                    thinking: bool | None = None, preserve_thinking: bool = False) -> list[int]:
        """Render the Kimi template and tokenise: markers become special ids, message text never does."""
        ids: list[int] = []
        segments = render_segments(messages, tools, thinking=thinking, preserve_thinking=preserve_thinking)
        for text, special in segments:
            ids += [self.tokenizer.special_id(text)] if special else self.tokenizer.encode(text)
        return ids

    def chat(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None,
             sampling: SamplingParams | None = None, thinking: bool | None = None,
             preserve_thinking: bool = False) -> Iterator[Delta | Finish]:
        """Yield reasoning/content/tool-call Deltas as they are generated, then one Finish."""
        params = sampling or SamplingParams()
        prompt = self.encode_chat(messages, tools, thinking, preserve_thinking)
        parser = StreamParser(thinking=thinking is True)
        decoder, stops = StreamDecoder(self.tokenizer), StopMatcher(params.stop)
        count, hit_limit = 0, True
        for token in self.generate_ids(prompt, params):
            count += 1
            yield from parser.feed(stops.push(decoder.push(token)))
            if stops.hit or parser.done:
                hit_limit = False
                break
        else:
            hit_limit = count >= self.token_budget(len(prompt), params)
        yield from parser.feed(stops.push(decoder.flush()) + stops.flush())
        yield from parser.finish()
        message = parser.message
        reason: FinishReason = "tool_calls" if message.tool_calls else ("length" if hit_limit else "stop")
        yield Finish(reason, len(prompt), count, message)
