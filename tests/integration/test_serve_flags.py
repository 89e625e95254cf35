"""The vLLM recipe flags of `tessera serve`: --reasoning-parser, --enable-auto-tool-choice with
--tool-call-parser, --scheduler-delay-factor, --trust-remote-code, --enable-cuda-graph; the
settings they leave in /server_info; and the refusals when they are given wrongly.

The tiny model's weights are random, so its text has no <think> or <tool_call> markers: these
tests check the response shapes and that streaming through the parsers gives the same text as
a whole response. The parsers' splitting is unit-tested in tests/server."""
import json
import subprocess
import urllib.request

import pytest

from conftest import MODEL_DIR, TESSERA_BIN, Server, http, post_json

TOOLS = [{"type": "function",
          "function": {"name": "get_weather", "description": "weather of a city",
                       "parameters": {"type": "object",
                                      "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def parsing_server():
    s = Server("--reasoning-parser", "qwen3", "--enable-auto-tool-choice", "--tool-call-parser",
               "hermes", "--scheduler-delay-factor", "0.1", "--trust-remote-code",
               "--enable-cuda-graph", "--default-chat-template-kwargs",
               '{"enable_thinking": false}')
    yield s
    assert s.stop() == 0, "".join(s.log)


def stream_chat(server, body):
    req = urllib.request.Request(server.url + "/v1/chat/completions",
                                 data=json.dumps({**body, "stream": True}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    chunks = []
    with urllib.request.urlopen(req, timeout=60) as r:
        for line in r:
            line = line.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[6:]))
    return chunks


def test_server_info_records_the_settings(parsing_server):
    status, _, body = http(parsing_server, "GET", "/server_info")
    assert status == 200
    info = json.loads(body)
    assert info["server"]["reasoning_parser"] == "qwen3"
    assert info["server"]["tool_call_parser"] == "hermes"
    assert info["engine_config"]["scheduler_delay_factor"] == 0.1
    assert info["engine_config"]["enforce_eager"] is False
    assert info["memory_plan"]["num_kv_blocks"] > 0
    assert "api_key" not in json.dumps(info["server"]).replace("api_key_required", "")
    assert any("--trust-remote-code" in line for line in parsing_server.log)


def test_chat_message_and_stream_through_the_parsers(parsing_server):
    body = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": TOOLS,
            "max_tokens": 12, "temperature": 0}
    status, whole = post_json(parsing_server, "/v1/chat/completions", body)
    assert status == 200, whole
    message = whole["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert "reasoning_content" in message and isinstance(message["tool_calls"], list)
    text = (message["reasoning_content"] or "") + (message["content"] or "")
    assert whole["usage"]["completion_tokens"] == 12
    assert whole["choices"][0]["finish_reason"] in ("length", "stop", "tool_calls")

    chunks = stream_chat(parsing_server, body)
    streamed_reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "")
                                 for c in chunks if c["choices"])
    streamed_content = "".join(c["choices"][0]["delta"].get("content") or ""
                               for c in chunks if c["choices"])
    assert streamed_reasoning + streamed_content == text
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]


def test_tool_choice_rules(parsing_server, server):
    base = {"messages": [{"role": "user", "content": "hi"}], "tools": TOOLS, "max_tokens": 2}
    status, _ = post_json(parsing_server, "/v1/chat/completions", {**base, "tool_choice": "none"})
    assert status == 200
    status, err = post_json(parsing_server, "/v1/chat/completions",
                            {**base, "tool_choice": "required"})
    assert status == 400 and err["error"]["param"] == "tool_choice"
    # The shared server runs without --enable-auto-tool-choice: "auto" is refused as vLLM does.
    status, err = post_json(server, "/v1/chat/completions", {**base, "tool_choice": "auto"})
    assert status == 400 and "--enable-auto-tool-choice" in err["error"]["message"]
    status, _ = post_json(server, "/v1/chat/completions", base)  # tools only go to the template
    assert status == 200


@pytest.mark.parametrize("args,message", [
    (["--enable-reasoning"], "needs --reasoning-parser"),
    (["--reasoning-parser", "granite"], "unknown reasoning parser 'granite'"),
    (["--enable-auto-tool-choice"], "needs --tool-call-parser"),
    (["--tool-call-parser", "hermes"], "only with --enable-auto-tool-choice"),
    (["--enable-auto-tool-choice", "--tool-call-parser", "mistral"], "unknown tool call parser"),
    (["--enable-cuda-graph", "--enforce-eager"], "contradict"),
    (["--scheduler-delay-factor", "-1"], "--scheduler-delay-factor must be >= 0"),
])
def test_flags_given_wrongly_are_refused(args, message):
    r = subprocess.run([TESSERA_BIN, "serve", "--model", MODEL_DIR, *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr


def test_default_chat_template_kwargs_apply_unless_the_request_sets_them(parsing_server, server):
    messages = [{"role": "user", "content": "hi"}]
    def prompt_text(srv, **extra):
        status, body = post_json(srv, "/tokenize", {"messages": messages, **extra,
                                                    "return_token_strs": True})
        assert status == 200, body
        return "".join(body["token_strs"])
    # Qwen3's template closes an empty <think> block when enable_thinking is false.
    assert "</think>" in prompt_text(parsing_server)
    assert "</think>" not in prompt_text(parsing_server,
                                         chat_template_kwargs={"enable_thinking": True})
    assert "</think>" not in prompt_text(server)  # no default on the shared server
