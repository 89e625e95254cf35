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
}

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
SHAPES = {"tiny": TINY, "1b": LARGE, "8b": SIZE_8B, "125m": SIZE_125M, "853m": SIZE_853M}
# GGUF block types whose matrices are written quantized by the gguf package's own quantizers
# (norms and biases stay f32).
QUANTIZED_TYPES = ("Q8_0", "Q4_0", "Q4_1")


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
    if arch == "Qwen2ForCausalLM":
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
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(dtype)

    w = {"model.embed_tokens.weight":
         rng.standard_normal((cfg["vocab_size"], h)).astype(dtype)}
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
        if arch == "Qwen3ForCausalLM":
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "post_attention_layernorm.weight"] = norm(h)
        w[p + "mlp.gate_proj.weight"] = mat(inter, h)
        w[p + "mlp.up_proj.weight"] = mat(inter, h)
        w[p + "mlp.down_proj.weight"] = mat(h, inter)
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


def write_gguf(path, family, cfg, weights, qtype_name):
    import gguf
    arch_name, folder, _ = FAMILIES[family]
    arch = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama",
            "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3"}[arch_name]
    qtype = getattr(gguf.GGMLQuantizationType, qtype_name)
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
    writer.add_file_type(qtype if qtype_name in QUANTIZED_TYPES else 0)
    gguf_tokenizer(writer, folder, cfg)

    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
             "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}

    def add(name, data, quantize):
        bf16_matrix = qtype_name == "BF16" and data.ndim == 2
        if (quantize and qtype_name in QUANTIZED_TYPES) or bf16_matrix:
            q = gguf.quants.quantize(data, qtype)
            writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
        elif qtype_name == "F16" and data.ndim == 2:
            writer.add_tensor(name, data.astype(np.float16))
        else:
            writer.add_tensor(name, data)

    add("token_embd.weight", weights["model.embed_tokens.weight"], True)
    if arch == "llama" and cfg.get("rope_scaling"):
        add("rope_freqs.weight", llama3_rope_freqs(cfg), False)
    for i in range(cfg["num_hidden_layers"]):
        for hf_suffix, gguf_suffix in names.items():
            for kind in ("weight", "bias"):
                key = f"model.layers.{i}.{hf_suffix}.{kind}"
                if key not in weights:
                    continue
                data = weights[key]
                if arch == "llama" and hf_suffix == "self_attn.q_proj":
                    data = permute_for_interleaved_rope(data, nh)
                elif arch == "llama" and hf_suffix == "self_attn.k_proj":
                    data = permute_for_interleaved_rope(data, nkv)
                add(f"blk.{i}.{gguf_suffix}.{kind}", data, data.ndim == 2)
    add("output_norm.weight", weights["model.norm.weight"], False)
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
                        help="comma-separated GGUF tensor types to write: F32,F16,BF16,"
                        + ",".join(QUANTIZED_TYPES))
    parser.add_argument("--size", choices=sorted(SHAPES), default="tiny",
                        help="tiny (tests), 1b (Llama 3.2 1B shape), 8b (Llama 3.1 8B shape), "
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
