"""Bounded concurrent load: 200 greedy requests at concurrency 32, every response checked
against the same prompt run alone (batching must not change outputs)."""
import http.client
import json
import random
from concurrent.futures import ThreadPoolExecutor

from conftest import MODEL_NAME, wait_idle

NUM_PROMPTS = 20
NUM_REQUESTS = 200
CONCURRENCY = 32


def complete(server, prompt, max_tokens, stream):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
    body = {"model": MODEL_NAME, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "ignore_eos": True, "stream": stream}
    conn.request("POST", "/v1/completions", json.dumps(body),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read().decode()
    conn.close()
    assert r.status == 200, data
    if not stream:
        choice = json.loads(data)["choices"][0]
        assert choice["finish_reason"] == "length"
        return choice["text"]
    events = [e for e in data.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    return "".join(c["choices"][0]["text"] for c in chunks)


def test_batched_outputs_equal_solo_outputs(server):
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "tessera", "serve", "tile", "mosaic", "kv"]
    prompts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 60)))
               for _ in range(NUM_PROMPTS)]
    lengths = [rng.randint(1, 12) for _ in range(NUM_PROMPTS)]
    solo = [complete(server, p, n, False) for p, n in zip(prompts, lengths)]
    jobs = [(i % NUM_PROMPTS, i % 3 == 0) for i in range(NUM_REQUESTS)]
    rng.shuffle(jobs)
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(
            lambda job: (job[0], complete(server, prompts[job[0]], lengths[job[0]], job[1])),
            jobs))
    mismatches = [(i, text, solo[i]) for i, text in results if text != solo[i]]
    assert not mismatches, mismatches[:3]
    wait_idle(server)
