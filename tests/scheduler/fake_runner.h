// FakeRunner: a device-free stand-in for the model runner in scheduler tests. It keeps, for
// every device and host block slot, which (token id, position) it holds, applies a plan
// exactly as a runner would (swap_out, swap_in, copies, then the forward's KV writes) and
// checks that each scheduled request's block table holds precisely its token history. Wrong
// copy, swap or prefix-cache plans show up as a mismatch. Like the model runner it keeps each
// request's block table by handle and patches it with the plan's deltas; the patched table
// must equal the KV manager's, so a wrong delta shows up too.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "scheduler/scheduler.h"

namespace tessera::sched::testing {

class FakeRunner {
 public:
  FakeRunner(int num_blocks, int num_host_blocks, int block_size)
      : bs_(block_size),
        device_(static_cast<std::size_t>(num_blocks), Block(static_cast<std::size_t>(block_size))),
        host_(static_cast<std::size_t>(num_host_blocks),
              Block(static_cast<std::size_t>(block_size))) {}

  // Applies `plan`; returns "" or the first mismatch found.
  std::string apply(const SchedulerOutput& plan, const Scheduler& sched) {
    for (RequestHandle h : plan.finished_handles) tables_.erase(h);
    for (const auto& s : plan.scheduled) {
      std::vector<BlockId>& table = tables_[s.handle];
      if (s.num_kept_blocks < 0 || static_cast<std::size_t>(s.num_kept_blocks) > table.size())
        return "request " + s.id + " keeps " + std::to_string(s.num_kept_blocks) + " of " +
               std::to_string(table.size()) + " blocks";
      table.resize(idx(s.num_kept_blocks));
      table.insert(table.end(), s.new_block_ids.begin(), s.new_block_ids.end());
      if (table != sched.kv_cache().block_table(s.id))
        return "the delta-patched block table of " + s.id + " differs from the KV manager's";
    }
    for (const auto& p : plan.swap_out) host_.at(idx(p.dst)) = device_.at(idx(p.src));
    for (const auto& p : plan.swap_in) device_.at(idx(p.dst)) = host_.at(idx(p.src));
    for (const auto& p : plan.copies) device_.at(idx(p.dst)) = device_.at(idx(p.src));
    for (BlockId b : plan.new_blocks) {
      // New blocks that are not copy or swap targets start as garbage: poison them.
      bool filled = false;
      for (const auto& p : plan.copies) filled |= p.dst == b;
      for (const auto& p : plan.swap_in) filled |= p.dst == b;
      if (!filled) device_.at(idx(b)).assign(static_cast<std::size_t>(bs_), Slot{-7, -7});
    }
    // Everything before a request's start must already be in its blocks.
    for (const auto& s : plan.scheduled) {
      std::string err = verify(s, sched, s.start_position);
      if (!err.empty()) return "before forward: " + err;
      const Request* r = sched.find(s.id);
      for (int i = 0; i < s.num_tokens; ++i) {
        if (s.token_ids[idx(i)] != r->token_ids[idx(s.start_position + i)])
          return "input id mismatch for " + s.id;
      }
    }
    // KV writes go only to blocks this request holds alone and that no cache entry names,
    // even when the value written would be the same.
    const auto& pool = sched.kv_cache().pool();
    for (const auto& s : plan.scheduled) {
      for (int i = 0; i < s.num_tokens; ++i) {
        int pos = s.start_position + i;
        BlockId b = table_of(s).at(idx(pos / bs_));
        if (pool.ref_count(b) != 1 || pool.is_registered(b))
          return "request " + s.id + " writes position " + std::to_string(pos) +
                 " into shared or cached block " + std::to_string(b);
        slot(table_of(s), pos) = Slot{s.token_ids[idx(i)], pos};
      }
    }
    // After all writes, no request may see another's tokens (shared blocks are never written).
    for (const auto& s : plan.scheduled) {
      std::string err = verify(s, sched, s.start_position + s.num_tokens);
      if (!err.empty()) return "after forward: " + err;
    }
    return "";
  }

 private:
  struct Slot {
    TokenId token = -1;
    int pos = -1;
  };
  using Block = std::vector<Slot>;

  template <typename T>
  static std::size_t idx(T v) {
    return static_cast<std::size_t>(v);
  }

  Slot& slot(const std::vector<BlockId>& table, int pos) {
    return device_.at(idx(table.at(idx(pos / bs_)))).at(idx(pos % bs_));
  }

  std::string verify(const ScheduledRequest& s, const Scheduler& sched, int upto) {
    const Request* r = sched.find(s.id);
    if (!r) return "scheduled request " + s.id + " is unknown";
    const std::vector<BlockId>& table = table_of(s);
    if (static_cast<int>(table.size()) * bs_ < s.start_position + s.num_tokens)
      return "block table of " + s.id + " too short";
    for (int pos = 0; pos < upto; ++pos) {
      const Slot& got = slot(table, pos);
      if (got.pos != pos || got.token != r->token_ids[idx(pos)])
        return "request " + s.id + " position " + std::to_string(pos) + " holds (" +
               std::to_string(got.token) + ", " + std::to_string(got.pos) + "), expected (" +
               std::to_string(r->token_ids[idx(pos)]) + ", " + std::to_string(pos) + ")";
    }
    return "";
  }

  const std::vector<BlockId>& table_of(const ScheduledRequest& s) { return tables_[s.handle]; }

  int bs_;
  std::map<RequestHandle, std::vector<BlockId>> tables_;  // patched by the plans' deltas
  std::vector<Block> device_;
  std::vector<Block> host_;
};

}  // namespace tessera::sched::testing
