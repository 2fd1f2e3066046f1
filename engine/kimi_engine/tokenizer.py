"""The Kimi tokenizer: tiktoken BPE from `tiktoken.model` + special tokens from tokenizer_config.json.

`tiktoken.model` is tiktoken's plain format: one `base64(token bytes) rank` pair per line. Special
tokens come with their real ids from `added_tokens_decoder`; ids between named specials are filled
with `<|reserved_token_{id}|>` as the reference tokenizer does. Nothing is downloaded.
"""

from __future__ import annotations

import base64
import codecs
import json
from pathlib import Path

import tiktoken

# Kimi K2's pre-tokenisation pattern: Han runs, cased words with English contractions, 1-3 digit
# numbers, punctuation runs, newlines and spaces (same structure as cl100k/o200k, Han split out).
KIMI_PATTERN = "|".join(
    [
        r"""[\p{Han}]+""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


class TokenizerError(ValueError):
    """tiktoken.model or tokenizer_config.json is missing or malformed."""


def load_bpe(path: str | Path) -> dict[bytes, int]:
    """Parse a tiktoken BPE file: `base64 rank` per line -> {token bytes: rank}."""
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as e:
            raise TokenizerError(f"{path}:{lineno}: expected '<base64 token> <rank>', got {line[:60]!r}") from e
    return ranks


def _token_content(value: object) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


class Tokenizer:
    """Encode/decode text; special tokens are only recognised where explicitly allowed."""

    def __init__(self, ranks: dict[bytes, int], specials: dict[str, int], bos: str | None = None,
                 eos: str | None = None, pattern: str = KIMI_PATTERN) -> None:
        self.specials = dict(specials)
        self.encoding = tiktoken.Encoding("kimi", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
        self.id_to_special = {i: s for s, i in specials.items()}
        self.bos_id = specials.get(bos) if bos else None
        self.eos_id = specials.get(eos) if eos else None

    @classmethod
    def from_pretrained(cls, path: str | Path) -> Tokenizer:
        """Load `<path>/tiktoken.model` and the specials of `<path>/tokenizer_config.json`."""
        root = Path(path)
        model, cfg_file = root / "tiktoken.model", root / "tokenizer_config.json"
        for f in (model, cfg_file):
            if not f.is_file():
                raise TokenizerError(f"tokenizer file missing: {f}")
        ranks = load_bpe(model)
        cfg = json.loads(cfg_file.read_text())
        specials: dict[str, int] = {}
        for key, entry in (cfg.get("added_tokens_decoder") or {}).items():
            content = _token_content(entry)
            if content is None:
                raise TokenizerError(f"{cfg_file}: added_tokens_decoder[{key}] has no content")
            specials[content] = int(key)
        if not specials:
            raise TokenizerError(f"{cfg_file} defines no special tokens (added_tokens_decoder)")
        clash = sorted(i for i in specials.values() if i < len(ranks))
        if clash:
            raise TokenizerError(f"special token ids {clash[:5]} collide with BPE ranks (< {len(ranks)})")
        taken = set(specials.values())
        for i in range(min(taken), max(taken) + 1):
            if i not in taken:
                specials[f"<|reserved_token_{i}|>"] = i
        return cls(ranks, specials, _token_content(cfg.get("bos_token")), _token_content(cfg.get("eos_token")))

    @property
    def vocab_size(self) -> int:
        return self.encoding.n_vocab

    def special_id(self, token: str) -> int:
        """Id of a special token such as '<|im_end|>' (KeyError with the name if absent)."""
        try:
            return self.specials[token]
        except KeyError:
            raise KeyError(f"tokenizer has no special token {token!r}") from None

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        """Text -> ids. By default special-token text is encoded as ordinary text (no injection)."""
        if allow_special:
            return self.encoding.encode(text, allowed_special="all")
        return self.encoding.encode(text, disallowed_special=())

    def decode(self, ids: list[int]) -> str:
        return self.encoding.decode(ids, errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        return self.encoding.decode_single_token_bytes(token_id)


class StreamDecoder:
    """Token ids -> text pieces, holding back bytes of a UTF-8 character split across tokens."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        return self._utf8.decode(self.tokenizer.token_bytes(token_id))

    def flush(self) -> str:
        return self._utf8.decode(b"", final=True)
