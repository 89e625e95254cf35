// `tessera tune`: finds engine settings that raise the knee (the highest request rate meeting
// an SLO) for one model on this machine. Each candidate is checked with `tessera plan` (a
// setting that does not fit is never started), served by a fresh `tessera serve --config`,
// and measured with the load sweep of `tessera bench serve --sweep`; the search is coordinate
// descent (tools/bench/tune_search.h says why). At the end the defaults and the best setting
// are measured again, side by side, and the results go to --output-dir: tuned.yaml (a
// --config file), report.md (defaults vs tuned, every candidate) and the sweeps' SVG plots.
#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include <fmt/format.h>

#include "child_process.h"
#include "command.h"
#include "tessera/check.h"
#include "tessera/plugins.h"
#include "common_options.h"
#include "engine_options.h"
#include "serve_bench.h"
#include "serve_sweep.h"
#include "sweep_point.h"
#include "sweep_plot.h"
#include "tessera/tokenizer.h"
#include "tune_search.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace tessera::cli {

namespace {

using Clock = std::chrono::steady_clock;
using bench::Evaluation;
using bench::Settings;

// "30m", "90s", "1h", "45" (minutes) -> seconds.
double parse_duration(const std::string& text) {
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    const std::string unit = text.substr(used);
    const double scale = unit == "s"                   ? 1
                         : unit == "m" || unit.empty() ? 60
                         : unit == "h"                 ? 3600
                                                       : -1;
    if (scale > 0 && value > 0) return value * scale;
  } catch (const std::exception&) {
  }
  throw UsageError("--budget: '" + text + "' is not a duration such as 90s, 30m or 1h");
}

std::string tessera_binary() {
  return boost::dll::program_location().string();
}

// The engine and loader flags the user gave (not defaulted), as settings every candidate
// keeps. Switches become "true".
Settings fixed_settings(const po::variables_map& vm, const po::options_description& given) {
  Settings fixed;
  for (const auto& option : given.options()) {
    const std::string& name = option->long_name();
    if (name == "config" || !vm.count(name) || vm[name].defaulted()) continue;
    const auto& any = vm[name].value();
    if (auto* s = boost::any_cast<std::string>(&any)) {
      fixed[name] = *s;
    } else if (auto* i = boost::any_cast<int>(&any)) {
      fixed[name] = std::to_string(*i);
    } else if (auto* d = boost::any_cast<double>(&any)) {
      fixed[name] = fmt::format("{}", *d);
    } else if (auto* b = boost::any_cast<bool>(&any)) {
      fixed[name] = *b ? "true" : "false";
    } else if (auto* u = boost::any_cast<uint64_t>(&any)) {
      fixed[name] = std::to_string(*u);
    } else if (auto* l = boost::any_cast<int64_t>(&any)) {
      fixed[name] = std::to_string(*l);
    } else if (any.empty()) {
      fixed[name] = "true";
    } else {
      throw UsageError("--" + name +
                       " cannot be passed through `tessera tune` yet (lists are "
                       "not); set it with TESSERA_PLUGIN_PATH / TESSERA_PLUGIN_OPT_*");
    }
  }
  return fixed;
}

void write_config(const std::string& path, const Settings& settings, const std::string& comment) {
  YAML::Emitter out;
  out << YAML::Comment(comment) << YAML::BeginMap;
  for (const auto& [key, value] : settings) out << YAML::Key << key << YAML::Value << value;
  out << YAML::EndMap;
  std::ofstream file(path);
  file << out.c_str() << "\n";
  TSR_CHECK(file.good(), "cannot write {}", path);
}

std::string describe(const Settings& settings, const Settings& defaults) {
  std::string out;
  for (const auto& [key, value] : settings) {
    auto it = defaults.find(key);
    if (it != defaults.end() && it->second == value) continue;
    out += (out.empty() ? "" : ", ") + key + "=" + value;
  }
  return out.empty() ? "defaults" : out;
}

struct Tuner {
  po::variables_map vm;
  Settings fixed;     // the user's engine flags
  Settings defaults;  // the tuned keys' default values
  bench::SweepOptions sweep;
  bench::ServeBenchOptions bench_options;
  std::vector<bench::BenchRequest> requests;  // the most a run sends
  double run_seconds = 10;
  size_t min_requests = 20;
  std::string model;  // for `tessera plan`
  fs::path out_dir;
  Clock::time_point started = Clock::now();
  double budget_s = 1800;
  double slowest_eval_s = 0;
  int num_evals = 0;
  int counter = 0;

  Settings full(const Settings& tuned) const {
    Settings all = fixed;
    for (const auto& [k, v] : tuned) all[k] = v;
    return all;
  }

  double elapsed() const { return std::chrono::duration<double>(Clock::now() - started).count(); }

  // Another candidate may start if it and the final re-run of defaults and best still fit,
  // each taking as long as the slowest evaluation so far.
  bool has_budget() const {
    if (runtime::cancel_requested()) return false;  // Ctrl-C: finish with what was measured
    const double per_eval = num_evals ? slowest_eval_s : 60;
    return elapsed() + 3 * per_eval <= budget_s;
  }

  // `tessera plan` with the candidate's memory settings: "" when it fits, else why not.
  std::string plan_refusal(const Settings& s) const {
    std::vector<std::string> argv = {tessera_binary(), "plan", "--model", model};
    for (const char* key : {"block-size", "max-num-seqs", "max-num-batched-tokens", "max-model-len",
                            "gpu-memory-utilization", "kv-cache-memory", "device", "quantization",
                            "load-in-low-bit"}) {
      if (auto it = s.find(key); it != s.end())
        argv.push_back("--" + std::string(key) + "=" + it->second);
    }
    ChildProcess plan(argv);
    const int status = plan.wait();
    if (status == 0) return "";
    const std::string& text = plan.output();
    return fmt::format("tessera plan says it does not fit (exit {}): {}", status,
                       text.substr(text.size() > 300 ? text.size() - 300 : 0));
  }

  Evaluation evaluate(const Settings& tuned, const std::string& label) {
    const auto t0 = Clock::now();
    Evaluation e;
    e.settings = tuned;
    const Settings all = full(tuned);
    const std::string name = fmt::format("{:02d}-{}", ++counter, label);
    std::cerr << fmt::format("tessera tune: [{:.0f}s] {}: {}\n", elapsed(), name,
                             describe(tuned, defaults));
    if (auto refusal = plan_refusal(all); !refusal.empty()) {
      e.note = refusal;
      std::cerr << "  skipped: " << refusal << "\n";
      return e;
    }
    const std::string config = (out_dir / (name + ".yaml")).string();
    write_config(config, all, "tessera tune candidate " + name);
    ChildProcess server({tessera_binary(), "serve", "--config", config, "--port", "0", "--host",
                         "127.0.0.1", "--log-level", "warn"});
    bool ended = false;
    const std::string url = server.wait_for_line(
        std::regex(R"(ready: model '[^']*' at (http://\S+) )"), std::chrono::seconds(600), &ended);
    if (url.empty()) {
      const std::string& text = server.output();
      const auto error = text.rfind("error: ");  // main's one line, when it got that far
      e.note =
          "the server did not start: " +
          (error != std::string::npos ? text.substr(error, text.find('\n', error) - error)
                                      : text.substr(text.size() > 300 ? text.size() - 300 : 0));
      std::cerr << "  skipped: " << e.note << "\n";
      return e;
    }
    bench::ServeBenchOptions o = bench_options;
    o.base_url = url;
    bench::SweepOptions s = sweep;
    bench::warm_up_server(o, requests);
    const auto outcome =
        bench::run_sweep(s, bench::SweepPointRunner(o, s, requests, run_seconds, min_requests));
    server.stop(SIGINT, std::chrono::seconds(30));
    e.ran = true;
    e.note = outcome.note;
    e.knee = outcome.knee.value_or(0);
    for (const auto& run : outcome.runs) {
      if (outcome.knee && run.load == *outcome.knee) {
        e.throughput = run.result.value("output_throughput", 0.0);
      }
    }
    nlohmann::json saved = {{"settings", all}, {"sweep", bench::sweep_json(s, outcome)}};
    e.result_path = (out_dir / (name + ".json")).string();
    std::ofstream(e.result_path) << saved.dump(2) << "\n";
    std::ofstream(out_dir / (name + ".svg"))
        << bench::render_sweep_svg(bench::sweep_plot(s, outcome, "tessera tune: " + name));
    std::cerr << fmt::format("  knee {} req/s, {:.1f} out tok/s there\n", e.knee, e.throughput);
    slowest_eval_s =
        std::max(slowest_eval_s, std::chrono::duration<double>(Clock::now() - t0).count());
    ++num_evals;
    return e;
  }
};

// The dimensions that change the model's numerics, only when the user lists values to try
// (tune_search.h says why). The run starts from the user's own value, or the engine's default.
std::vector<bench::TuneDimension> opt_in_dimensions(const po::variables_map& vm, Tuner& t) {
  std::vector<bench::TuneDimension> dims;
  try {
    if (vm.count("tune-quantization")) {
      std::string current = "none";  // weights as the file stores them
      for (const char* key : {"quantization", "load-in-low-bit"}) {
        if (auto it = t.fixed.find(key); it != t.fixed.end()) {
          current = it->second;
          t.fixed.erase(it);
        }
      }
      dims.push_back(bench::opt_in_dimension("tune-quantization", "quantization", current,
                                             vm["tune-quantization"].as<std::string>(),
                                             is_quantization_name));
    }
    if (vm.count("tune-dtype")) {
      std::string current = "auto";
      if (auto it = t.fixed.find("dtype"); it != t.fixed.end()) {
        current = it->second;
        t.fixed.erase(it);
      }
      dims.push_back(bench::opt_in_dimension(
          "tune-dtype", "dtype", current, vm["tune-dtype"].as<std::string>(),
          [](const std::string& name) {
            for (const char* known : {"auto", "float32", "bfloat16", "float16"}) {
              if (name == known) return true;
            }
            return false;
          }));
    }
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  for (const auto& dim : dims) t.defaults[dim.key] = dim.values.front();
  return dims;
}

std::vector<bench::TuneDimension> dimensions(const Tuner& t, bool cpu,
                                             std::vector<bench::TuneDimension> opted_in) {
  // The user's opt-in dimensions come first: they asked for them and, on a memory-bound
  // device, weight bytes move the knee most.
  std::vector<bench::TuneDimension> dims = std::move(opted_in);
  std::vector<bench::TuneDimension> knobs = {
      {"max-num-seqs", {"16", "64", "256"}},
      {"max-num-batched-tokens", {"512", "2048", "8192"}},
      {"enable-chunked-prefill", {"true", "false"}},
      {"enable-prefix-caching", {"true", "false"}},
      {"block-size", {"16", "32"}},
  };
  dims.insert(dims.end(), knobs.begin(), knobs.end());
  if (cpu) {
    if (auto it = t.fixed.find("kv-cache-memory"); it != t.fixed.end()) {
      const uint64_t base = parse_byte_size(it->second);
      dims.push_back({"kv-cache-memory",
                      {fmt::format("{}MiB", base / 2 >> 20), it->second,
                       fmt::format("{}MiB", base * 2 >> 20)}});
    }
  } else {
    dims.push_back({"gpu-memory-utilization", {"0.8", "0.9", "0.95"}});
  }
  // Values the user fixed on the command line are not tuned.
  std::vector<bench::TuneDimension> out;
  for (auto& d : dims) {
    if (!t.fixed.count(d.key) || d.key == "kv-cache-memory") out.push_back(std::move(d));
  }
  return out;
}

std::string report(const Tuner& t, const bench::TuneOutcome& outcome, const Evaluation& defaults,
                   const Evaluation& tuned) {
  auto knee = [](const Evaluation& e) {
    return e.ran ? (e.knee > 0 ? fmt::format("{:.3g}", e.knee) : std::string("none")) : "-";
  };
  std::string md = "# tessera tune report\n\n";
  md += fmt::format(
      "Model `{}`; SLO p99 TTFT {} ms, p99 TPOT {} ms; each sweep run offers its request rate "
      "for {} s (at most {} requests; random dataset, input {} / output {} tokens); budget {:.0f} "
      "s, used {:.0f} s; {} candidates in "
      "{} pass(es) of coordinate descent.\n\n",
      t.model, t.sweep.slo_ttft_p99_ms, t.sweep.slo_tpot_p99_ms, t.run_seconds, t.requests.size(),
      t.vm["random-input-len"].as<int>(), t.vm["random-output-len"].as<int>(), t.budget_s,
      t.elapsed(), outcome.evaluations.size(), outcome.passes);
  md += "## Defaults vs tuned (measured again, one after the other)\n\n";
  md += "| setting | defaults | tuned |\n|---|---|---|\n";
  for (const auto& [key, value] : tuned.settings) {
    md += fmt::format("| `{}` | {} | {} |\n", key,
                      defaults.settings.count(key) ? defaults.settings.at(key) : std::string("-"),
                      value);
  }
  md += fmt::format("| **knee (req/s)** | **{}** | **{}** |\n", knee(defaults), knee(tuned));
  md += fmt::format("| output tok/s at the knee | {:.1f} | {:.1f} |\n\n", defaults.throughput,
                    tuned.throughput);
  if (t.defaults.count("quantization") || t.defaults.count("dtype")) {
    md +=
        "Weight quantization and dtype were tuned because you listed values for them: a "
        "faster setting there also changes the model's outputs. Check its quality before "
        "serving it, e.g. with `tessera bench perplexity` on your own text.\n\n";
  }
  md += "Plots: [defaults](defaults.svg), [tuned](tuned.svg).\n\n![tuned](tuned.svg)\n\n";
  md += "Serve the tuned settings with `tessera serve --config tuned.yaml`.\n\n";
  md +=
      "## Every candidate\n\n| # | settings (vs defaults) | knee (req/s) | out tok/s at knee | "
      "note |\n|---|---|---|---|---|\n";
  for (size_t i = 0; i < outcome.evaluations.size(); ++i) {
    const auto& e = outcome.evaluations[i];
    std::string note = e.note;
    std::replace(note.begin(), note.end(), '\n', ' ');
    std::replace(note.begin(), note.end(), '|', '/');
    md +=
        fmt::format("| {}{} | {} | {} | {:.1f} | {} |\n", i + 1, i == outcome.best ? " (best)" : "",
                    describe(e.settings, t.defaults), knee(e), e.throughput, note);
  }
  md +=
      "\nThe search changes one setting at a time from the best so far and keeps a change only "
      "when it raises the knee by more than 5% (or ties it and raises throughput by 5%); "
      "settings `tessera plan` says will not fit are skipped without starting a server. The "
      "machine's load during the run affects every figure: compare only within one report.\n";
  return md;
}

}  // namespace

int run_tune_command(int argc, char** argv) {
  po::options_description own("tessera tune");
  own.add_options()("help,h", "show this help")("slo-ttft-p99-ms", po::value<double>(),
                                                "SLO: p99 time to first token, ms")(
      "slo-tpot-p99-ms", po::value<double>(), "SLO: p99 time per output token, ms")(
      "budget", po::value<std::string>()->default_value("30m"),
      "wall-clock budget: 90s, 30m, 1h (candidates stop early enough for the final re-run)")(
      "output-dir", po::value<std::string>()->default_value("tessera-tune"),
      "where tuned.yaml, report.md, the plots and every candidate's sweep go")(
      "num-prompts", po::value<int>()->default_value(400), "requests per sweep run at most")(
      "sweep-run-seconds", po::value<double>()->default_value(10.0),
      "each run offers its request rate for this long (rate x seconds requests, at least 20)")(
      "random-input-len", po::value<int>()->default_value(128), "prompt tokens")(
      "random-output-len", po::value<int>()->default_value(32), "output tokens (eos ignored)")(
      "sweep-start", po::value<double>()->default_value(2.0), "first request rate tried")(
      "sweep-max", po::value<double>()->default_value(512.0), "highest request rate tried")(
      "sweep-tolerance", po::value<double>()->default_value(0.1), "knee bracket, relative")(
      "sweep-max-runs", po::value<int>()->default_value(8), "benchmark runs per candidate")(
      "bench-seed", po::value<uint64_t>()->default_value(0), "seed of the benchmark dataset")(
      "tune-quantization", po::value<std::string>(),
      "also try quantizing the weights at load, e.g. int8,int4,fp8 (changes the model's "
      "outputs: tried only when listed; the run starts from --quantization or the file's "
      "weights)")(
      "tune-dtype", po::value<std::string>(),
      "also try these activation dtypes, e.g. bfloat16,float32 (changes the numerics: tried "
      "only when listed; the run starts from --dtype)");
  po::options_description engine = engine_options();
  po::options_description options;
  options.add(own).add(engine).add(loader_options());
  const auto vm = parse_command_line(argc, argv, options);
  if (vm.count("help")) {
    print_command_help("tune",
                       "Finds engine settings that raise the knee (highest request rate meeting "
                       "the SLO) of a model on this machine; writes a --config YAML and a report.",
                       options);
    return 0;
  }
  Tuner t;
  t.vm = vm;
  t.budget_s = parse_duration(vm["budget"].as<std::string>());
  t.sweep.slo_ttft_p99_ms = vm.count("slo-ttft-p99-ms") ? vm["slo-ttft-p99-ms"].as<double>() : 0;
  t.sweep.slo_tpot_p99_ms = vm.count("slo-tpot-p99-ms") ? vm["slo-tpot-p99-ms"].as<double>() : 0;
  if (t.sweep.slo_ttft_p99_ms <= 0 && t.sweep.slo_tpot_p99_ms <= 0) {
    throw UsageError("tune needs an SLO: --slo-ttft-p99-ms and/or --slo-tpot-p99-ms");
  }
  t.run_seconds = vm["sweep-run-seconds"].as<double>();
  if (!(t.run_seconds > 0)) throw UsageError("--sweep-run-seconds must be positive");
  t.sweep.start = vm["sweep-start"].as<double>();
  t.sweep.max_load = vm["sweep-max"].as<double>();
  t.sweep.tolerance = vm["sweep-tolerance"].as<double>();
  t.sweep.max_runs = vm["sweep-max-runs"].as<int>();
  bool is_default = false;
  const EngineConfig config = engine_config_from(vm, &is_default);  // validates the flags
  t.model = config.model;
  po::options_description passed_on;
  passed_on.add(engine).add(loader_options());
  t.fixed = fixed_settings(vm, passed_on);
  if (is_default) t.fixed["model"] = config.model;
  t.defaults = {{"max-num-seqs", "256"},
                {"max-num-batched-tokens", "2048"},
                {"enable-chunked-prefill", "true"},
                {"enable-prefix-caching", "true"},
                {"block-size", "16"}};
  for (auto& [key, value] : t.defaults) {
    if (auto it = t.fixed.find(key); it != t.fixed.end()) value = it->second;
  }
  auto opted_in = opt_in_dimensions(vm, t);
  const auto registry = runtime::PluginRegistry::discover(loader_options_from(vm));
  const auto device = runtime::select_device(*registry, device_spec_from(vm));
  const bool cpu = device.info().properties.type == TSR_DEVICE_TYPE_CPU;
  if (!cpu) t.defaults["gpu-memory-utilization"] = "0.9";
  if (cpu && t.fixed.count("kv-cache-memory")) {
    t.defaults["kv-cache-memory"] = t.fixed["kv-cache-memory"];
  }
  t.out_dir = vm["output-dir"].as<std::string>();
  fs::create_directories(t.out_dir);

  const auto tok = tokenizer::Tokenizer::for_model(config.model, config.tokenizer);
  t.requests = bench::random_dataset(
      *tok, vm["num-prompts"].as<int>(), vm["random-input-len"].as<int>(),
      vm["random-output-len"].as<int>(), 0.0, vm["bench-seed"].as<uint64_t>());
  t.bench_options.ignore_eos = true;
  t.bench_options.dataset_name = "random";
  t.bench_options.seed = vm["bench-seed"].as<uint64_t>();
  t.bench_options.percentiles = {50, 99};
  std::cerr << fmt::format("tessera tune: {} on {}, budget {:.0f} s, results in {}\n", t.model,
                           device.to_string(), t.budget_s, t.out_dir.string());

  const auto outcome = bench::coordinate_descent(
      t.defaults, dimensions(t, cpu, std::move(opted_in)),
      [&](const Settings& s) { return t.evaluate(s, "candidate"); },
      [&] { return t.has_budget(); });
  // The final comparison: both settings measured again, back to back.
  const Settings best = outcome.evaluations[outcome.best].settings;
  // After Ctrl-C the search's own measurements stand in for the re-run.
  const bool cancelled = runtime::cancel_requested();
  if (cancelled) std::cerr << "tessera tune: interrupted: reporting without the re-run\n";
  Evaluation defaults =
      cancelled ? outcome.evaluations.front() : t.evaluate(t.defaults, "defaults-rerun");
  Evaluation tuned = cancelled            ? outcome.evaluations[outcome.best]
                     : best == t.defaults ? defaults
                                          : t.evaluate(best, "tuned-rerun");
  for (const auto& [from, to] :
       {std::pair{defaults.result_path, "defaults"}, std::pair{tuned.result_path, "tuned"}}) {
    if (from.empty()) continue;
    fs::copy_file(fs::path(from).replace_extension(".svg"), t.out_dir / (std::string(to) + ".svg"),
                  fs::copy_options::overwrite_existing);
  }
  write_config(
      (t.out_dir / "tuned.yaml").string(), t.full(best),
      fmt::format("tessera tune: best of {} candidates (report.md)", outcome.evaluations.size()));
  std::ofstream(t.out_dir / "report.md") << report(t, outcome, defaults, tuned);
  std::cout << fmt::format(
      "tessera tune: knee {} req/s with the defaults, {} req/s tuned ({}); {:.0f} s used\n"
      "  config: {}\n  report: {}\n",
      defaults.knee, tuned.knee, describe(best, t.defaults), t.elapsed(),
      (t.out_dir / "tuned.yaml").string(), (t.out_dir / "report.md").string());
  return 0;
}

}  // namespace tessera::cli
