"""`--tensor-parallel-size` through the real binary: generate with TP 2 (CPU ranks in one
process) prints what TP 1 prints, `--config` takes the key, `plan` reports per-rank shares,
configs that cannot run end with one clear error line and a non-zero exit, and under
`mpirun -np 2` two processes print what one rank prints."""
import json
import os
import shutil
import subprocess

import pytest

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


# --- ranks as processes: mpirun -np 2 (Open MPI), rank 0 prints, rank 1 runs its shard ---

MPIRUN = shutil.which("mpirun")
MPI_ARGS = ["-np", "2", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]


def mpirun(*args, timeout=300):
    if MPIRUN is None:
        pytest.skip("mpirun not found (Debian: openmpi-bin)")
    result = subprocess.run([MPIRUN, *MPI_ARGS, TESSERA, *args], capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if "built without MPI" in result.stderr:
        pytest.skip("this tessera was built without MPI")
    return result


def test_mpirun_two_processes_generate_what_one_rank_generates(tmp_path):
    one = generate()
    assert one.returncode == 0, one.stderr
    args = ["generate", "--model", f"{MODELS}/qwen3", "--device", "cpu", *COMMON, "--prompt",
            "Hello there", "--max-tokens", "12", "--ignore-eos", "--tensor-parallel-size", "2"]
    two = mpirun(*args)
    assert two.returncode == 0, two.stderr
    assert two.stdout == one.stdout  # only rank 0 prints
    # A batch of prompts through the engine, chunked into 7-token steps.
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(
        json.dumps({"prompt": f"Request number {i}: " + "tokens " * (3 * i), "max_tokens": 6,
                    "ignore_eos": True}) + "\n" for i in range(6)))
    batch = ["generate", "--model", f"{MODELS}/llama3", "--device", "cpu", *COMMON,
             "--max-num-batched-tokens", "7", "--input", str(requests)]
    single = run(*batch, "--output", str(tmp_path / "one.jsonl"))
    assert single.returncode == 0, single.stderr
    split = mpirun(*batch, "--tensor-parallel-size", "2", "--output", str(tmp_path / "two.jsonl"))
    assert split.returncode == 0, split.stderr

    def texts(name):
        return [json.loads(line)["token_ids"] for line in (tmp_path / name).read_text().splitlines()]

    assert texts("two.jsonl") == texts("one.jsonl")


def test_mpirun_with_a_failing_rank_ends_the_job_instead_of_hanging():
    # Both processes count their own linear calls: the same call fails on both, rank 1 aborts
    # the job (rank 0 alone would fail the step and go on).
    result = mpirun("generate", "--model", f"{MODELS}/qwen3", "--device", "cpu", *COMMON,
                    "--prompt", "Hello", "--max-tokens", "40", "--ignore-eos",
                    "--tensor-parallel-size", "2", "--plugin-option", "cpu.fail_linear_every=150",
                    timeout=120)
    assert result.returncode != 0
    assert "injected fault" in result.stderr


def test_mpirun_with_the_wrong_process_count_is_one_error():
    result = mpirun("generate", "--model", f"{MODELS}/qwen3", "--device", "cpu", *COMMON,
                    "--prompt", "Hello", "--tensor-parallel-size", "4", timeout=120)
    assert result.returncode != 0
    assert "mpirun started 2 processes but --tensor-parallel-size is 4" in result.stderr


def test_prompt_logprobs_under_tp_is_one_error(tmp_path):
    # The extra LM-head pass over prompt rows runs on rank 0 only (docs/tensor-parallel.md).
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps({"prompt": "Hello there", "max_tokens": 2,
                                 "prompt_logprobs": 1}) + "\n")
    result = run("generate", "--model", f"{MODELS}/qwen3", "--device", "cpu", *COMMON,
                 "--tensor-parallel-size", "2", "--input", str(batch),
                 "--output", str(tmp_path / "out.jsonl"))
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "prompt_logprobs" in lines[0] and "tensor-parallel-size" in lines[0]
