#!/usr/bin/env python3
"""Regenerates the chat-template goldens in tests/data/templates/.

Renders real chat templates over many conversations, and small feature templates over
hand-written contexts, with jinja2 configured the way Hugging Face transformers renders chat
templates (transformers/utils/chat_template_utils.py): ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and the loopcontrols extension, plus HF's globals and filters:

    tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
        = json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                     sort_keys=sort_keys)
    raise_exception(message)  -> raises jinja2.exceptions.TemplateError(message)
    strftime_now(format)      -> datetime.now().strftime(format), here a fixed instant so the
                                 goldens are deterministic (the C++ tests pass the same one)

and the render keywords HF passes: messages, tools (None when absent), documents (None),
add_generation_prompt, the tokenizer's special tokens (those that are set), and extra kwargs.

Steps:
  1. --extract: copy the chat templates of ../shared/tokenizers/<model>/tokenizer_config.json
     into tests/data/templates/<model>.jinja (byte-exact), plus a small
     <model>.tokenizer_config.json with the keys the tests use. Run once, or when the shared
     files change.
  2. render every case with jinja2 and write tests/data/templates/goldens.json.

Run with the project's venv (jinja2 pinned in requirements-test.txt):
    .venv/bin/python scripts/gen_template_goldens.py [--extract]
"""

import argparse
import datetime
import json
import pathlib
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = pathlib.Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "templates"
DEFAULT_TOKENIZERS = REPO.parent / "shared" / "tokenizers"
FIXED_NOW = datetime.datetime(2024, 7, 26, 10, 30, 0)

# Templates rendered over the conversation scenarios: name -> (file, special tokens).
TEMPLATES = {
    "llama-3.1": ("llama-3.1.jinja", {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
    "qwen3": ("qwen3.jinja", {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}),
    "llama-3.1-tools": ("llama-3.1-tools.jinja",
                        {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
    "chatml-fallback": ("chatml_fallback.jinja", {"bos_token": "<s>", "eos_token": "</s>"}),
}
EXTRACT_MODELS = ["llama-3.1", "qwen3", "spm-32k-llama2"]


class AssistantTracker(Extension):
    """HF's {% generation %} block; outside assistant-mask mode it renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_render", [])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return FIXED_NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, context):
    try:
        template = env.from_string(source)
    except Exception as e:  # noqa: BLE001 - jinja2 lets Python's SyntaxError through for 'break'
        return {"error": str(e), "error_type": type(e).__name__, "phase": "parse"}
    try:
        return {"expected": template.render(**context)}
    except Exception as e:  # noqa: BLE001 - every failure is a golden
        return {"error": str(e), "error_type": type(e).__name__, "phase": "render"}


# ---------------------------------------------------------------- conversations

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and country, e.g. Paris, France"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Recherche dans la documentation — renvoie les passages pertinents 📚",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "max_results": {"type": "integer", "default": 5, "minimum": 1, "maximum": 50},
                "threshold": {"type": "number", "default": 0.25},
                "tiny": {"type": "number", "default": 1e-07},
                "huge": {"type": "number", "default": 1e20},
                "strict": {"type": "boolean", "default": True},
                "filters": {"type": "object", "properties": {}, "nullable": None},
                "tags": {"type": "array", "items": {"type": "string"}, "default": []},
                "quote\"d\\key\ttab": {"type": "string", "description": "control \u0001 char"},
            },
            "required": ["query"],
        },
    },
}

CALL_WEATHER = {"id": "call_1", "type": "function",
                "function": {"name": "get_current_weather",
                             "arguments": {"location": "Paris, France", "unit": "celsius"}}}
CALL_WEATHER_STR = {"id": "call_2", "type": "function",
                    "function": {"name": "get_current_weather",
                                 "arguments": "{\"location\": \"Tōkyō, Japan\"}"}}
CALL_SEARCH = {"id": "call_3", "type": "function",
               "function": {"name": "search_docs",
                            "arguments": {"query": "paged attention", "max_results": 3,
                                          "threshold": 0.5, "strict": False, "tags": ["kv", "gpu"]}}}
CALL_BRAVE = {"id": "call_4", "type": "function",
              "function": {"name": "brave_search", "arguments": {"query": "weather in Paris"}}}


def u(text):
    return {"role": "user", "content": text}


def a(text, **extra):
    m = {"role": "assistant", "content": text}
    m.update(extra)
    return m


def s(text):
    return {"role": "system", "content": text}


def tool(text, **extra):
    m = {"role": "tool", "content": text}
    m.update(extra)
    return m


SCENARIOS = [
    ("single_user", [u("Hello!")], {}),
    ("system_user", [s("You are a helpful assistant."), u("What is 2+2?")], {}),
    ("multi_turn", [s("Be terse."), u("Hi"), a("Hello."), u("Name a prime."), a("7"), u("Another?")], {}),
    ("no_system_multi_turn", [u("Hi"), a("Hello, how can I help?"), u("Tell me a joke.")], {}),
    ("empty_content", [u(""), a(""), u("")], {}),
    ("whitespace_content", [s("  padded system \n"), u("\n\n  spaced user  \t\n"), a(" \u3000answer\u3000 ")], {}),
    ("unicode_emoji", [u("Привет! 你好 🌍🚀 café naïve — “quotes” and 'single'"),
                       a("مرحبا 👋🏽 — ok"), u("Ω≈ç√∫ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \\ backslash {{ not a tag }}")], {}),
    ("special_chars", [u("Line1\nLine2\r\nTab\there <|im_end|> </s> <think>"), a("{% raw %} {{ x }}")], {}),
    ("tools_user", [u("What's the weather in Paris?")], {"tools": [WEATHER_TOOL, SEARCH_TOOL]}),
    ("tools_system_user", [s("You can call tools."), u("Weather in Paris?")], {"tools": [WEATHER_TOOL]}),
    ("tool_call_roundtrip", [s("You are a weather bot."), u("What's the weather in Paris?"),
                             a("", tool_calls=[CALL_WEATHER]),
                             tool("{\"temperature\": 22.5, \"condition\": \"sunny\"}", tool_call_id="call_1")],
     {"tools": [WEATHER_TOOL]}),
    ("tool_call_final_answer", [u("Weather in Paris?"), a("", tool_calls=[CALL_WEATHER]),
                                tool("22.5 C, sunny"), a("It is 22.5 °C and sunny in Paris.")],
     {"tools": [WEATHER_TOOL]}),
    ("tool_call_string_args", [u("And Tokyo?"), a("Let me check.", tool_calls=[CALL_WEATHER_STR]),
                               tool("18 C")], {"tools": [WEATHER_TOOL]}),
    ("parallel_tool_calls", [u("Weather and docs please"),
                             a("", tool_calls=[CALL_WEATHER, CALL_SEARCH]),
                             tool("22 C"), tool("[{\"doc\": \"paging.md\"}]")],
     {"tools": [WEATHER_TOOL, SEARCH_TOOL]}),
    ("tool_result_mapping", [u("Weather?"), a("", tool_calls=[CALL_WEATHER]),
                             tool({"temperature": 22.5, "unit": "celsius", "ok": True})],
     {"tools": [WEATHER_TOOL]}),
    ("ipython_role", [u("run it"), a("", tool_calls=[CALL_WEATHER]),
                      {"role": "ipython", "content": "result: 4"}], {"tools": [WEATHER_TOOL]}),
    ("tool_response_user_text", [u("q1"), a("a1"),
                                 u("<tool_response>\nraw\n</tool_response>"), a("a2")], {}),
    ("reasoning_content_last", [u("What is 17*3?"),
                                a("51", reasoning_content="17*3 = 51.\nDouble-check: 50+1.")], {}),
    ("reasoning_content_history", [u("Q1"), a("A1", reasoning_content="thinking about Q1"),
                                   u("Q2"), a("A2", reasoning_content="thinking about Q2"),
                                   u("Q3")], {}),
    ("think_in_content", [u("Hi"), a("<think>\nLet me think.\n</think>\n\nHello there!")], {}),
    ("think_in_content_history", [u("Hi"), a("<think>\nhmm\n</think>\n\nHello!"), u("Bye")], {}),
    ("reasoning_none", [u("Hi"), a("Plain answer", reasoning_content=None)], {}),
    ("multi_step_tools_reasoning", [s("sys"), u("Plan a trip"),
                                    a("", reasoning_content="need weather", tool_calls=[CALL_WEATHER]),
                                    tool("sunny"),
                                    a("Checking docs", reasoning_content="need docs", tool_calls=[CALL_SEARCH]),
                                    tool("docs"), a("Go to Paris.", reasoning_content="done")],
     {"tools": [WEATHER_TOOL, SEARCH_TOOL]}),
    ("assistant_content_none", [u("call it"), a(None, tool_calls=[CALL_WEATHER]), tool("ok")],
     {"tools": [WEATHER_TOOL]}),
    ("system_only", [s("Only a system message")], {}),
    ("no_messages", [], {}),
    ("content_parts", [{"role": "user", "content": [{"type": "text", "text": "part one, "},
                                                    {"type": "image_url", "image_url": {"url": "x"}},
                                                    {"type": "text", "text": "part two"}]}], {}),
    ("second_system", [s("first"), u("hi"), s("second system"), u("again")], {}),
]

# Extra keyword arguments per template family, each rendered over every scenario.
TEMPLATE_KWARGS = {
    "llama-3.1": [("", {})],
    "qwen3": [("", {}), ("think_off", {"enable_thinking": False}), ("think_on", {"enable_thinking": True})],
    "llama-3.1-tools": [
        ("", {}),
        ("tools_in_system", {"tools_in_user_message": False, "date_string": "01 Jan 2025"}),
        ("builtin", {"builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"]}),
    ],
    "chatml-fallback": [("", {})],
}

# Scenarios only meaningful for some templates (builtin tool calls for Llama 3.1).
EXTRA_SCENARIOS = {
    "llama-3.1-tools": [
        ("builtin_tool_call", [s("sys"), u("search the web"), a("", tool_calls=[CALL_BRAVE]),
                               tool("Paris: 22 C")],
         {"builtin_tools": ["brave_search", "wolfram_alpha"]}),
        ("custom_tools", [u("Weather?")], {"custom_tools": [WEATHER_TOOL["function"]]}),
        ("tools_system_only", [s("sys")], {"tools": [WEATHER_TOOL]}),
    ],
}


def conversation_cases(env):
    cases = []
    for tname, (fname, special) in TEMPLATES.items():
        source = (DATA / fname).read_text(encoding="utf-8")
        scenarios = SCENARIOS + EXTRA_SCENARIOS.get(tname, [])
        for kw_name, kwargs in TEMPLATE_KWARGS[tname]:
            for sc_name, messages, extra in scenarios:
                for agp in (True, False):
                    context = {"messages": messages, "tools": None, "documents": None,
                               "add_generation_prompt": agp}
                    context.update(special)
                    context.update(extra)
                    context.update(kwargs)
                    name = "/".join(x for x in (tname, kw_name, sc_name) if x)
                    name += "/agp" if agp else "/no_agp"
                    case = {"name": name, "template": tname, "context": context}
                    case.update(render(env, source, context))
                    cases.append(case)
    return cases


# ---------------------------------------------------------------- feature snippets

SNIPPETS = [
    # literals, printing, arithmetic
    ("print_literals", "{{ 1 }}|{{ -3 }}|{{ 2.5 }}|{{ 1e20 }}|{{ 1.5e-7 }}|{{ 0.1 }}|{{ 100.0 }}|{{ true }}|{{ false }}|{{ none }}|{{ True }}|{{ None }}", {}),
    ("print_containers", "{{ [1, 'a', none, true, 1.0, [2]] }}|{{ {'k': 'v', 'n': 1, 'l': [none]} }}|{{ () }}|{{ (1,) }}", {}),
    ("print_repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n', 'é'] }}", {}),
    ("string_escapes", "{{ 'a\\tb\\nc\\\\d\\'e\\\"f\\x41\\u00e9\\U0001F600' }}|{{ \"dq 'x'\" }}|{{ 'adj' 'acent' }}", {}),
    ("arith", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 6 * 7 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + 2.5 }} {{ true + 1 }}", {}),
    ("arith_precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 - 2 - 3 }} {{ 1 + 2 ~ 3 }} {{ 'a' ~ 1 + 2 }}", {}),
    ("string_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] * 3 }} {{ [1, 2] + [3] }} {{ 'x' ~ 1 ~ none ~ true ~ undefined_var }}", {}),
    ("percent_format", "{{ '%s has %d items' % ('list', 3) }}|{{ '%s-%s'|format('a', 'b') }}|{{ '100%%' % () }}", {}),
    ("comparisons", "{{ 1 == 1.0 }} {{ 1 != 2 }} {{ 'a' < 'b' }} {{ 2 >= 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ none == none }} {{ true == 1 }} {{ 'a' == 'A' }}", {}),
    ("logic", "{{ true and 'x' }}|{{ false or 'y' }}|{{ none or 0 }}|{{ not '' }}|{{ not 'a' }}|{{ 0 and 1 }}|{{ [] or [1] }}|{{ not x is defined }}", {}),
    ("membership", "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'v' in {'k': 'v'} }} {{ 'x' in undefined_var }}", {}),
    ("cond_expr", "{{ 'yes' if flag else 'no' }}|{{ 'yes' if not flag else 'no' }}|{{ 'only' if false }}|{{ 1 if none else 2 if true else 3 }}", {"flag": True}),
    # attribute / item access
    ("attr_item", "{{ m.role }}|{{ m['content'] }}|{{ m.missing }}|{{ m['missing'] }}|{{ l[0] }}|{{ l[-1] }}|{{ l[10] }}|{{ l.0 }}|{{ s[1] }}|{{ s[-1] }}", {"m": {"role": "user", "content": "hi"}, "l": [10, 20, 30], "s": "héllo"}),
    ("slices", "{{ l[1:] }}|{{ l[:2] }}|{{ l[::-1] }}|{{ l[::2] }}|{{ l[-2:] }}|{{ l[1:-1] }}|{{ s[::-1] }}|{{ s[1:3] }}|{{ l[5:] }}|{{ l[3:1:-1] }}", {"l": [1, 2, 3, 4, 5], "s": "añb😀c"}),
    ("nested_access", "{{ d.a.b[1].c }}|{{ d['a']['b'][0] }}|{{ d.a.missing is defined }}", {"d": {"a": {"b": [0, {"c": "deep"}]}}}),
    ("dict_methods", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.get('a') }}|{{ d.get('zz') }}|{{ d.get('zz', 'dflt') }}", {"d": {"b": 2, "a": 1, "c": [3]}}),
    ("dict_key_named_items", "{{ d['items'] }}|{{ d.get('items') }}|{{ d['values'] }}", {"d": {"items": 5, "values": 6}}),
    # string methods
    ("str_methods", "[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ s.strip(' x') }}][{{ s.upper() }}][{{ s.lower() }}][{{ t.title() }}][{{ t.capitalize() }}]", {"s": "  xHello Wörld x  ", "t": "hELLO wORLD it's o'neil"}),
    ("str_split", "{{ s.split() }}|{{ s.split(',') }}|{{ s.split(',', 1) }}|{{ 'a<b>c'.split('<b>')[-1] }}|{{ '  a  b '.split() }}|{{ 'x'.split('x') }}|{{ 'a,b,c'.rsplit(',', 1) }}", {"s": "a,b, c ,d"}),
    ("str_predicates", "{{ s.startswith('<tool') }} {{ s.endswith('>') }} {{ s.startswith(('x', '<')) }} {{ s.find('resp') }} {{ s.count('o') }} {{ s.replace('o', '0') }} {{ s.replace('o', '0', 1) }} {{ '42'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }}", {"s": "<tool_response>"}),
    ("str_join_method", "{{ ', '.join(['a', 'b', 'c']) }}|{{ '-'.join('xyz') }}", {}),
    ("str_format_method", "{{ '{} and {}'.format('a', 'b') }}|{{ '{0}{1}{0}'.format('x', 'y') }}|{{ '{name}!'.format(name='hi') }}", {}),
    ("think_split", "{% set c = content %}{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}", {"content": "<think>\n\nreason\n</think>\n\nanswer"}),
    # filters
    ("filter_trim_case", "[{{ s | trim }}][{{ s | upper }}][{{ s | lower }}][{{ s | title }}][{{ s | capitalize }}][{{ 'x--y' | trim('-x') }}][{{ u | trim }}]", {"s": "  hello wORLD-foo (bar) [baz] <q>\t", "u": "\u3000\u00a0 wide \u2003"}),
    ("filter_length", "{{ l | length }} {{ s | length }} {{ d | length }} {{ l | count }} {{ undefined_var | length }} {{ '' | length }}", {"l": [1, 2, 3], "s": "😀é", "d": {"a": 1}}),
    ("filter_join", "{{ l | join }}|{{ l | join(', ') }}|{{ users | join(', ', attribute='name') }}|{{ [1, none, true] | join('-') }}", {"l": ["a", "b"], "users": [{"name": "x"}, {"name": "y"}]}),
    ("filter_first_last", "{{ l | first }} {{ l | last }} {{ 'abc' | first }} {{ 'abc' | last }} {{ [] | first }}|{{ d | first }}", {"l": [1, 2, 3], "d": {"k1": 1, "k2": 2}}),
    ("filter_default", "{{ x | default('dflt') }}|{{ none | default('dflt') }}|{{ '' | default('dflt') }}|{{ '' | default('dflt', true) }}|{{ y | d('d2') }}|{{ 0 | default(5, boolean=true) }}", {"y": "set"}),
    ("filter_conversions", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'x' | float }} {{ 3 | float }} {{ 5 | string }} {{ [1] | string }} {{ 'ab' | list }} {{ none | string }}", {}),
    ("filter_items", "{% for k, v in d | items %}{{ k }}:{{ v }} {% endfor %}|{{ d | items | list }}|{{ undefined_var | items | list }}", {"d": {"z": 1, "a": [2]}}),
    ("filter_replace", "{{ s | replace('a', 'o') }}|{{ s | replace('a', 'o', 2) }}|{{ s | replace('', '.') }}", {"s": "banana"}),
    ("filter_select_map", "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|{{ msgs | rejectattr('role', 'eq', 'user') | list | length }}|{{ msgs | selectattr('tool') | list | length }}|{{ [0, 1, 2, '', 'a'] | select | list }}|{{ [1, 2, 3, 4] | reject('odd') | list }}|{{ ['a', 'b'] | map('upper') | list }}|{{ msgs | map(attribute='missing', default='-') | join }}", {"msgs": [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a", "tool": True}, {"role": "user", "content": "u2"}]}),
    ("filter_reject_equalto", "{{ tools | reject('equalto', 'code_interpreter') | join(', ') }}", {"tools": ["brave_search", "code_interpreter", "wolfram_alpha"]}),
    ("filter_sort_unique", "{{ l | sort }}|{{ l | sort(reverse=true) }}|{{ w | sort }}|{{ w | sort(case_sensitive=true) }}|{{ w | unique | list }}|{{ people | sort(attribute='age') | map(attribute='n') | join }}", {"l": [3, 1, 2], "w": ["b", "A", "a", "C"], "people": [{"n": "x", "age": 30}, {"n": "y", "age": 20}]}),
    ("filter_minmax_sum", "{{ l | min }} {{ l | max }} {{ l | sum }} {{ people | sum(attribute='age') }} {{ [1.5, 2] | sum }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.1 | round(method='ceil') }}", {"l": [3, 1, 2], "people": [{"age": 30}, {"age": 20}]}),
    ("filter_reverse", "{{ 'abc' | reverse }}|{{ [1, 2, 3] | reverse | list }}", {}),
    ("filter_indent", "{{ text | indent(2) }}|{{ text | indent(2, true) }}|{{ text | indent('> ', first=true, blank=true) }}", {"text": "a\nb\n\nc"}),
    ("filter_escape_safe", "{{ '<a href=\"x\">&\\'</a>' | escape }}|{{ '<b>' | safe }}|{{ '<i>' | e }}", {}),
    ("filter_dictsort_wordcount", "{{ d | dictsort }}|{{ d | dictsort(by='value') }}|{{ 'one two  three' | wordcount }}|{{ 'hi' | center(6) }}|", {"d": {"b": 1, "a": 3, "C": 2}}),
    ("filter_chained_args", "{{ messages | map(attribute='content') | map('trim') | map('upper') | join(' / ') }}", {"messages": [{"content": " a "}, {"content": "b "}]}),
    # tojson
    ("tojson_basic", "{{ d | tojson }}", {"d": {"b": 1, "a": [1, 2.5, "é", None, True, False], "nested": {"x": {}}, "empty": [], "f": 1e20, "g": 1.5e-07, "h": 100.0}}),
    ("tojson_indent", "{{ d | tojson(indent=2) }}|{{ d | tojson(indent=0) }}|{{ [] | tojson(indent=4) }}|{{ d | tojson(indent='\\t') }}", {"d": {"b": 1, "a": [1, {"c": None}], "e": {}}}),
    ("tojson_options", "{{ d | tojson(sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}|{{ d | tojson(ensure_ascii=true) }}", {"d": {"z": "ñ😀", "a": [1, 2]}}),
    ("tojson_escapes", "{{ s | tojson }}|{{ 'x' | tojson }}|{{ 3 | tojson }}|{{ none | tojson }}|{{ 2.0 | tojson }}", {"s": "q\"b\\s/t\tn\nr\rc\u0001\u007f é 😀 </script>"}),
    # tests
    ("tests_types", "{{ s is string }} {{ n is number }} {{ n is integer }} {{ f is float }} {{ f is integer }} {{ b is boolean }} {{ b is number }} {{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ s is iterable }} {{ d is iterable }} {{ n is iterable }} {{ l is sequence }} {{ none is none }} {{ x is undefined }} {{ x is defined }} {{ s is not string }}", {"s": "a", "n": 1, "f": 1.5, "b": True, "d": {}, "l": []}),
    ("tests_values", "{{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 'a' is equalto 'a' }} {{ 2 is eq 2 }} {{ 2 is ne 3 }} {{ 3 is gt 2 }} {{ 2 is lt 3 }} {{ 2 is ge 2 }} {{ 2 is le 1 }} {{ 'b' is in 'abc' }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ range is callable }} {{ 'x' is callable }}", {}),
    # loops
    ("for_loop_vars", "{% for x in l %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }};{% endfor %}", {"l": ["a", "b", "c"]}),
    ("for_loop_prev_next_cycle", "{% for x in l %}[{{ loop.previtem }}|{{ x }}|{{ loop.nextitem }}|{{ loop.cycle('odd', 'even') }}]{% endfor %}", {"l": [1, 2, 3]}),
    ("for_else", "{% for x in l %}{{ x }}{% else %}empty{% endfor %}|{% for x in [] %}{{ x }}{% else %}none{% endfor %}", {"l": [1]}),
    ("for_filter", "{% for m in msgs if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}:{{ m.content }} {% endfor %}", {"msgs": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}),
    ("for_unpack", "{% for a, b in pairs %}{{ a }}={{ b }},{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for ch in 'hé' %}[{{ ch }}]{% endfor %}", {"pairs": [[1, 2], ["x", "y"]], "d": {"k1": 1, "k2": 2}}),
    ("for_nested_loop", "{% for r in rows %}{% set outer = loop %}{% for c in r %}{{ outer.index }}.{{ loop.index }}={{ c }} {% endfor %}{% endfor %}", {"rows": [["a", "b"], ["c"]]}),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("for_reversed_messages", "{% for m in msgs[::-1] %}{{ (msgs | length - 1) - loop.index0 }}:{{ m }} {% endfor %}", {"msgs": ["a", "b", "c"]}),
    ("for_undefined_iter", "{% for x in nothing %}{{ x }}{% else %}no items{% endfor %}", {}),
    ("range_forms", "{{ range(3) | list }}|{{ range(1, 4) | list }}|{{ range(10, 0, -3) | list }}|{{ range(0) | list }}", {}),
    # scoping and set
    ("set_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}|{% if true %}{% set y = 5 %}{% endif %}{{ y }}", {}),
    ("set_iteration_scope", "{% for i in [1, 2, 3] %}[{{ z }}]{% set z = i %}{% endfor %}|{{ z }}", {}),
    ("namespace", "{% set ns = namespace(count=0, found=false, name='n') %}{% for i in [1, 2, 3] %}{% set ns.count = ns.count + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns.name }} {{ ns.missing is defined }}", {}),
    ("set_tuple_and_block", "{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set block %}inner {{ a + b }}{% endset %}[{{ block }}]|{% set l = [1, 2] %}{{ l }}", {}),
    ("set_shadow_context", "{% set messages = messages[1:] %}{{ messages | length }}{% set name = 'local' %}{{ name }}", {"messages": [1, 2, 3], "name": "ctx"}),
    # macros and call blocks
    ("macro_basic", "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }} {{ greet() }}", {}),
    ("macro_recursive_render", "{% macro render(v) %}{% if v is mapping %}{ {% for k, x in v.items() %}{{ k }}: {{ render(x) }} {% endfor %}}{% elif v is string %}'{{ v }}'{% else %}{{ v }}{% endif %}{% endmacro %}{{ render(d) }}", {"d": {"a": 1, "b": {"c": "x"}}}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}", {}),
    ("macro_sees_globals", "{% set g = 'global' %}{% macro m() %}{{ g }} {{ ctx }}{% endmacro %}{{ m() }}", {"ctx": "C"}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inside {{ v }}{% endcall %}", {"v": 7}),
    ("call_block_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}[{{ x }}]{% endcall %}", {}),
    # whitespace control
    ("ws_trim_blocks", "{% if true %}\nline\n{% endif %}\nafter\n", {}),
    ("ws_lstrip_blocks", "start\n    {% if true %}\n    indented\n    {% endif %}\nend", {}),
    ("ws_dash_both", "a   {%- if true -%}   b   {%- endif -%}   c\n  {{- ' d ' -}}  \n e", {}),
    ("ws_plus", "x\n    {%+ if true %}y{% endif +%}\nz", {}),
    ("ws_comment", "a\n  {# a comment #}\nb {#- trimmed -#} c\n{# multi\nline #}\nd", {}),
    ("ws_var_no_lstrip", "a\n    {{ 'v' }}\n    {% if true %}w{% endif %}", {}),
    ("ws_crlf", "line1\r\n{% if true %}\r\nline2\r\n{% endif %}\r\n", {}),
    ("ws_trailing_newline", "text\n\n", {}),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}|{%- raw -%}  x  {%- endraw -%}|", {}),
    ("generation_block", "{% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}", {"msgs": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}),
    ("dict_literal_in_tag", "{{ {'a': {'b': 1}} }}|{% set d = {'x': [1, {'y': 2}]} %}{{ d.x[1].y }}", {}),
    # globals
    ("strftime_now", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A') }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }}|{{ namespace(a=1).a }}", {}),
    ("undefined_printing", "[{{ missing }}][{{ missing | default('') }}][{{ m.none_key }}][{{ m.k }}]", {"m": {"k": None}}),
    # idioms of other model families' templates
    ("alternation_ok", "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}", {"bos_token": "<s>", "eos_token": "</s>", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
    ("alternation_error", "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ message['content'] }}{% endfor %}", {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
    ("namespace_accumulate", "{% set ns = namespace(system_prompt='', is_first=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first %}{% set ns.system_prompt = message['content'] %}{% set ns.is_first = false %}{%- else %}{% set ns.system_prompt = ns.system_prompt + '\n\n' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}[{{ ns.system_prompt }}]", {"messages": [{"role": "system", "content": "A"}, {"role": "user", "content": "u"}, {"role": "system", "content": "B"}]}),
    ("hermes_json_types", """{%- macro json_to_python_type(json_spec) %}
{%- set basic_type_map = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"} %}
{%- if basic_type_map[json_spec.type] is defined %}
    {{- basic_type_map[json_spec.type] }}
{%- elif json_spec.type == "array" %}
    {{- "list[" +  json_to_python_type(json_spec['items']) + "]" }}
{%- elif json_spec.type == "object" %}
    {%- if json_spec.additionalProperties is defined %}
        {{- "dict[str, " + json_to_python_type(json_spec.additionalProperties) + ']' }}
    {%- else %}
        {{- "dict" }}
    {%- endif %}
{%- elif json_spec.type is iterable %}
    {{- "Union[" }}
    {%- for t in json_spec.type %}
        {{- json_to_python_type({"type": t}) }}
        {%- if not loop.last %}
            {{- "," }}
        {%- endif %}
    {%- endfor %}
    {{- "]" }}
{%- else %}
    {{- "Any" }}
{%- endif %}
{%- endmacro %}
{%- for name, spec in params|items %}
{{ name }}: {{ json_to_python_type(spec) }}
{%- endfor %}""", {"params": {"q": {"type": "string"}, "n": {"type": "integer"}, "m": {"type": "object", "additionalProperties": {"type": "number"}}, "u": {"type": ["string", "integer"]}, "o": {"type": "object"}, "a": {"type": "array", "items": {"type": "boolean"}}}}),
    ("content_parts_loop", "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}{% if p.type == 'text' %}{{ p.text }}{% elif p.type == 'image' %}<image>{% endif %}{% endfor %}{% endif %}|{% endfor %}", {"messages": [{"content": "plain"}, {"content": [{"type": "image"}, {"type": "text", "text": "caption"}]}]}),
    ("last_user_index", "{% set ns = namespace(last=-1) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.last = loop.index0 %}{% endif %}{% endfor %}{{ ns.last }}|{{ (messages | selectattr('role', 'equalto', 'user') | list | last).content }}|{{ messages | map(attribute='role') | unique | join(',') }}", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
    # errors
    ("err_raise_exception", "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}", {}),
    ("err_raise_in_branch", "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok", {"messages": [{"role": "system", "content": "x"}]}),
    ("err_unterminated_var", "hello {{ name", {}),
    ("err_unterminated_block", "{% if true %}never closed", {}),
    ("err_unterminated_tag", "{% for x in y ", {}),
    ("err_unterminated_comment", "{# no end", {}),
    ("err_unknown_filter", "{{ x | frobnicate }}", {}),
    ("err_unknown_filter_dead_branch", "{% if false %}{{ x | frobnicate }}{% endif %}", {}),
    ("err_unknown_test", "{{ x is frob }}", {}),
    ("err_unknown_tag", "{% include 'other.jinja' %}", {}),
    ("err_endfor_mismatch", "{% if true %}{% endfor %}", {}),
    ("err_bad_expression", "{{ 1 + }}", {}),
    ("err_unexpected_char", "{{ 1 ? 2 }}", {}),
    ("err_undefined_attr_of_undefined", "{{ missing.attr }}", {}),
    ("err_undefined_arith", "{{ missing + 1 }}", {}),
    ("err_str_plus_int", "{{ 'a' + 1 }}", {}),
    ("err_none_in", "{{ 'x' in none }}", {}),
    ("err_div_zero", "{{ 1 / 0 }}", {}),
    ("err_call_non_callable", "{{ 'abc'() }}", {}),
    ("err_call_undefined", "{{ nope() }}", {}),
    ("err_list_append", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("err_tojson_undefined", "{{ missing | tojson }}", {}),
    ("err_items_non_mapping", "{{ [1] | items | list }}", {}),
    ("err_ns_attr_non_namespace", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("err_break_outside_loop", "{% break %}", {}),
    ("err_unpack", "{% for a, b in [[1, 2, 3]] %}{{ a }}{% endfor %}", {}),
    ("err_range_too_big", "{{ range(200000) | length }}", {}),
    ("err_macro_recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {}),
    ("err_error_line", "line1\nline2\n  {{ 'x' + none }}\n", {}),
]


def snippet_cases(env):
    cases = []
    for name, source, context in SNIPPETS:
        case = {"name": name, "source": source, "context": context}
        case.update(render(env, source, context))
        cases.append(case)
    return cases


# ---------------------------------------------------------------- extraction

def extract(tokenizers_dir):
    readme = ["# Chat templates for tests", "",
              "Generated by `scripts/gen_template_goldens.py --extract`; do not edit by hand.", "",
              "| file | provenance |", "|---|---|"]
    for model in EXTRACT_MODELS:
        cfg = json.loads((tokenizers_dir / model / "tokenizer_config.json").read_text(encoding="utf-8"))
        small = {k: cfg[k] for k in ("bos_token", "eos_token", "chat_template") if k in cfg}
        (DATA / f"{model}.tokenizer_config.json").write_text(
            json.dumps(small, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        src = f"`{model}/tokenizer_config.json` of the shared tokenizer set (see ../shared/tokenizers/README.md)"
        readme.append(f"| `{model}.tokenizer_config.json` | bos/eos/chat_template keys of {src} |")
        template = cfg.get("chat_template")
        if isinstance(template, str):
            (DATA / f"{model}.jinja").write_text(template, encoding="utf-8", newline="")
            readme.append(f"| `{model}.jinja` | its `chat_template`, byte-exact |")
        else:
            readme.append(f"| (no `{model}.jinja`) | {model} ships no chat template: the ChatML fallback applies |")
    readme += [
        "| `llama-3.1-tools.jinja` | the `chat_template` of Meta's Llama 3.1 Instruct tokenizer_config.json "
        "(meta-llama/Llama-3.1-8B-Instruct, Llama 3.1 Community License), with tools, builtin tools, "
        "`date_string` and `tools_in_user_message`; the shared llama-3.1 config carries the shorter "
        "Llama 3 template without tools |",
        "| `chatml_fallback.jinja` | Tessera's ChatML template for models without one; must equal "
        "`chatml_fallback_template()` in core/src/template/chat_template.cpp |",
        "| `goldens.json` | expected renderings by jinja2 as Hugging Face configures it |",
        "",
    ]
    (DATA / "README.md").write_text("\n".join(readme), encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extract", action="store_true", help="re-extract templates from the shared tokenizer files")
    parser.add_argument("--tokenizers-dir", type=pathlib.Path, default=DEFAULT_TOKENIZERS)
    args = parser.parse_args()
    if args.extract:
        extract(args.tokenizers_dir)
    env = make_env()
    goldens = {
        "generator": "scripts/gen_template_goldens.py",
        "jinja2_version": jinja2.__version__,
        "now": {"year": FIXED_NOW.year, "month": FIXED_NOW.month, "day": FIXED_NOW.day,
                "hour": FIXED_NOW.hour, "minute": FIXED_NOW.minute, "second": FIXED_NOW.second},
        "templates": {name: fname for name, (fname, _) in TEMPLATES.items()},
        "cases": conversation_cases(env),
        "snippets": snippet_cases(env),
    }
    out = DATA / "goldens.json"
    out.write_text(json.dumps(goldens, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    n_err = sum(1 for c in goldens["cases"] + goldens["snippets"] if "error" in c)
    print(f"wrote {out.relative_to(REPO)}: {len(goldens['cases'])} conversation cases, "
          f"{len(goldens['snippets'])} snippets ({n_err} expected errors)", file=sys.stderr)


if __name__ == "__main__":
    main()
