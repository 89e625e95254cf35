#!/usr/bin/env python3
"""Soak test of `tessera serve`: many streamed requests at a fixed concurrency with random
disconnects, max_tokens, n, stop strings and bad requests mixed in. Afterwards /metrics
must show no request running, waiting or swapped and no KV or swap block in use; the
server's resident memory (VmRSS) is sampled as it goes and printed as a curve.

  scripts/soak.py --requests 10000 --concurrency 256          # starts build/bin/tessera serve
  scripts/soak.py --url http://127.0.0.1:8000 --pid 1234 ...   # against a running server

Exit status 0 when the checks hold, 1 otherwise. With --check-rss-flat, resident memory must
also stay flat across the second half of the run (growth below --rss-tolerance-mb).
Only the standard library: it runs with any python3.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READY = re.compile(r"ready: model '([^']*)' at (http://\S+) ")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def start_server(args):
    cmd = [args.tessera, "serve", "--device", "cpu", "--port", "0",
           "--max-num-seqs", str(args.max_num_seqs), "--log-level", "warn", *args.server_arg]
    if args.kv_cache_memory:
        cmd += ["--kv-cache-memory", args.kv_cache_memory]
    if args.model:
        cmd += ["--model", args.model]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    url = None
    lines = []
    deadline = time.time() + 120
    for line in proc.stdout:
        lines.append(line)
        m = READY.search(line)
        if m:
            url = m.group(2)
            break
        if time.time() > deadline:
            break
    if url is None:
        proc.kill()
        sys.exit("soak: the server did not start:\n" + "".join(lines))
    # Keep draining the log so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, url


def metrics(host, port):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, value = line.rsplit(" ", 1)
        name = name_labels.split("{", 1)[0]
        values[name] = values.get(name, 0.0) + float(value)
    return values


WORDS = "the of and to in a is that for it as was with be by on not he this are or his".split()


def random_request(rng, model):
    """(body bytes, kind): a valid request of random shape, or a bad one."""
    roll = rng.random()
    if roll < 0.05:
        return b'{"model": "x", "prompt": ', "bad"  # broken JSON
    if roll < 0.10:
        return json.dumps({"model": model, "prompt": "x", "max_tokens": -3}).encode(), "bad"
    body = {"model": model, "stream": True,
            "prompt": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 200))),
            "max_tokens": rng.randint(1, 64), "n": rng.choice([1, 1, 1, 2, 3]),
            "temperature": rng.choice([0.0, 0.7, 1.0])}
    if rng.random() < 0.3:
        body["stop"] = [rng.choice(WORDS), rng.choice(WORDS)]
    if rng.random() < 0.2:
        body["ignore_eos"] = True
    return json.dumps(body).encode(), "ok"


def one_request(host, port, body, kind, disconnect_after):
    """Returns 'ok', 'bad', 'disconnected' or 'error: ...'."""
    conn = http.client.HTTPConnection(host, port, timeout=300)
    try:
        conn.request("POST", "/v1/completions", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if kind == "bad":
            resp.read()
            return "bad" if 400 <= resp.status < 500 else f"error: bad request got {resp.status}"
        if resp.status != 200:
            return f"error: status {resp.status}: {resp.read()[:200]!r}"
        events = 0
        while True:
            line = resp.readline()
            if not line:
                return "error: stream ended without [DONE]"
            if line.startswith(b"data: "):
                if line.strip() == b"data: [DONE]":
                    return "ok"
                # An error event has a top-level "error" key; the generated text may say
                # "error" too (random weights do), which is not one.
                if "error" in json.loads(line[len(b"data: "):]):
                    return f"error: {line[:200]!r}"
                events += 1
                if disconnect_after is not None and events >= disconnect_after:
                    conn.sock.close()  # the client goes away mid-stream
                    return "disconnected"
    except (OSError, http.client.HTTPException) as e:
        return f"error: {type(e).__name__}: {e}"
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="a running server (default: start one)")
    p.add_argument("--pid", type=int, help="the running server's pid (for RSS)")
    p.add_argument("--tessera", default=os.path.join(REPO, "build", "bin", "tessera"))
    p.add_argument("--model", help="model for the started server (default: the embedded one)")
    p.add_argument("--kv-cache-memory", help="for the started server (default: the server's)")
    p.add_argument("--max-num-seqs", type=int, default=256)
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra argument for the started server (repeat)")
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--disconnect-rate", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--samples", type=int, default=20, help="points of the RSS curve")
    p.add_argument("--check-rss-flat", action="store_true")
    p.add_argument("--rss-tolerance-mb", type=float, default=16.0)
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    print(f"soak: seed {seed} (replay with --seed {seed})", flush=True)
    rng = random.Random(seed)

    proc = None
    if args.url:
        url, pid = args.url, args.pid
    else:
        proc, url = start_server(args)
        pid = proc.pid
    m = re.match(r"http://([^:/]+):(\d+)", url)
    host, port = m.group(1), int(m.group(2))
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/v1/models")
    model = json.loads(conn.getresponse().read())["data"][0]["id"]
    conn.close()

    jobs = []
    for _ in range(args.requests):
        body, kind = random_request(rng, model)
        disconnect = rng.randint(1, 8) if kind == "ok" and rng.random() < args.disconnect_rate \
            else None
        jobs.append((body, kind, disconnect))
    counts, errors, curve = {}, [], []
    step = max(1, args.requests // args.samples)
    start = time.time()
    if pid:
        curve.append((0, rss_mb(pid)))
    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        futures = [pool.submit(one_request, host, port, *job) for job in jobs]
        for done, f in enumerate(futures, 1):
            outcome = f.result()
            key = outcome if not outcome.startswith("error") else "error"
            counts[key] = counts.get(key, 0) + 1
            if key == "error" and len(errors) < 10:
                errors.append(outcome)
            if pid and (done % step == 0 or done == len(futures)):
                curve.append((done, rss_mb(pid)))
    elapsed = time.time() - start

    # Aborts of disconnected clients land at the next engine step: poll until idle.
    deadline = time.time() + 60
    while True:
        mt = metrics(host, port)
        idle = {k: mt.get(k, 0.0) for k in (
            "tessera:num_requests_running", "tessera:num_requests_waiting",
            "tessera:num_requests_swapped", "tessera:kv_blocks_in_use",
            "tessera:swap_blocks_in_use")}
        if all(v == 0 for v in idle.values()) or time.time() > deadline:
            break
        time.sleep(0.2)

    print(f"soak: {args.requests} requests at concurrency {args.concurrency} in {elapsed:.1f} s:"
          f" {json.dumps(counts, sort_keys=True)}")
    for e in errors:
        print(f"  {e}")
    print("soak: after the run: " + ", ".join(f"{k.split(':')[1]} {v:g}" for k, v in idle.items()))
    ok = counts.get("error", 0) == 0 and all(v == 0 for v in idle.values())
    if curve:
        print("soak: RSS curve (requests done -> MiB): " +
              ", ".join(f"{n}: {r:.0f}" for n, r in curve))
        half = [r for n, r in curve if n >= args.requests // 2]
        growth = half[-1] - half[0] if len(half) >= 2 else 0.0
        print(f"soak: RSS start {curve[0][1]:.0f} MiB, middle {half[0]:.0f} MiB, end "
              f"{curve[-1][1]:.0f} MiB; growth over the second half {growth:+.1f} MiB")
        if args.check_rss_flat and growth > args.rss_tolerance_mb:
            print(f"soak: resident memory grew {growth:.1f} MiB in the second half "
                  f"(> {args.rss_tolerance_mb} MiB)")
            ok = False
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            ok = False
            print("soak: the server did not exit after SIGTERM")
    print("soak: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
