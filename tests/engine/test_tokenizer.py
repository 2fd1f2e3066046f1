"""The tiktoken-based tokenizer with Kimi's real special-token ids (synthetic BPE, nothing downloaded)."""

from __future__ import annotations

import json

import pytest
from kimi_engine.synthetic import REAL_SPECIAL_BASE, write_tokenizer
from kimi_engine.tokenizer import StreamDecoder, Tokenizer, TokenizerError, load_bpe


@pytest.fixture(scope="module")
def tok(tmp_path_factory) -> Tokenizer:
    path = tmp_path_factory.mktemp("tok")
    write_tokenizer(path, REAL_SPECIAL_BASE)
    return Tokenizer.from_pretrained(path)


def test_real_special_ids(tok: Tokenizer) -> None:
    expected = {"[BOS]": 163584, "[EOS]": 163585, "<|im_end|>": 163586, "<|im_user|>": 163587,
                "<|im_assistant|>": 163588, "<|im_system|>": 163594, "<|im_middle|>": 163601,
                "<|tool_calls_section_begin|>": 163595, "<|tool_calls_section_end|>": 163596,
                "<|tool_call_begin|>": 163597, "<|tool_call_argument_begin|>": 163598,
                "<|tool_call_end|>": 163599, "<think>": 163606, "</think>": 163607}
    for name, i in expected.items():
        assert tok.special_id(name) == i
    assert tok.bos_id == 163584 and tok.eos_id == 163585
    assert tok.vocab_size == 163840
    # gaps between named specials are reserved tokens, as in the reference tokenizer
    assert tok.decode([163589]) == "<|reserved_token_163589|>"


def test_round_trip_and_merges(tok: Tokenizer) -> None:
    for text in ["hello world!", "The weather in Paris is sunny", "中文 mixed ünïcödé 12345", ""]:
        assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode("the weather")) < len(b"the weather")  # merges apply


def test_special_text_is_not_injected_by_default(tok: Tokenizer) -> None:
    ids = tok.encode("<|im_end|>")
    assert 163586 not in ids and tok.decode(ids) == "<|im_end|>"
    assert tok.encode("<|im_end|>", allow_special=True) == [163586]


def test_stream_decoder_holds_split_utf8(tok: Tokenizer) -> None:
    text = "日本 ok"
    ids = tok.encode(text)
    assert len(ids) > len(text)  # multi-byte characters are split over byte tokens
    dec = StreamDecoder(tok)
    pieces = [dec.push(i) for i in ids] + [dec.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(TokenizerError, match="tiktoken.model"):
        Tokenizer.from_pretrained(tmp_path)
    write_tokenizer(tmp_path)
    (tmp_path / "tiktoken.model").write_text("!!notbase64 1\n")
    with pytest.raises(TokenizerError, match=r"tiktoken.model:1"):
        load_bpe(tmp_path / "tiktoken.model")
    write_tokenizer(tmp_path)
    cfg = json.loads((tmp_path / "tokenizer_config.json").read_text())
    cfg["added_tokens_decoder"] = {"5": {"content": "<|im_end|>"}}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(TokenizerError, match="collide"):
        Tokenizer.from_pretrained(tmp_path)
