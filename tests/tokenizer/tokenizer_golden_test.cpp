// Golden tests: ids, decodes and streaming decodes of the real Llama 3.1, Qwen3 and Llama 2
// tokenizers must equal what the reference `tokenizers` library produced
// (scripts/gen_tokenizer_goldens.py), and a tokenizer built from GGUF-style metadata must
// encode like the one loaded from tokenizer.json.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer_spec.h"
#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace tessera::tokenizer::test {
namespace {

using nlohmann::json;

std::vector<int32_t> ids_of(const json& j) {
  return j.get<std::vector<int32_t>>();
}

std::string streamed(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip) {
  StreamingDecoder d(tok, skip);
  std::string all;
  for (int32_t id : ids) {
    const std::string delta = d.step(id);
    EXPECT_TRUE(is_valid_utf8(delta)) << "delta after id " << id << " is not valid UTF-8";
    all += delta;
  }
  const std::string tail = d.finish();
  EXPECT_TRUE(is_valid_utf8(tail));
  return all + tail;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, EncodeMatchesReference) {
  const auto& tok = tokenizer(GetParam());
  for (const auto& c : goldens(GetParam())["cases"]) {
    const std::string text = c["text"];
    SCOPED_TRACE("text: " + json(text).dump());
    EXPECT_EQ(tok.encode(text), ids_of(c["ids"]));
    EXPECT_EQ(tok.encode(text, {.add_special_tokens = false}), ids_of(c["ids_no_special"]));
    EXPECT_EQ(tok.encode(text, {.add_special_tokens = true, .parse_special = false}),
              ids_of(c["ids_plain"]));
  }
}

TEST_P(GoldenTest, DecodeMatchesReference) {
  const auto& tok = tokenizer(GetParam());
  for (const auto& c : goldens(GetParam())["cases"]) {
    SCOPED_TRACE("text: " + c["text"].dump());
    const auto ids = ids_of(c["ids"]);
    EXPECT_EQ(tok.decode(ids, false), c["decoded"].get<std::string>());
    EXPECT_EQ(tok.decode(ids, true), c["decoded_skip"].get<std::string>());
  }
  for (const auto& c : goldens(GetParam())["decode_cases"]) {
    SCOPED_TRACE("ids: " + c["ids"].dump());
    EXPECT_EQ(tok.decode(ids_of(c["ids"]), c["skip_special"].get<bool>()),
              c["text"].get<std::string>());
  }
}

TEST_P(GoldenTest, StreamingDeltasConcatenateToDecode) {
  const auto& tok = tokenizer(GetParam());
  for (const auto& c : goldens(GetParam())["cases"]) {
    SCOPED_TRACE("text: " + c["text"].dump());
    const auto ids = ids_of(c["ids"]);
    EXPECT_EQ(streamed(tok, ids, false), c["decoded"].get<std::string>());
    EXPECT_EQ(streamed(tok, ids, true), c["decoded_skip"].get<std::string>());
  }
  for (const auto& c : goldens(GetParam())["decode_cases"]) {
    SCOPED_TRACE("ids: " + c["ids"].dump());
    EXPECT_EQ(streamed(tok, ids_of(c["ids"]), c["skip_special"].get<bool>()),
              c["text"].get<std::string>());
  }
}

TEST_P(GoldenTest, VocabSizeMatchesReference) {
  EXPECT_EQ(tokenizer(GetParam()).vocab_size(), goldens(GetParam())["vocab_size"].get<int32_t>());
}

// GGUF-style metadata made from tokenizer.json the way the GGUF converters do: tokens by id,
// token types, merges for byte-level BPE, and for SentencePiece only scores (no merges), so the
// score-derived merge order is checked too.
void gguf_metadata_from_json(const std::string& name, GgufTokenizerMetadata& m) {
  const json root = json::parse(read_text(data_dir(name) / "tokenizer.json"));
  const auto& tok = tokenizer(name);
  const bool spm = name == "spm-32k-llama2";
  m.model = spm ? "llama" : "gpt2";
  m.pre = name == "qwen3" ? "qwen2" : spm ? "" : "llama-bpe";
  const auto n = static_cast<size_t>(tok.vocab_size());
  m.tokens.assign(n, "");
  m.token_type.assign(n, static_cast<int32_t>(TokenType::kNormal));
  for (const auto& [text, id] : root["model"]["vocab"].items()) m.tokens[id.get<size_t>()] = text;
  for (const auto& t : root["added_tokens"]) {
    const auto id = t["id"].get<size_t>();
    m.tokens[id] = t["content"];
    m.token_type[id] = static_cast<int32_t>(t["special"].get<bool>() ? TokenType::kControl
                                                                     : TokenType::kUserDefined);
  }
  for (size_t id = 0; id < n; ++id) {
    EXPECT_FALSE(m.tokens[id].empty()) << "hole at id " << id;
    const std::string& t = m.tokens[id];
    if (spm && t.size() == 6 && t.starts_with("<0x")) m.token_type[id] = 6;
  }
  if (spm) {
    m.token_type[0] = static_cast<int32_t>(TokenType::kUnknown);
    m.unknown_token_id = 0;
    // A SentencePiece BPE score is the piece's merge order; recover it from the merge list.
    m.scores.assign(n, -1e7f);
    float rank = 0;
    for (const auto& merge : root["model"]["merges"]) {
      std::string s = merge.is_string()
                          ? merge.get<std::string>()
                          : merge[0].get<std::string>() + " " + merge[1].get<std::string>();
      s.erase(s.find(' '), 1);
      auto id = tok.token_to_id(s);
      ASSERT_TRUE(id.has_value()) << s;
      if (m.scores[*id] == -1e7f) m.scores[*id] = -rank;
      ++rank;
    }
  } else {
    for (const auto& merge : root["model"]["merges"]) {
      m.merges.push_back(merge.is_string()
                             ? merge.get<std::string>()
                             : merge[0].get<std::string>() + " " + merge[1].get<std::string>());
    }
  }
  m.bos_token_id = tok.bos_id();
  if (!tok.eos_ids().empty()) m.eos_token_id = tok.eos_ids().front();
  m.add_bos_token = !tok.prefix_ids().empty();
  m.chat_template = tok.chat_template();
}

TEST_P(GoldenTest, GgufSpecEncodesLikeTokenizerJson) {
  if (GetParam().starts_with("tiny-")) GTEST_SKIP() << "not a GGUF tokenizer family";
  const auto& tok = tokenizer(GetParam());
  GgufTokenizerMetadata metadata;
  gguf_metadata_from_json(GetParam(), metadata);
  if (HasFatalFailure()) return;
  const auto from_gguf = tokenizer_from_gguf(metadata);
  EXPECT_EQ(from_gguf->vocab_size(), tok.vocab_size());
  EXPECT_EQ(from_gguf->bos_id(), tok.bos_id());
  EXPECT_EQ(from_gguf->chat_template(), tok.chat_template());
  for (const auto& c : goldens(GetParam())["cases"]) {
    const std::string text = c["text"];
    SCOPED_TRACE("text: " + json(text).dump());
    EXPECT_EQ(from_gguf->encode(text), ids_of(c["ids"]));
    EXPECT_EQ(from_gguf->encode(text, {.add_special_tokens = false}), ids_of(c["ids_no_special"]));
    EXPECT_EQ(from_gguf->decode(ids_of(c["ids"]), true), c["decoded_skip"].get<std::string>());
  }
}

// Every GGUF tokenizer.ggml.pre name the goldens cover, over Llama 3.1's vocabulary and merges:
// the reference built the pre-tokenizer each name stands for (gen_tokenizer_goldens.py).
TEST(GgufPreTokenizer, NamesEncodeLikeReference) {
  const json goldens_file = json::parse(read_text(data_dir("gguf-pre") / "goldens.json"));
  const auto& corpus = goldens_file["corpus"];
  GgufTokenizerMetadata metadata;
  gguf_metadata_from_json("llama-3.1", metadata);
  if (HasFatalFailure()) return;
  ASSERT_GE(goldens_file["ids"].size(), 14u);
  for (const auto& [name, expected] : goldens_file["ids"].items()) {
    SCOPED_TRACE("tokenizer.ggml.pre = " + name);
    metadata.pre = name;
    const auto tok = tokenizer_from_gguf(metadata);
    ASSERT_EQ(expected.size(), corpus.size());
    for (size_t i = 0; i < corpus.size(); ++i) {
      const std::string text = corpus[i];
      SCOPED_TRACE("text: " + json(text).dump());
      EXPECT_EQ(tok->encode(text, {.add_special_tokens = false}), ids_of(expected[i]));
    }
  }
}

TEST(GgufPreTokenizer, UnknownNameIsOneClearError) {
  GgufTokenizerMetadata metadata;
  gguf_metadata_from_json("llama-3.1", metadata);
  if (HasFatalFailure()) return;
  metadata.pre = "no-such-pre";
  try {
    tokenizer_from_gguf(metadata);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unsupported GGUF tokenizer.ggml.pre 'no-such-pre'"), std::string::npos)
        << what;
    EXPECT_NE(what.find("smollm"), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, GoldenTest, ::testing::ValuesIn(kTokenizerNames),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

TEST(TokenizerConfig, Llama31) {
  const auto& tok = tokenizer("llama-3.1");
  EXPECT_EQ(tok.bos_id(), 128000);
  EXPECT_EQ(tok.bos_token(), "<|begin_of_text|>");
  EXPECT_EQ(tok.eos_token(), "<|eot_id|>");
  EXPECT_EQ(tok.eos_ids(), std::vector<int32_t>{128009});
  EXPECT_EQ(tok.prefix_ids(), std::vector<int32_t>{128000});
  EXPECT_TRUE(tok.is_special(128009));
  EXPECT_FALSE(tok.is_special(9906));
  EXPECT_EQ(tok.token_to_id("<|eot_id|>"), 128009);
  EXPECT_EQ(tok.token_text(9906), "Hello");
  EXPECT_NE(tok.chat_template().find("<|start_header_id|>"), std::string::npos);
}

TEST(TokenizerConfig, Qwen3) {
  const auto& tok = tokenizer("qwen3");
  EXPECT_EQ(tok.bos_id(), std::nullopt);
  EXPECT_EQ(tok.eos_token(), "<|im_end|>");
  EXPECT_EQ(tok.eos_ids(), std::vector<int32_t>{151645});
  EXPECT_EQ(tok.pad_id(), 151643);
  EXPECT_TRUE(tok.prefix_ids().empty());
  const auto think = tok.token_to_id("<think>");
  ASSERT_TRUE(think.has_value());
  EXPECT_FALSE(tok.is_special(*think));
  EXPECT_NE(tok.chat_template().find("<|im_start|>"), std::string::npos);
}

TEST(TokenizerConfig, Llama2) {
  const auto& tok = tokenizer("spm-32k-llama2");
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_ids(), std::vector<int32_t>{2});
  EXPECT_EQ(tok.bos_token(), "<s>");
  EXPECT_EQ(tok.pad_id(), std::nullopt);
  EXPECT_TRUE(tok.chat_template().empty());
}

}  // namespace
}  // namespace tessera::tokenizer::test
