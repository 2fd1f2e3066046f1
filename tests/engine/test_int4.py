"""INT4 pack-quantized experts: quant.py against compressed-tensors, and model logits against the
dequantised dense reference (ours and transformers), with compressed-tensors' own decompression
as the second oracle for the format."""

from __future__ import annotations

import torch
from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32, unpack_from_int32
from compressed_tensors.quantization import QuantizationScheme
from engine_helpers import hf_reference, tiny_config, write_reference
from kimi_engine import load_model
from kimi_engine.quant import dequantize_int4, pack_int4, quantize_int4, unpack_int4
from kimi_engine.synthetic import (
    INT4_QUANTIZATION_CONFIG,
    quantize_experts,
    random_state_dict,
    write_checkpoint,
)

SCHEME = QuantizationScheme.model_validate(INT4_QUANTIZATION_CONFIG["config_groups"]["group_0"])


def test_pack_layout_matches_compressed_tensors() -> None:
    q = torch.randint(-8, 8, (24, 96), dtype=torch.int8, generator=torch.Generator().manual_seed(0))
    ours = pack_int4(q)
    assert torch.equal(ours, pack_to_int32(q, 4))
    assert torch.equal(unpack_int4(ours, 96), unpack_from_int32(ours, 4, torch.Size([24, 96])))
    # lowest nibble first, stored as q + 8
    assert int(ours[0, 0]) & 0xF == int(q[0, 0]) + 8


def test_dequantize_matches_compressed_tensors_decompress() -> None:
    w = torch.randn(40, 128, generator=torch.Generator().manual_seed(1))
    packed, scale = quantize_int4(w)
    state = {"weight_packed": packed, "weight_scale": scale, "weight_shape": torch.tensor([40, 128])}
    theirs = PackedQuantizationCompressor.decompress(state, SCHEME)["weight"]
    ours = dequantize_int4(packed, scale, (40, 128), torch.float32)
    assert torch.equal(ours, theirs.float())
    assert (ours - w).abs().max() <= scale.max() / 2 + 1e-6  # round-to-nearest error bound


def _decompress_with_compressed_tensors(ckpt: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Dense state dict from the packed checkpoint using compressed-tensors' decompressor."""
    out: dict[str, torch.Tensor] = {}
    for name, t in ckpt.items():
        if name.endswith(".weight_packed"):
            base = name[: -len(".weight_packed")]
            state = {"weight_packed": t, "weight_scale": ckpt[base + ".weight_scale"].float(),
                     "weight_shape": ckpt[base + ".weight_shape"]}
            out[base + ".weight"] = PackedQuantizationCompressor.decompress(state, SCHEME)["weight"].float()
        elif not name.endswith((".weight_scale", ".weight_shape")):
            out[name] = t
    return out


def test_int4_model_matches_dequantised_references(tmp_path) -> None:
    text = tiny_config()
    packed, dense = quantize_experts(random_state_dict(text, seed=4))
    model = load_model(write_checkpoint(tmp_path / "int4", packed, text, int4=True))
    experts = model.model.layers[1].mlp.experts
    assert experts.w13.dtype == torch.int32 and experts.w13.shape == (8, 64, 64 // 8)  # kept packed
    ids = torch.randint(0, 320, (2, 24), generator=torch.Generator().manual_seed(3))
    got = model(ids)

    ours_dense = load_model(write_checkpoint(tmp_path / "dense", dense, text))
    assert (got - ours_dense(ids)).abs().max().item() <= 1e-4

    oracle = _decompress_with_compressed_tensors(packed)
    assert all(torch.equal(oracle[k], dense[k]) for k in dense)
    ref = hf_reference(write_reference(tmp_path / "ref", oracle, text))
    with torch.no_grad():
        assert (got - ref(ids).logits).abs().max().item() <= 1e-4


def test_int4_kimi_k25_layout_decode(tmp_path) -> None:
    """Nested kimi_k25 config + language_model. prefix + vision tensors + INT4: cached decode equals prefill."""
    text = tiny_config()
    packed, _ = quantize_experts(random_state_dict(text, seed=6))
    vision = {"vision_tower.patch_embed.weight": torch.randn(4, 4), "mm_projector.proj.weight": torch.randn(4, 4)}
    model = load_model(write_checkpoint(tmp_path / "k25", packed, text, model_type="kimi_k25", int4=True,
                                        extra_tensors=vision))
    seq = torch.randint(0, 320, (1, 16))
    full = model(seq)
    cache = model.new_cache(1, 16)
    steps = [model(seq[:, :8], cache)] + [model(seq[:, i : i + 1], cache) for i in range(8, 16)]
    assert (torch.cat(steps, 1) - full).abs().max().item() <= 1e-4
