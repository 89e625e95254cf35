// oneDNN matmul for dense weights (see linear_onednn.h). Primitives use a user-managed
// scratchpad (a thread-local byte vector) so one primitive can run concurrently on several
// host threads whatever DNNL_ENABLE_CONCURRENT_EXEC the library was built with.
#include "linear_onednn.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cpu_internal.h"

namespace tsr::cpu {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

std::once_flag g_engine_once;
dnnl::engine* g_engine = nullptr;

dnnl::engine& engine() {
  onednn_init();
  return *g_engine;
}

// Primitive-cache bound for the per-M fallback; beyond it the cache starts over.
constexpr size_t kMaxPerMPrimitives = 64;

dnnl::primitive_attr make_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::matmul::primitive_desc make_pd(int64_t m, int64_t n, int64_t k, dt src_type,
                                     const dnnl::memory::desc& weights) {
  const dnnl::memory::desc src({m, k}, src_type, tag::ab);
  const dnnl::memory::desc dst({m, n}, dt::f32, tag::ab);
  const dnnl::matmul::desc desc(src, weights, dst);
  return dnnl::matmul::primitive_desc(desc, make_attr(), engine());
}

bool is_reference(const dnnl::matmul::primitive_desc& pd) {
  return std::strncmp(pd.impl_info_str(), "ref", 3) == 0;
}

}  // namespace

void onednn_init() {
  std::call_once(g_engine_once, [] { g_engine = new dnnl::engine(dnnl::engine::kind::cpu, 0); });
}

const char* onednn_cpu_runtime() {
  switch (dnnl_version()->cpu_runtime) {
    case DNNL_RUNTIME_OMP:
      return "omp";
    case DNNL_RUNTIME_TBB:
      return "tbb";
    case DNNL_RUNTIME_SEQ:
      return "seq";
    case DNNL_RUNTIME_THREADPOOL:
      return "threadpool";
    default:
      return "other";
  }
}

std::string onednn_version_string() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " (git " + (v->hash != nullptr ? v->hash : "unknown") +
         "), cpu runtime " + onednn_cpu_runtime();
}

struct OnednnGemm::Impl {
  int64_t n = 0;
  int64_t k = 0;
  dt src_type = dt::f32;
  dnnl::memory::desc weights_md;
  dnnl::memory weights;
  bool runtime_m = false;
  dnnl::matmul::primitive_desc pd;  // run-time M (when runtime_m)
  dnnl::matmul primitive;
  std::string impl_name;
  mutable std::mutex mutex;  // guards per_m
  mutable std::map<int64_t, std::pair<dnnl::matmul, size_t>> per_m;

  // Picks the weight layout and, when possible, a run-time-M primitive for `type`.
  bool plan(dt type) {
    const dnnl::memory::desc any({k, n}, type, tag::any);
    try {
      pd = make_pd(DNNL_RUNTIME_DIM_VAL, n, k, type, any);
      runtime_m = true;
    } catch (const dnnl::error&) {
      runtime_m = false;
      try {
        pd = make_pd(64, n, k, type, any);
      } catch (const dnnl::error&) {
        return false;
      }
    }
    if (type != dt::f32 && is_reference(pd)) return false;
    src_type = type;
    weights_md = pd.weights_desc();
    impl_name = pd.impl_info_str();
    if (runtime_m) primitive = dnnl::matmul(pd);
    return true;
  }
};

OnednnGemm::OnednnGemm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnednnGemm::~OnednnGemm() = default;

std::unique_ptr<OnednnGemm> OnednnGemm::create_bf16(const float* w, int64_t n, int64_t k) {
  auto impl = std::make_unique<Impl>();
  impl->n = n;
  impl->k = k;
  // Planned before the weight is reordered, so a CPU without a bf16 kernel costs nothing.
  if (!impl->plan(dt::bf16)) return nullptr;
  // The canonical weight is [n][k] row-major, i.e. the {k, n} matrix in "ba" order.
  const dnnl::memory::desc plain({k, n}, dt::f32, tag::ba);
  dnnl::memory source(plain, engine(), const_cast<float*>(w));
  impl->weights = dnnl::memory(impl->weights_md, engine());
  dnnl::stream stream(engine());
  dnnl::reorder(source, impl->weights).execute(stream, source, impl->weights);
  stream.wait();
  return std::unique_ptr<OnednnGemm>(new OnednnGemm(std::move(impl)));
}

bool OnednnGemm::bf16() const {
  return impl_->src_type == dt::bf16;
}

uint64_t OnednnGemm::bytes() const {
  return impl_->weights_md.get_size();
}

std::string OnednnGemm::describe() const {
  return impl_->impl_name + (bf16() ? " bf16" : " f32") +
         (impl_->runtime_m ? " runtime-M" : " per-M");
}

void OnednnGemm::run(const void* src, int64_t m, float* dst) const {
  if (m == 0) return;
  const Impl& s = *impl_;
  dnnl::matmul primitive;
  size_t scratch_bytes = 0;
  if (s.runtime_m) {
    primitive = s.primitive;
    scratch_bytes = s.pd.scratchpad_desc().get_size();
  } else {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.per_m.find(m);
    if (it == s.per_m.end()) {
      if (s.per_m.size() >= kMaxPerMPrimitives) s.per_m.clear();
      const auto pd = make_pd(m, s.n, s.k, s.src_type, s.weights_md);
      it = s.per_m.emplace(m, std::make_pair(dnnl::matmul(pd), pd.scratchpad_desc().get_size()))
               .first;
    }
    primitive = it->second.first;
    scratch_bytes = it->second.second;
  }
  thread_local std::vector<unsigned char> scratchpad;
  if (scratchpad.size() < scratch_bytes) scratchpad.resize(scratch_bytes);
  thread_local dnnl::stream stream(engine());
  const dnnl::memory src_mem({{m, s.k}, s.src_type, tag::ab}, engine(), const_cast<void*>(src));
  const dnnl::memory dst_mem({{m, s.n}, dt::f32, tag::ab}, engine(), dst);
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, s.weights}, {DNNL_ARG_DST, dst_mem}};
  if (scratch_bytes > 0) {
    args.emplace(DNNL_ARG_SCRATCHPAD,
                 dnnl::memory({{static_cast<int64_t>(scratch_bytes)}, dt::u8, tag::a}, engine(),
                              scratchpad.data()));
  }
  primitive.execute(stream, args);
  stream.wait();
}

}  // namespace tsr::cpu
