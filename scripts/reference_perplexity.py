#!/usr/bin/env python3
"""Float64 reference perplexity of a Llama GGUF over a text file, on the windows `tessera bench
perplexity` uses (Hugging Face's sliding-window recipe: windows of CONTEXT tokens every STRIDE
tokens, each scoring only the tokens no earlier window scored).

The forward pass is scripts/reference_forward.py's independent one (numpy, float64, every
tensor dequantized by the official `gguf` package, its tokenizer built with `tokenizers` from
the file's own vocabulary), extended here to return every position's log-softmax. So it is the
reference for `tessera bench perplexity --quantization none` (the file's values in f32), and
the baseline the quantized formats are compared with in docs/benchmarks.md.

Usage: reference_perplexity.py MODEL.gguf TEXT [--context 1024] [--stride 512] [--json FILE]
Cost: about 2 * parameters * (tokens processed) float64 FLOPs; the 135M default model over the
shipped text (tests/data/text) takes minutes on one core and about 2 GB of memory.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forward import load_gguf, rms_norm, rope_interleaved  # noqa: E402


def window_logsoftmax(cfg, w, ids):
    """log-softmax rows [T, vocab] of a causal forward over `ids` (positions 0..T-1)."""
    h, nh, nkv, eps = cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["eps"]
    hd = h // nh
    t = len(ids)
    positions = np.arange(t, dtype=np.float64)
    mask = np.triu(np.full((t, t), -np.inf), k=1)
    x = w["token_embd.weight"][np.array(ids)]
    for i in range(cfg["layers"]):
        def wt(name):
            return w[f"blk.{i}.{name}.weight"]
        y = rms_norm(x, wt("attn_norm"), eps)
        q = rope_interleaved((y @ wt("attn_q").T).reshape(t, nh, hd), positions, cfg["theta"])
        k = rope_interleaved((y @ wt("attn_k").T).reshape(t, nkv, hd), positions, cfg["theta"])
        v = (y @ wt("attn_v").T).reshape(t, nkv, hd)
        out = np.zeros((t, nh, hd))
        for head in range(nh):
            kh, vh = k[:, head // (nh // nkv)], v[:, head // (nh // nkv)]
            scores = q[:, head] @ kh.T / np.sqrt(hd) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            out[:, head] = (scores / scores.sum(axis=-1, keepdims=True)) @ vh
        x = x + out.reshape(t, h) @ wt("attn_output").T
        y = rms_norm(x, wt("ffn_norm"), eps)
        gate = y @ wt("ffn_gate").T
        up = y @ wt("ffn_up").T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ wt("ffn_down").T
    x = rms_norm(x, w["output_norm.weight"], eps)
    logits = x @ w.get("output.weight", w["token_embd.weight"]).T
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf")
    parser.add_argument("text")
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--stride", type=int, default=None)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    stride = args.stride or max(1, args.context // 2)
    if not 1 <= stride <= args.context:
        raise SystemExit(f"--stride must be between 1 and --context ({args.context})")
    cfg, w, tok = load_gguf(args.gguf)
    with open(args.text, encoding="utf-8") as f:
        # As the engine encodes it: no BOS for SmolLM2 (tokenizer.ggml.add_bos_token false).
        ids = tok.encode(f.read(), add_special_tokens=False).ids
    start = time.time()
    nll, count, previous_end, windows = 0.0, 0, 0, 0
    for begin in range(0, len(ids), stride):
        end = min(begin + args.context, len(ids))
        rows = window_logsoftmax(cfg, w, ids[begin:end])
        for t in range(max(begin + 1, previous_end), end):
            nll -= rows[t - begin - 1][ids[t]]
            count += 1
        windows += 1
        previous_end = end
        print(f"window {windows}: [{begin}, {end}) {time.time() - start:.0f} s", file=sys.stderr)
        if end == len(ids):
            break
    result = {"dataset_tokens": len(ids), "context": args.context, "stride": stride,
              "windows": windows, "tokens_scored": count, "mean_nll": nll / count,
              "perplexity": float(np.exp(nll / count))}
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
