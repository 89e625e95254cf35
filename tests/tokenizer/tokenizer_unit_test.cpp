// Focused behaviour: streaming hold-back of unfinished UTF-8 and byte-fallback runs, U+FFFD
// rules, special-token text as plain text, thread-safe sharing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace tessera::tokenizer::test {
namespace {

std::vector<std::string> deltas(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  StreamingDecoder d(tok);
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(d.step(id));
  out.push_back(d.finish());
  return out;
}

TEST(StreamingDecoder, ByteLevelHoldsUnfinishedCharacter) {
  const auto& tok = tokenizer("llama-3.1");
  const auto ids = tok.encode("\xF0\x9F\x98\x80!", {.add_special_tokens = false});  // U+1F600
  ASSERT_EQ(ids.size(), 3u);  // two tokens share the emoji's bytes
  EXPECT_EQ(deltas(tok, ids), (std::vector<std::string>{"", "\xF0\x9F\x98\x80", "!", ""}));
}

TEST(StreamingDecoder, ByteLevelUnfinishedAtEndBecomesReplacement) {
  const auto& tok = tokenizer("llama-3.1");
  const auto ids = tok.encode("\xF0\x9F\x98\x80", {.add_special_tokens = false});
  EXPECT_EQ(deltas(tok, {ids[0]}), (std::vector<std::string>{"", "\xEF\xBF\xBD"}));
}

TEST(StreamingDecoder, ByteFallbackRunIsHeldUntilItEnds) {
  const auto& tok = tokenizer("spm-32k-llama2");
  // U+1D518 is not in the vocabulary: four <0xNN> tokens after the "▁" token.
  const auto ids = tok.encode("\xF0\x9D\x94\x98 ok", {.add_special_tokens = false});
  ASSERT_GE(ids.size(), 5u);
  const auto d = deltas(tok, ids);
  EXPECT_EQ(d[1] + d[2] + d[3], "");
  EXPECT_EQ(d[4], "");
  std::string all;
  for (const auto& s : d) all += s;
  EXPECT_EQ(all, "\xF0\x9D\x94\x98 ok");
}

TEST(StreamingDecoder, ReusableAfterFinish) {
  const auto& tok = tokenizer("qwen3");
  const auto ids = tok.encode("hi there", {.add_special_tokens = false});
  StreamingDecoder d(tok);
  for (int round = 0; round < 2; ++round) {
    std::string all;
    for (int32_t id : ids) all += d.step(id);
    all += d.finish();
    EXPECT_EQ(all, "hi there");
  }
}

TEST(StreamingDecoder, SkipsSpecialAndUnknownIds) {
  const auto& tok = tokenizer("qwen3");
  StreamingDecoder d(tok, /*skip_special_tokens=*/true);
  EXPECT_EQ(d.step(151644), "");  // <|im_start|>
  EXPECT_EQ(d.step(-5), "");
  EXPECT_EQ(d.step(1 << 30), "");
  EXPECT_EQ(d.finish(), "");
}

TEST(Utf8, LossyFollowsMaximalSubpartRule) {
  std::string out;
  append_lossy_utf8(
      "a\xE4\xB8"
      "b\xF0\x80\x80\xFF",
      out, false);
  EXPECT_EQ(out,
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  out.clear();
  EXPECT_EQ(append_lossy_utf8("ok\xE4\xB8", out, true), 2u);
  EXPECT_EQ(out, "ok");
}

TEST(Encode, SpecialTokenTextAsPlainText) {
  const auto& tok = tokenizer("qwen3");
  const std::string text = "<|im_start|>user";
  const auto parsed = tok.encode(text, {.add_special_tokens = false});
  const auto plain = tok.encode(text, {.add_special_tokens = false, .parse_special = false});
  EXPECT_EQ(parsed.front(), 151644);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 151644), 0);
  EXPECT_EQ(tok.decode(plain), text);
}

TEST(Encode, SharedAcrossThreads) {
  const auto& tok = tokenizer("llama-3.1");
  const auto& cases = goldens("llama-3.1")["cases"];
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int rep = 0; rep < 3; ++rep) {
        for (const auto& c : cases) {
          if (tok.encode(c["text"].get<std::string>()) != c["ids"].get<std::vector<int32_t>>()) {
            ++mismatches;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace tessera::tokenizer::test
