// validate_request: every refusal is kInvalidArgument and names the request field at fault,
// which the server reports as the OpenAI `param`; the context is the smaller of
// max_model_len and the KV capacity. Also the kinds of the check macros.
#include <gtest/gtest.h>

#include <vector>

#include "common/check.h"
#include "tessera/validate_request.h"

namespace {

using namespace tessera;

RequestLimits limits() {
  RequestLimits l;
  l.max_model_len = 64;
  l.kv_tokens = 48;  // the smaller one is the context
  l.vocab_size = 100;
  l.max_logprobs = 5;
  return l;
}

// The field of the error validate_request throws; "" when it accepts the request.
std::string refused_field(const std::vector<int32_t>& prompt, const SamplingParams& params) {
  try {
    validate_request(prompt, params, limits());
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()), "");
    return e.field().empty() ? "<no field>" : e.field();
  }
  return "";
}

SamplingParams with_max_tokens(int n) {
  SamplingParams p;
  p.max_tokens = n;
  return p;
}

TEST(ValidateRequest, AcceptsARequestThatFitsExactly) {
  EXPECT_EQ(limits().context(), 48);
  EXPECT_EQ(refused_field(std::vector<int32_t>(40, 1), with_max_tokens(8)), "");
}

TEST(ValidateRequest, NamesThePromptOrMaxTokens) {
  EXPECT_EQ(refused_field({}, with_max_tokens(1)), "prompt");
  EXPECT_EQ(refused_field({1, 100}, with_max_tokens(1)), "prompt");
  EXPECT_EQ(refused_field({-1}, with_max_tokens(1)), "prompt");
  EXPECT_EQ(refused_field(std::vector<int32_t>(48, 1), with_max_tokens(1)), "prompt");
  EXPECT_EQ(refused_field(std::vector<int32_t>(40, 1), with_max_tokens(9)), "max_tokens");
}

TEST(ValidateRequest, NamesEachSamplingField) {
  const std::vector<int32_t> prompt = {1, 2, 3};
  auto field_of = [&](auto&& change) {
    SamplingParams p = with_max_tokens(4);
    change(p);
    return refused_field(prompt, p);
  };
  EXPECT_EQ(field_of([](SamplingParams& p) { p.max_tokens = 0; }), "max_tokens");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.min_tokens = 5; }), "min_tokens");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.temperature = -1; }), "temperature");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.top_p = 0; }), "top_p");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.top_k = -2; }), "top_k");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.min_p = 1.5f; }), "min_p");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.repetition_penalty = 0; }), "repetition_penalty");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.presence_penalty = 3; }), "presence_penalty");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.frequency_penalty = -3; }), "frequency_penalty");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.logprobs = 6; }), "logprobs");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.stop.assign(17, "x"); }), "stop");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.logprobs = 5; }), "");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.prompt_logprobs = 6; }), "prompt_logprobs");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.prompt_logprobs = -1; }), "prompt_logprobs");
  EXPECT_EQ(field_of([](SamplingParams& p) { p.prompt_logprobs = 5; }), "");
}

// Under tensor parallelism the engine says so (RequestLimits::prompt_logprobs_supported).
TEST(ValidateRequest, PromptLogprobsRefusedWhereUnsupported) {
  RequestLimits l = limits();
  l.prompt_logprobs_supported = false;
  SamplingParams p = with_max_tokens(4);
  EXPECT_NO_THROW(validate_request(std::vector<int32_t>{1, 2}, p, l));
  p.prompt_logprobs = 0;
  try {
    validate_request(std::vector<int32_t>{1, 2}, p, l);
    ADD_FAILURE() << "accepted prompt_logprobs without support";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "prompt_logprobs");
    EXPECT_NE(std::string(e.what()).find("tensor-parallel"), std::string::npos) << e.what();
  }
}

TEST(CheckMacros, InputErrorsNameTheFieldAndInvariantsAreInternal) {
  try {
    TSR_CHECK_INPUT(false, "top_k", "bad {}", 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(e.field(), "top_k");
    EXPECT_STREQ(e.what(), "bad 1");
  }
  try {
    TSR_INVARIANT(1 + 1 == 3, "arithmetic {}", "broke");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_EQ(e.field(), "");
  }
}

}  // namespace
