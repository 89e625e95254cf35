"""Bad requests get one OpenAI-style 4xx error each, and the server keeps serving."""
import json
import socket

import pytest

from conftest import MODEL_NAME, http, post_json

GOOD = {"model": MODEL_NAME, "prompt": "ok", "max_tokens": 2}


def with_(**fields):
    body = dict(GOOD)
    body.update(fields)
    return body


CASES = [
    ("/v1/completions", with_(model="gpt-9"), 404, "model"),
    ("/v1/completions", with_(model=7), 400, "model"),
    ("/v1/completions", with_(max_tokens=-1), 400, "max_tokens"),
    ("/v1/completions", with_(max_tokens=0), 400, "max_tokens"),
    ("/v1/completions", with_(max_tokens=10**12), 400, "max_tokens"),
    ("/v1/completions", with_(max_tokens=5000), 400, "max_tokens"),
    ("/v1/completions", with_(max_tokens="ten"), 400, "max_tokens"),
    ("/v1/completions", with_(temperature=-0.5), 400, "temperature"),
    ("/v1/completions", with_(temperature="hot"), 400, "temperature"),
    ("/v1/completions", with_(top_p=0), 400, "top_p"),
    ("/v1/completions", with_(top_p=1.5), 400, "top_p"),
    ("/v1/completions", with_(top_k=-5), 400, "top_k"),
    ("/v1/completions", with_(min_p=2), 400, "min_p"),
    ("/v1/completions", with_(presence_penalty=3), 400, "presence_penalty"),
    ("/v1/completions", with_(frequency_penalty=-9), 400, "frequency_penalty"),
    ("/v1/completions", with_(repetition_penalty=0), 400, "repetition_penalty"),
    ("/v1/completions", with_(logprobs=1000), 400, "logprobs"),
    ("/v1/completions", with_(n=0), 400, "n"),
    ("/v1/completions", with_(n=100000), 400, "n"),
    ("/v1/completions", with_(n="two"), 400, "n"),
    ("/v1/completions", with_(stop=[1, 2]), 400, "stop"),
    ("/v1/completions", with_(seed="abc"), 400, "seed"),
    ("/v1/completions", with_(stream="yes"), 400, "stream"),
    ("/v1/completions", with_(stream_options={"include_usage": True}), 400, "stream_options"),
    ("/v1/completions", with_(prompt=""), 400, "prompt"),
    ("/v1/completions", with_(prompt=[]), 400, "prompt"),
    ("/v1/completions", with_(prompt=[1, "a"]), 400, "prompt"),
    ("/v1/completions", with_(prompt=[-1]), 400, "prompt"),
    ("/v1/completions", with_(prompt=[10**9]), 400, "prompt"),
    ("/v1/completions", with_(prompt={"a": 1}), 400, "prompt"),
    ("/v1/completions", with_(prompt=None), 400, "prompt"),
    ("/v1/completions", with_(prompt="word " * 2100), 400, "prompt"),
    ("/v1/completions", with_(echo="yes"), 400, "echo"),
    ("/v1/completions", with_(prompt_logprobs=1000), 400, "prompt_logprobs"),
    ("/v1/completions", with_(prompt_logprobs=-1), 400, "prompt_logprobs"),
    ("/v1/completions", with_(echo=True, logprobs=1000), 400, "logprobs"),
    ("/v1/completions", with_(max_tokens=0, logprobs=1), 400, "max_tokens"),
    ("/v1/completions", [1, 2, 3], 400, None),
    ("/v1/chat/completions", {"model": MODEL_NAME, "messages": []}, 400, "messages"),
    ("/v1/chat/completions",
     {"model": MODEL_NAME, "messages": [{"role": "user", "content": "x"}], "echo": True}, 400,
     "echo"),
    ("/v1/chat/completions",
     {"model": MODEL_NAME, "messages": [{"role": "user", "content": "word " * 2100}]}, 400,
     "messages"),
    ("/v1/chat/completions", {"model": MODEL_NAME, "messages": "hi"}, 400, "messages"),
    ("/v1/chat/completions", {"model": MODEL_NAME, "messages": [{"content": "x"}]}, 400,
     "messages[0].role"),
    ("/v1/chat/completions", {"model": MODEL_NAME, "messages": [{"role": "user", "content": 5}]},
     400, "messages[0].content"),
    ("/v1/chat/completions",
     {"model": MODEL_NAME, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
     400, "messages[0].content"),
    ("/v1/chat/completions",
     {"model": MODEL_NAME, "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2},
     400, "top_logprobs"),
    ("/tokenize", {"nothing": 1}, 400, "prompt"),
    ("/detokenize", {"tokens": ["a"]}, 400, "tokens"),
    ("/detokenize", {"tokens": [-3]}, 400, "tokens"),
]


@pytest.mark.parametrize("path,body,status,param", CASES,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CASES)])
def test_bad_field(server, path, body, status, param):
    got, data = post_json(server, path, body)
    assert got == status, data
    err = data["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if param is not None:
        assert err["param"] == param, err


def test_invalid_json_and_empty_body(server):
    for raw in [b"{not json", b"", b"\xff\xfe", b'{"prompt": "\xff"}']:
        status, _, body = http(server, "POST", "/v1/completions", raw=raw)
        assert status == 400 and "error" in json.loads(body)


def test_body_limit(server):
    big = json.dumps(with_(prompt="a" * (5 << 20))).encode()
    status, _, body = http(server, "POST", "/v1/completions", raw=big)
    assert status == 413 and "error" in json.loads(body)


def test_malformed_http(server):
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400")


def test_still_healthy_after_bad_input(server):
    status, _, _ = http(server, "GET", "/health")
    assert status == 200
    status, body = post_json(server, "/v1/completions", GOOD)
    assert status == 200 and body["choices"][0]["text"] is not None
