// Internal: the assembled pipeline a Tokenizer runs. Built by the tokenizer.json loader and by
// the spec builder; not part of the tokenizer's API.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"

namespace tessera::tokenizer {

struct TokenizerParts {
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::vector<AddedToken> added_tokens;
  std::vector<int32_t> prefix_ids;  // post-processor template around the sequence
  std::vector<int32_t> suffix_ids;
  DecoderPlan decoder;

  std::optional<int32_t> bos_id;
  std::vector<int32_t> eos_ids;
  std::optional<int32_t> pad_id;
  std::string bos_token, eos_token, pad_token;
  std::string chat_template;

  // Filled by finalize(): lookups by id.
  AddedTokenMatcher raw_matcher;         // added tokens with normalized == false
  AddedTokenMatcher normalized_matcher;  // normalized == true, matched on normalized text
  std::vector<std::string> id_to_token;
  std::vector<uint8_t> id_flags;  // kExists | kSpecial
  std::vector<DecodePiece> pieces;

  static constexpr uint8_t kExists = 1, kSpecial = 2;
  // Builds the lookup tables; call once everything above is set.
  void finalize();
};

}  // namespace tessera::tokenizer
