"""`--tensor-parallel-size` through the real binary: generate with TP 2 (CPU ranks in one
process) prints what TP 1 prints, `--config` takes the key, `plan` reports per-rank shares,
and configs that cannot run end with one clear error line and a non-zero exit."""
import os
import subprocess

TESSERA = os.environ["TESSERA_BIN"]
MODELS = os.environ["TESSERA_TINY_MODELS_DIR"]
COMMON = ["--kv-cache-memory", "64MiB", "--max-model-len", "256",
          "--log-level", "warn", "--dtype", "float32"]


def run(*args, timeout=300):
    return subprocess.run([TESSERA, *args], capture_output=True, text=True, timeout=timeout)


def error_lines(result):
    return [line for line in result.stderr.splitlines() if "error" in line.lower()]


def generate(*extra, device="cpu"):
    return run("generate", "--model", f"{MODELS}/qwen3", "--device", device, *COMMON, "--prompt",
               "Hello there", "--max-tokens", "12", "--ignore-eos", *extra)


def test_tp2_generates_what_tp1_generates(tmp_path):
    one = generate()
    assert one.returncode == 0, one.stderr
    two = generate("--tensor-parallel-size", "2")
    assert two.returncode == 0, two.stderr
    assert two.stdout == one.stdout
    config = tmp_path / "tp.yaml"
    config.write_text("tensor-parallel-size: 2\n")
    from_file = generate("--config", str(config))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == one.stdout


def test_heads_that_do_not_divide_are_one_error():
    result = generate("--tensor-parallel-size", "3")
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "--tensor-parallel-size 3" in lines[0] and "attention heads" in lines[0]


def test_more_ranks_than_devices_is_one_error():
    result = generate("--tensor-parallel-size", "2", "--plugin-option", "cpu.devices=1")
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "needs 2 devices" in lines[0]


def test_a_device_list_of_the_wrong_length_is_one_error():
    result = generate("--tensor-parallel-size", "2", device="cpu:0,1,2")
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "names 3 devices" in lines[0]


def test_plan_reports_per_rank_shares():
    one = run("plan", "--model", f"{MODELS}/llama2", "--device-memory", "1GiB")
    two = run("plan", "--model", f"{MODELS}/llama2", "--device-memory", "1GiB",
              "--tensor-parallel-size", "2")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert "per rank, x 2 ranks" in two.stdout
    bad = run("plan", "--model", f"{MODELS}/llama2", "--device-memory", "1GiB",
              "--tensor-parallel-size", "3")
    assert bad.returncode != 0
    assert "attention heads" in bad.stderr
