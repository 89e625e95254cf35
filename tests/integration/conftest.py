"""Fixtures for the end-to-end server tests: a real `tessera serve` on a tiny model.

Environment (set by tests/integration/CMakeLists.txt; defaults fit a build in build/):
  TESSERA_BIN              the tessera binary
  TESSERA_TINY_MODELS_DIR  <build>/models/tiny (the qwen3 model has a chat template)
  TESSERA_PLUGIN_PATH      where libtessera-cpu.so is
The server binds port 0 and the fixture reads the chosen port from its ready line, so tests
never race for a free port.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESSERA_BIN = os.environ.get("TESSERA_BIN", os.path.join(ROOT, "build", "bin", "tessera"))
TINY_DIR = os.environ.get("TESSERA_TINY_MODELS_DIR", os.path.join(ROOT, "build", "models", "tiny"))
MODEL_DIR = os.path.join(TINY_DIR, "qwen3")
MODEL_NAME = "tiny-qwen3"
READY = re.compile(r"ready: model '([^']*)' at (http://\S+) ")


class Server:
    def __init__(self, *extra_args, startup_timeout=120, max_num_batched_tokens=512):
        args = [TESSERA_BIN, "serve", "--model", MODEL_DIR, "--device", "cpu", "--port", "0",
                "--served-model-name", MODEL_NAME, "--kv-cache-memory", "64MiB",
                "--max-model-len", "2048", "--shutdown-grace", "2",
                # Few sequences and a small token budget: requests queue and long prompts
                # prefill over several steps, so disconnects hit every phase.
                "--max-num-seqs", "16", "--max-num-batched-tokens", str(max_num_batched_tokens),
                *extra_args]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.log = []
        self.url = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.log.append(line)
                m = READY.search(line)
                if m and not ready.is_set():
                    self.url = m.group(2)
                    ready.set()
            ready.set()

        self.thread = threading.Thread(target=pump, daemon=True)
        self.thread.start()
        if not ready.wait(startup_timeout) or self.url is None:
            self.proc.kill()
            raise RuntimeError("tessera serve did not start:\n" + "".join(self.log))
        m = re.match(r"http://([^:/]+):(\d+)", self.url)
        self.host, self.port = m.group(1), int(m.group(2))

    def stop(self, sig=signal.SIGINT, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not exit after a signal:\n" + "".join(self.log))
        self.thread.join(5)
        return self.proc.returncode


def http(server, method, path, body=None, headers=None, raw=None, timeout=60):
    """Returns (status, headers, body bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(server.url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def post_json(server, path, body, **kw):
    status, _, data = http(server, "POST", path, body, **kw)
    return status, json.loads(data) if data else None


def metrics(server):
    status, _, data = http(server, "GET", "/metrics")
    assert status == 200
    values = {}
    for line in data.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, value = line.rsplit(" ", 1)
        name = name_labels.split("{", 1)[0]
        values.setdefault(name, 0.0)
        values[name] += float(value)
    return values


def wait_idle(server, timeout=30):
    """Polls /metrics until no request runs or waits and no KV block is held."""
    deadline = time.time() + timeout
    m = None
    while time.time() < deadline:
        m = metrics(server)
        if (m["tessera:num_requests_running"] == 0 and m["tessera:num_requests_waiting"] == 0
                and m["tessera:kv_blocks_in_use"] == 0 and m["tessera:kv_cache_usage_perc"] == 0):
            return m
        time.sleep(0.05)
    raise AssertionError(f"server not idle after {timeout}s: {m}")


@pytest.fixture(scope="session")
def server():
    if not os.path.exists(TESSERA_BIN):
        pytest.skip(f"no tessera binary at {TESSERA_BIN}")
    if not os.path.exists(os.path.join(MODEL_DIR, "config.json")):
        pytest.skip(f"no tiny model at {MODEL_DIR}")
    s = Server()
    yield s
    assert s.stop() == 0, "".join(s.log)
