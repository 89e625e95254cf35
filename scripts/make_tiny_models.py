#!/usr/bin/env python3
"""Writes tiny random-weight test models of every supported family.

For each family: a Hugging Face directory (config.json, generation_config.json,
model.safetensors, tokenizer.json, tokenizer_config.json) written with the official
`safetensors` package, and the matching GGUF file(s) written with the official `gguf`
package, so Tessera's loaders are tested against files it did not serialize itself.
Weights are random with a fixed seed per family: the same command always writes the same
bytes. The tokenizers are the real ones in tests/data/tokenizers.

GGUF files follow llama.cpp's conventions: tensor names (token_embd, blk.N.attn_q, ...),
llama-architecture q/k rows permuted for interleaved rotary pairs, Llama 3.1 rope scaling
as a rope_freqs tensor, tokenizer in tokenizer.ggml.* metadata.

Usage: make_tiny_models.py OUT_DIR [--families llama3,qwen3,...] [--large]
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZERS = os.environ.get("TESSERA_TOKENIZERS_DIR",
                            os.path.join(REPO, "tests", "data", "tokenizers"))

# family -> (architecture, tokenizer folder, config overrides)
FAMILIES = {
    "llama3": ("LlamaForCausalLM", "llama-3.1", {
        "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
    }),
    "llama2": ("LlamaForCausalLM", "spm-32k-llama2", {
        "rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 2,
    }),
    "mistral": ("MistralForCausalLM", "spm-32k-llama2", {
        # A window shorter than the reference prompt (15 tokens), so the window is tested.
        "rope_theta": 1000000.0, "bos_token_id": 1, "eos_token_id": 2, "sliding_window": 8,
    }),
    "qwen2": ("Qwen2ForCausalLM", "qwen3", {
        "rope_theta": 1000000.0, "tie_word_embeddings": True, "bos_token_id": 151643,
        "eos_token_id": 151645,
    }),
    "qwen3": ("Qwen3ForCausalLM", "qwen3", {
        "rope_theta": 1000000.0, "tie_word_embeddings": True, "bos_token_id": 151643,
        "eos_token_id": 151645, "head_dim": 32,
    }),
    # Gemma 3 with a stand-in tokenizer (Gemma's own has 262k entries). Six layers: the
    # sliding_window_pattern llama.cpp fixes for GGUF files is 6, so layer 5 is the global
    # one; a window shorter than the prompt, and linear rope scaling that only global layers
    # use. query_pre_attn_scalar is head_dim, the value GGUF files imply.
    "gemma3": ("Gemma3ForCausalLM", "spm-32k-llama2", {
        "num_hidden_layers": 6, "head_dim": 32, "query_pre_attn_scalar": 32,
        "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
        "rope_scaling": {"rope_type": "linear", "factor": 8.0},
        "sliding_window": 8, "sliding_window_pattern": 6,
        "hidden_activation": "gelu_pytorch_tanh", "final_logit_softcapping": None,
        "attn_logit_softcapping": None, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
        "bos_token_id": 1, "eos_token_id": 2,
    }),
    # Phi-3 with fused qkv_proj and gate_up_proj and LongRoPE. Its own tokenizer is Llama 2's
    # (plus added tokens). An original context of 16 tokens: the 16-token prompt rotates
    # with the short factors, every greedy token after it with the long ones; the window is
    # shorter than the prompt.
    "phi3": ("Phi3ForCausalLM", "spm-32k-llama2", {
        "rope_theta": 10000.0, "max_position_embeddings": 64,
        "original_max_position_embeddings": 16, "sliding_window": 12, "hidden_act": "silu",
        "bos_token_id": 1, "eos_token_id": 2,
    }),
}

# Gemma's GGUF names for its four norms per layer (llama.cpp's tensor map).
GEMMA3_NORM_NAMES = {"input_layernorm": "attn_norm",
                     "post_attention_layernorm": "post_attention_norm",
                     "pre_feedforward_layernorm": "ffn_norm",
                     "post_feedforward_layernorm": "post_ffw_norm"}

TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2}
# About 1B parameters with the Llama 3.2 1B shape, for benchmarks (never in CI).
LARGE = {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
         "num_attention_heads": 32, "num_key_value_heads": 8}
# The Llama 3.1 8B shape, for GPU benchmarks (never in CI).
SIZE_8B = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 8}
# CPU benchmark shapes (scripts/bench_cpu.sh, never in CI): with the llama2 family's 32,000
# vocabulary, about 125M and 853M parameters.
SIZE_125M = {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12,
             "num_attention_heads": 12, "num_key_value_heads": 4}
SIZE_853M = {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 16,
             "num_attention_heads": 32, "num_key_value_heads": 8}
# Tiny, but every matrix a whole number of the K-quants' 256-element blocks (Q5_K tests).
TINY_256 = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2}
SHAPES = {"tiny": TINY, "tiny256": TINY_256, "1b": LARGE, "8b": SIZE_8B, "125m": SIZE_125M,
          "853m": SIZE_853M}
# GGUF types written block-quantized: gguf's own quantizer, or quantize_k_quant below.
QUANTIZED_TYPES = ("Q8_0", "Q4_0", "Q4_1", "Q5_1", "Q4_K", "Q5_K", "Q6_K", "Q5_K_M", "Q4_K_M")
# general.file_type (llama.cpp's LLAMA_FTYPE_MOSTLY_*) of the types above.
FILE_TYPES = {"Q8_0": 7, "Q4_0": 2, "Q4_1": 3, "Q5_1": 9, "Q4_K": 14, "Q5_K": 16, "Q6_K": 18,
              "Q5_K_M": 17, "Q4_K_M": 15}


def tokenizer_size(folder):
    with open(os.path.join(TOKENIZERS, folder, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    ids = list(tok["model"]["vocab"].values()) + [t["id"] for t in tok["added_tokens"]]
    return max(ids) + 1, tok


def make_config(family, shape):
    arch, folder, extra = FAMILIES[family]
    vocab, _ = tokenizer_size(folder)
    if family in ("qwen2", "qwen3"):
        vocab = (vocab + 63) // 64 * 64  # Qwen pads its embedding rows, as the real models do
    cfg = {"architectures": [arch], "model_type": family.rstrip("0123456789") or family,
           "vocab_size": vocab, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
           "torch_dtype": "float32", "tie_word_embeddings": False, **shape}
    cfg.update(extra)
    if arch == "Gemma3ForCausalLM":
        cfg["model_type"] = "gemma3_text"
        # The newer spelling of the pattern, as transformers writes it next to the old one.
        pattern = cfg["sliding_window_pattern"]
        cfg["layer_types"] = ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                              for i in range(cfg["num_hidden_layers"])]
    elif arch == "Phi3ForCausalLM":
        cfg["model_type"] = "phi3"
        # Distinct divisors per frequency, the long ones larger, as in Phi-3's configs.
        half = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"]) // 2
        cfg["rope_scaling"] = {"type": "longrope",
                               "short_factor": [1.0 + 0.05 * i for i in range(half)],
                               "long_factor": [1.0 + 1.5 * i for i in range(half)]}
    elif arch == "Qwen2ForCausalLM":
        cfg["model_type"] = "qwen2"
    elif arch == "Qwen3ForCausalLM":
        cfg["model_type"] = "qwen3"
    elif arch == "MistralForCausalLM":
        cfg["model_type"] = "mistral"
    else:
        cfg["model_type"] = "llama"
    return cfg


def random_weights(cfg, seed, dtype=np.float32):
    """HF-named weights of `dtype`. Scales keep activations O(1) through the layers."""
    rng = np.random.default_rng(seed)
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", h // nh)
    arch = cfg["architectures"][0]

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(dtype)

    def norm(n):
        # Gemma's norms scale by (1 + w): its weights sit around 0, the others' around 1.
        center = 0.0 if arch == "Gemma3ForCausalLM" else 1.0
        return (center + 0.1 * rng.standard_normal(n)).astype(dtype)

    # Gemma multiplies its embedding by sqrt(hidden): rows of norm 1 keep activations O(1)
    # and its tied LM head's logits from saturating into one repeated greedy token.
    embed_scale = 1 / np.sqrt(h) if arch == "Gemma3ForCausalLM" else 1.0
    w = {"model.embed_tokens.weight":
         (embed_scale * rng.standard_normal((cfg["vocab_size"], h))).astype(dtype)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(h)
        w[p + "self_attn.q_proj.weight"] = mat(nh * hd, h)
        w[p + "self_attn.k_proj.weight"] = mat(nkv * hd, h)
        w[p + "self_attn.v_proj.weight"] = mat(nkv * hd, h)
        w[p + "self_attn.o_proj.weight"] = mat(h, nh * hd)
        if arch == "Qwen2ForCausalLM":
            for name, n in (("q", nh * hd), ("k", nkv * hd), ("v", nkv * hd)):
                w[p + f"self_attn.{name}_proj.bias"] = (0.1 * rng.standard_normal(n)).astype(dtype)
        if arch in ("Qwen3ForCausalLM", "Gemma3ForCausalLM"):
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "post_attention_layernorm.weight"] = norm(h)
        if arch == "Gemma3ForCausalLM":
            w[p + "pre_feedforward_layernorm.weight"] = norm(h)
            w[p + "post_feedforward_layernorm.weight"] = norm(h)
        w[p + "mlp.gate_proj.weight"] = mat(inter, h)
        w[p + "mlp.up_proj.weight"] = mat(inter, h)
        w[p + "mlp.down_proj.weight"] = mat(h, inter)
    if arch == "Phi3ForCausalLM":  # Phi-3's checkpoints hold [q | k | v] and [gate | up]
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            w[p + "self_attn.qkv_proj.weight"] = np.concatenate(
                [w.pop(p + f"self_attn.{n}_proj.weight") for n in "qkv"])
            w[p + "mlp.gate_up_proj.weight"] = np.concatenate(
                [w.pop(p + f"mlp.{n}_proj.weight") for n in ("gate", "up")])
    w["model.norm.weight"] = norm(h)
    if not cfg.get("tie_word_embeddings", False):
        w["lm_head.weight"] = mat(cfg["vocab_size"], h)
    return w


def write_hf(out_dir, family, cfg, weights):
    from safetensors.numpy import save_file
    _, folder, _ = FAMILIES[family]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    gen = {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"]}
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
    save_file(weights, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(TOKENIZERS, folder, name), os.path.join(out_dir, name))


def permute_for_interleaved_rope(w, n_head):
    """llama.cpp's layout for llama-architecture q/k: within each head, rows of the two
    rotate_half halves are interleaved, so that pairs (2i, 2i+1) rotate together."""
    rows = w.shape[0]
    return (w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def llama3_rope_freqs(cfg):
    rs = cfg["rope_scaling"]
    hd = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    inv = 1.0 / (cfg["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    low_wavelen = rs["original_max_position_embeddings"] / rs["low_freq_factor"]
    high_wavelen = rs["original_max_position_embeddings"] / rs["high_freq_factor"]
    factors = []
    for f in inv:
        wavelen = 2 * np.pi / f
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(rs["factor"])
        else:
            s = (rs["original_max_position_embeddings"] / wavelen - rs["low_freq_factor"]) / (
                rs["high_freq_factor"] - rs["low_freq_factor"])
            factors.append(1.0 / ((1 - s) / rs["factor"] + s))
    return np.array(factors, dtype=np.float32)


def gguf_tokenizer(writer, folder, cfg):
    import gguf
    _, tok = tokenizer_size(folder)
    with open(os.path.join(TOKENIZERS, folder, "tokenizer_config.json"), encoding="utf-8") as f:
        tok_cfg = json.load(f)
    vocab = tok["model"]["vocab"]
    n = cfg["vocab_size"]
    tokens = [f"[PAD{i}]" for i in range(n)]
    types = [gguf.TokenType.UNUSED] * n
    for text, idx in vocab.items():
        tokens[idx] = text
        types[idx] = gguf.TokenType.NORMAL
    for added in tok["added_tokens"]:
        tokens[added["id"]] = added["content"]
        types[added["id"]] = gguf.TokenType.CONTROL if added["special"] else gguf.TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"].get("merges", [])]
    if tok["model"].get("byte_fallback"):
        writer.add_tokenizer_model("llama")
        # SentencePiece scores: a token made by an earlier merge scores higher, so picking the
        # best-scoring merge reproduces the BPE merge order.
        rank = {m.replace(" ", ""): r for r, m in enumerate(merges)}
        scores = []
        for idx, text in enumerate(tokens):
            if text.startswith("<0x") and len(text) == 6:
                types[idx] = gguf.TokenType.BYTE
            scores.append(-float(rank.get(text, len(merges))) if text in rank else 0.0)
        writer.add_token_scores(scores)
    else:
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("llama-bpe" if folder == "llama-3.1" else "qwen2")
        writer.add_token_merges(merges)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    if cfg.get("bos_token_id") is not None:
        writer.add_bos_token_id(cfg["bos_token_id"])
    eos = cfg["eos_token_id"]
    writer.add_eos_token_id(eos[0] if isinstance(eos, list) else eos)
    writer.add_add_bos_token(bool(tok_cfg.get("add_bos_token", folder == "llama-3.1")))
    if "chat_template" in tok_cfg:
        writer.add_chat_template(tok_cfg["chat_template"])


def quantize_k_quant(data, bits):
    """Q5_K (bits 5) or Q4_K (bits 4) blocks of a [rows, cols] f32 matrix, cols a multiple of
    256 (ggml-common.h's block_q5_K: f16 d, f16 dmin, 12 bytes of 6-bit sub-block scales and
    mins, 32 bytes of high bits, 128 bytes of nibbles; block_q4_K the same without the high
    bits). The gguf package reads these types but cannot write them, so this is written by
    hand, with a plain min/max fit per sub-block of 32 (not ggml's iterative search):
    x ~ d*sc * q - dmin*m, q in 0..2^bits - 1, sc and m in 0..63."""
    qmax = (1 << bits) - 1
    rows, cols = data.shape
    x = data.astype(np.float32).reshape(rows, cols // 256, 8, 32)
    lo = np.minimum(x.min(axis=-1), 0.0)
    hi = x.max(axis=-1)
    scale, offset = (hi - lo) / qmax, -lo  # per sub-block, before 6-bit quantization
    d = (scale.max(axis=-1) / 63.0).astype(np.float16)
    dmin = (offset.max(axis=-1) / 63.0).astype(np.float16)
    d32, dmin32 = d.astype(np.float32)[..., None], dmin.astype(np.float32)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32 > 0, np.clip(np.rint(scale / d32), 0, 63), 0).astype(np.uint8)
        m = np.where(dmin32 > 0, np.clip(np.rint(offset / dmin32), 0, 63), 0).astype(np.uint8)
        step = (d32 * sc)[..., None]
        q = np.where(step > 0, np.rint((x + (dmin32 * m)[..., None]) / step), 0)
    q = np.clip(q, 0, qmax).astype(np.uint8)  # [rows, blocks, 8 sub-blocks, 32]
    packed = np.zeros((rows, cols // 256, 12), dtype=np.uint8)  # inverse of get_scale_min_k4
    packed[..., 0:4] = sc[..., 0:4] | ((sc[..., 4:8] >> 4) << 6)
    packed[..., 4:8] = m[..., 0:4] | ((m[..., 4:8] >> 4) << 6)
    packed[..., 8:12] = (sc[..., 4:8] & 0x0f) | ((m[..., 4:8] & 0x0f) << 4)
    pairs = q.reshape(rows, cols // 256, 4, 2, 32)  # chunks of 64: sub-blocks 2c, 2c + 1
    qs = (pairs[:, :, :, 0] & 0x0f) | ((pairs[:, :, :, 1] & 0x0f) << 4)
    high_bits = (q >> 4).astype(np.uint8) << np.arange(8, dtype=np.uint8)[:, None]
    qh = np.bitwise_or.reduce(high_bits, axis=2)
    high = [qh] if bits == 5 else []
    blocks = np.concatenate([d[..., None].view(np.uint8), dmin[..., None].view(np.uint8), packed,
                             *high, qs.reshape(rows, cols // 256, 128)], axis=-1)
    return blocks.reshape(rows, -1)


def quantize_q6_k(data):
    """Q6_K blocks of a [rows, cols] f32 matrix, cols a multiple of 256 (ggml-common.h's
    block_q6_K: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 int8 sub-block
    scales, f16 d; x ~ d * sc * (q - 32), q in 0..63, one scale per sub-block of 16). Written
    by hand like quantize_k_quant (gguf cannot write it), with a plain absmax fit."""
    rows, cols = data.shape
    x = data.astype(np.float32).reshape(rows, cols // 256, 16, 16)
    sub_scale = np.abs(x).max(axis=-1) / 32.0  # before the 8-bit quantization of the scales
    d = (sub_scale.max(axis=-1) / 127.0).astype(np.float16)
    d32 = d.astype(np.float32)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d32 > 0, np.clip(np.rint(sub_scale / d32), -128, 127), 0).astype(np.int8)
        step = (d32 * sc)[..., None]
        q = np.where(step != 0, np.rint(x / step), 0)
    q = (np.clip(q, -32, 31) + 32).astype(np.uint8).reshape(rows, cols // 256, 2, 4, 32)
    # Per half of 128: quarter j (elements 32j..32j+31) goes to ql's low nibbles (j = 0, 1) or
    # high nibbles (j = 2, 3) of bytes 32 (j % 2) .., and to bits 2j of qh.
    ql = np.concatenate([(q[:, :, :, 0] & 0x0f) | ((q[:, :, :, 2] & 0x0f) << 4),
                         (q[:, :, :, 1] & 0x0f) | ((q[:, :, :, 3] & 0x0f) << 4)], axis=-1)
    qh = np.bitwise_or.reduce((q >> 4) << (2 * np.arange(4, dtype=np.uint8))[:, None], axis=3)
    blocks = np.concatenate([ql.reshape(rows, cols // 256, 128), qh.reshape(rows, cols // 256, 64),
                             sc.view(np.uint8), d[..., None].view(np.uint8)], axis=-1)
    return blocks.reshape(rows, -1)


def gguf_tensor_type(qtype_name, name):
    """The type of tensor `name` in a file of `qtype_name`. Q5_K_M and Q4_K_M are mixed, as
    llama.cpp's files of those names are (they give some tensors another type): Q5_K_M has
    Q5_K matrices with the embedding, the output and attn_v in Q5_1; Q4_K_M has Q4_K matrices
    with the output, attn_v and ffn_down in Q6_K (llama.cpp gives Q6_K to those, or to half
    of the layers' attn_v and ffn_down)."""
    if qtype_name == "Q5_K_M":
        if name in ("token_embd.weight", "output.weight") or ".attn_v." in name:
            return "Q5_1"
        return "Q5_K"
    if qtype_name == "Q4_K_M":
        if name == "output.weight" or ".attn_v." in name or ".ffn_down." in name:
            return "Q6_K"
        return "Q4_K"
    return qtype_name


def write_gguf(path, family, cfg, weights, qtype_name):
    import gguf
    arch_name, folder, _ = FAMILIES[family]
    arch = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama",
            "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3",
            "Gemma3ForCausalLM": "gemma3", "Phi3ForCausalLM": "phi3"}[arch_name]
    writer = gguf.GGUFWriter(path, arch)
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", cfg["hidden_size"] // nh)
    writer.add_name(f"tessera-tiny-{family}")
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_head_count(nh)
    writer.add_head_count_kv(nkv)
    writer.add_key_length(hd)
    writer.add_value_length(hd)
    writer.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    writer.add_rope_freq_base(cfg["rope_theta"])
    writer.add_vocab_size(cfg["vocab_size"])
    # (Q8_0 and Q4_0 files have always carried the ggml type id here: kept, so their bytes stay.)
    writer.add_file_type({"Q8_0": 8, "Q4_0": 2}.get(qtype_name, FILE_TYPES.get(qtype_name, 0)))
    if arch == "gemma3":
        # What llama.cpp's converter writes; pattern, local rope base and attention scale
        # are llama.cpp's fixed values, which the tiny config uses.
        writer.add_sliding_window(cfg["sliding_window"])
        rs = cfg.get("rope_scaling")
        if rs:
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(rs["factor"])
    if arch == "phi3":
        # llama.cpp's converter: original context, attention factor and sliding window as
        # metadata, the factors as tensors (added below).
        orig = cfg["original_max_position_embeddings"]
        scale = cfg["max_position_embeddings"] / orig
        attn_factor = np.sqrt(1 + np.log(scale) / np.log(orig)) if scale > 1 else 1.0
        writer.add_rope_dimension_count(hd)
        writer.add_rope_scaling_orig_ctx_len(orig)
        writer.add_rope_scaling_attn_factors(float(attn_factor))
        writer.add_sliding_window(cfg["sliding_window"])
    gguf_tokenizer(writer, folder, cfg)

    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
             "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    if arch == "gemma3":
        names.update(GEMMA3_NORM_NAMES)
    names.update({"self_attn.qkv_proj": "attn_qkv", "mlp.gate_up_proj": "ffn_up"})  # phi3

    def add(name, data, quantize):
        bf16_matrix = qtype_name == "BF16" and data.ndim == 2
        if (quantize and qtype_name in QUANTIZED_TYPES) or bf16_matrix:
            type_name = gguf_tensor_type(qtype_name, name)
            qtype = getattr(gguf.GGMLQuantizationType, type_name)
            if type_name in ("Q4_K", "Q5_K"):
                q = quantize_k_quant(data, int(type_name[1]))
            elif type_name == "Q6_K":
                q = quantize_q6_k(data)
            else:
                q = gguf.quants.quantize(data, qtype)
            writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
        elif qtype_name == "F16" and data.ndim == 2:
            writer.add_tensor(name, data.astype(np.float16))
        elif data.ndim == 1:
            # Norms and biases in f32 whatever the checkpoint's dtype, as llama.cpp's converter
            # writes them (its CPU ops refuse an f16 norm weight: peers must load these files).
            writer.add_tensor(name, data.astype(np.float32))
        else:
            writer.add_tensor(name, data)

    add("token_embd.weight", weights["model.embed_tokens.weight"], True)
    if arch == "llama" and cfg.get("rope_scaling"):
        add("rope_freqs.weight", llama3_rope_freqs(cfg), False)
    if arch == "phi3":
        rs = cfg["rope_scaling"]
        add("rope_factors_long.weight", np.array(rs["long_factor"], dtype=np.float32), False)
        add("rope_factors_short.weight", np.array(rs["short_factor"], dtype=np.float32), False)
    for i in range(cfg["num_hidden_layers"]):
        for hf_suffix, gguf_suffix in names.items():
            for kind in ("weight", "bias"):
                key = f"model.layers.{i}.{hf_suffix}.{kind}"
                if key not in weights:
                    continue
                data = weights[key]
                if arch == "gemma3" and key.endswith("norm.weight"):
                    data = data + np.float32(1)  # llama.cpp stores Gemma's norms as 1 + w
                if arch == "llama" and hf_suffix == "self_attn.q_proj":
                    data = permute_for_interleaved_rope(data, nh)
                elif arch == "llama" and hf_suffix == "self_attn.k_proj":
                    data = permute_for_interleaved_rope(data, nkv)
                add(f"blk.{i}.{gguf_suffix}.{kind}", data, data.ndim == 2)
    final_norm = weights["model.norm.weight"]
    add("output_norm.weight", final_norm + np.float32(1) if arch == "gemma3" else final_norm, False)
    if "lm_head.weight" in weights:
        add("output.weight", weights["lm_head.weight"], True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--gguf-types", default="F32",
                        help="comma-separated GGUF tensor types to write: F32,F16,BF16,Q8_0,Q4_0,"
                        "Q4_1,Q5_1,Q4_K,Q5_K,Q6_K (cols multiples of 256: not --size tiny), Q5_K_M and "
                        "Q4_K_M (mixed)")
    parser.add_argument("--size", choices=sorted(SHAPES), default="tiny",
                        help="tiny (tests), tiny256 (tests of 256-blocks), 1b (Llama 3.2 1B "
                        "shape), 8b (Llama 3.1 8B shape), "
                        "125m or 853m (CPU benchmark shapes)")
    parser.add_argument("--large", action="store_true", help="the same as --size 1b")
    parser.add_argument("--hf-dtype", choices=("float32", "float16"), default="float32",
                        help="dtype of the safetensors weights (float16 halves big models)")
    parser.add_argument("--name", help="directory name for a single family (default: the family)")
    args = parser.parse_args()
    for seed, family in enumerate(args.families.split(",")):
        if family not in FAMILIES:
            sys.exit(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
        size = "1b" if args.large else args.size
        cfg = make_config(family, SHAPES[size])
        cfg["torch_dtype"] = args.hf_dtype
        weights = random_weights(cfg, 1234 + seed, np.dtype(args.hf_dtype).type)
        suffix = {"tiny": "", "1b": "-large"}.get(size, "-" + size)
        name = args.name or f"{family}{suffix}"
        write_hf(os.path.join(args.out_dir, name), family, cfg, weights)
        for qtype in filter(None, args.gguf_types.split(",")):
            write_gguf(os.path.join(args.out_dir, f"{name}-{qtype.lower()}.gguf"), family, cfg,
                       weights, qtype)
        print(f"wrote {name}: {cfg['architectures'][0]}, vocab {cfg['vocab_size']}")


if __name__ == "__main__":
    main()
