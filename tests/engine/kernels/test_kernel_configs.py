"""configs: the shipped per-family table, token buckets, lookup, and tuning only behind its flag."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import torch
from kimi_engine.kernels import configs


def test_token_buckets_are_coarse_powers_of_two():
    assert [configs.token_bucket(t) for t in (0, 1, 2, 3, 4, 5, 16, 17, 100, 4096)] == \
        [1, 1, 2, 4, 4, 8, 16, 32, 128, 4096]
    with pytest.raises(ValueError, match="must be >= 0"):
        configs.token_bucket(-1)


def test_every_family_has_every_kernel_and_an_open_ended_entry():
    families = configs.table()["families"]
    assert set(families) == set(configs.FAMILIES)
    kernels = {"w4a16", "moe_gate_up_decode", "moe_down_decode", "moe_gate_up_grouped",
               "moe_down_grouped", "mla_decode"}
    for per_kernel in families.values():
        assert set(per_kernel) == kernels
        for entries in per_kernel.values():
            assert entries[-1]["max_tokens"] is None


def test_lookup_uses_the_first_bucket_that_holds_the_tokens():
    entries = configs.table()["families"]["sm90"]["w4a16"]
    bounds = [e["max_tokens"] for e in entries]
    assert bounds[0] == 1 and bounds[-1] is None
    assert configs.lookup("w4a16", "sm90", 1) == entries[0]["config"]
    assert configs.lookup("w4a16", "sm90", 2) == entries[1]["config"]  # 2..16: the 16-row GEMV
    assert configs.lookup("w4a16", "sm90", bounds[1]) == entries[1]["config"]
    assert configs.lookup("w4a16", "sm90", 10**6) == entries[-1]["config"]
    # The decode GEMV and the prefill GEMM regimes get different tiles.
    assert "GEMM_BLOCK_M" in configs.lookup("w4a16", "sm90", 4096)
    with pytest.raises(KeyError, match="no launch configs for kernel 'nope'"):
        configs.lookup("nope", "sm90", 1)


def test_lookup_returns_a_copy():
    cfg = configs.lookup("mla_decode", "sm90", 1)
    cfg["BLOCK_H"] = 999
    assert configs.lookup("mla_decode", "sm90", 1)["BLOCK_H"] != 999


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda t: t["families"].pop("default"), "must have exactly"),
        (lambda t: t["families"]["sm90"].pop("mla_decode"), "lists kernels"),
        (lambda t: t["families"]["sm90"]["w4a16"].pop(), "must end with one max_tokens null"),
        (lambda t: t["families"]["sm90"]["w4a16"].reverse(), "must end with one max_tokens null"),
        (lambda t: t["families"]["sm90"]["w4a16"][0]["config"].pop("num_warps"), "needs num_warps"),
        (lambda t: t["families"]["sm90"]["w4a16"][0]["config"].update(BLOCK_N=32.5), "must be integers"),
        (lambda t: t["families"]["sm90"]["w4a16"][0]["alternatives"][0].update(BLOCK_K=-1), "must be integers"),
    ],
)
def test_validate_table_names_what_is_wrong(mutate, match):
    raw = copy.deepcopy(configs.table())
    mutate(raw)
    with pytest.raises(ValueError, match=match):
        configs.validate_table(raw)


def test_unsorted_buckets_are_rejected():
    raw = copy.deepcopy(configs.table())
    entries = raw["families"]["sm90"]["w4a16"]
    entries[0], entries[1] = entries[1], entries[0]
    with pytest.raises(ValueError, match="max_tokens must increase"):
        configs.validate_table(raw)


def test_shipped_lists_entries_and_alternatives():
    rows = configs.shipped("sm90")["w4a16"]
    labels = [label for label, _, _ in rows]
    assert labels[0] == "<=1" and "rest" in labels and any("~" in label for label in labels)
    total = sum(1 + len(e.get("alternatives", [])) for e in configs.table()["families"]["sm90"]["w4a16"])
    assert len(rows) == total


def test_choose_never_times_without_the_flag(monkeypatch):
    """Default: the table's config, the launch callback is never called (no request-path tuning)."""
    monkeypatch.delenv("KIMI_ENGINE_AUTOTUNE", raising=False)
    calls = []
    cfg = configs.choose("w4a16", torch.device("cpu"), False, 1, calls.append,
                         fixup=lambda c: {**c, "SPLIT_K": 7})
    assert calls == []
    assert cfg == {**configs.lookup("w4a16", "interp", 1), "SPLIT_K": 7}
    assert not configs.autotune_enabled()
    monkeypatch.setenv("KIMI_ENGINE_AUTOTUNE", "1")
    assert configs.autotune_enabled()


def test_gpu_family_off_gpu_is_interp():
    assert configs.gpu_family(torch.device("cpu"), interpreted=False) == "interp"
    assert configs.gpu_family(torch.device("cpu"), interpreted=True) == "interp"


def test_table_is_package_data_and_identical_across_processes():
    """Every rank reads the same file: two fresh processes resolve the same configs."""
    code = ("import json; from kimi_engine.kernels import configs; "
            "print(json.dumps([configs.lookup(k, 'sm90', t) for k in ('w4a16', 'moe_gate_up_decode', "
            "'mla_decode') for t in (1, 3, 64, 5000)]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIMI_ENGINE_")}
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
            for _ in range(2)]
    assert outs[0] == outs[1]
    assert json.loads(outs[0])[0] == configs.lookup("w4a16", "sm90", 1)
