// Engine flags shared by `generate`, `serve`, `bench` and `plan`, spelled as vLLM spells
// them (--max-num-seqs, --max-num-batched-tokens, --gpu-memory-utilization, …), plus
// --config FILE: a YAML file with any option of the command (config_file.h), which flags on
// the command line override; parse_command_line merges it.
#pragma once

#include <boost/program_options.hpp>
#include <string>

#include "tessera/engine_config.h"

namespace tessera::cli {

boost::program_options::options_description engine_options();

// Fills an EngineConfig from parsed flags (--config already merged). Resolves a missing --model to
// the embedded default model (and sets *is_default). Throws UsageError on bad values.
EngineConfig engine_config_from(const boost::program_options::variables_map& vm, bool* is_default);

// Where the embedded random tiny model lives: <exe>/../share/tessera/default-model. Empty
// when it was not built.
std::string default_model_path();

// The model `serve`, `generate` and `bench` use without --model: SmolLM2-135M-Instruct (Q4_1
// GGUF, <exe>/../share/tessera/) when scripts/install-deps.sh could fetch it, otherwise the
// random tiny model. TESSERA_DEFAULT_MODEL=random forces the tiny model (the tests do), any
// other value is the path of the model to use.
struct DefaultModel {
  std::string path;    // empty when nothing usable was built
  bool real = false;   // a trained model, not the random tiny one
  std::string banner;  // the one line the CLI prints about it
};
const DefaultModel& default_model();

// A progress bar on stderr for weight loading (a line per 10% when stderr is not a TTY).
class LoadProgressBar {
 public:
  void operator()(uint64_t done, uint64_t total);

 private:
  int last_percent_ = -1;
};

}  // namespace tessera::cli
