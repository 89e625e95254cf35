"""`tessera bench serve --sweep` against a real server. The SLOs are chosen so the outcome
does not depend on the machine's speed: one no run can break (the sweep climbs to
--sweep-max) and one no run can meet (no knee, exit code 1)."""
import json
import os
import subprocess
import tempfile

from conftest import MODEL_DIR, TESSERA_BIN


def sweep(server, tmp, *args):
    result = os.path.join(tmp, "sweep.json")
    out = subprocess.run(
        [TESSERA_BIN, "bench", "serve", "--sweep", "--base-url", server.url, "--tokenizer",
         MODEL_DIR, "--num-prompts", "6", "--random-input-len", "16", "--random-output-len", "4",
         "--ignore-eos", "--seed", "1", "--save-result", result, *args],
        capture_output=True, text=True, timeout=300)
    with open(result) as f:
        return out, json.load(f)


def test_sweep_climbs_to_the_max_when_the_slo_holds(server):
    with tempfile.TemporaryDirectory() as tmp:
        out, r = sweep(server, tmp, "--sweep-by", "concurrency", "--sweep-start", "1",
                       "--sweep-max", "4", "--slo-ttft-p99-ms", "600000")
        assert out.returncode == 0, out.stdout + out.stderr
        with open(os.path.join(tmp, "sweep.svg")) as f:
            svg = f.read()
    s = r["sweep"]
    assert s["by"] == "concurrency" and s["knee"] == 4
    assert [run["load"] for run in s["runs"]] == [1, 2, 4]
    assert all(run["meets_slo"] and run["completed"] == 6 for run in s["runs"])
    assert "--sweep-max" in s["note"]
    assert r["server_info"]["engine_config"]["max_num_seqs"] == 16
    assert r["host"]["online_cpus"] >= 1 and len(r["host"]["loadavg"]) == 3
    assert isinstance(r["host"]["diagnose"], list)
    assert svg.startswith("<svg") and svg.count("<circle") == 3 * 5  # 5 series, 3 runs
    assert "knee (max concurrency (requests)): 4" in out.stdout
    assert "cannot be reset" not in out.stderr  # each run started from an empty prefix cache


def test_sweep_without_a_passing_load_reports_no_knee(server):
    with tempfile.TemporaryDirectory() as tmp:
        out, r = sweep(server, tmp, "--sweep-start", "2", "--slo-tpot-p99-ms", "0.000001",
                       "--sweep-max-runs", "3")
    assert out.returncode == 1
    assert r["sweep"]["knee"] is None
    assert [run["load"] for run in r["sweep"]["runs"]] == [2, 1, 0.5]
    assert all("p99 TPOT" in run["verdict"] for run in r["sweep"]["runs"])


def test_sweep_needs_an_slo(server):
    out = subprocess.run([TESSERA_BIN, "bench", "serve", "--sweep", "--base-url", server.url,
                          "--tokenizer", MODEL_DIR], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--sweep needs an SLO" in out.stderr


def test_datasets_are_tokenized_with_the_served_models_tokenizer(server):
    # No --tokenizer: /server_info names the served model, whose files are on this machine.
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "run.json")
        out = subprocess.run(
            [TESSERA_BIN, "bench", "serve", "--base-url", server.url, "--num-prompts", "3",
             "--random-input-len", "16", "--random-output-len", "2", "--ignore-eos",
             "--save-result", result], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        with open(result) as f:
            r = json.load(f)
    assert os.path.samefile(r["tokenizer_id"], MODEL_DIR)
    assert r["completed"] == 3
