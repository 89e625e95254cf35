// UTF-8 helpers shared by the tokenizer: validation, lossy decoding with the same replacement
// rule as Rust's String::from_utf8_lossy (one U+FFFD per maximal invalid subpart, which is what
// the reference `tokenizers` implementation produces), code point iteration, character classes
// used by added-token matching, and the GPT-2 byte <-> unicode table of byte-level BPE.
// Written by hand: the table and the replacement rule are small and must match the reference
// exactly, which no installed package guarantees.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::tokenizer {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Returns true when `s` is well-formed UTF-8; otherwise sets *error_offset (when given) to the
// offset of the first byte of the first ill-formed sequence.
bool is_valid_utf8(std::string_view s, size_t* error_offset = nullptr);

// Appends `bytes` decoded lossily to `out`. When `hold_incomplete_tail` is true, a trailing
// sequence that is a valid but unfinished prefix of a character is not consumed. Returns the
// number of bytes consumed.
size_t append_lossy_utf8(std::string_view bytes, std::string& out, bool hold_incomplete_tail);

// Decodes the code point at s[i] (s must be valid UTF-8) and advances i past it.
char32_t next_code_point(std::string_view s, size_t& i);
// Decodes the code point that ends at s[end] (exclusive); returns its start in *start.
char32_t prev_code_point(std::string_view s, size_t end, size_t* start);
void append_utf8(char32_t cp, std::string& out);

// Unicode White_Space (what Rust's char::is_whitespace and regex \s accept).
bool is_unicode_whitespace(char32_t cp);
// Rust regex \w: alphabetic, marks, decimal digits, connector punctuation, join controls.
bool is_word_char(char32_t cp);

// GPT-2 byte-level alphabet: byte -> the UTF-8 of the code point standing for it.
const std::array<std::string, 256>& byte_level_alphabet();
// Inverse: the byte a code point stands for, or -1 when it is not in the alphabet.
int byte_level_byte(char32_t cp);

}  // namespace tessera::tokenizer
