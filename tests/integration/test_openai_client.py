"""The official `openai` Python client against tessera serve: completions and chat,
streaming and not, n > 1, logprobs, stop strings, seeds."""
import openai
import pytest

from conftest import MODEL_NAME


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_completion(client):
    r = client.completions.create(model=MODEL_NAME, prompt="The sky is", max_tokens=5,
                                  temperature=0, extra_body={"ignore_eos": True})
    assert r.object == "text_completion" and r.id.startswith("cmpl-") and r.model == MODEL_NAME
    assert len(r.choices) == 1 and r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5 and r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + 5


def test_completion_stream_equals_non_stream(client):
    kw = dict(model=MODEL_NAME, prompt="Once upon a time", max_tokens=8, temperature=0,
              extra_body={"ignore_eos": True})
    whole = client.completions.create(**kw).choices[0].text
    chunks = list(client.completions.create(stream=True, stream_options={"include_usage": True},
                                            **kw))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_chat(client):
    r = client.chat.completions.create(model=MODEL_NAME, max_tokens=6, temperature=0,
                                       messages=[{"role": "system", "content": "be brief"},
                                                 {"role": "user", "content": "hello"}],
                                       extra_body={"ignore_eos": True})
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant"
    assert isinstance(r.choices[0].message.content, str)
    assert r.usage.completion_tokens == 6


def test_chat_stream(client):
    kw = dict(model=MODEL_NAME, max_tokens=6, temperature=0,
              messages=[{"role": "user", "content": "stream please"}],
              extra_body={"ignore_eos": True})
    whole = client.chat.completions.create(**kw).choices[0].message.content
    stream = client.chat.completions.create(stream=True, stream_options={"include_usage": True},
                                            **kw)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert chunks[-1].usage.completion_tokens == 6
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_n_and_prompt_lists(client):
    r = client.completions.create(model=MODEL_NAME, prompt=["first", "second prompt"], n=3,
                                  max_tokens=3, temperature=0, extra_body={"ignore_eos": True})
    assert [c.index for c in r.choices] == list(range(6))
    # Greedy: the three choices of one prompt agree.
    assert r.choices[0].text == r.choices[1].text == r.choices[2].text
    assert r.usage.completion_tokens == 18
    r = client.chat.completions.create(model=MODEL_NAME, n=2, max_tokens=3, temperature=0,
                                       messages=[{"role": "user", "content": "two"}])
    assert len(r.choices) == 2


def test_token_id_prompt(client):
    r = client.completions.create(model=MODEL_NAME, prompt=[1, 2, 3, 4], max_tokens=2,
                                  temperature=0)
    assert r.usage.prompt_tokens == 4


def test_logprobs(client):
    r = client.completions.create(model=MODEL_NAME, prompt="logprobs", max_tokens=4,
                                  temperature=0, logprobs=3, extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert all(len(t) <= 3 for t in lp.top_logprobs)
    assert all(v <= 0 for v in lp.token_logprobs)
    # Greedy: the chosen token is the best alternative.
    for chosen, top in zip(lp.token_logprobs, lp.top_logprobs):
        assert abs(chosen - max(top.values())) < 1e-4
    assert lp.text_offset == sorted(lp.text_offset)
    r = client.chat.completions.create(model=MODEL_NAME, max_tokens=3, temperature=0,
                                       logprobs=True, top_logprobs=2,
                                       messages=[{"role": "user", "content": "lp"}],
                                       extra_body={"ignore_eos": True})
    content = r.choices[0].logprobs.content
    assert len(content) == 3 and all(len(c.top_logprobs) == 2 for c in content)
    assert all(c.bytes == list(c.token.encode()) for c in content)


def test_stop_string(client):
    kw = dict(model=MODEL_NAME, prompt="stop test", max_tokens=12, temperature=0,
              extra_body={"ignore_eos": True})
    text = client.completions.create(**kw).choices[0].text
    # Stop at a piece of the greedy continuation: the output ends just before it.
    cut = next((i for i in range(2, len(text)) if text[i].strip()), None)
    if cut is None:
        pytest.skip("greedy continuation too short to pick a stop string")
    stop = text[cut:cut + 1]
    first = text.index(stop)
    r = client.completions.create(stop=[stop], **kw)
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text == text[:first]


def test_seed_determinism(client):
    kw = dict(model=MODEL_NAME, prompt="random", max_tokens=8, temperature=1.0,
              extra_body={"ignore_eos": True})
    a = client.completions.create(seed=1234, **kw).choices[0].text
    b = client.completions.create(seed=1234, **kw).choices[0].text
    assert a == b
    texts = {client.completions.create(seed=s, **kw).choices[0].text for s in range(5)}
    assert len(texts) > 1
    # n > 1 with a seed: choice i uses seed + i, so choice 1 equals a request with seed + 1.
    r = client.completions.create(seed=1234, n=2, **kw)
    assert r.choices[0].text == a
    assert r.choices[1].text == client.completions.create(seed=1235, **kw).choices[0].text


def test_errors_surface_in_client(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL_NAME, prompt="x", max_tokens=1, temperature=-1)
    assert e.value.status_code == 400 and "temperature" in str(e.value)
