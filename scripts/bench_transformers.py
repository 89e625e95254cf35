#!/usr/bin/env python3
"""The workload of `tessera bench latency` / `throughput` through Hugging Face transformers.

A peer measurement for docs/benchmarks.md, run by `scripts/gpu-check.sh bench` on a GPU
machine where torch and transformers are installed (they are not test dependencies of the
project and never run in CI). Same model directory, bf16, random prompt token ids of
--input-len, greedy, exactly --output-len new tokens (EOS ignored through min_new_tokens).

- batch-1 decode: (time of generate(output_len) - time of generate(1)) / (output_len - 1);
- throughput at concurrency C: C prompts in one static batch (transformers has no continuous
  batching), output tok/s = C * output_len / elapsed.
"""
import argparse
import json
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--input-len", type=int, default=128)
    parser.add_argument("--output-len", type=int, default=128)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16)
    model = model.to("cuda").eval()
    vocab = model.config.vocab_size

    def generate(batch, new_tokens):
        ids = torch.randint(0, vocab, (batch, args.input_len), device="cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                           max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                           pad_token_id=0)
        torch.cuda.synchronize()
        return time.perf_counter() - start

    def median(values):
        values = sorted(values)
        return values[len(values) // 2]

    generate(1, 4)  # warm-up: kernels, allocator
    prefill = median([generate(1, 1) for _ in range(args.iters)])
    total = median([generate(1, args.output_len) for _ in range(args.iters)])
    decode_step = (total - prefill) / max(1, args.output_len - 1)
    result = {
        "engine": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "device": torch.cuda.get_device_name(0),
        "model": args.model,
        "input_len": args.input_len,
        "output_len": args.output_len,
        "batch1": {"prefill_s": prefill, "decode_ms_per_token": 1e3 * decode_step,
                   "decode_tok_s": 1.0 / decode_step},
        "throughput": [],
    }
    print(f"batch 1: prefill {prefill * 1e3:.1f} ms, decode {1e3 * decode_step:.2f} ms/token "
          f"= {1.0 / decode_step:.1f} tok/s")
    for conc in args.concurrency:
        try:
            elapsed = generate(conc, args.output_len)
        except torch.cuda.OutOfMemoryError:
            print(f"concurrency {conc}: out of memory")
            result["throughput"].append({"concurrency": conc, "error": "out of memory"})
            torch.cuda.empty_cache()
            continue
        tok_s = conc * args.output_len / elapsed
        print(f"concurrency {conc}: {elapsed:.2f} s, {tok_s:.1f} output tok/s")
        result["throughput"].append({"concurrency": conc, "elapsed_s": elapsed,
                                     "output_tok_s": tok_s})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
