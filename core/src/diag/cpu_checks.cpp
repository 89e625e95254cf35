// CPU family: model, thread count, ISA, and for each cpufreq policy the governor, scaling
// driver, frequencies, energy-performance preference and turbo/boost. Per-policy items are
// `detail`; summary items (cpu.governor, cpu.epp, cpu.freq.*, cpu.turbo) carry the verdict.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "diag/advice.h"
#include "diag/items.h"
#include "diag/parse.h"
#include "diag/readings.h"

namespace tessera::diag {

namespace {

constexpr std::string_view kCpuDir = "/sys/devices/system/cpu";

std::optional<int> policy_number(const std::string& name) {
  if (name.rfind("policy", 0) != 0) return std::nullopt;
  const auto n = parse_u64(std::string_view(name).substr(6));
  if (!n || name.size() == 6) return std::nullopt;
  return static_cast<int>(*n);
}

// "performance" when all agree; otherwise "powersave on 12 policies, performance on 4".
std::string summarize(const std::vector<std::string>& values) {
  std::map<std::string, int> counts;
  for (const auto& v : values) ++counts[v];
  if (counts.size() == 1) return counts.begin()->first;
  std::vector<std::pair<std::string, int>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [value, count] : sorted) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} on {} {}", value, count, count == 1 ? "policy" : "policies");
  }
  return out;
}

std::string range_text(uint64_t lo, uint64_t hi) {
  return lo == hi ? std::to_string(lo) : fmt::format("{}-{}", lo, hi);
}

// A "wanted value" check over all policies (governor, EPP): ok when every readable value is
// `wanted` (an empty `wanted` accepts any), warn when one is not, needs_root when a value was
// denied and none was bad.
void summarize_setting(std::vector<DiagItem>& items, const std::string& key,
                       const std::vector<const Field*>& fields, std::string_view wanted,
                       const std::string& hint_for_first_bad) {
  std::vector<std::string> values;
  bool denied = false;
  bool bad = false;
  for (const Field* f : fields) {
    if (f->ok()) {
      values.push_back(f->text);
      bad = bad || (!wanted.empty() && f->text != wanted);
    } else if (f->status == ReadStatus::kNoAccess) {
      denied = true;
    }
  }
  if (values.empty()) {
    for (const Field* f : fields) {
      if (f->status == ReadStatus::kNoAccess) {
        items.push_back(unreadable_item(key, *f, "sysfs"));
        return;
      }
    }
    return;  // not exposed by this driver: say nothing rather than guess
  }
  DiagStatus status = bad ? DiagStatus::kWarn : DiagStatus::kOk;
  std::string hint = bad ? hint_for_first_bad : std::string();
  if (!bad && denied) {
    status = DiagStatus::kNeedsRoot;
    hint = advice::needs_root(fmt::format("{}/cpufreq/policy*", kCpuDir));
  }
  items.push_back(make_item(key, summarize(values), "", status, "sysfs", hint));
}

void check_isa(std::vector<DiagItem>& items, std::string_view cpuinfo) {
  if (const auto flags_text = colon_value(cpuinfo, "flags")) {
    const auto flags = split(*flags_text, " \t");
    const auto has = [&](std::string_view f) {
      return std::find(flags.begin(), flags.end(), f) != flags.end();
    };
    static constexpr std::string_view kInteresting[] = {
        "sse4_2",      "avx",      "avx2",     "fma",      "f16c",        "avx_vnni",
        "avx512f",     "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
        "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"};
    std::string list;
    for (auto f : kInteresting) {
      if (has(f)) list += list.empty() ? std::string(f) : " " + std::string(f);
    }
    std::string tier = "baseline";
    if (has("amx_tile")) {
      tier = "amx";
    } else if (has("avx512_bf16")) {
      tier = "avx512_bf16";
    } else if (has("avx512f")) {
      tier = "avx512";
    } else if (has("avx2")) {
      tier = "avx2";
    }
    const bool ok = has("avx2") && has("fma");
    items.push_back(make_item("cpu.isa", fmt::format("{} ({})", tier, list), "",
                              ok ? DiagStatus::kOk : DiagStatus::kWarn, "procfs",
                              ok ? std::string() : advice::isa_without_avx2()));
    return;
  }
  if (const auto features = colon_value(cpuinfo, "Features")) {
    items.push_back(make_item("cpu.isa", *features, "", DiagStatus::kOk, "procfs"));
    return;
  }
  items.push_back(make_item("cpu.isa", "unknown", "", DiagStatus::kUnknown, "procfs"));
}

void check_policy_details(std::vector<DiagItem>& items, const CpuPolicyReadings& p) {
  const std::string prefix = "cpu.cpufreq." + p.name + ".";
  const auto text_item = [&](const std::string& name, const Field& f, DiagStatus bad_status,
                             std::string_view wanted, const std::string& hint) {
    if (f.ok()) {
      const bool bad = !wanted.empty() && f.text != wanted;
      items.push_back(make_item(prefix + name, f.text, "", bad ? bad_status : DiagStatus::kOk,
                                "sysfs", bad ? hint : std::string(), true));
    } else if (f.status != ReadStatus::kMissing) {
      items.push_back(unreadable_item(prefix + name, f, "sysfs", true));
    }
  };
  const auto freq_item = [&](const std::string& name, const Field& f) {
    const std::string mhz = khz_to_mhz_text(f);
    if (!mhz.empty()) {
      items.push_back(make_item(prefix + name, mhz, "MHz", DiagStatus::kOk, "sysfs", {}, true));
    } else if (f.status != ReadStatus::kMissing) {
      items.push_back(unreadable_item(prefix + name, f, "sysfs", true));
    }
  };
  if (p.affected_cpus.ok()) {
    items.push_back(
        make_item(prefix + "cpus", p.affected_cpus.text, "", DiagStatus::kOk, "sysfs", {}, true));
  }
  text_item("governor", p.governor, DiagStatus::kWarn, "performance",
            advice::governor(p.governor.text));
  text_item("driver", p.driver, DiagStatus::kOk, {}, {});
  freq_item("freq.current", p.cur_khz);
  freq_item("freq.min", p.min_khz);
  freq_item("freq.max", p.max_khz);
  freq_item("freq.hw_max", p.hw_max_khz);
  text_item("epp", p.epp, DiagStatus::kWarn, "performance", advice::epp());
  text_item("boost", p.boost, DiagStatus::kWarn, "1", advice::boost_off());
}

void check_frequencies(std::vector<DiagItem>& items, const std::vector<CpuPolicyReadings>& ps) {
  const auto collect = [&](auto member) {
    std::vector<uint64_t> mhz;
    for (const auto& p : ps) {
      if (const auto v = (p.*member).ok() ? parse_u64((p.*member).text) : std::nullopt) {
        mhz.push_back(*v / 1000);
      }
    }
    return mhz;
  };
  const auto add_range = [&](const std::string& key, const std::vector<uint64_t>& v) {
    if (v.empty()) return;
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    items.push_back(make_item(key, range_text(*lo, *hi), "MHz", DiagStatus::kOk, "sysfs"));
  };
  add_range("cpu.freq.current", collect(&CpuPolicyReadings::cur_khz));
  add_range("cpu.freq.min", collect(&CpuPolicyReadings::min_khz));

  std::vector<uint64_t> max_mhz;
  uint64_t capped_hw = 0;
  for (const auto& p : ps) {
    // value_or(0) rather than optional access keeps GCC's maybe-uninitialized quiet.
    const uint64_t max = p.max_khz.ok() ? parse_u64(p.max_khz.text).value_or(0) : 0;
    const uint64_t hw = p.hw_max_khz.ok() ? parse_u64(p.hw_max_khz.text).value_or(0) : 0;
    if (max == 0) continue;
    max_mhz.push_back(max / 1000);
    if (hw > 0 && max < hw) capped_hw = std::max(capped_hw, hw / 1000);
  }
  if (max_mhz.empty()) return;
  const auto [lo, hi] = std::minmax_element(max_mhz.begin(), max_mhz.end());
  items.push_back(make_item("cpu.freq.max", range_text(*lo, *hi), "MHz",
                            capped_hw ? DiagStatus::kWarn : DiagStatus::kOk, "sysfs",
                            capped_hw ? advice::freq_capped(capped_hw) : std::string()));
}

void check_turbo(std::vector<DiagItem>& items, const CpuReadings& r) {
  if (r.intel_no_turbo.ok()) {
    const bool off = r.intel_no_turbo.text == "1";
    items.push_back(make_item("cpu.turbo", off ? "off" : "on", "",
                              off ? DiagStatus::kWarn : DiagStatus::kOk, "sysfs",
                              off ? advice::intel_turbo_off() : std::string()));
    return;
  }
  if (r.global_boost.ok()) {
    const bool off = r.global_boost.text == "0";
    items.push_back(make_item("cpu.turbo", off ? "off" : "on", "",
                              off ? DiagStatus::kWarn : DiagStatus::kOk, "sysfs",
                              off ? advice::boost_off() : std::string()));
    return;
  }
  bool any = false;
  bool off = false;
  for (const auto& p : r.policies) {
    if (!p.boost.ok()) continue;
    any = true;
    off = off || p.boost.text == "0";
  }
  if (any) {
    items.push_back(make_item("cpu.turbo", off ? "off" : "on", "",
                              off ? DiagStatus::kWarn : DiagStatus::kOk, "sysfs",
                              off ? advice::boost_off() : std::string()));
    return;
  }
  for (const Field* f : {&r.intel_no_turbo, &r.global_boost}) {
    if (f->status == ReadStatus::kNoAccess) {
      items.push_back(unreadable_item("cpu.turbo", *f, "sysfs"));
      return;
    }
  }
  items.push_back(make_item("cpu.turbo", "not exposed by the scaling driver", "",
                            DiagStatus::kUnknown, "sysfs"));
}

}  // namespace

CpuReadings read_cpu(const SysfsReader& reader) {
  CpuReadings r;
  const std::string cpu(kCpuDir);
  r.cpuinfo = reader.read_raw("/proc/cpuinfo");
  r.online = reader.read(cpu + "/online");
  r.intel_no_turbo = reader.read(cpu + "/intel_pstate/no_turbo");
  r.intel_pstate_status = reader.read(cpu + "/intel_pstate/status");
  r.global_boost = reader.read(cpu + "/cpufreq/boost");
  r.amd_pstate_status = reader.read(cpu + "/amd_pstate/status");

  const DirListing listing = reader.list(cpu + "/cpufreq");
  r.policies_status = listing.status;
  std::vector<std::pair<int, std::string>> names;
  for (const auto& name : listing.names) {
    if (const auto n = policy_number(name)) names.emplace_back(*n, name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& [n, name] : names) {
    const std::string dir = cpu + "/cpufreq/" + name + "/";
    CpuPolicyReadings p;
    p.name = name;
    p.affected_cpus = reader.read(dir + "affected_cpus");
    p.governor = reader.read(dir + "scaling_governor");
    p.available_governors = reader.read(dir + "scaling_available_governors");
    p.driver = reader.read(dir + "scaling_driver");
    p.cur_khz = reader.read(dir + "scaling_cur_freq");
    p.min_khz = reader.read(dir + "scaling_min_freq");
    p.max_khz = reader.read(dir + "scaling_max_freq");
    p.hw_max_khz = reader.read(dir + "cpuinfo_max_freq");
    p.epp = reader.read(dir + "energy_performance_preference");
    p.boost = reader.read(dir + "boost");
    r.policies.push_back(std::move(p));
  }
  return r;
}

std::vector<DiagItem> check_cpu(const CpuReadings& r) {
  std::vector<DiagItem> items;
  if (r.cpuinfo.ok()) {
    auto model = colon_value(r.cpuinfo.text, "model name");
    if (!model) model = colon_value(r.cpuinfo.text, "Model");
    if (!model) model = colon_value(r.cpuinfo.text, "Hardware");
    items.push_back(make_item("cpu.model", model.value_or("unknown"), "",
                              model ? DiagStatus::kOk : DiagStatus::kUnknown, "procfs"));
    int threads = count_cpuinfo_processors(r.cpuinfo.text);
    if (r.online.ok()) threads = count_cpu_list(r.online.text).value_or(threads);
    items.push_back(make_item("cpu.threads", std::to_string(threads), "", DiagStatus::kOk,
                              r.online.ok() ? "sysfs" : "procfs"));
    check_isa(items, r.cpuinfo.text);
  } else {
    items.push_back(unreadable_item("cpu.model", r.cpuinfo, "procfs"));
  }

  if (r.policies_status == ReadStatus::kNoAccess) {
    items.push_back(unreadable_item(
        "cpu.cpufreq", field_failed(ReadStatus::kNoAccess, std::string(kCpuDir) + "/cpufreq"),
        "sysfs"));
    return items;
  }
  if (r.policies.empty()) {
    items.push_back(make_item("cpu.cpufreq", "not available", "", DiagStatus::kUnknown, "sysfs",
                              advice::cpufreq_absent()));
    return items;
  }
  items.push_back(make_item("cpu.cpufreq.policies", std::to_string(r.policies.size()), "",
                            DiagStatus::kOk, "sysfs"));

  std::vector<const Field*> governors;
  std::vector<const Field*> drivers;
  std::vector<const Field*> epps;
  std::string first_bad_governor;
  for (const auto& p : r.policies) {
    governors.push_back(&p.governor);
    drivers.push_back(&p.driver);
    epps.push_back(&p.epp);
    if (first_bad_governor.empty() && p.governor.ok() && p.governor.text != "performance") {
      first_bad_governor = p.governor.text;
    }
  }
  summarize_setting(items, "cpu.governor", governors, "performance",
                    advice::governor(first_bad_governor));
  summarize_setting(items, "cpu.scaling_driver", drivers, {}, {});
  if (r.intel_pstate_status.ok()) {
    items.push_back(make_item("cpu.intel_pstate", r.intel_pstate_status.text, "", DiagStatus::kOk,
                              "sysfs", {}, true));
  }
  if (r.amd_pstate_status.ok()) {
    items.push_back(make_item("cpu.amd_pstate", r.amd_pstate_status.text, "", DiagStatus::kOk,
                              "sysfs", {}, true));
  }
  summarize_setting(items, "cpu.epp", epps, "performance", advice::epp());
  check_frequencies(items, r.policies);
  check_turbo(items, r);
  for (const auto& p : r.policies) check_policy_details(items, p);
  return items;
}

}  // namespace tessera::diag
