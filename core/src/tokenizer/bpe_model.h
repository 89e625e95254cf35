// The BPE model: maps one pre-tokenized word to token ids by applying merges in rank order
// (lowest rank first, leftmost first on ties), as the reference implementation does, with the
// SentencePiece-compatible extras: byte fallback to <0xNN> tokens, an unknown token (optionally
// fused over runs), and ignore_merges (a word that is itself in the vocabulary wins).
// Immutable after construction except for the word cache, which is guarded by a mutex, so one
// model is safely shared by all threads.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tessera::tokenizer {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<int32_t> unk_id;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // `vocab` maps token text to id. Merges are added afterwards, in rank order.
  BpeModel(Vocab vocab, BpeOptions options);

  void reserve_merges(size_t n) { merges_.reserve(n); }
  // Adds the merge (left, right) with the next rank; throws tessera::Error naming the merge
  // when a side or the merged token is not in the vocabulary.
  void add_merge(std::string_view left, std::string_view right);
  // Adds a merge by ids with an explicit rank (several merges may share a rank; ties then go
  // to the leftmost pair, which is how SentencePiece scores behave).
  void add_merge_ids(int32_t left, int32_t right, int32_t rank, int32_t merged);

  // Appends the ids of `word` (already normalized and pre-tokenized) to `out`.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  const Vocab& vocab() const { return vocab_; }
  std::optional<int32_t> find(std::string_view token) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t merged;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  Vocab vocab_;
  BpeOptions options_;
  std::unordered_map<uint64_t, Merge> merges_;
  int32_t next_rank_ = 0;
  std::vector<int32_t> byte_tokens_;  // byte -> id of "<0xNN>", or -1

  static constexpr size_t kCacheMaxWordBytes = 256;
  static constexpr size_t kCacheMaxEntries = 1 << 16;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace tessera::tokenizer
