#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/seed-*.

Small valid inputs of each format, written with the reference Python packages
(requirements-test.txt: gguf, safetensors) so that the fuzzers start from files the real
tools produce. Crashers found later live beside them as regression-* files; this script never
touches those. Run with the project's venv: .venv/bin/python fuzz/make_seeds.py
"""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")
CORPUS = os.path.join(HERE, "corpus")


def out(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def byte_level_vocab():
    # GPT-2's byte alphabet: printable bytes map to themselves, the rest to U+0100 onwards.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def gguf_seed(path, arch, tokenizer_model, qtype):
    import gguf
    writer = gguf.GGUFWriter(path, arch)
    # A K-quant row is whole blocks of 256.
    hidden = 8 if qtype == "F32" else 256 if qtype.endswith("_K") else 32
    heads, layers = 2, 1
    writer.add_context_length(64)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(64)
    writer.add_block_count(layers)
    writer.add_head_count(heads)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    tokens = byte_level_vocab() + ["Ġt", "he", "<|end|>"]
    types = [gguf.TokenType.NORMAL] * (len(tokens) - 1) + [gguf.TokenType.CONTROL]
    if tokenizer_model == "llama":
        tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\u2581", "\u2581t", "he"]
        types = ([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
                 + [gguf.TokenType.BYTE] * 256 + [gguf.TokenType.NORMAL] * 3)
        writer.add_tokenizer_model("llama")
        writer.add_token_scores([0.0] * 259 + [-1.0, -2.0, -3.0])
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(2)
        writer.add_unk_token_id(0)
    else:
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("qwen2" if arch == "qwen2" else "llama-bpe")
        writer.add_token_merges(["Ġ t", "h e"])
        writer.add_eos_token_id(len(tokens) - 1)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_vocab_size(len(tokens))
    writer.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    rng = np.random.default_rng(0)
    vocab = len(tokens)

    def add(name, shape, quantize=True):
        data = rng.standard_normal(shape).astype(np.float32)
        ggml_type = getattr(gguf.GGMLQuantizationType, qtype)
        if quantize and qtype == "Q5_K":
            # gguf cannot quantize to Q5_K: random blocks with finite float16 d and dmin.
            block, type_size = gguf.GGML_QUANT_SIZES[ggml_type]
            q = rng.integers(0, 256, size=(shape[0], shape[1] // block, type_size), dtype=np.uint8)
            d = rng.uniform(1e-3, 0.1, size=(shape[0], shape[1] // block, 2)).astype(np.float16)
            q[:, :, 0:4] = d.view(np.uint8)
            q = q.reshape(shape[0], -1)
            writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=ggml_type)
        elif quantize and qtype != "F32":
            q = gguf.quants.quantize(data, ggml_type)
            writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=ggml_type)
        else:
            writer.add_tensor(name, data)

    add("token_embd.weight", (vocab, hidden))
    add("blk.0.attn_norm.weight", (hidden,), False)
    add("blk.0.attn_q.weight", (hidden, hidden))
    add("blk.0.attn_k.weight", (hidden // heads, hidden))
    add("output_norm.weight", (hidden,), False)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def gguf_seeds():
    os.makedirs(CORPUS, exist_ok=True)
    tmp = os.path.join(CORPUS, ".tmp.gguf")
    for arch, model, qtype in [("llama", "gpt2", "F32"), ("llama", "llama", "Q8_0"),
                               ("qwen2", "gpt2", "Q4_0"), ("llama", "gpt2", "Q5_1"),
                               ("qwen2", "gpt2", "Q5_K")]:
        gguf_seed(tmp, arch, model, qtype)
        with open(tmp, "rb") as f:
            out("gguf", f"{arch}-{model}-{qtype}.gguf", f.read())
    os.remove(tmp)


def safetensors_seeds():
    from safetensors.numpy import save
    out("safetensors", "two-tensors.safetensors",
        save({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, dtype=np.float16)},
             metadata={"format": "pt"}))
    out("safetensors", "int-types.safetensors",
        save({"i8": np.arange(3, dtype=np.int8), "i64": np.arange(2, dtype=np.int64),
              "u8": np.zeros((2, 2), dtype=np.uint8), "scalar": np.array(1.5, dtype=np.float32)}))
    header = json.dumps({"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    out("safetensors", "bf16.safetensors", struct.pack("<Q", len(header)) + header + b"\0" * 4)


def hf_config_seeds():
    base = {"architectures": ["LlamaForCausalLM"], "vocab_size": 300, "hidden_size": 64,
            "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "max_position_embeddings": 256, "tie_word_embeddings": True, "bos_token_id": 1,
            "eos_token_id": [2, 3], "torch_dtype": "bfloat16"}
    out("hf_config", "llama.json", json.dumps(base))
    out("hf_config", "llama3-rope.json", json.dumps(dict(base, rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192})))
    out("hf_config", "mistral.json", json.dumps(dict(base, architectures=["MistralForCausalLM"],
                                                     sliding_window=32)))
    out("hf_config", "qwen3.json", json.dumps(dict(base, architectures=["Qwen3ForCausalLM"],
                                                   head_dim=32)))
    with open(os.path.join(DATA, "configs", "qwen2-7b.json"), "rb") as f:
        out("hf_config", "qwen2-7b.json", f.read())


def tokenizer_json_seeds():
    vocab = {ch: i for i, ch in enumerate(byte_level_vocab())}
    vocab.update({"Ġt": 256, "he": 257})
    byte_level = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 258, "content": "<|end|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\s+|\\w+|[^\\s\\w]+"}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
             "use_regex": False}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "<|end|>", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}],
                           "special_tokens": {"<|end|>": {"id": "<|end|>", "ids": [258],
                                                          "tokens": ["<|end|>"]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [["Ġ", "t"], ["h", "e"]]}}
    config = {"bos_token": None, "eos_token": "<|end|>", "chat_template": "{{ messages }}"}
    out("tokenizer_json", "byte-level.json",
        json.dumps(byte_level) + "\n---config---\n" + json.dumps(config))
    spm_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    spm_vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    spm_vocab.update({"\u2581": 259, "\u2581t": 260, "h": 261, "e": 262, "he": 263})
    spm = {
        "version": "1.0", "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True} for i, t in enumerate(["<unk>", "<s>", "</s>"])],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": spm_vocab, "merges": ["\u2581 t", "h e"]}}
    out("tokenizer_json", "sentencepiece.json", json.dumps(spm))


def tokenizer_encode_seeds():
    texts = ["Hello, world!", "caf\u00e9 \u4e2d\u6587 \U0001F600", "  spaces\tand\nnewlines ",
             "<|begin_of_text|><s>[INST] hi [/INST]", "don't 12345 \u2581x", ""]
    for i, text in enumerate(texts):
        for mode in (0, 1, 8, 9):
            out("tokenizer_encode", f"text{i}-mode{mode}", bytes([mode]) + text.encode())
    ids = struct.pack("<8i", 9906, 11, 1917, 0, 128000, -1, 2**31 - 1, 40)
    for mode in (2, 3, 10, 11):
        out("tokenizer_encode", f"ids-mode{mode}", bytes([mode]) + ids)
    out("tokenizer_encode", "invalid-utf8", b"\x00abc\xff\xfe")


def chat_template_seeds():
    for name in ("chatml_fallback.jinja", "llama-3.1.jinja", "qwen3.jinja"):
        with open(os.path.join(DATA, "templates", name), "rb") as f:
            out("chat_template", "template-" + name, b"\x00" + f.read())
    out("chat_template", "template-features.jinja", "\x00" + (
        "{% macro m(x, y=2) %}{{ x ~ y }}{% endmacro %}{% set ns = namespace(n=0) %}"
        "{% for msg in messages if msg.role != 'tool' %}{% set ns.n = ns.n + 1 %}"
        "{{ m(loop.index) | trim }}{{ msg.content | tojson }}{% if loop.last %}!{% endif %}"
        "{% endfor %}{{ tools | length }}{{ 'a,b' .split(',') | join('-') | upper }}"
        "{{ raise_exception('x') if false else strftime_now('%Y') }}{%- if x is defined %}{% endif %}"
        "{{ [1,2,3][1:] }}{{ {'k': 'v'}.items() | list }}{{ 'ab'[::-1] }}{{ 7 // 2 }}{{ 2 ** 3 }}"))
    contexts = [
        {"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": True},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                      {"role": "assistant", "content": "", "tool_calls": [
                          {"function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
                      {"role": "tool", "content": "r"}],
         "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
         "enable_thinking": True},
        {"messages": [], "bos_token": "<s>"},
    ]
    for i, context in enumerate(contexts):
        out("chat_template", f"context{i}.json", "\x01" + json.dumps(context))


def openai_request_seeds():
    requests = [
        (0, {"model": "fuzz-model", "prompt": "Hello", "max_tokens": 8, "temperature": 0.7,
             "top_p": 0.9, "stop": ["\n"], "seed": 1, "logprobs": 2, "n": 2}),
        (0, {"prompt": [[1, 2, 3], "two"], "max_tokens": 4, "stream": True,
             "stream_options": {"include_usage": True}}),
        (0, {"prompt": [9707, 11, 1879], "top_k": 5, "min_p": 0.1, "presence_penalty": 0.5,
             "frequency_penalty": 0.5, "repetition_penalty": 1.1, "ignore_eos": True,
             "min_tokens": 2, "stop_token_ids": [0]}),
        (1, {"model": "alias", "messages": [{"role": "system", "content": "be brief"},
                                            {"role": "user", "content": "hi <|im_end|>"}],
             "max_completion_tokens": 16, "logprobs": True, "top_logprobs": 3}),
        (1, {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}],
             "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
             "tool_choice": "auto", "chat_template_kwargs": {"enable_thinking": False}}),
        (2, {"prompt": "count me", "return_token_strs": True}),
        (2, {"messages": [{"role": "user", "content": "x"}], "add_generation_prompt": True}),
        (3, {"tokens": [9707, 11, 1879, 0]}),
    ]
    for i, (route, body) in enumerate(requests):
        out("openai_request", f"request{i}.json", bytes([route]) + json.dumps(body).encode())


def http_request_seeds():
    # The first byte is the connection's settings (fuzz/http_request_fuzzer.cpp): read size
    # (bits 0-1), API key "fuzz-key" required (bit 2), 1 KiB body limit (bit 3). The requests
    # are the ones tests/integration sends: curl's and the Python clients' headers.
    def post(path, body, extra=b""):
        data = json.dumps(body).encode()
        return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
                b"User-Agent: curl/7.88.1\r\nAccept: */*\r\nContent-Type: application/json\r\n"
                + extra + b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)

    def chunked(path, body):
        data = json.dumps(body).encode()
        half = len(data) // 2
        return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: application/json\r\n\r\n"
                + b"%x\r\n" % half + data[:half] + b"\r\n"
                + b"%x;ext=1\r\n" % (len(data) - half) + data[half:] + b"\r\n0\r\nTrailer: x\r\n\r\n")

    completion = {"model": "fuzz-model", "prompt": "Hello", "max_tokens": 8, "temperature": 0,
                  "stream": True, "stream_options": {"include_usage": True}}
    chat = {"model": "alias", "messages": [{"role": "user", "content": "hi"}],
            "max_completion_tokens": 4, "logprobs": True, "top_logprobs": 2}
    get = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
    seeds = {
        "completion": b"\x00" + post(b"/v1/completions", completion),
        "chat-api-key": b"\x04" + post(b"/v1/chat/completions", chat,
                                       b"Authorization: Bearer fuzz-key\r\n"),
        "tokenize-chunked": b"\x01" + chunked(b"/tokenize", {"prompt": "count me",
                                                            "return_token_strs": True}),
        "detokenize-continue": b"\x02" + post(b"/detokenize", {"tokens": [9707, 11, 1879]},
                                              b"Expect: 100-continue\r\n"),
        "pipelined-gets": b"\x03" + b"".join(get % p for p in (
            b"/health", b"/version", b"/v1/models", b"/metrics?x=1", b"/server_info",
            b"/nowhere")) + b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "http10-close": b"\x00GET /v1/models HTTP/1.0\r\n\r\nGET /health HTTP/1.1\r\n\r\n",
        "over-limit": b"\x08" + post(b"/v1/completions", {"prompt": "a" * 2000}),
        "not-http": b"\x00THIS IS NOT HTTP\r\n\r\n",
        "bad-json-keepalive": b"\x00" + b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
            b"Connection: keep-alive\r\nContent-Length: 9\r\n\r\n{not json"
            + post(b"/v1/completions", {"prompt": [1, 2], "max_tokens": 1}),
    }
    # Edge cases of the HTTP syntax and the limits (each answered 400 or 413, or served).
    te = b"POST /tokenize HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    seeds.update({
        "edge-header-over-64k": b"\x00GET /health HTTP/1.1\r\nX-Big: " + b"a" * 70000
            + b"\r\n\r\n",
        "edge-chunk-size-2p64": b"\x00" + te + b"\r\nffffffffffffffff\r\nab\r\n0\r\n\r\n",
        "edge-chunk-size-overflow": b"\x00" + te + b"\r\n1ffffffffffffffff\r\nab\r\n0\r\n\r\n",
        "edge-chunks-over-limit": b"\x08" + te + b"\r\n"
            + (b"200\r\n" + b"a" * 512 + b"\r\n") * 3 + b"0\r\n\r\n",
        "edge-content-length-2p64": b"\x00POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 18446744073709551615\r\n\r\n{}",
        "edge-content-length-twice": b"\x00POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "edge-length-and-chunked": b"\x00POST /tokenize HTTP/1.1\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "edge-api-key-wrong": b"\x04GET /v1/models HTTP/1.1\r\nAuthorization: Bearer fuzz-kez"
            b"\r\n\r\nGET /v1/models HTTP/1.1\r\nAuthorization: Bearer fuzz-key\r\n\r\n",
        "edge-pipelined-1-byte-reads": b"\x01" + b"POST /detokenize HTTP/1.1\r\n"
            b"Content-Length: 15\r\n\r\n{\"tokens\": [1]}" * 3,
        "edge-nul-in-target": b"\x00GET /hea\x00lth HTTP/1.1\r\n\r\n",
        "edge-obs-fold": b"\x00GET /health HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
        "edge-body-not-utf8": b"\x00POST /tokenize HTTP/1.1\r\nContent-Length: 16\r\n\r\n"
            b"{\"prompt\": \"\xff\"}",
    })
    for name, data in seeds.items():
        out("http_request", name + ".http", data)


def config_yaml_seeds():
    out("config_yaml", "engine.yaml",
        "host: 127.0.0.1\nport: 8001\nmax-num-seqs: 8\nmax_num_batched_tokens: 512\n"
        "enable-prefix-caching: true\nblock-size: 16\nswap-space: 1\n"
        "served-model-name: [a, b]\napi-key: \"abc#123\"\nplugin-option:\n  - cpu.threads=1\n"
        "default-chat-template-kwargs: {enable_thinking: false}\n")
    out("config_yaml", "empty.yaml", "")
    out("config_yaml", "mistakes.yaml", "max-num-seqs: [1, 2]\nunknwn-key: 1\n")


def main():
    gguf_seeds()
    safetensors_seeds()
    hf_config_seeds()
    tokenizer_json_seeds()
    tokenizer_encode_seeds()
    chat_template_seeds()
    openai_request_seeds()
    http_request_seeds()
    config_yaml_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
