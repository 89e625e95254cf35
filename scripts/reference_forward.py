#!/usr/bin/env python3
"""Independent float64 reference forward pass for the tiny test models (numpy only).

Shares no code with the engine: it reads the Hugging Face directory with the `safetensors`
package and implements the Llama / Mistral / Qwen2 / Qwen3 decoder from the papers' and
Hugging Face's published definitions (RMSNorm, rotate-half RoPE with Llama 3.1 and linear
scaling, GQA causal attention, SwiGLU MLP, Qwen2 q/k/v bias, Qwen3 per-head q/k RMSNorm,
Phi-3's fused q/k/v and gate/up and LongRoPE),
and Gemma 3 (Hugging Face's modeling_gemma3: sqrt(hidden)-scaled embedding, (1 + w)
RMSNorms before and after attention and MLP, per-head q/k norms, query_pre_attn_scalar,
GeGLU with tanh-approximated GELU, local sliding-window layers with their own rope base).

For each model it writes <out>/<name>.reference.json (prompt ids, greedy continuation) and
<out>/<name>.reference.bin (float32 logits, [prompt_len + steps, vocab], row-major: the
logits after every prompt position and after every greedy token).

Usage: reference_forward.py MODELS_DIR OUT_DIR [--models llama3,qwen3] [--steps 8]
                            [--dequantized llama2:llama2-q5_1.gguf,...]

With --dequantized MODEL:FILE it also writes the reference of MODEL's config and prompt with
the weights of the quantized tiny GGUF FILE (in MODELS_DIR) as gguf.quants.dequantize gives
them, named after FILE without .gguf: a quantized model's logits are then compared with
exact arithmetic on its own weights, and its greedy text must match.

With --gguf FILE it instead reads a Llama-architecture GGUF (SmolLM2-135M-Instruct, the default
model) through the official `gguf` package: every tensor dequantized by gguf.quants.dequantize
and computed in float64, rotary embedding on interleaved pairs as GGUF's Llama layout needs,
and the prompts tokenized by a `tokenizers` BPE built from the file's own tokens and merges
with the pre-tokenizer tokenizer.ggml.pre names. It writes OUT_DIR/smollm2.reference.json
(per prompt: text, ids, greedy continuation, and the float32 log-softmax of every greedy step)
and leaves a file that is already current alone. When FILE does not exist it writes
{"absent": true}, so that the tests skip and say why.
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


# GGUF tensor name parts of make_tiny_models.py's files -> Hugging Face names.
GGUF_TO_HF = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj",
              "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
              "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm",
              "attn_k_norm": "self_attn.k_norm", "ffn_norm": "post_attention_layernorm",
              "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def load_dequantized(model_dir, gguf_path):
    """MODEL's config, and the weights of a tiny GGUF written from it, dequantized by the gguf
    package and renamed to Hugging Face names; llama q/k rows are taken back from the
    interleaved-rope order (llama.cpp's permutation) to rotate-half order."""
    import gguf
    cfg, _ = load(model_dir)
    llama = cfg["architectures"][0] in ("LlamaForCausalLM", "MistralForCausalLM")
    heads = {"attn_q": cfg["num_attention_heads"], "attn_k": cfg["num_key_value_heads"]}
    weights = {}
    for t in gguf.GGUFReader(gguf_path).tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        parts = t.name.split(".")
        if t.name == "token_embd.weight":
            weights["model.embed_tokens.weight"] = w
        elif t.name == "output.weight":
            weights["lm_head.weight"] = w
        elif t.name == "output_norm.weight":
            weights["model.norm.weight"] = w
        elif parts[0] == "blk":
            if llama and parts[2] in heads:
                n, rows = heads[parts[2]], w.shape[0]
                w = w.reshape(n, rows // n // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
            weights[f"model.layers.{parts[1]}.{GGUF_TO_HF[parts[2]]}.{parts[3]}"] = w
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
    elif rs and rs.get("rope_type", rs.get("type")) == "linear":
        inv = inv / rs["factor"]
    return inv


def longrope(cfg, x, positions, head_dim):
    """Phi-3's LongRoPE over x [T, heads, D]: inv_freq divided by the long factors at
    positions >= original_max_position_embeddings and the short ones before (Tessera's
    per-token rule; HF switches a whole forward pass at once, which agrees whenever the
    prompt fits the original context), cos and sin times sqrt(1 + ln(s) / ln(original))."""
    rs = cfg["rope_scaling"]
    orig = cfg["original_max_position_embeddings"]
    scale = cfg["max_position_embeddings"] / orig
    factor = np.sqrt(1 + np.log(scale) / np.log(orig)) if scale > 1 else 1.0
    base = 1.0 / (cfg["rope_theta"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    out = np.empty_like(x)
    for t, pos in enumerate(positions):
        divisors = np.array(rs["long_factor" if pos >= orig else "short_factor"])
        angles = pos * base / divisors
        cos = (np.cos(angles) * factor)[None, :]
        sin = (np.sin(angles) * factor)[None, :]
        half = head_dim // 2
        a, b = x[t, :, :half], x[t, :, half:]
        out[t] = np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)
    return out


def rope(x, positions, inv):
    # x: [T, heads, D]; rotate_half pairs (i, i + D/2)
    angles = positions[:, None] * inv[None, :]
    cos = np.cos(angles)[:, None, :]
    sin = np.sin(angles)[:, None, :]
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)


def attention(q, k, v, mask, scale):
    """GQA softmax attention: q [T, nh, hd], k/v [T, nkv, hd] -> [T, nh * hd]."""
    t, nh, hd = q.shape
    group = nh // k.shape[1]
    out = np.zeros((t, nh, hd))
    for head in range(nh):
        kh, vh = k[:, head // group], v[:, head // group]
        scores = q[:, head] @ kh.T * scale + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        out[:, head] = (scores / scores.sum(axis=-1, keepdims=True)) @ vh
    return out.reshape(t, nh * hd)


def gelu_tanh(x):
    # 0.5 x (1 + tanh a) written as x / (1 + exp(-2a)): no cancellation where tanh a -> -1.
    with np.errstate(over="ignore"):
        return x / (1 + np.exp(-2 * np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def forward_gemma3(cfg, w, ids):
    """Gemma 3's logits [T, vocab] for `ids`, from HF's Gemma3ForCausalLM definition."""
    h = cfg["hidden_size"]
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    t = len(ids)
    positions = np.arange(t, dtype=np.float64)

    def norm(x, name):  # Gemma3RMSNorm: x * (1 + w)
        return rms_norm(x, 1.0 + w[name], eps)

    causal = np.triu(np.full((t, t), -np.inf), k=1)
    local = causal + np.tril(np.full((t, t), -np.inf), k=-cfg["sliding_window"])
    inv_global = inv_freq(cfg, hd)
    inv_local = inv_freq({"rope_theta": cfg["rope_local_base_freq"]}, hd)
    scale = cfg["query_pre_attn_scalar"] ** -0.5
    x = w["model.embed_tokens.weight"][np.array(ids)] * np.sqrt(h)
    for i, kind in enumerate(cfg["layer_types"]):
        p = f"model.layers.{i}."
        sliding = kind == "sliding_attention"
        y = norm(x, p + "input_layernorm.weight")
        q = (y @ w[p + "self_attn.q_proj.weight"].T).reshape(t, nh, hd)
        k = (y @ w[p + "self_attn.k_proj.weight"].T).reshape(t, nkv, hd)
        v = (y @ w[p + "self_attn.v_proj.weight"].T).reshape(t, nkv, hd)
        inv = inv_local if sliding else inv_global
        q = rope(norm(q, p + "self_attn.q_norm.weight"), positions, inv)
        k = rope(norm(k, p + "self_attn.k_norm.weight"), positions, inv)
        out = attention(q, k, v, local if sliding else causal, scale)
        out = out @ w[p + "self_attn.o_proj.weight"].T
        x = x + norm(out, p + "post_attention_layernorm.weight")
        y = norm(x, p + "pre_feedforward_layernorm.weight")
        gate = y @ w[p + "mlp.gate_proj.weight"].T
        up = y @ w[p + "mlp.up_proj.weight"].T
        mlp = (gelu_tanh(gate) * up) @ w[p + "mlp.down_proj.weight"].T
        x = x + norm(mlp, p + "post_feedforward_layernorm.weight")
    x = norm(x, "model.norm.weight")
    return x @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T


def forward(cfg, w, ids):
    """Logits [T, vocab] for the token sequence `ids` (positions 0..T-1)."""
    arch = cfg["architectures"][0]
    if arch == "Gemma3ForCausalLM":
        return forward_gemma3(cfg, w, ids)
    h = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // nh
    eps = cfg["rms_norm_eps"]
    t = len(ids)
    positions = np.arange(t, dtype=np.float64)
    inv = inv_freq(cfg, hd)
    x = w["model.embed_tokens.weight"][np.array(ids)]
    mask = np.triu(np.full((t, t), -np.inf), k=1)
    window = cfg.get("sliding_window") if arch in ("MistralForCausalLM", "Phi3ForCausalLM") else None
    phi3 = arch == "Phi3ForCausalLM"
    if phi3:  # fused checkpoints: split them, as they are [q | k | v] and [gate | up]
        w = dict(w)
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            qkv = w[p + "self_attn.qkv_proj.weight"]
            w[p + "self_attn.q_proj.weight"] = qkv[:nh * hd]
            w[p + "self_attn.k_proj.weight"] = qkv[nh * hd:(nh + nkv) * hd]
            w[p + "self_attn.v_proj.weight"] = qkv[(nh + nkv) * hd:]
            gate_up = w[p + "mlp.gate_up_proj.weight"]
            inter = gate_up.shape[0] // 2
            w[p + "mlp.gate_proj.weight"] = gate_up[:inter]
            w[p + "mlp.up_proj.weight"] = gate_up[inter:]
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
        if phi3:
            q = longrope(cfg, q, positions, hd)
            k = longrope(cfg, k, positions, hd)
        else:
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


# Prompts for the GGUF model: plain text (digits, code) and one chat turn in SmolLM2's own
# template with its default system message (special tokens in the text).
GGUF_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Water boils at 100 degrees Celsius, which is",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\nHello! How are you?<|im_end|>\n<|im_start|>assistant\n",
]


def gguf_field(reader, key):
    field = reader.fields[key]
    return field.contents()


def load_gguf(path):
    """Hyperparameters, float64 dequantized tensors (outermost dimension first; about 1.1 GB
    for the 135M model) and tokenizer."""
    import gguf
    reader = gguf.GGUFReader(path)
    assert gguf_field(reader, "general.architecture") == "llama", "only Llama GGUFs"
    cfg = {
        "layers": int(gguf_field(reader, "llama.block_count")),
        "hidden": int(gguf_field(reader, "llama.embedding_length")),
        "heads": int(gguf_field(reader, "llama.attention.head_count")),
        "kv_heads": int(gguf_field(reader, "llama.attention.head_count_kv")),
        "theta": float(gguf_field(reader, "llama.rope.freq_base")),
        "eps": float(gguf_field(reader, "llama.attention.layer_norm_rms_epsilon")),
    }
    weights = {}
    for t in reader.tensors:
        weights[t.name] = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
    return cfg, weights, gguf_tokenizer(reader)


def gguf_tokenizer(reader):
    """A `tokenizers` BPE from the GGUF's tokens and merges, with the pre-tokenizer its
    tokenizer.ggml.pre stands for (the names the default model needs)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers as pt
    assert gguf_field(reader, "tokenizer.ggml.model") == "gpt2"
    pre = gguf_field(reader, "tokenizer.ggml.pre")
    tokens = gguf_field(reader, "tokenizer.ggml.tokens")
    types = gguf_field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in gguf_field(reader, "tokenizer.ggml.merges")]
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    if pre == "smollm":  # HuggingFaceTB/SmolLM2-*: tokenizer.json
        tok.pre_tokenizer = pt.Sequence([pt.Digits(individual_digits=True),
                                         pt.ByteLevel(add_prefix_space=False, use_regex=True)])
    else:
        raise SystemExit(f"reference_forward.py: no reference pre-tokenizer for '{pre}'")
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, kind in zip(tokens, types) if kind == 3])
    return tok


def rope_interleaved(x, positions, theta):
    # x: [T, heads, D]; GGUF's Llama layout rotates pairs (2i, 2i + 1)
    d = x.shape[-1]
    inv = 1.0 / (theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    angles = positions[:, None] * inv[None, :]
    cos = np.cos(angles)[:, None, :]
    sin = np.sin(angles)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = b * cos + a * sin
    return out


def forward_gguf(cfg, w, ids, cache):
    """Log-softmax of the last position for `ids`, reusing and extending `cache` (per layer
    K and V of the positions before)."""
    h, nh, nkv, eps = cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["eps"]
    hd = h // nh
    start = len(cache[0][0]) if cache else 0
    t = len(ids) - start
    positions = np.arange(start, len(ids), dtype=np.float64)
    x = w["token_embd.weight"][np.array(ids[start:])]
    for i in range(cfg["layers"]):
        def wt(name):
            return w[f"blk.{i}.{name}.weight"]
        y = rms_norm(x, wt("attn_norm"), eps)
        q = rope_interleaved((y @ wt("attn_q").T).reshape(t, nh, hd), positions, cfg["theta"])
        k = rope_interleaved((y @ wt("attn_k").T).reshape(t, nkv, hd), positions, cfg["theta"])
        v = (y @ wt("attn_v").T).reshape(t, nkv, hd)
        if len(cache) <= i:
            cache.append([np.zeros((0, nkv, hd)), np.zeros((0, nkv, hd))])
        cache[i][0] = np.concatenate([cache[i][0], k])
        cache[i][1] = np.concatenate([cache[i][1], v])
        keys, values = cache[i]
        total = len(keys)
        mask = np.triu(np.full((t, total), -np.inf), k=start + 1)
        out = np.zeros((t, nh, hd))
        for head in range(nh):
            kh, vh = keys[:, head // (nh // nkv)], values[:, head // (nh // nkv)]
            scores = q[:, head] @ kh.T / np.sqrt(hd) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            out[:, head] = (scores / scores.sum(axis=-1, keepdims=True)) @ vh
        x = x + out.reshape(t, h) @ wt("attn_output").T
        y = rms_norm(x, wt("ffn_norm"), eps)
        gate = y @ wt("ffn_gate").T
        up = y @ wt("ffn_up").T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ wt("ffn_down").T
    x = rms_norm(x[-1:], w["output_norm.weight"], eps)
    head = w.get("output.weight", w["token_embd.weight"])
    logits = (x @ head.T)[0]
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def gguf_main(path, out_dir, steps):
    import hashlib
    out = os.path.join(out_dir, "smollm2.reference.json")
    os.makedirs(out_dir, exist_ok=True)
    if not os.path.exists(path):
        with open(out, "w") as f:
            json.dump({"absent": True, "gguf": path}, f)
        print(f"reference_forward.py: {path} not found (scripts/install-deps.sh fetches it)")
        return
    with open(__file__, "rb") as f:
        script = hashlib.sha256(f.read()).hexdigest()
    stat = os.stat(path)
    key = {"gguf": path, "size": stat.st_size, "mtime": stat.st_mtime, "script": script,
           "steps": steps, "prompts": GGUF_PROMPTS}
    try:
        with open(out) as f:
            if json.load(f).get("key") == key:
                return  # current
    except (OSError, ValueError):
        pass
    cfg, w, tok = load_gguf(path)
    cases = []
    for text in GGUF_PROMPTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        cache, tokens, greedy, logprobs = [], list(ids), [], []
        for _ in range(steps):
            lp = forward_gguf(cfg, w, tokens, cache)
            nxt = int(np.argmax(lp))
            greedy.append(nxt)
            logprobs.append(lp.astype(np.float32))
            tokens.append(nxt)
        np.asarray(logprobs, dtype=np.float32).tofile(
            os.path.join(out_dir, f"smollm2.reference.{len(cases)}.bin"))
        cases.append({"text": text, "prompt_ids": ids, "greedy_ids": greedy,
                      "greedy_text": tok.decode(greedy)})
        print(f"smollm2: {text!r} -> {tok.decode(greedy)!r}")
    with open(out, "w") as f:
        json.dump({"key": key, "vocab_size": len(w["token_embd.weight"]), "steps": steps,
                   "cases": cases}, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models_dir", nargs="?")
    parser.add_argument("out_dir")
    parser.add_argument("--models", default="llama3,llama2,mistral,qwen2,qwen3,gemma3,phi3")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--gguf", help="a Llama GGUF file (see above)")
    parser.add_argument("--dequantized", default="",
                        help="comma-separated MODEL:FILE.gguf (see above)")
    args = parser.parse_args()
    if args.gguf:
        gguf_main(args.gguf, args.out_dir, args.steps)
        return
    os.makedirs(args.out_dir, exist_ok=True)
    jobs = [(name, name, None) for name in args.models.split(",")]
    for pair in filter(None, args.dequantized.split(",")):
        model, file = pair.split(":")
        jobs.append((file.removesuffix(".gguf"), model, os.path.join(args.models_dir, file)))
    for name, model, gguf_path in jobs:
        model_dir = os.path.join(args.models_dir, model)
        cfg, w = load_dequantized(model_dir, gguf_path) if gguf_path else load(model_dir)
        ids = prompt_for(model_dir)
        window = cfg.get("sliding_window")
        windowed = ("MistralForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM")
        if window and cfg["architectures"][0] in windowed and window >= len(ids):
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
