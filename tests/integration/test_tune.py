"""`tessera tune` end to end on the tiny model, with a budget so small that only the defaults
are measured (and measured again): the outputs exist, the YAML is a config `tessera serve`
accepts, and the report has the defaults-vs-tuned table. The search itself is unit-tested in
tests/integration_bench/sweep_test.cpp."""
import os
import subprocess
import tempfile

import pytest
import yaml

from conftest import MODEL_DIR, TESSERA_BIN, TINY_DIR

# A GGUF model too: its tokenizer (for the benchmark's prompts) is in the file's metadata.
GGUF_MODEL = os.path.join(TINY_DIR, "llama3-q4_0.gguf")


@pytest.mark.parametrize("model", [MODEL_DIR, GGUF_MODEL], ids=["hf-dir", "gguf"])
def test_tune_writes_config_report_and_plots(model):
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = os.path.join(tmp, "tune")
        r = subprocess.run(
            [TESSERA_BIN, "tune", "--model", model, "--device", "cpu", "--kv-cache-memory",
             "64MiB", "--max-model-len", "512", "--slo-ttft-p99-ms", "600000", "--budget", "1s",
             "--num-prompts", "20", "--random-input-len", "16", "--random-output-len", "4",
             "--sweep-start", "4", "--sweep-max", "8", "--sweep-max-runs", "2",
             "--sweep-run-seconds", "1", "--output-dir", out_dir],
            capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        with open(os.path.join(out_dir, "tuned.yaml")) as f:
            tuned = yaml.safe_load(f)
        with open(os.path.join(out_dir, "report.md")) as f:
            report = f.read()
        assert os.path.exists(os.path.join(out_dir, "tuned.svg"))
        assert os.path.exists(os.path.join(out_dir, "defaults.svg"))
        # The tuned file is a --config for serve: it parses (--help after the merge).
        check = subprocess.run([TESSERA_BIN, "serve", "--config",
                                os.path.join(out_dir, "tuned.yaml"), "--help"],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
    assert tuned["model"] == model and tuned["max-num-seqs"] == 256
    assert tuned["kv-cache-memory"] == "64MiB" and tuned["device"] == "cpu"
    assert "## Defaults vs tuned" in report and "| **knee (req/s)** | **8** | **8** |" in report
    assert "knee 8 req/s with the defaults" in r.stdout


def test_tune_needs_an_slo():
    r = subprocess.run([TESSERA_BIN, "tune", "--model", MODEL_DIR], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "tune needs an SLO" in r.stderr
    r = subprocess.run([TESSERA_BIN, "tune", "--model", MODEL_DIR, "--slo-ttft-p99-ms", "1",
                        "--budget", "soon"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--budget" in r.stderr


def test_tune_tries_quantization_and_dtype_only_when_listed():
    """The opt-in dimensions reach the defaults-vs-tuned table and the written config (the
    search over them is unit-tested in sweep_test.cpp); the budget is too small to try them."""
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = os.path.join(tmp, "tune")
        r = subprocess.run(
            [TESSERA_BIN, "tune", "--model", MODEL_DIR, "--device", "cpu", "--kv-cache-memory",
             "64MiB", "--max-model-len", "512", "--slo-ttft-p99-ms", "600000", "--budget", "1s",
             "--num-prompts", "20", "--random-input-len", "16", "--random-output-len", "4",
             "--sweep-start", "4", "--sweep-max", "8", "--sweep-max-runs", "2",
             "--sweep-run-seconds", "1", "--output-dir", out_dir,
             "--tune-quantization", "int8,int4", "--dtype", "float32", "--tune-dtype",
             "bfloat16"],
            capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        with open(os.path.join(out_dir, "tuned.yaml")) as f:
            tuned = yaml.safe_load(f)
        with open(os.path.join(out_dir, "report.md")) as f:
            report = f.read()
    # The run starts from the file's weights and the user's --dtype.
    assert tuned["quantization"] == "none" and tuned["dtype"] == "float32"
    assert "| `quantization` | none | none |" in report
    assert "| `dtype` | float32 | float32 |" in report
    assert "also changes the model's outputs" in report


def test_tune_refuses_a_bad_opt_in_list():
    for flag, value, expected in [("--tune-quantization", "int8,int3", "'int3' is not a"),
                                  ("--tune-quantization", "int8,", "an empty item"),
                                  ("--tune-dtype", "float64", "'float64' is not a dtype")]:
        r = subprocess.run([TESSERA_BIN, "tune", "--model", MODEL_DIR, "--slo-ttft-p99-ms", "1",
                            flag, value], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and expected in r.stderr, (flag, value, r.stderr)
