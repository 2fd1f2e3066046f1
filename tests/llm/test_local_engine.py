"""Provider `engine`: the adapter over the in-process engine server, and `kimi-code run` end to end.

The tiny checkpoint is random, so these tests check the plumbing (events, usage, exit codes), not
what the model says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("kimi_engine")

from kimi_code.config import ConfigError, ModelConfig  # noqa: E402
from kimi_code.llm.base import Message, StreamEnd, TextChunk, ThinkingChunk, ToolCallDone, ToolSpec  # noqa: E402
from kimi_code.llm.factory import make_provider  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kimi_engine.synthetic import (
        TINY_TEXT_CONFIG,
        random_state_dict,
        train_bpe,
        write_checkpoint,
        write_tokenizer,
    )

    path = tmp_path_factory.mktemp("tiny-local")
    ranks = train_bpe()
    # A long context: the agent's prompt declares every tool, thousands of tiny-BPE tokens.
    text = {**TINY_TEXT_CONFIG, "vocab_size": len(ranks) + 256, "eos_token_id": len(ranks) + 1,
            "max_position_embeddings": 32768}
    write_checkpoint(path, random_state_dict(text, seed=5), text)
    write_tokenizer(path, ranks=ranks)
    return path


async def test_engine_provider_streams_through_the_in_process_server(checkpoint: Path) -> None:
    model = ModelConfig(name="local", provider="engine", path=str(checkpoint), max_tokens=6, temperature=0.0)
    provider = make_provider(model)
    again = make_provider(model)
    try:
        events = [e async for e in provider.stream([Message("user", "hello")], [
            ToolSpec("Read", "Read a file", {"type": "object", "properties": {"file_path": {"type": "string"}}})])]
        assert isinstance(events[-1], StreamEnd) and events[-1].usage.output_tokens >= 1
        assert events[-1].usage.input_tokens > 0
        assert all(isinstance(e, (TextChunk, ThinkingChunk, ToolCallDone)) for e in events[:-1])
        second = [e async for e in again.stream([Message("user", "hello")], [])]
        assert isinstance(second[-1], StreamEnd)
    finally:
        await provider.aclose()
        await again.aclose()
    from kimi_code.llm import local

    assert len(local._SERVERS) == 1  # one loaded model per checkpoint per process


def test_missing_checkpoint_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KIMI_MODEL_PATH"):
        make_provider(ModelConfig(name="local", provider="engine"))
    with pytest.raises(ConfigError, match="config.json"):
        make_provider(ModelConfig(name="local", provider="engine", path=str(tmp_path)))


def test_kimi_code_run_end_to_end_on_the_engine(checkpoint: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[models.kimi]\nmax_tokens = 8\ntemperature = 0.0\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "KIMI_CODE_HOME": str(home), "KIMI_PROVIDER": "engine", "KIMI_MODEL_PATH": str(checkpoint)}
    env.pop("KIMI_BASE_URL", None)
    proc = subprocess.run([sys.executable, "-m", "kimi_code", "run", "--output-format", "json", "--max-turns", "2",
                           "say hi"], cwd=repo, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["type"] == "result" and result["subtype"] == "success" and "result" in result
    assert result["usage"]["output_tokens"] >= 1


def _corrupt(checkpoint: Path, tmp_path: Path, how: str) -> Path:
    """A copy of the tiny checkpoint broken one way."""
    import shutil

    bad = tmp_path / f"bad-{how}"
    shutil.copytree(checkpoint, bad)
    if how == "truncated":  # an interrupted download: the header promises more than the file holds
        shard = sorted(bad.glob("*.safetensors"))[-1]
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    elif how == "garbage":
        shard = sorted(bad.glob("*.safetensors"))[0]
        shard.write_bytes(b"\x00\xff" * 4096)
    elif how == "missing-field":
        config = json.loads((bad / "config.json").read_text())
        del config["hidden_size"]
        (bad / "config.json").write_text(json.dumps(config))
    elif how == "mistyped-field":
        config = json.loads((bad / "config.json").read_text())
        config["rms_norm_eps"] = "tiny"
        (bad / "config.json").write_text(json.dumps(config))
    return bad


@pytest.mark.parametrize("how, fragment", [
    ("missing", "is not a Hugging Face checkpoint directory"),
    ("truncated", "is not a readable safetensors file"),
    ("missing-field", "missing required field 'hidden_size'"),
])
def test_kimi_code_run_on_a_broken_checkpoint_exits_2(checkpoint: Path, tmp_path: Path, how: str,
                                                      fragment: str) -> None:
    # A truncated shard used to end in a safetensors traceback and exit 1.
    path = tmp_path / "nowhere" if how == "missing" else _corrupt(checkpoint, tmp_path, how)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "KIMI_CODE_HOME": str(home), "KIMI_MODEL_PATH": str(path)}
    env.pop("KIMI_BASE_URL", None)
    proc = subprocess.run([sys.executable, "-m", "kimi_code", "run", "--provider", "engine", "--output-format", "json",
                           "say hi"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert fragment in proc.stderr and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("how, fragment", [
    ("truncated", "is not a readable safetensors file"),
    ("garbage", "truncated or corrupt"),
    ("mistyped-field", "'rms_norm_eps' must be a number"),
])
def test_broken_checkpoints_are_config_errors_for_provider_and_serve(checkpoint: Path, tmp_path: Path, how: str,
                                                                     fragment: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from kimi_code.llm import local

    bad = _corrupt(checkpoint, tmp_path, how)
    with pytest.raises(ConfigError, match="cannot load the engine checkpoint") as info:
        make_provider(ModelConfig(name="local", provider="engine", path=str(bad)))
    assert fragment in str(info.value)
    assert str(bad) not in local._SERVERS  # nothing half-started is kept
    assert local.serve_main(bad, "127.0.0.1", 0, 1) == 2  # `kimi-code serve --model BAD`
    assert fragment in capsys.readouterr().err
