// The conformance suite's harness: loads one plugin with dlopen (no Tessera core linked),
// gives it the suite's own tsr_host_api, opens one device, and offers the helpers every
// test file uses: owned device tensors with guard bytes, dtype encoding, a seeded random
// source per test case, the normalized-error metric with per-dtype tolerances, and the
// registry of ops that have a test (checked against ops.def).
//
// Written by hand: the suite must share no code with the plugins it judges, so even the
// f16/bf16 conversions here are its own, not plugin.hpp's.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tessera/plugin.h"

namespace tsr::conformance {

// ---- command line and the loaded plugin -------------------------------------------------

struct Options {
  std::string plugin_path;
  int32_t device_index = 0;
  uint64_t seed = 0;
  std::map<std::string, std::string> plugin_options;  // --option key=value
};

Options& options();

// The plugin, its table and the one device the tests use. `skip_reason` is non-empty when
// the plugin loaded but cannot run here (no device, runtime unavailable): every test skips.
struct LoadedPlugin {
  void* handle = nullptr;
  const tsr_plugin_api* api = nullptr;
  std::string name;
  bool initialized = false;
  tsr_device_t device = nullptr;
  tsr_device_properties props{};
  std::string skip_reason;
};

LoadedPlugin& plugin();
const tsr_plugin_api& api();
tsr_device_t device();

// Loads, checks versions, initializes and opens the device. Returns a fatal error message
// (the file cannot be used at all), or "" on success / on a clean skip.
std::string load_plugin(const Options& opts);
void unload_plugin();

// ---- errors ------------------------------------------------------------------------------

// A plugin error taken over by the suite: code and message copied, the error destroyed.
struct Status {
  bool ok = true;
  tsr_error_code code = TSR_ERROR_CODE_OK;
  std::string message;
  bool well_formed = true;  // message non-empty and destroy non-NULL
};

Status take(tsr_error* error);
std::string code_name(tsr_error_code code);

// Fails the current test (fatally) when a plugin call returns an error.
#define TSR_ASSERT_OK(call)                                                                       \
  do {                                                                                            \
    const ::tsr::conformance::Status tsr_status_ = ::tsr::conformance::take(call);                \
    ASSERT_TRUE(tsr_status_.ok) << #call                                                          \
                                << " failed: " << ::tsr::conformance::code_name(tsr_status_.code) \
                                << ": " << tsr_status_.message;                                   \
  } while (0)

#define TSR_EXPECT_OK(call)                                                                       \
  do {                                                                                            \
    const ::tsr::conformance::Status tsr_status_ = ::tsr::conformance::take(call);                \
    EXPECT_TRUE(tsr_status_.ok) << #call                                                          \
                                << " failed: " << ::tsr::conformance::code_name(tsr_status_.code) \
                                << ": " << tsr_status_.message;                                   \
  } while (0)

// ---- dtypes ------------------------------------------------------------------------------

size_t dtype_bytes(tsr_dtype dtype);
const char* dtype_label(tsr_dtype dtype);
bool is_float_dtype(tsr_dtype dtype);
float bf16_bits_to_float(uint16_t bits);
uint16_t float_to_bf16_bits(float value);  // round to nearest even
float f16_bits_to_float(uint16_t bits);
uint16_t float_to_f16_bits(float value);  // round to nearest even
double fp8_e4m3_to_double(uint8_t bits);
// The value nearest to `value` that `dtype` can hold (floats: RNE; ints: truncation).
double round_to(tsr_dtype dtype, double value);

std::vector<uint8_t> encode(tsr_dtype dtype, const std::vector<double>& values);
std::vector<double> decode(tsr_dtype dtype, const std::vector<uint8_t>& bytes);

// The float activation dtypes the device claims, among F32, BF16, F16.
std::vector<tsr_dtype> activation_dtypes();

// ---- device memory ------------------------------------------------------------------------

// A stream owned by the test; synchronized and destroyed at scope exit.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  tsr_stream_t get() const { return stream_; }
  // Synchronizes; records a test failure when the plugin reports an error.
  void sync() const;

 private:
  tsr_stream_t stream_ = nullptr;
};

// A plugin buffer of `bytes` bytes of `kind`; freed at scope exit.
class Buffer {
 public:
  Buffer(size_t bytes, tsr_buffer_kind kind = TSR_BUFFER_KIND_DEVICE);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  tsr_buffer_t get() const { return buffer_; }
  size_t size() const { return bytes_; }
  bool ok() const { return buffer_ != nullptr; }
  void write(const Stream& s, size_t offset, const std::vector<uint8_t>& bytes) const;
  std::vector<uint8_t> read(const Stream& s, size_t offset, size_t bytes) const;

 private:
  tsr_buffer_t buffer_ = nullptr;
  size_t bytes_ = 0;
};

// A dense tensor inside a buffer with kGuardBytes of a known pattern on both sides; the
// guards are checked by check_guards() (and by the destructor of outputs).
class Tensor {
 public:
  static constexpr size_t kGuardBytes = 256;

  Tensor(const Stream& s, tsr_dtype dtype, std::vector<int64_t> shape, std::string name);
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  const tsr_tensor& view() const { return view_; }
  tsr_dtype dtype() const { return view_.dtype; }
  int64_t numel() const;
  size_t bytes() const { return numel() * dtype_bytes(view_.dtype); }
  const std::string& name() const { return name_; }

  void upload(const std::vector<double>& values) const;
  void upload_bytes(const std::vector<uint8_t>& bytes) const;
  std::vector<double> values() const;
  std::vector<uint8_t> raw() const;
  // Adds a test failure naming the tensor when anything outside it changed.
  void check_guards() const;

 private:
  const Stream& stream_;
  Buffer buffer_;
  tsr_tensor view_{};
  std::string name_;
};

// An absent optional tensor (buffer NULL).
tsr_tensor absent_tensor();

// ---- randomness -------------------------------------------------------------------------

// The generator of the running test case, seeded from --seed and the case's full name so
// one case can be rerun alone with the same inputs.
std::mt19937_64& rng();
void reseed_for_current_test();
std::vector<double> random_uniform(size_t n, double lo, double hi);
std::vector<double> random_normal(size_t n, double stddev = 1.0);
int64_t random_int(int64_t lo, int64_t hi);  // inclusive

// `values` rounded to what `dtype` holds.
std::vector<double> rounded(tsr_dtype dtype, std::vector<double> values);

// ---- comparison ---------------------------------------------------------------------------

// TESSERA_CONFORMANCE_VERBOSE is set: print every case's error metric (and plugin debug logs).
bool verbose();
// ||v|| over the finite entries of v.
double finite_norm(const std::vector<double>& v);
// ||out - ref|| / ||ref|| over positions where ref is finite (||out - ref|| when ||ref|| is 0).
double normalized_error(const std::vector<double>& out, const std::vector<double>& ref);
// Tolerance of normalized error for results computed in `dtype`.
double tolerance(tsr_dtype dtype);
// Non-finite agreement (NaN where ref is NaN, the same Inf where ref is Inf, finite where
// ref is finite) and normalized error <= tol.
::testing::AssertionResult close(const std::vector<double>& out, const std::vector<double>& ref,
                                 double tol);

// ---- ops ------------------------------------------------------------------------------------

const char* op_name(tsr_op_id op);
// The op's function pointer is set and op_supported(device, op, NULL) answers 1.
bool op_available(tsr_op_id op);
// op_supported for these exact params.
bool op_supported_for(tsr_op_id op, const void* params);

// Every test fixture derives from this: skips when the plugin has no device, reseeds.
class ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

#define TSR_REQUIRE_OP(op)                                                                    \
  do {                                                                                        \
    if (!::tsr::conformance::op_available(op))                                                \
      GTEST_SKIP() << "op " << ::tsr::conformance::op_name(op) << " not supported by plugin " \
                   << ::tsr::conformance::plugin().name;                                      \
  } while (0)

// Cases of one test that op_supported declined: reported, and when no case ran at all the
// test is skipped with the list instead of passing silently.
class CaseSkips {
 public:
  explicit CaseSkips(tsr_op_id op) : op_(op) {}
  void ran() { ++ran_; }
  void declined(const std::string& what) { declined_.push_back(what); }
  bool nothing_ran() const { return ran_ == 0; }
  std::string summary() const;  // "op X declined by plugin P for: a; b"

 private:
  tsr_op_id op_;
  int ran_ = 0;
  std::vector<std::string> declined_;
};

#define TSR_FINISH_CASES(skips)                                                           \
  do {                                                                                    \
    if ((skips).nothing_ran()) GTEST_SKIP() << (skips).summary();                         \
    if (!(skips).summary().empty()) std::printf("note: %s\n", (skips).summary().c_str()); \
  } while (0)

// An expected error: the call failed with one of `codes` and a well-formed error.
::testing::AssertionResult failed_with(const Status& st,
                                       std::initializer_list<tsr_error_code> codes);

// Registry of ops that have a test; Coverage.EveryOpOfOpsDefHasATest compares it with
// ops.def. A test file declares TSR_CONFORMANCE_COVERS(add) once per op it tests.
bool register_covered_op(const char* name);
const std::vector<std::string>& covered_ops();
#define TSR_CONFORMANCE_CONCAT_(a, b) a##b
#define TSR_CONFORMANCE_COVERS(lower)                         \
  static const bool TSR_CONFORMANCE_CONCAT_(covers_, lower) = \
      ::tsr::conformance::register_covered_op(#lower)

}  // namespace tsr::conformance
