#include "engine/runner_commands.h"

#include <cstring>

#include "common/check.h"

namespace tessera::engine {

namespace {

class Writer {
 public:
  template <class T>
  void value(const T& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  template <class T>
  void values(const std::vector<T>& v) {
    value<uint64_t>(v.size());
    const auto* p = reinterpret_cast<const uint8_t*>(v.data());
    bytes.insert(bytes.end(), p, p + v.size() * sizeof(T));
  }
  std::vector<uint8_t> bytes;
};

class Reader {
 public:
  explicit Reader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  template <class T>
  T value() {
    T v;
    take(&v, sizeof(T));
    return v;
  }
  template <class T>
  void values(std::vector<T>& v) {
    const auto n = value<uint64_t>();
    TSR_INVARIANT(n <= (bytes_.size() - at_) / sizeof(T), "runner command: {} values overrun", n);
    v.resize(n);
    take(v.data(), n * sizeof(T));
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  void take(void* out, size_t n) {
    TSR_INVARIANT(at_ + n <= bytes_.size(), "runner command: truncated ({} bytes)", bytes_.size());
    if (n > 0) std::memcpy(out, bytes_.data() + at_, n);
    at_ += n;
  }
  const std::vector<uint8_t>& bytes_;
  size_t at_ = 0;
};

}  // namespace

std::vector<uint8_t> encode(const RunnerCommand& c) {
  Writer w;
  w.value(c.kind);
  w.value(c.count);
  w.values(c.pairs);
  const ForwardBatch& b = c.batch;
  w.values(b.input_ids);
  w.values(b.positions);
  w.values(b.slot_mapping);
  w.values(b.query_start_loc);
  w.values(b.seq_lens);
  w.values(b.block_tables);
  w.values(b.logits_indices);
  w.value(b.max_blocks_per_seq);
  return std::move(w.bytes);
}

RunnerCommand decode(const std::vector<uint8_t>& bytes) {
  Reader r(bytes);
  RunnerCommand c;
  c.kind = r.value<RunnerCommand::Kind>();
  TSR_INVARIANT(c.kind <= RunnerCommand::Kind::kStop, "runner command: unknown kind {}",
                static_cast<int>(c.kind));
  c.count = r.value<int64_t>();
  r.values(c.pairs);
  ForwardBatch& b = c.batch;
  r.values(b.input_ids);
  r.values(b.positions);
  r.values(b.slot_mapping);
  r.values(b.query_start_loc);
  r.values(b.seq_lens);
  r.values(b.block_tables);
  r.values(b.logits_indices);
  b.max_blocks_per_seq = r.value<int32_t>();
  TSR_INVARIANT(r.done(), "runner command: {} trailing bytes", bytes.size());
  return c;
}

}  // namespace tessera::engine
