#!/usr/bin/env python3
"""Independent float64 reference forward pass for the tiny test models (numpy only).

Shares no code with the engine: it reads the Hugging Face directory with the `safetensors`
package and implements the Llama / Mistral / Qwen2 / Qwen3 decoder from the papers' and
Hugging Face's published definitions (RMSNorm, rotate-half RoPE with Llama 3.1 scaling,
GQA causal attention, SwiGLU MLP, Qwen2 q/k/v bias, Qwen3 per-head q/k RMSNorm).

For each model it writes <out>/<name>.reference.json (prompt ids, greedy continuation) and
<out>/<name>.reference.bin (float32 logits, [prompt_len + steps, vocab], row-major: the
logits after every prompt position and after every greedy token).

Usage: reference_forward.py MODELS_DIR OUT_DIR [--models llama3,qwen3] [--steps 8]
"""
import argparse
import json
import os

import numpy as np


def load(model_dir):
    from safetensors.numpy import load_file
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    weights = {k: v.astype(np.float64) for k, v in
               load_file(os.path.join(model_dir, "model.safetensors")).items()}
    return cfg, weights


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def inv_freq(cfg, head_dim):
    inv = 1.0 / (cfg["rope_theta"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        old = rs["original_max_position_embeddings"]
        low_wavelen = old / rs["low_freq_factor"]
        high_wavelen = old / rs["high_freq_factor"]
        wavelen = 2 * np.pi / inv
        smooth = (old / wavelen - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
        scaled = np.where(wavelen > low_wavelen, inv / rs["factor"], inv)
        mid = (wavelen <= low_wavelen) & (wavelen >= high_wavelen)
        inv = np.where(mid, (1 - smooth) * inv / rs["factor"] + smooth * inv, scaled)
    return inv


def rope(x, positions, inv):
    # x: [T, heads, D]; rotate_half pairs (i, i + D/2)
    angles = positions[:, None] * inv[None, :]
    cos = np.cos(angles)[:, None, :]
    sin = np.sin(angles)[:, None, :]
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)


def forward(cfg, w, ids):
    """Logits [T, vocab] for the token sequence `ids` (positions 0..T-1)."""
    arch = cfg["architectures"][0]
    h = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // nh
    eps = cfg["rms_norm_eps"]
    t = len(ids)
    positions = np.arange(t, dtype=np.float64)
    inv = inv_freq(cfg, hd)
    x = w["model.embed_tokens.weight"][np.array(ids)]
    mask = np.triu(np.full((t, t), -np.inf), k=1)
    window = cfg.get("sliding_window") if arch == "MistralForCausalLM" else None
    if window:
        mask = mask + np.tril(np.full((t, t), -np.inf), k=-window)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        y = rms_norm(x, w[p + "input_layernorm.weight"], eps)

        def proj(name):
            out = y @ w[p + f"self_attn.{name}_proj.weight"].T
            bias = w.get(p + f"self_attn.{name}_proj.bias")
            return out + bias if bias is not None else out

        q = proj("q").reshape(t, nh, hd)
        k = proj("k").reshape(t, nkv, hd)
        v = proj("v").reshape(t, nkv, hd)
        if arch == "Qwen3ForCausalLM":
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q = rope(q, positions, inv)
        k = rope(k, positions, inv)
        group = nh // nkv
        out = np.zeros((t, nh, hd))
        for head in range(nh):
            kh, vh = k[:, head // group], v[:, head // group]
            scores = q[:, head] @ kh.T / np.sqrt(hd) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            out[:, head] = (scores / scores.sum(axis=-1, keepdims=True)) @ vh
        x = x + out.reshape(t, nh * hd) @ w[p + "self_attn.o_proj.weight"].T
        y = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = y @ w[p + "mlp.gate_proj.weight"].T
        up = y @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


def prompt_for(model_dir):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    return tok.encode("The quick brown fox jumps over the lazy dog. 你好", add_special_tokens=True).ids


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--models", default="llama3,llama2,mistral,qwen2,qwen3")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.models.split(","):
        model_dir = os.path.join(args.models_dir, name)
        cfg, w = load(model_dir)
        ids = prompt_for(model_dir)
        window = cfg.get("sliding_window")
        if window and cfg["architectures"][0] == "MistralForCausalLM" and window >= len(ids):
            raise SystemExit(f"{name}: sliding window {window} must be shorter than the "
                             f"{len(ids)}-token prompt, or the window goes untested")
        logits = forward(cfg, w, ids)
        rows = [logits[i] for i in range(len(ids))]
        generated = []
        for _ in range(args.steps):
            nxt = int(np.argmax(rows[-1]))
            generated.append(nxt)
            rows.append(forward(cfg, w, ids + generated)[-1])
        np.asarray(rows[:len(ids) + args.steps], dtype=np.float32).tofile(
            os.path.join(args.out_dir, f"{name}.reference.bin"))
        with open(os.path.join(args.out_dir, f"{name}.reference.json"), "w") as f:
            json.dump({"model": name, "prompt_ids": ids, "greedy_ids": generated,
                       "vocab_size": cfg["vocab_size"],
                       "rows": len(ids) + args.steps}, f)
        print(f"{name}: prompt {len(ids)} tokens, greedy {generated}")


if __name__ == "__main__":
    main()
