// BPE merging; see bpe_model.h. The merge loop mirrors the reference's Word::merge_all: a
// min-heap of candidate pairs keyed by (rank, position), stale entries skipped when popped.
#include "tokenizer/bpe_model.h"

#include <fmt/format.h>

#include <queue>

#include "common/check.h"

namespace tessera::tokenizer {

BpeModel::BpeModel(Vocab vocab, BpeOptions options)
    : vocab_(std::move(vocab)), options_(options), byte_tokens_(256, -1) {
  for (int b = 0; b < 256; ++b) {
    if (auto it = vocab_.find(fmt::format("<0x{:02X}>", b)); it != vocab_.end()) {
      byte_tokens_[b] = it->second;
    }
  }
}

std::optional<int32_t> BpeModel::find(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::add_merge(std::string_view left, std::string_view right) {
  const auto a = find(left), b = find(right);
  std::string merged(left);
  merged += right;
  const auto m = find(merged);
  TSR_CHECK(a && b && m, "BPE merge #{} '{} {}' refers to a token not in the vocabulary",
            next_rank_, left, right);
  merges_.try_emplace(pair_key(*a, *b), Merge{next_rank_, *m});
  ++next_rank_;
}

void BpeModel::add_merge_ids(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  merges_.try_emplace(pair_key(left, right), Merge{rank, merged});
  next_rank_ = std::max(next_rank_, rank + 1);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = find(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheMaxEntries) cache_.clear();
    cache_.try_emplace(std::string(word), out.begin() + static_cast<ptrdiff_t>(first), out.end());
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id) {
    const auto n = static_cast<int32_t>(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, true});
  };

  // Initial symbols: one per character, with the reference's handling of unknown characters
  // (byte fallback first, else the unknown token, fused over runs when asked, else dropped).
  int32_t pending_unk = -1;  // unknown-token id awaiting emission
  for (size_t i = 0; i < word.size();) {
    size_t len = 1;
    const auto lead = static_cast<unsigned char>(word[i]);
    if (lead >= 0xF0) {
      len = 4;
    } else if (lead >= 0xE0) {
      len = 3;
    } else if (lead >= 0xC0) {
      len = 2;
    }
    len = std::min(len, word.size() - i);
    const std::string_view ch = word.substr(i, len);
    i += len;
    if (auto id = find(ch)) {
      if (pending_unk >= 0) add(pending_unk), pending_unk = -1;
      add(*id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char c : ch) all = all && byte_tokens_[c] >= 0;
      if (all) {
        for (unsigned char c : ch) add(byte_tokens_[c]);
        continue;
      }
    }
    if (options_.unk_id) {
      if (pending_unk >= 0 && !options_.fuse_unk) add(pending_unk);
      pending_unk = *options_.unk_id;
    }
  }
  if (pending_unk >= 0) add(pending_unk);

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto lookup = [&](int32_t a, int32_t b) -> const Merge* {
    auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const Merge* m = lookup(symbols[i].id, symbols[i + 1].id)) {
      queue.push({m->rank, static_cast<int32_t>(i), m->merged});
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& cur = symbols[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    Symbol& right = symbols[cur.next];
    const Merge* m = lookup(cur.id, right.id);
    if (m == nullptr || m->merged != top.merged) continue;  // stale entry
    cur.id = top.merged;
    right.alive = false;
    cur.next = right.next;
    if (cur.next >= 0) symbols[cur.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (const Merge* pm = lookup(symbols[cur.prev].id, cur.id)) {
        queue.push({pm->rank, cur.prev, pm->merged});
      }
    }
    if (cur.next >= 0) {
      if (const Merge* nm = lookup(cur.id, symbols[cur.next].id)) {
        queue.push({nm->rank, top.pos, nm->merged});
      }
    }
  }
  for (const auto& s : symbols) {
    if (s.alive) out.push_back(s.id);
  }
}

}  // namespace tessera::tokenizer
