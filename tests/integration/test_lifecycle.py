"""A server of its own per test: --api-key, graceful shutdown on SIGTERM/SIGINT, and the
`tessera bench serve` client against it."""
import http.client as http_client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import MODEL_DIR, MODEL_NAME, TESSERA_BIN, Server, http, post_json


@pytest.fixture
def own_server(request):
    if not os.path.exists(TESSERA_BIN) or not os.path.exists(MODEL_DIR):
        pytest.skip("no tessera binary or tiny model")
    servers = []

    def start(*args):
        s = Server(*args)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop(signal.SIGKILL) if s.proc.poll() is None else None


def test_api_key(own_server):
    s = own_server("--api-key", "sekrit")
    body = {"model": MODEL_NAME, "prompt": "x", "max_tokens": 1}
    status, data = post_json(s, "/v1/completions", body)
    assert status == 401 and data["error"]["code"] == "invalid_api_key"
    status, _ = post_json(s, "/v1/completions", body, headers={"Authorization": "Bearer wrong"})
    assert status == 401
    status, _, _ = http(s, "GET", "/v1/models")
    assert status == 401
    status, _ = post_json(s, "/v1/completions", body, headers={"Authorization": "Bearer sekrit"})
    assert status == 200
    status, _ = post_json(s, "/reset_prefix_cache", {})  # changes the server: guarded too
    assert status == 401
    status, _ = post_json(s, "/reset_prefix_cache", {}, headers={"Authorization": "Bearer sekrit"})
    assert status == 200
    status, _, _ = http(s, "GET", "/health")  # not under /v1: open, for load balancers
    assert status == 200
    assert s.stop() == 0


def test_graceful_shutdown_aborts_in_flight(own_server):
    s = own_server()
    sock = socket.create_connection((s.host, s.port), timeout=30)
    data = json.dumps({"model": MODEL_NAME, "prompt": "long", "max_tokens": 2000,
                       "ignore_eos": True, "stream": True}).encode()
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    idle = http_client.HTTPConnection(s.host, s.port, timeout=30)  # an idle keep-alive client
    idle.request("GET", "/health")
    assert idle.getresponse().read() == b""
    start = time.time()
    s.proc.send_signal(signal.SIGTERM)
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    assert s.proc.wait(30) == 0
    assert time.time() - start < 20
    assert b'"finish_reason":"abort"' in received or b'"finish_reason":"length"' in received
    assert b"data: [DONE]" in received
    assert idle.sock.recv(10) == b""  # closed by the server
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((s.host, s.port), timeout=2)


def test_bench_serve(own_server):
    s = own_server()
    with tempfile.TemporaryDirectory() as tmp:
        result_path = os.path.join(tmp, "result.json")
        out = subprocess.run(
            [TESSERA_BIN, "bench", "serve", "--base-url", s.url, "--tokenizer", MODEL_DIR,
             "--num-prompts", "12", "--random-input-len", "24", "--random-output-len", "6",
             "--request-rate", "50", "--burstiness", "0.5", "--max-concurrency", "4",
             "--ignore-eos", "--seed", "3", "--save-result", result_path],
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Serving Benchmark Result" in out.stdout and "Mean TTFT (ms):" in out.stdout
        with open(result_path) as f:
            r = json.load(f)
    assert r["completed"] == 12 and r["failed"] == 0 and r["num_prompts"] == 12
    assert r["model_id"] == MODEL_NAME and r["max_concurrency"] == 4
    assert r["total_output_tokens"] == 12 * 6 and r["output_lens"] == [6] * 12
    assert r["total_input_tokens"] == sum(r["input_lens"]) > 0
    for metric in ("ttft", "tpot", "itl", "e2el"):
        for stat in ("mean", "median", "std", "p90", "p99"):
            assert r[f"{stat}_{metric}_ms"] >= 0, (stat, metric)
        assert r[f"p99_{metric}_ms"] >= r[f"median_{metric}_ms"]
    assert r["mean_e2el_ms"] >= r["mean_ttft_ms"] > 0
    assert r["request_throughput"] > 0 and r["output_throughput"] > 0
    assert r["total_token_throughput"] > r["output_throughput"]
    assert all(len(itl) == 5 for itl in r["itls"])

    # ShareGPT format: the first turn is the prompt; --sharegpt-output-len fixes the length.
    with tempfile.TemporaryDirectory() as tmp:
        dataset = os.path.join(tmp, "sharegpt.json")
        convs = [{"conversations": [{"from": "human", "value": f"question number {i} " * 3},
                                    {"from": "gpt", "value": "an answer " * (i + 2)}]}
                 for i in range(5)] + [{"conversations": [{"from": "human", "value": "x"}]}]
        with open(dataset, "w") as f:
            json.dump(convs, f)
        result_path = os.path.join(tmp, "result.json")
        out = subprocess.run(
            [TESSERA_BIN, "bench", "serve", "--base-url", s.url, "--tokenizer", MODEL_DIR,
             "--dataset-name", "sharegpt", "--dataset-path", dataset, "--num-prompts", "4",
             "--sharegpt-output-len", "3", "--ignore-eos", "--save-result", result_path],
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        with open(result_path) as f:
            r = json.load(f)
    assert r["completed"] == 4 and r["output_lens"] == [3] * 4 and r["request_rate"] == "inf"
    assert s.stop() == 0
