// Buffers (64-byte aligned host memory for both DEVICE and HOST_PINNED kinds) and copies.
// Copies run synchronously at enqueue, like every op of this plugin.
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "api_functions.h"
#include "cpu_internal.h"
#include "parallel.h"

namespace tsr::cpu {

tsr_buffer_s* check_buffer(tsr_buffer_t buffer, const char* what) {
  TSR_PLUGIN_CHECK_ARG(buffer != nullptr && buffer->magic == kBufferMagic,
                       "%s: not a valid cpu buffer handle", what);
  return buffer;
}

void check_range(const tsr_buffer_s* buffer, size_t offset, size_t bytes, const char* what) {
  TSR_PLUGIN_CHECK_ARG(offset <= buffer->bytes && bytes <= buffer->bytes - offset,
                       "%s: %zu bytes at offset %zu exceed the buffer's %zu bytes", what, bytes,
                       offset, buffer->bytes);
}

namespace {

// Large buffers (the KV cache, swap space) ask for transparent huge pages where the kernel
// leaves that to madvise: 512 times fewer page faults when the engine writes the cache at
// start, and fewer TLB misses when attention walks it. A hint only; failure changes nothing.
constexpr size_t kHugePageMinBytes = size_t{32} << 20;
constexpr size_t kPageBytes = 4096;

void advise_huge_pages(void* data, size_t bytes) {
  if (bytes < kHugePageMinBytes) return;
  const auto begin = (reinterpret_cast<uintptr_t>(data) + kPageBytes - 1) / kPageBytes * kPageBytes;
  const auto end = (reinterpret_cast<uintptr_t>(data) + bytes) / kPageBytes * kPageBytes;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

// memset, spread over the plugin's pool above a few MiB (a multi-GiB cache is written once at
// start; one thread would take seconds to fault it in).
void fill_bytes(char* dst, int value, size_t bytes) {
  constexpr size_t kChunk = size_t{2} << 20;
  if (bytes < 4 * kChunk) {
    std::memset(dst, value, bytes);
    return;
  }
  const auto chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
  parallel_for(chunks, [&](int64_t c) {
    const size_t begin = static_cast<size_t>(c) * kChunk;
    std::memset(dst + begin, value, std::min(kChunk, bytes - begin));
  });
}

}  // namespace

}  // namespace tsr::cpu

namespace tsr::plugin {

BufferExtent buffer_extent(tsr_buffer_t buffer, const char* field) {
  const tsr_buffer_s* b = tsr::cpu::check_buffer(buffer, field);
  return {b->data, b->bytes};
}

}  // namespace tsr::plugin

namespace tsr::cpu {

namespace api {

tsr_error* buffer_alloc(tsr_device_t device, size_t bytes, tsr_buffer_kind kind,
                        tsr_buffer_t* out) {
  return tsr::sdk::guard([&] {
    tsr_device_s* d = check_device(device, "buffer_alloc");
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "buffer_alloc: out is NULL");
    TSR_PLUGIN_CHECK_ARG(kind == TSR_BUFFER_KIND_DEVICE || kind == TSR_BUFFER_KIND_HOST_PINNED,
                         "buffer_alloc: kind %d is not a buffer kind", static_cast<int>(kind));
    TSR_PLUGIN_CHECK(bytes <= (size_t{1} << 50), TSR_ERROR_CODE_RESOURCE_EXHAUSTED,
                     "buffer_alloc: %zu bytes is more than this host can hold", bytes);
    // aligned_alloc needs a size that is a multiple of the alignment; zero bytes still get
    // a real allocation so the handle has a valid, unique address.
    const size_t rounded =
        bytes == 0 ? kBufferAlignment
                   : (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
    void* data = std::aligned_alloc(kBufferAlignment, rounded);
    TSR_PLUGIN_CHECK(data != nullptr, TSR_ERROR_CODE_RESOURCE_EXHAUSTED,
                     "buffer_alloc: out of host memory allocating %zu bytes", bytes);
    advise_huge_pages(data, rounded);
    auto* b = new (std::nothrow) tsr_buffer_s();
    if (b == nullptr) {
      std::free(data);
      throw std::bad_alloc();
    }
    b->device = d;
    b->kind = kind;
    b->bytes = bytes;
    b->data = data;
    d->live.fetch_add(1);
    *out = b;
  });
}

tsr_error* buffer_free(tsr_buffer_t buffer) {
  return tsr::sdk::guard([&] {
    tsr_buffer_s* b = check_buffer(buffer, "buffer_free");
    b->device->live.fetch_sub(1);
    std::free(b->data);
    b->magic = kDeadMagic;
    delete b;
  });
}

tsr_error* buffer_host_ptr(tsr_buffer_t buffer, void** out) {
  return tsr::sdk::guard([&] {
    tsr_buffer_s* b = check_buffer(buffer, "buffer_host_ptr");
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "buffer_host_ptr: out is NULL");
    *out = b->data;
  });
}

tsr_error* memcpy_h2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, const void* src,
                      size_t bytes) {
  return tsr::sdk::guard([&] {
    refuse_during_capture(check_stream(stream, "memcpy_h2d: stream"), "memcpy_h2d");
    tsr_buffer_s* d = check_buffer(dst, "memcpy_h2d: dst");
    check_range(d, dst_offset, bytes, "memcpy_h2d: dst");
    TSR_PLUGIN_CHECK_ARG(src != nullptr || bytes == 0, "memcpy_h2d: src is NULL");
    if (bytes > 0) std::memmove(static_cast<char*>(d->data) + dst_offset, src, bytes);
  });
}

tsr_error* memcpy_d2h(tsr_stream_t stream, void* dst, tsr_buffer_t src, size_t src_offset,
                      size_t bytes) {
  return tsr::sdk::guard([&] {
    refuse_during_capture(check_stream(stream, "memcpy_d2h: stream"), "memcpy_d2h");
    tsr_buffer_s* s = check_buffer(src, "memcpy_d2h: src");
    check_range(s, src_offset, bytes, "memcpy_d2h: src");
    TSR_PLUGIN_CHECK_ARG(dst != nullptr || bytes == 0, "memcpy_d2h: dst is NULL");
    if (bytes > 0) std::memmove(dst, static_cast<const char*>(s->data) + src_offset, bytes);
  });
}

tsr_error* memcpy_d2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, tsr_buffer_t src,
                      size_t src_offset, size_t bytes) {
  return tsr::sdk::guard([&] {
    tsr_stream_s* st = check_stream(stream, "memcpy_d2d: stream");
    tsr_buffer_s* d = check_buffer(dst, "memcpy_d2d: dst");
    tsr_buffer_s* s = check_buffer(src, "memcpy_d2d: src");
    check_range(d, dst_offset, bytes, "memcpy_d2d: dst");
    check_range(s, src_offset, bytes, "memcpy_d2d: src");
    auto copy = [d, s, dst_offset, src_offset, bytes] {
      if (bytes > 0) {
        std::memmove(static_cast<char*>(d->data) + dst_offset,
                     static_cast<const char*>(s->data) + src_offset, bytes);
      }
    };
    if (st->capturing != nullptr) {
      st->capturing->steps.push_back(copy);
    } else {
      copy();
    }
  });
}

tsr_error* memset_d(tsr_stream_t stream, tsr_buffer_t dst, size_t offset, int value, size_t bytes) {
  return tsr::sdk::guard([&] {
    tsr_stream_s* st = check_stream(stream, "memset_d: stream");
    tsr_buffer_s* d = check_buffer(dst, "memset_d: dst");
    check_range(d, offset, bytes, "memset_d: dst");
    auto fill = [d, offset, value, bytes] {
      if (bytes > 0) fill_bytes(static_cast<char*>(d->data) + offset, value, bytes);
    };
    if (st->capturing != nullptr) {
      st->capturing->steps.push_back(fill);
    } else {
      fill();
    }
  });
}

}  // namespace api
}  // namespace tsr::cpu
