"""Clients that go away abort their requests: at random points (queued, mid-prefill,
mid-decode, beside a long prefill), streaming or not. Afterwards no request may be left and
every KV block must be free (checked through /metrics)."""
import json
import random
import socket
import threading
import time

from conftest import MODEL_NAME, metrics, post_json, wait_idle


def raw_request(server, body, path="/v1/completions"):
    s = socket.create_connection((server.host, server.port), timeout=30)
    data = json.dumps(body).encode()
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: " +
              str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def long_body(stream, max_tokens=1500, prompt="go"):
    return {"model": MODEL_NAME, "prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True,
            "temperature": 0, "stream": stream}


def test_disconnect_mid_decode(server):
    before = metrics(server)["tessera:requests_aborted_by_disconnect_total"]
    for stream in (True, False):
        s = raw_request(server, long_body(stream))
        if stream:
            assert s.recv(4096).startswith(b"HTTP/1.1 200")  # streaming has started
        time.sleep(0.3)
        s.close()
    m = wait_idle(server)
    assert m["tessera:requests_aborted_by_disconnect_total"] - before == 2


def test_disconnect_at_random_points(server):
    rng = random.Random(11)
    before = metrics(server)["tessera:requests_aborted_by_disconnect_total"]
    # A long prefill in the background (chunked over several steps) keeps the engine busy.
    long_prompt = " ".join(["mosaic"] * 1800)
    background = threading.Thread(
        target=lambda: post_json(server, "/v1/completions",
                                 {"model": MODEL_NAME, "prompt": long_prompt, "max_tokens": 4,
                                  "ignore_eos": True}))
    background.start()
    sockets = []
    for i in range(24):
        stream = i % 2 == 0
        prompt = " ".join(["tile"] * rng.randint(1, 900))
        sockets.append(raw_request(server, long_body(stream, max_tokens=400, prompt=prompt)))
    for s in sockets:  # queued, mid-prefill or mid-decode, depending on the timing
        time.sleep(rng.uniform(0, 0.08))
        s.close()
    background.join(120)
    m = wait_idle(server, timeout=60)
    aborted = m["tessera:requests_aborted_by_disconnect_total"] - before
    assert aborted >= 20, aborted  # a few short ones may finish before their client leaves


def test_chat_disconnect(server):
    s = raw_request(server, {"model": MODEL_NAME, "max_tokens": 1500, "ignore_eos": True,
                             "messages": [{"role": "user", "content": "talk"}], "stream": True},
                    path="/v1/chat/completions")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    s.close()
    wait_idle(server)
