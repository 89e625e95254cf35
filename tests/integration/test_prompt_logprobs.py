"""Prompt logprobs end to end: vLLM's `prompt_logprobs` and the legacy `echo` + `logprobs` of
/v1/completions (through the official openai client and raw HTTP), and `tessera bench
perplexity`, all against the independent float64 reference (scripts/reference_forward.py,
log-softmax in float64 here).

Tolerance, derived from the logits bound model_forward_test holds the engine to on these
models: per row ||z - z_ref||_2 <= 1e-4 ||z_ref||_2 (f32). log_softmax_i(z) = z_i - lse(z), and
lse is 1-Lipschitz in the max-norm, so |d log_softmax_i| <= |dz_i| + max_j |dz_j| <= 2 ||dz||_2
<= 2e-4 ||z_ref||_2. The engine reports float32, which adds |lp| * 2^-23 at most. A mean NLL
over tokens is then within the mean of those bounds.

Prompts are random token ids from numpy's default_rng(SEED); SEED is printed (pytest -s) and
replayable by setting TESSERA_TEST_SEED.
"""
import json
import os
import subprocess
import sys
import threading

import numpy as np
import openai
import pytest

from conftest import MODEL_DIR, MODEL_NAME, ROOT, TESSERA_BIN, Server, metrics, post_json

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import reference_forward  # noqa: E402  (the float64 reference; scripts/ is not a package)

SEED = int(os.environ.get("TESSERA_TEST_SEED", "20261207"))
DATASET = os.path.join(ROOT, "tests", "data", "text", "us-founding-documents.txt")
LOGITS_RELATIVE_TOLERANCE = 1e-4  # model_forward_test's f32 bound on these models


def reference_for(model_dir):
    if not os.path.exists(os.path.join(model_dir, "config.json")):
        pytest.skip(f"no tiny model at {model_dir}")
    cfg, weights = reference_forward.load(model_dir)
    print(f"prompt seed {SEED} (TESSERA_TEST_SEED replays it)")

    def scores(ids):
        """float64 log-softmax rows [T, vocab] and each row's bound on a logprob's error."""
        logits = reference_forward.forward(cfg, weights, list(ids))
        top = logits.max(axis=-1, keepdims=True)
        logsoftmax = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
        bound = 2 * LOGITS_RELATIVE_TOLERANCE * np.linalg.norm(logits, axis=-1)
        return logsoftmax, bound

    scores.vocab = cfg["vocab_size"]
    return scores


@pytest.fixture(scope="module")
def reference():
    return reference_for(MODEL_DIR)


def random_prompt(vocab, length, salt):
    return [int(t) for t in np.random.default_rng([SEED, salt]).integers(0, vocab, length)]


def check_prompt_logprobs(entries, ids, reference, top_n):
    """entries: vLLM's prompt_logprobs list for prompt `ids`."""
    logsoftmax, bound = reference(ids)
    assert len(entries) == len(ids) and entries[0] is None
    for i in range(1, len(ids)):
        row, tol = logsoftmax[i - 1], bound[i - 1]
        entry = {int(k): v["logprob"] for k, v in entries[i].items()}
        got = entry[ids[i]]
        assert abs(got - row[ids[i]]) <= tol + abs(row[ids[i]]) * 2**-23, (i, got, row[ids[i]])
        alternatives = sorted(entry.items(), key=lambda kv: -kv[1])
        assert len(entry) in (top_n, top_n + 1)  # the prompt token may be one of the top
        kth = np.sort(row)[-top_n] if top_n else np.inf
        for token, value in alternatives:
            assert abs(value - row[token]) <= tol + abs(row[token]) * 2**-23
            if token != ids[i]:
                assert row[token] >= kth - 2 * tol, (i, token)


def completion(server, **fields):
    body = {"model": MODEL_NAME, "temperature": 0, **fields}
    status, data = post_json(server, "/v1/completions", body)
    assert status == 200, data
    return data


def test_prompt_logprobs_match_reference(server, reference):
    ids = random_prompt(reference.vocab, 37, salt=1)
    data = completion(server, prompt=ids, max_tokens=2, prompt_logprobs=3)
    check_prompt_logprobs(data["choices"][0]["prompt_logprobs"], ids, reference, top_n=3)


def test_prompt_logprobs_chunked_and_beside_a_prefix_cache_hit(reference):
    # Prefill in chunks of at most 16 tokens, so a prompt's logprobs come from several steps;
    # a request for the same prompt without prompt logprobs hits the prefix cache in the same
    # steps, and the one with them must not (its first positions would then be missing).
    server = Server(max_num_batched_tokens=16)
    try:
        shared = random_prompt(reference.vocab, 45, salt=2)
        other = random_prompt(reference.vocab, 23, salt=3)
        completion(server, prompt=shared, max_tokens=1)  # fills the prefix cache
        hits_before = metrics(server)["tessera:prefix_cache_hits_total"]
        results = {}

        def send(name, **fields):
            results[name] = completion(server, max_tokens=4, ignore_eos=True, **fields)

        threads = [threading.Thread(target=send, args=(name,), kwargs=kw) for name, kw in [
            ("scored", dict(prompt=shared, prompt_logprobs=2)),
            ("cached", dict(prompt=shared)),
            ("other", dict(prompt=other, prompt_logprobs=0)),
        ]]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        hits = metrics(server)["tessera:prefix_cache_hits_total"] - hits_before
        assert hits >= 32, hits  # the "cached" request reused two full blocks of 16
        check_prompt_logprobs(results["scored"]["choices"][0]["prompt_logprobs"], shared,
                              reference, top_n=2)
        check_prompt_logprobs(results["other"]["choices"][0]["prompt_logprobs"], other,
                              reference, top_n=0)
        assert "prompt_logprobs" not in results["cached"]["choices"][0]
    finally:
        assert server.stop() == 0, "".join(server.log)


def test_echo_prompt_only_as_lm_eval_sends_it(server, reference):
    ids = random_prompt(reference.vocab, 19, salt=4)
    data = completion(server, prompt=ids, max_tokens=0, echo=True, logprobs=1)
    choice = data["choices"][0]
    lp = choice["logprobs"]
    assert len(lp["tokens"]) == len(ids) == len(lp["token_logprobs"]) == len(lp["text_offset"])
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
    logsoftmax, bound = reference(ids)
    for i in range(1, len(ids)):
        want = logsoftmax[i - 1][ids[i]]
        assert abs(lp["token_logprobs"][i] - want) <= bound[i - 1] + abs(want) * 2**-23
        assert len(lp["top_logprobs"][i]) == 1
    offsets = lp["text_offset"]
    assert offsets[0] == 0 and offsets == sorted(offsets)
    status, detokenized = post_json(server, "/detokenize", {"tokens": ids})
    assert status == 200 and choice["text"] == detokenized["prompt"]
    assert data["usage"]["completion_tokens"] == 0
    assert data["usage"]["prompt_tokens"] == len(ids)


def test_loglikelihood_request_of_lm_eval_harness(server, reference):
    # lm-evaluation-harness's local-completions loglikelihood payload: token-id prompts in a
    # batch, echo, logprobs 1, max_tokens 1, temperature 0; it sums token_logprobs[ctxlen:-1]
    # (the -1 drops the generated token) and calls the continuation greedy when each of those
    # equals the maximum of its top_logprobs.
    first = random_prompt(reference.vocab, 11, salt=5)
    # The second prompt ends with the reference's greedy token, so lm-eval's greedy test has
    # a case that must pass (unless the top two are closer than the error bound).
    stem = random_prompt(reference.vocab, 7, salt=6)
    stem_scores, stem_bound = reference(stem)
    top_two = np.sort(stem_scores[-1])[-2:]
    decisive = top_two[1] - top_two[0] > 2 * stem_bound[-1]
    prompts = [first, stem + [int(np.argmax(stem_scores[-1]))]]
    data = completion(server, prompt=prompts, max_tokens=1, echo=True, logprobs=1, seed=1234)
    choices = sorted(data["choices"], key=lambda c: c["index"])
    assert len(choices) == 2
    for ids, choice in zip(prompts, choices):
        lp = choice["logprobs"]
        assert len(lp["token_logprobs"]) == len(ids) + 1  # the prompt, then one generated
        logsoftmax, bound = reference(ids)
        ctxlen = 3
        continuation = lp["token_logprobs"][ctxlen:-1]
        want = sum(logsoftmax[i - 1][ids[i]] for i in range(ctxlen, len(ids)))
        assert abs(sum(continuation) - want) <= sum(bound[ctxlen - 1:len(ids) - 1]) + 1e-5
        for i, (value, top) in enumerate(zip(continuation, lp["top_logprobs"][ctxlen:-1])):
            greedy_ref = int(np.argmax(logsoftmax[ctxlen + i - 1])) == ids[ctxlen + i]
            if greedy_ref:  # the prompt token is the argmax: reported as its own top-1
                assert value == max(top.values())
    if decisive:
        last = choices[1]["logprobs"]
        assert last["token_logprobs"][-2] == max(last["top_logprobs"][-2].values())


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_echo_through_openai_client(client, server):
    prompt = "We hold these truths to be self-evident"
    r = client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=3, echo=True,
                                  logprobs=2, temperature=0, extra_body={"ignore_eos": True})
    choice = r.choices[0]
    assert choice.text.startswith(prompt) and len(choice.text) >= len(prompt)
    lp = choice.logprobs
    status, tokenized = post_json(server, "/tokenize", {"prompt": prompt})
    assert status == 200
    n = tokenized["count"]
    assert len(lp.tokens) == n + 3 and lp.token_logprobs[0] is None
    assert all(isinstance(v, float) for v in lp.token_logprobs[1:])
    # Generated tokens' offsets point past the echoed prompt.
    assert all(offset >= len(prompt) for offset in lp.text_offset[n:])
    # The same prompt scored through vLLM's prompt_logprobs field.
    direct = client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=1,
                                       temperature=0, extra_body={"prompt_logprobs": 0})
    scored = direct.choices[0].model_extra["prompt_logprobs"]  # a field the client lacks
    ids = tokenized["tokens"]
    for i in range(1, n):
        assert lp.token_logprobs[i] == pytest.approx(scored[i][str(ids[i])]["logprob"], abs=1e-6)
    # max_tokens 0 with echo: only the prompt.
    only = client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=0, echo=True,
                                     logprobs=1, temperature=0)
    assert only.choices[0].text == prompt and len(only.choices[0].logprobs.tokens) == n
    assert only.usage.completion_tokens == 0


def test_echo_streaming_sends_the_prompt_first(client):
    prompt = "Congress shall make no law"
    kw = dict(model=MODEL_NAME, prompt=prompt, max_tokens=4, echo=True, temperature=0,
              extra_body={"ignore_eos": True})
    whole = client.completions.create(**kw).choices[0].text
    chunks = [c for c in client.completions.create(stream=True, **kw) if c.choices]
    assert chunks[0].choices[0].text.startswith(prompt)
    assert "".join(c.choices[0].text for c in chunks) == whole


def test_echo_without_logprobs(server):
    data = completion(server, prompt="Amendment I.", max_tokens=2, echo=True, ignore_eos=True)
    choice = data["choices"][0]
    assert choice["text"].startswith("Amendment I.") and choice["logprobs"] is None


# --- tessera bench perplexity -------------------------------------------------------------


def bench(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([TESSERA_BIN, "bench", "perplexity", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def reference_perplexity(reference, ids, context, stride):
    """Hugging Face's sliding-window recipe in float64; (mean NLL, tokens, mean bound)."""
    nll, bounds, count, previous_end = 0.0, 0.0, 0, 0
    for begin in range(0, len(ids), stride):
        end = min(begin + context, len(ids))
        window = ids[begin:end]
        logsoftmax, bound = reference(window)
        for t in range(max(begin + 1, previous_end), end):
            value = logsoftmax[t - begin - 1][ids[t]]
            nll -= value
            bounds += bound[t - begin - 1] + abs(value) * 2**-23
            count += 1
        previous_end = end
        if end == len(ids):
            break
    return nll / count, count, bounds / count


# Every family: the LM head over prompt rows (Model::lm_head_rows) is each family's own.
@pytest.mark.parametrize("family", ["qwen3", "llama3", "mistral", "gemma3", "phi3"])
def test_bench_perplexity_matches_reference(family, tmp_path):
    from tokenizers import Tokenizer
    model_dir = os.path.join(os.path.dirname(MODEL_DIR), family)
    reference = reference_for(model_dir)
    with open(DATASET, encoding="utf-8") as f:
        text = f.read()[:700]
    dataset = tmp_path / "excerpt.txt"
    dataset.write_text(text, encoding="utf-8")
    out = tmp_path / "ppl.json"
    result = bench("--model", model_dir, "--device", "cpu", "--kv-cache-memory", "64MiB",
                   "--dataset", str(dataset), "--context", "48", "--stride", "20",
                   "--output-json", str(out))
    assert result.returncode == 0, result.stderr
    got = json.loads(out.read_text())
    tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    ids = tokenizer.encode(text, add_special_tokens=True).ids
    mean_nll, count, bound = reference_perplexity(reference, ids, 48, 20)
    assert got["dataset_tokens"] == len(ids) and got["tokens_scored"] == count
    assert abs(got["mean_nll"] - mean_nll) <= bound, (got["mean_nll"], mean_nll, bound)
    assert got["perplexity"] == pytest.approx(np.exp(got["mean_nll"]), rel=1e-9)
    assert "Perplexity" in result.stdout


@pytest.mark.parametrize("args,code,needle", [
    (["--stride", "0", "--context", "32"], 2, "--stride"),
    (["--stride", "40", "--context", "32"], 2, "--stride"),
    (["--context", "1"], 2, "--context"),
    (["--context", "100000"], 2, "--context"),
])
def test_bench_perplexity_bad_flags(args, code, needle):
    if not os.path.exists(os.path.join(MODEL_DIR, "config.json")):
        pytest.skip(f"no tiny model at {MODEL_DIR}")
    result = bench("--model", MODEL_DIR, "--device", "cpu", "--kv-cache-memory", "64MiB",
                   "--dataset", DATASET, *args)
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and needle in lines[0], result.stderr


def test_bench_perplexity_bad_dataset(tmp_path):
    if not os.path.exists(os.path.join(MODEL_DIR, "config.json")):
        pytest.skip(f"no tiny model at {MODEL_DIR}")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    for args, needle in [([], "--dataset FILE is required"),
                         (["--dataset", str(tmp_path / "missing.txt")], "cannot open"),
                         (["--dataset", str(empty)], "empty")]:
        result = bench("--model", MODEL_DIR, "--device", "cpu", *args)
        assert result.returncode in (1, 2), result.stderr
        lines = [line for line in result.stderr.splitlines() if "error" in line]
        assert len(lines) == 1 and needle in lines[0], result.stderr
