// Decoder state machine; see decoder.h. Byte-fallback runs follow the reference ByteFallback
// decoder: a run that is valid UTF-8 becomes its text, otherwise each byte becomes U+FFFD.
#include "tokenizer/decoder.h"

#include "tokenizer/utf8.h"

namespace tessera::tokenizer {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  if (from.empty()) return s;
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

}  // namespace

DecodePiece make_decode_piece(const DecoderPlan& plan, std::string_view token) {
  DecodePiece piece;
  switch (plan.mode) {
    case DecoderPlan::Mode::kJoinWithSpace:
      piece.text = token;
      break;
    case DecoderPlan::Mode::kByteLevel: {
      // A token with any character outside the byte alphabet (e.g. an added token) decodes to
      // its own UTF-8 bytes, as the reference does.
      std::string bytes;
      for (size_t i = 0; i < token.size();) {
        const int b = byte_level_byte(next_code_point(token, i));
        if (b < 0) {
          bytes = token;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      piece.text = std::move(bytes);
      break;
    }
    case DecoderPlan::Mode::kPieces: {
      if (!plan.drop_in_first.empty() && token.find(plan.drop_in_first) != std::string::npos) {
        std::string first = replace_all(std::string(token), plan.drop_in_first, "");
        for (const auto& [from, to] : plan.replaces)
          first = replace_all(std::move(first), from, to);
        piece.has_first_text = true;
        piece.first_text = std::move(first);
      }
      std::string text(token);
      for (const auto& [from, to] : plan.replaces) text = replace_all(std::move(text), from, to);
      if (plan.byte_fallback && text.size() == 6 && text.starts_with("<0x") && text[5] == '>') {
        const int hi = hex_value(text[3]), lo = hex_value(text[4]);
        if (hi >= 0 && lo >= 0) piece.byte = static_cast<int16_t>(hi * 16 + lo);
      }
      piece.text = std::move(text);
      break;
    }
  }
  return piece;
}

void DecodeState::push(const DecoderPlan& plan, const DecodePiece& piece, std::string& out) {
  switch (plan.mode) {
    case DecoderPlan::Mode::kJoinWithSpace:
      if (!first_) emit(plan, " ", out);
      emit(plan, piece.text, out);
      break;
    case DecoderPlan::Mode::kByteLevel: {
      pending_bytes_ += piece.text;
      std::string text;
      const size_t used = append_lossy_utf8(pending_bytes_, text, /*hold_incomplete_tail=*/true);
      pending_bytes_.erase(0, used);
      emit(plan, text, out);
      break;
    }
    case DecoderPlan::Mode::kPieces:
      if (piece.byte >= 0) {
        fallback_bytes_.push_back(static_cast<char>(piece.byte));
      } else {
        flush_fallback(plan, out);
        emit(plan, first_ && piece.has_first_text ? piece.first_text : piece.text, out);
      }
      break;
  }
  first_ = false;
}

void DecodeState::flush_fallback(const DecoderPlan& plan, std::string& out) {
  if (fallback_bytes_.empty()) return;
  if (is_valid_utf8(fallback_bytes_)) {
    emit(plan, fallback_bytes_, out);
  } else {
    std::string text;
    for (size_t i = 0; i < fallback_bytes_.size(); ++i) text += kReplacementChar;
    emit(plan, text, out);
  }
  fallback_bytes_.clear();
}

void DecodeState::emit(const DecoderPlan& plan, std::string_view text, std::string& out) {
  if (!strip_started_) {
    strip_start_left_ = plan.strip_start;
    strip_started_ = true;
  }
  const std::string_view content = plan.strip_content;
  while (strip_start_left_ > 0 && !text.empty()) {
    if (!content.empty() && text.starts_with(content)) {
      text.remove_prefix(content.size());
      --strip_start_left_;
    } else {
      strip_start_left_ = 0;
    }
  }
  if (plan.strip_stop == 0 || content.empty()) {
    out.append(text);
    return;
  }
  held_tail_.append(text);
  // Keep back at most strip_stop trailing content characters.
  size_t cut = held_tail_.size();
  for (size_t n = 0;
       n < plan.strip_stop && cut >= content.size() &&
       std::string_view(held_tail_).substr(cut - content.size(), content.size()) == content;
       ++n) {
    cut -= content.size();
  }
  out.append(held_tail_, 0, cut);
  held_tail_.erase(0, cut);
}

void DecodeState::finish(const DecoderPlan& plan, std::string& out) {
  if (!pending_bytes_.empty()) {
    std::string text;
    append_lossy_utf8(pending_bytes_, text, /*hold_incomplete_tail=*/false);
    emit(plan, text, out);
  }
  flush_fallback(plan, out);
  *this = DecodeState();
}

}  // namespace tessera::tokenizer
