"""`tessera generate` and `tessera plan` end to end: streaming a prompt, a JSONL batch in
input order with usage, and bad input — a broken model, an unknown architecture, a vocab
mismatch, a bad request line — each ending with one clear error line and a non-zero exit."""
import json
import os
import re
import shutil
import subprocess

import pytest

TESSERA = os.environ["TESSERA_BIN"]
MODELS = os.environ["TESSERA_TINY_MODELS_DIR"]
DATA = os.environ["TESSERA_TEST_DATA_DIR"]
COMMON = ["--device", "cpu", "--kv-cache-memory", "64MiB", "--max-model-len", "512",
          "--log-level", "warn"]


def run(*args, timeout=300):
    return subprocess.run([TESSERA, *args], capture_output=True, text=True, timeout=timeout)


def error_line(result):
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert lines, result.stderr
    return lines[-1]


def test_prompt_streams_a_greedy_continuation():
    result = run("generate", "--model", f"{MODELS}/llama2", *COMMON, "--prompt", "Hello",
                 "--max-tokens", "8", "--ignore-eos")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() != ""
    assert "8 tokens, finish_reason length" in result.stderr
    again = run("generate", "--model", f"{MODELS}/llama2", *COMMON, "--prompt", "Hello",
                "--max-tokens", "8", "--ignore-eos")
    assert again.stdout == result.stdout  # greedy is deterministic


def run_env(env, *args, timeout=300):
    return subprocess.run([TESSERA, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def test_default_model_says_it_is_random():
    result = run_env({"TESSERA_DEFAULT_MODEL": "random"}, "generate", *COMMON, "--prompt", "Hi",
                     "--max-tokens", "2")
    assert result.returncode == 0, result.stderr
    assert "RANDOM weights" in result.stderr


def test_without_model_uses_smollm2_or_says_it_falls_back():
    smollm2 = os.path.join(os.path.dirname(os.path.dirname(TESSERA)), "share", "tessera",
                           "SmolLM2-135M-Instruct.Q4_1.gguf")
    env = {k: v for k, v in os.environ.items() if k != "TESSERA_DEFAULT_MODEL"}
    result = subprocess.run([TESSERA, "generate", *COMMON, "--prompt", "The capital of France is",
                             "--max-tokens", "4"], capture_output=True, text=True, timeout=300,
                            env=env)
    assert result.returncode == 0, result.stderr
    banner = [line for line in result.stderr.splitlines() if "no --model given" in line]
    assert len(banner) == 1, result.stderr
    if os.path.exists(smollm2):
        assert "SmolLM2-135M-Instruct" in banner[0] and "RANDOM" not in banner[0]
        assert "Paris" in result.stdout, result.stdout
    else:
        print("SmolLM2 not fetched: checking the fallback line only")
        assert "was not fetched" in banner[0] and "RANDOM weights" in banner[0]


def test_jsonl_batch_in_input_order(tmp_path):
    requests = [
        {"prompt": "The quick brown fox", "max_tokens": 5, "ignore_eos": True},
        {"prompt": [1, 450, 4996], "max_tokens": 3, "temperature": 0.8, "seed": 7,
         "ignore_eos": True},
        {"prompt": "Once upon a time", "max_tokens": 6, "top_k": 5, "top_p": 0.9, "seed": 1,
         "ignore_eos": True},
    ]
    inp = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    inp.write_text("\n".join(json.dumps(r) for r in requests) + "\n")
    result = run("generate", "--model", f"{MODELS}/llama2", *COMMON, "--input", str(inp),
                 "--output", str(out))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2]
    for request, line in zip(requests, lines):
        assert len(line["token_ids"]) == request["max_tokens"]
        assert line["finish_reason"] == "length"
        assert line["usage"]["completion_tokens"] == request["max_tokens"]
        assert line["usage"]["total_tokens"] == (line["usage"]["prompt_tokens"]
                                                 + line["usage"]["completion_tokens"])
    assert lines[1]["usage"]["prompt_tokens"] == 3
    # Seeded sampling reproduces.
    result = run("generate", "--model", f"{MODELS}/llama2", *COMMON, "--input", str(inp),
                 "--output", str(out))
    assert [json.loads(line)["token_ids"] for line in out.read_text().splitlines()] == \
        [line["token_ids"] for line in lines]


def test_gguf_q4_0_generates():
    result = run("generate", "--model", f"{MODELS}/llama2-q4_0.gguf", *COMMON, "--prompt", "Hi",
                 "--max-tokens", "4", "--ignore-eos")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("quantization", ["int8", "sym_int4"])
def test_quantization_at_load(quantization):
    flag = "--load-in-low-bit" if quantization.startswith("sym") else "--quantization"
    result = run("generate", "--model", f"{MODELS}/qwen3", *COMMON, flag, quantization,
                 "--prompt", "Hi", "--max-tokens", "3", "--ignore-eos")
    assert result.returncode == 0, result.stderr


def copy_model(tmp_path, name="llama2"):
    dst = tmp_path / name
    shutil.copytree(f"{MODELS}/{name}", dst)
    return dst


def expect_failure(result, *needles):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "terminate called" not in result.stderr
    line = error_line(result)
    for needle in needles:
        assert needle in line, line
    return line


def test_bad_models_fail_with_one_clear_line(tmp_path):
    missing = run("generate", "--model", str(tmp_path / "nope"), *COMMON, "--prompt", "x")
    expect_failure(missing, "nope")

    truncated = copy_model(tmp_path)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 3])
    expect_failure(run("generate", "--model", str(truncated), *COMMON, "--prompt", "x"),
                   "truncated")

    arch = copy_model(tmp_path, "qwen2")
    config = json.loads((arch / "config.json").read_text())
    config["architectures"] = ["FalconForCausalLM"]
    (arch / "config.json").write_text(json.dumps(config))
    expect_failure(run("generate", "--model", str(arch), *COMMON, "--prompt", "x"),
                   "FalconForCausalLM")

    vocab = copy_model(tmp_path, "mistral")
    config = json.loads((vocab / "config.json").read_text())
    config["vocab_size"] = 1000
    (vocab / "config.json").write_text(json.dumps(config))
    expect_failure(run("generate", "--model", str(vocab), *COMMON, "--prompt", "x"), "vocab")

    no_tokenizer = copy_model(tmp_path, "qwen3")
    (no_tokenizer / "tokenizer.json").unlink()
    expect_failure(run("generate", "--model", str(no_tokenizer), *COMMON, "--prompt", "x"),
                   "tokenizer")


def test_bad_request_line_names_the_line(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"prompt": "ok", "max_tokens": 2}\n{"prompt": "x", "temperature": -3}\n')
    expect_failure(run("generate", "--model", f"{MODELS}/llama2", *COMMON, "--input", str(inp)),
                   "in.jsonl:2", "temperature")
    inp.write_text('{"prompt": "ok"\n')
    expect_failure(run("generate", "--model", f"{MODELS}/llama2", *COMMON, "--input", str(inp)),
                   "in.jsonl:1")


def test_impossible_memory_names_the_flag():
    result = run("generate", "--model", f"{MODELS}/llama2", "--device", "cpu",
                 "--kv-cache-memory", "1KiB", "--prompt", "x")
    expect_failure(result, "--kv-cache-memory")


@pytest.mark.parametrize("value", ["fp8", "int8", "fp16", "bogus"])
def test_kv_cache_dtype_not_implemented_is_refused(value, tmp_path):
    # fp8/int8 caches are not implemented: a flag that silently changed nothing would mislead.
    result = run("generate", "--model", f"{MODELS}/llama2", *COMMON, "--prompt", "x",
                 "--kv-cache-dtype", value)
    assert result.returncode == 2, result.stderr
    line = expect_failure(result, "--kv-cache-dtype", value, "not one of")
    assert result.stderr.count("error") == 1, result.stderr
    config = tmp_path / "engine.yaml"
    config.write_text(f"kv_cache_dtype: {value}\n")
    from_file = run("generate", "--model", f"{MODELS}/llama2", *COMMON, "--prompt", "x",
                    "--config", str(config))
    assert expect_failure(from_file, "--kv-cache-dtype") == line


def kv_block_kib(stderr):
    match = re.search(r"KV cache (\d+) blocks x ([\d.]+) KiB", stderr)
    assert match, stderr
    return int(match.group(1)), float(match.group(2))


def test_kv_cache_dtype_16_bit_halves_the_blocks_beside_f32_activations():
    # The same KV budget holds twice the blocks of half the bytes; the text still comes out.
    outputs = {}
    for value in ("auto", "float32", "bfloat16", "float16"):
        result = run("generate", "--model", f"{MODELS}/llama2", "--device", "cpu",
                     "--max-model-len", "512", "--kv-cache-memory", "4MiB", "--log-level", "info",
                     "--prompt", "x", "--max-tokens", "4", "--dtype", "float32",
                     "--kv-cache-dtype", value)
        assert result.returncode == 0, result.stderr
        outputs[value] = kv_block_kib(result.stderr)
    assert outputs["auto"] == outputs["float32"]
    blocks, kib = outputs["float32"]
    for half in ("bfloat16", "float16"):
        assert outputs[half][1] == kib / 2, outputs
        assert outputs[half][0] >= 2 * blocks - 1, outputs


def test_plan_kv_cache_dtype_halves_the_block():
    args = ["plan", "--model", f"{DATA}/configs/qwen2-7b.json", "--device-memory", "16GiB",
            "--dtype", "float32"]

    def block_kib(result):
        match = re.search(r"KV cache +\d+ blocks x ([\d.]+) (KiB|MiB)", result.stdout)
        assert match, result.stdout
        return float(match.group(1)) * (1024 if match.group(2) == "MiB" else 1)

    full = run(*args)
    half = run(*args, "--kv-cache-dtype", "bfloat16")
    assert "kv cache f32" in full.stdout and "kv cache bf16" in half.stdout, half.stdout
    # Printed with 3-4 significant digits (1.8 MiB, 896.0 KiB).
    assert abs(block_kib(half) - block_kib(full) / 2) <= 0.03 * block_kib(full), (full.stdout,
                                                                              half.stdout)
    bad = run(*args, "--kv-cache-dtype", "fp8")
    assert bad.returncode == 2 and "--kv-cache-dtype" in bad.stderr, bad.stderr


def test_plan_for_a_hypothetical_device():
    args = ["plan", "--model", f"{DATA}/configs/qwen2-7b.json", "--device-memory", "16GiB",
            "--gpu-memory-utilization", "0.7", "--max-num-batched-tokens", "4096",
            "--load-in-low-bit", "sym_int4"]
    result = run(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DOES NOT FIT" in result.stdout
    assert "--max-model-len" in result.stdout
    fits = run(*args, "--max-model-len", "16384")
    assert fits.returncode == 0, fits.stdout
    assert "fits" in fits.stdout


def test_plan_on_the_cpu_device():
    result = run("plan", "--model", f"{MODELS}/qwen3", "--device", "cpu",
                 "--kv-cache-memory", "256MiB")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KV cache" in result.stdout
