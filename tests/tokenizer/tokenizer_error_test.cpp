// Bad input gives one clear tessera::Error: missing files, malformed JSON, unsupported
// components (named in the message), invalid UTF-8 text, bad GGUF metadata.
#include <gtest/gtest.h>

#include <functional>

#include "common/check.h"
#include "tessera/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"
#include "tokenizer_test_util.h"

namespace tessera::tokenizer::test {
namespace {

// A minimal valid byte-level tokenizer.json with `patch` spliced in as extra top-level keys
// (later keys override earlier ones).
std::string tiny_json(const std::string& patch = "") {
  return R"({"added_tokens": [], "normalizer": null, "pre_tokenizer": null,
             "post_processor": null, "decoder": null,
             "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})" +
         patch + "}";
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TokenizerErrors, TinyJsonLoads) {
  auto tok = Tokenizer::from_json(tiny_json());
  EXPECT_EQ(tok->encode("abab"), (std::vector<int32_t>{2, 2}));
}

TEST(TokenizerErrors, MissingFile) {
  try {
    Tokenizer::from_files(data_dir("no-such-tokenizer"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("no-such-tokenizer"), std::string::npos) << e.what();
  }
}

TEST(TokenizerErrors, DirectoryWithoutTokenizerJson) {
  const std::string msg = error_of([] { Tokenizer::from_files(data_dir("")); });
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
}

TEST(TokenizerErrors, MalformedJson) {
  const std::string msg = error_of([] { Tokenizer::from_json("{\"model\": {", "", "", "x.json"); });
  EXPECT_NE(msg.find("x.json: tokenizer.json is not valid JSON"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { Tokenizer::from_json("[1, 2]"); }).find("not a JSON object"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Tokenizer::from_json(tiny_json(), "{oops");
            }).find("tokenizer_config.json is not valid JSON"),
            std::string::npos);
}

TEST(TokenizerErrors, UnknownModelType) {
  const std::string msg = error_of(
      [] { Tokenizer::from_json(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})"); });
  EXPECT_NE(msg.find("unsupported model type 'Unigram'"), std::string::npos) << msg;
}

TEST(TokenizerErrors, MissingModel) {
  const std::string msg = error_of([] { Tokenizer::from_json(R"({"normalizer": null})"); });
  EXPECT_NE(msg.find("has no 'model'"), std::string::npos) << msg;
}

TEST(TokenizerErrors, UnsupportedComponentsAreNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {R"(, "normalizer": {"type": "BertNormalizer"})",
       "unsupported normalizer type 'BertNormalizer'"},
      {R"(, "normalizer": {"type": "Replace", "pattern": {"Regex": "(x"}, "content": "y"})",
       "does not compile"},
      {R"(, "pre_tokenizer": {"type": "UnicodeScripts"})",
       "unsupported pre_tokenizer type 'UnicodeScripts'"},
      {R"(, "pre_tokenizer": {"type": "Metaspace", "replacement": "_", "prepend_scheme": "x"})",
       "unsupported Metaspace prepend_scheme 'x'"},
      {R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Contiguous"})",
       "unsupported Split behavior 'Contiguous'"},
      {R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"})",
       "does not compile"},
      {R"(, "decoder": {"type": "Metaspace"})", "Metaspace decoder has no 'replacement'"},
      {R"(, "decoder": {"type": "WordPiece"})", "unsupported decoder type 'WordPiece'"},
      {R"(, "post_processor": {"type": "BertProcessing"})",
       "unsupported post_processor type 'BertProcessing'"},
  };
  for (const auto& [patch, expected] : cases) {
    const std::string msg =
        error_of([&, &patch = patch] { Tokenizer::from_json(tiny_json(patch)); });
    EXPECT_NE(msg.find(expected), std::string::npos) << patch << " -> " << msg;
  }
}

TEST(TokenizerErrors, MergeOutsideVocabulary) {
  const std::string msg = error_of([] {
    Tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a z"]}})");
  });
  EXPECT_NE(msg.find("merge #0 'a z' refers to a token not in the vocabulary"), std::string::npos)
      << msg;
}

// Ids that are not integers in 0..INT32_MAX (a fuzzed file had an added token id of 2.9e19,
// which JSON parses as a double and converting it was undefined behaviour) get one message.
TEST(TokenizerErrors, TokenIdsOutOfRange) {
  const char* vocab = R"("model": {"type": "BPE", "vocab": {"a": 0}, "merges": []})";
  for (const std::string id : {"29223372036854775807", "-1", "1.5", "\"3\""}) {
    SCOPED_TRACE(id);
    const std::string added =
        std::string("{") + vocab + R"(, "added_tokens": [{"id": )" + id + R"(, "content": "x"}]})";
    EXPECT_NE(
        error_of([&] { Tokenizer::from_json(added); }).find("an added token has an invalid id"),
        std::string::npos);
    const std::string in_vocab =
        R"({"model": {"type": "BPE", "vocab": {"a": )" + id + R"(}, "merges": []}})";
    EXPECT_NE(
        error_of([&] { Tokenizer::from_json(in_vocab); }).find("vocab entry 'a' has an invalid id"),
        std::string::npos);
  }
}

TEST(TokenizerErrors, InvalidUtf8Text) {
  auto tok = Tokenizer::from_json(tiny_json());
  const std::string msg = error_of([&] { tok->encode("ab\xC3\x28"); });
  EXPECT_NE(msg.find("not valid UTF-8 (byte 0xC3 at offset 2)"), std::string::npos) << msg;
}

TEST(TokenizerErrors, BadGgufMetadata) {
  GgufTokenizerMetadata m;
  m.tokens = {"a", "b", "ab"};
  m.merges = {"a b"};
  m.model = "bert";
  EXPECT_NE(error_of([&] {
              tokenizer_from_gguf(m);
            }).find("unsupported GGUF tokenizer.ggml.model 'bert'"),
            std::string::npos);
  m.model = "gpt2";
  m.pre = "chameleon";
  EXPECT_NE(error_of([&] { tokenizer_from_gguf(m); }).find("tokenizer.ggml.pre 'chameleon'"),
            std::string::npos);
  m.pre = "default";
  m.token_type = {1, 1};
  EXPECT_NE(error_of([&] { tokenizer_from_gguf(m); }).find("2 entries for 3 tokens"),
            std::string::npos);
  m.token_type.clear();
  m.bos_token_id = 7;
  EXPECT_NE(error_of([&] { tokenizer_from_gguf(m); }).find("bos id 7 is outside"),
            std::string::npos);
  m.bos_token_id.reset();
  EXPECT_EQ(tokenizer_from_gguf(m)->encode("abab"), (std::vector<int32_t>{2, 2}));
}

}  // namespace
}  // namespace tessera::tokenizer::test
