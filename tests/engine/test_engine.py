"""Engine end to end: tokenizer + template + model + cache + sampling + parser."""

from __future__ import annotations

import pytest
import torch
from engine_helpers import tiny_config
from kimi_engine import Engine, SamplingParams
from kimi_engine.engine import Finish, StopMatcher
from kimi_engine.parsers import Delta
from kimi_engine.sampling import filter_logits, sample
from kimi_engine.synthetic import random_state_dict, train_bpe, write_checkpoint, write_tokenizer
from kimi_engine.tokenizer import Tokenizer

RANKS = train_bpe()
VOCAB = len(RANKS) + 256  # specials right after the BPE ranks


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tinychat")
    text = tiny_config(vocab_size=VOCAB, eos_token_id=len(RANKS) + 1)
    write_checkpoint(path, random_state_dict(text, seed=9), text)
    write_tokenizer(path, ranks=RANKS)
    return path


def test_generate_matches_manual_greedy_and_respects_max_tokens(model_dir) -> None:
    engine = Engine.from_pretrained(model_dir)
    prompt = engine.tokenizer.encode("hello world")
    got = list(engine.generate_ids(prompt, SamplingParams(max_tokens=10, stop_token_ids=[])))
    assert 0 < len(got) <= 10
    ids = torch.tensor([prompt])
    manual = []
    for _ in range(len(got)):
        nxt = int(engine.model(ids)[0, -1].argmax())
        manual.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]])], 1)
    assert got == manual  # cached absorbed decode == uncached full recomputation


def test_sampling_is_seeded(model_dir) -> None:
    engine = Engine.from_pretrained(model_dir)
    prompt = engine.tokenizer.encode("the quick")
    p = SamplingParams(temperature=1.0, top_p=0.9, top_k=50, max_tokens=8, seed=123)
    assert list(engine.generate_ids(prompt, p)) == list(engine.generate_ids(prompt, p))


def test_chat_streams_deltas_and_finishes(model_dir) -> None:
    engine = Engine.from_pretrained(model_dir)
    events = list(engine.chat([{"role": "user", "content": "hi"}], sampling=SamplingParams(max_tokens=6)))
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.reason in ("stop", "length")
    assert all(isinstance(e, Delta) for e in events[:-1])
    assert finish.prompt_tokens == len(engine.encode_chat([{"role": "user", "content": "hi"}]))
    assert finish.completion_tokens <= 6


class ScriptedModel:
    """Stands in for the network: emits a fixed token script, one token per forward."""

    def __init__(self, script: list[int], vocab: int, eos: int) -> None:
        from types import SimpleNamespace

        self.script, self.vocab, self.step = script, vocab, 0
        self.config = SimpleNamespace(eos_token_ids=(eos,), max_position_embeddings=4096)
        self.device = torch.device("cpu")

    def new_cache(self, batch: int, max_len: int) -> None:
        return None

    def __call__(self, ids: torch.Tensor, cache: object) -> torch.Tensor:
        logits = torch.zeros(1, ids.shape[1], self.vocab)
        logits[0, -1, self.script[min(self.step, len(self.script) - 1)]] = 1.0
        self.step += 1
        return logits


def test_chat_tool_call_round_trip(model_dir) -> None:
    tok = Tokenizer.from_pretrained(model_dir)
    generated = ('Check first.</think>On it.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0'
                 '<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|><|im_end|>')
    script = tok.encode(generated, allow_special=True)
    engine = Engine(ScriptedModel(script, VOCAB, tok.eos_id), tok)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    events = list(engine.chat([{"role": "user", "content": "Weather?"}], tools, thinking=True))
    finish = events[-1]
    assert finish.reason == "tool_calls"
    assert finish.completion_tokens == len(script) - 1  # <|im_end|> stops and is not counted
    msg = finish.message
    assert (msg.reasoning, msg.content) == ("Check first.", "On it.")
    assert msg.tool_calls[0].to_openai()["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    # the prompt declared the tool and opened <think>
    prompt = engine.encode_chat([{"role": "user", "content": "Weather?"}], tools, thinking=True)
    assert prompt[-1] == tok.special_id("<think>")
    assert '"name":"get_weather"' in tok.decode(prompt)


def test_stop_strings_cut_output(model_dir) -> None:
    tok = Tokenizer.from_pretrained(model_dir)
    script = tok.encode("alpha beta STOP gamma")
    engine = Engine(ScriptedModel(script, VOCAB, tok.eos_id), tok)
    out = "".join(engine.complete([1, 2], SamplingParams(max_tokens=len(script), stop=["STOP"])))
    assert out == "alpha beta "
    m = StopMatcher(["</end>"])
    assert m.push("x</e") == "x" and m.push("nd> y") == "" and m.hit


def test_filter_logits_top_k_top_p() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.01)).tolist() == [[False, True, True, True]]
    assert int(sample(logits, SamplingParams())) == 0
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)


def test_length_finish_and_prompt_too_long(model_dir) -> None:
    tok = Tokenizer.from_pretrained(model_dir)
    script = tok.encode("word " * 50)
    engine = Engine(ScriptedModel(script, VOCAB, tok.eos_id), tok, max_seq_len=120)
    events = list(engine.chat([{"role": "user", "content": "go"}], sampling=SamplingParams(max_tokens=1000)))
    finish = events[-1]
    assert finish.reason == "length" and finish.prompt_tokens + finish.completion_tokens == 120
    with pytest.raises(ValueError, match="no room"):
        list(engine.generate_ids(list(range(120)), SamplingParams()))
