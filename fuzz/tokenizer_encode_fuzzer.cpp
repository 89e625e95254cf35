// Encoding and decoding arbitrary text and ids with real tokenizers (tests/data/tokenizers):
// byte-level BPE (Llama 3.1) and SentencePiece-style BPE with byte fallback (the 32k Llama 2
// vocabulary). The first input byte picks the tokenizer and the options; the rest is the text,
// or, for the decode modes, little-endian 32-bit ids.
// Invariants beyond "no crash":
//  - text that is not UTF-8 is refused with tessera::Error, never encoded;
//  - ids are inside the vocabulary;
//  - decode(encode(text)) == text for valid UTF-8 (neither pipeline normalizes; see the
//    exceptions for SentencePiece below);
//  - the streaming decoder's deltas concatenate to decode() and are whole UTF-8 characters.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "tessera/error.h"
#include "tessera/tokenizer.h"

#ifndef TESSERA_TEST_DATA_DIR
#error "TESSERA_TEST_DATA_DIR must name tests/data"
#endif

namespace {

using tessera::tokenizer::EncodeOptions;
using tessera::tokenizer::Tokenizer;

const Tokenizer& tokenizer_for(unsigned which) {
  static const std::unique_ptr<Tokenizer> kByteLevel =
      Tokenizer::from_files(TESSERA_TEST_DATA_DIR "/tokenizers/llama-3.1");
  static const std::unique_ptr<Tokenizer> kSentencePiece =
      Tokenizer::from_files(TESSERA_TEST_DATA_DIR "/tokenizers/spm-32k-llama2");
  return which == 0 ? *kByteLevel : *kSentencePiece;
}

bool is_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t code = 0;
    if (lead < 0x80) {
      length = 1;
      code = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code = lead & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      return false;
    i += length;
  }
  return true;
}

void check_streaming(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip) {
  const std::string whole = tokenizer.decode(ids, skip);
  TSR_FUZZ_ASSERT(is_utf8(whole), "decode() returned invalid UTF-8");
  tessera::tokenizer::StreamingDecoder streaming(tokenizer, skip);
  std::string pieces;
  for (int32_t id : ids) {
    const std::string delta = streaming.step(id);
    TSR_FUZZ_ASSERT(is_utf8(delta), "a streamed delta is not whole UTF-8 characters");
    pieces += delta;
  }
  pieces += streaming.finish();
  TSR_FUZZ_ASSERT(pieces == whole, "streamed deltas differ from decode()");
}

}  // namespace

// Loading the tokenizers takes seconds under ASan: done here, outside libFuzzer's per-input
// timeout.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)tokenizer_for(0);
  (void)tokenizer_for(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const unsigned mode = data[0];
  const Tokenizer& tokenizer = tokenizer_for(mode & 1);
  const std::string_view rest = tessera::fuzz::as_text(data + 1, size - 1);
  if (mode & 2) {  // decode arbitrary ids, in or out of the vocabulary
    std::vector<int32_t> ids(rest.size() / 4);
    if (!ids.empty()) std::memcpy(ids.data(), rest.data(), ids.size() * 4);
    for (auto& id : ids) {
      if (mode & 4) id = static_cast<int32_t>(static_cast<uint32_t>(id) % 130000u);
    }
    check_streaming(tokenizer, ids, (mode & 8) != 0);
    return 0;
  }
  EncodeOptions options;
  options.add_special_tokens = (mode & 4) != 0;
  options.parse_special = (mode & 8) != 0;
  std::vector<int32_t> ids;
  try {
    ids = tokenizer.encode(rest, options);
  } catch (const tessera::Error&) {
    TSR_FUZZ_ASSERT(!is_utf8(rest), "valid UTF-8 was refused");
    return 0;
  }
  TSR_FUZZ_ASSERT(is_utf8(rest), "invalid UTF-8 was encoded");
  for (int32_t id : ids) {
    TSR_FUZZ_ASSERT(id >= 0 && id < tokenizer.vocab_size(), "an id outside the vocabulary");
  }
  // SentencePiece-style decoding turns a literal U+2581 into a space, and the reference puts a
  // "\u2581" before every text piece between special tokens: no round trip there.
  const bool sentencepiece = (mode & 1) != 0;
  const bool round_trips =
      !options.add_special_tokens &&
      (!sentencepiece || (!options.parse_special && rest.find("\xE2\x96\x81") == rest.npos));
  if (round_trips) {
    const std::string back = tokenizer.decode(ids);
    TSR_FUZZ_ASSERT(back == rest, "decode(encode(text)) != text");
  }
  check_streaming(tokenizer, ids, (mode & 16) != 0);
  return 0;
}
