// tokenizer.json loading (tessera/tokenizer.h Tokenizer::from_json): the pipeline
// components, vocabulary, merges and added tokens of a file we did not write, then encoding and
// decoding with whatever loaded. The input is the tokenizer.json text; a tokenizer_config.json
// may follow after a line "\n---config---\n".
// Invariants beyond "no crash": encoding yields ids inside the vocabulary, and the streaming
// decoder's deltas concatenate to decode() of the same ids.
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "tessera/error.h"
#include "tessera/tokenizer.h"

namespace {

constexpr std::string_view kConfigSeparator = "\n---config---\n";

void exercise(const tessera::tokenizer::Tokenizer& tokenizer) {
  static const char* const kTexts[] = {"Hello, world!", " leading  spaces\tand\nlines",
                                       "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80",
                                       "<|im_start|>user<s></s>[INST]", "12345 don't"};
  for (const char* text : kTexts) {
    const auto ids = tokenizer.encode(text);
    for (int32_t id : ids) {
      TSR_FUZZ_ASSERT(id >= 0 && id < tokenizer.vocab_size(), "an id outside the vocabulary");
    }
    const std::string whole = tokenizer.decode(ids);
    tessera::tokenizer::StreamingDecoder streaming(tokenizer);
    std::string pieces;
    for (int32_t id : ids) pieces += streaming.step(id);
    pieces += streaming.finish();
    TSR_FUZZ_ASSERT(pieces == whole, "streamed deltas differ from decode()");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = tessera::fuzz::as_text(data, size);
  const size_t split = input.find(kConfigSeparator);
  const std::string_view tokenizer_json = input.substr(0, split);
  const std::string_view config_json = split == std::string_view::npos
                                           ? std::string_view{}
                                           : input.substr(split + kConfigSeparator.size());
  try {
    const auto tokenizer = tessera::tokenizer::Tokenizer::from_json(tokenizer_json, config_json);
    exercise(*tokenizer);
  } catch (const tessera::Error& e) {
    TSR_FUZZ_ASSERT(e.what()[0] != '\0', "an error without a message");
  }
  return 0;
}
