// Decoding token ids back to text (the `decoder` of tokenizer.json), built so that decoding is
// naturally incremental: every token contributes a precomputed piece, and a small state machine
// turns pieces into text, holding back only what later tokens can still change (an unfinished
// UTF-8 sequence of byte-level tokens, a run of byte-fallback <0xNN> tokens, characters a Strip
// step might remove). Full decoding is that same machine run to the end, so streamed deltas
// always concatenate to the full decode, and every delta is valid UTF-8.
//
// Supported decoder chains: ByteLevel alone; any of Replace (literal pattern), Metaspace,
// ByteFallback, Fuse, then optionally Strip after Fuse (the SentencePiece chain); none (tokens
// joined with a space, as the reference does without a decoder).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::tokenizer {

struct DecoderPlan {
  enum class Mode { kJoinWithSpace, kByteLevel, kPieces };
  Mode mode = Mode::kJoinWithSpace;
  std::vector<std::pair<std::string, std::string>> replaces;  // kPieces, applied per token
  bool byte_fallback = false;                                 // kPieces
  size_t strip_start = 0;  // leading `strip_content` characters removed from the whole text
  size_t strip_stop = 0;   // trailing ones
  std::string strip_content = " ";
  // kPieces: removed from the first decoded token instead of replaced (Metaspace decoder).
  std::string drop_in_first;
};

// What one token contributes: bytes (kByteLevel) or text, or one byte-fallback byte.
struct DecodePiece {
  std::string text;
  int16_t byte = -1;  // >= 0: a <0xNN> byte-fallback token
  bool has_first_text = false;
  std::string first_text;  // what the token decodes to as the first token (drop_in_first)
};

DecodePiece make_decode_piece(const DecoderPlan& plan, std::string_view token);

class DecodeState {
 public:
  // Appends to `out` the text that `piece` makes final.
  void push(const DecoderPlan& plan, const DecodePiece& piece, std::string& out);
  // Appends whatever is still held (unfinished sequences become U+FFFD) and resets.
  void finish(const DecoderPlan& plan, std::string& out);

 private:
  void emit(const DecoderPlan& plan, std::string_view text, std::string& out);
  void flush_fallback(const DecoderPlan& plan, std::string& out);

  bool first_ = true;
  std::string pending_bytes_;   // kByteLevel: unfinished UTF-8 tail
  std::string fallback_bytes_;  // kPieces: current run of byte-fallback bytes
  size_t strip_start_left_ = 0;
  bool strip_started_ = false;
  std::string held_tail_;  // characters a trailing Strip may still remove
};

}  // namespace tessera::tokenizer
