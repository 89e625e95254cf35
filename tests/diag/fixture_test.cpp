// Host checks over the fixture sysfs/procfs trees in tests/data/diag (made by
// make_fixtures.py), read through the root prefix, plus unreadable files: chmod 000 when the
// test runs unprivileged, and an injected reader that answers EACCES (works as root too).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <set>

#include "diag/host_diagnostics.h"
#include "tessera/diagnostics.h"
#include "diag_test_util.h"

namespace tessera::diag {
namespace {

using testing::fixture;
using testing::get_item;

std::vector<DiagSection> run_fixture(const std::string& name,
                                     const HostCheckOptions& options = {}) {
  return run_host_checks(SysfsReader(fixture(name)), options);
}

TEST(DiagFixture, HealthyMachinePasses) {
  const auto sections = run_fixture("healthy");
  ASSERT_EQ(sections.size(), 4u);
  EXPECT_EQ(sections[0].name, "host");
  EXPECT_EQ(sections[1].name, "cpu");
  EXPECT_EQ(sections[2].name, "memory");
  EXPECT_EQ(sections[3].name, "pci");
  for (const auto& section : sections) {
    for (const auto& item : section.items) {
      EXPECT_TRUE(item.status == DiagStatus::kOk)
          << item.key << " = " << item.value << " (" << status_name(item.status) << ")";
    }
  }
  EXPECT_EQ(exit_code_for(sections), 0);
  EXPECT_EQ(get_item(sections, "host.os").value, "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(get_item(sections, "host.kernel").value, "6.8.0-45-generic");
  EXPECT_EQ(get_item(sections, "cpu.model").value, "AMD Ryzen 9 7950X 16-Core Processor");
  EXPECT_EQ(get_item(sections, "cpu.threads").value, "4");
  EXPECT_EQ(get_item(sections, "cpu.governor").value, "performance");
  EXPECT_EQ(get_item(sections, "cpu.scaling_driver").value, "amd-pstate-epp");
  EXPECT_EQ(get_item(sections, "cpu.turbo").value, "on");
  EXPECT_EQ(get_item(sections, "cpu.freq.max").value, "5881");
  EXPECT_EQ(get_item(sections, "cpu.cpufreq.policy3.freq.current").value, "4500");
  EXPECT_EQ(get_item(sections, "memory.numa.nodes").value, "2");
  EXPECT_EQ(get_item(sections, "memory.numa.node1.cpus").value, "2-3");
  EXPECT_EQ(get_item(sections, "memory.thp").value, "madvise");
  EXPECT_EQ(get_item(sections, "pci.devices").value, "1");  // the host bridge is skipped
  EXPECT_EQ(get_item(sections, "pci.0.address").value, "0000:03:00.0");
  EXPECT_EQ(get_item(sections, "pci.0.driver").value, "amdgpu");
  EXPECT_EQ(get_item(sections, "pci.0.rebar.enabled").value, "yes");
  EXPECT_EQ(get_item(sections, "pci.0.rebar.supported_max").value, "16384");
  EXPECT_EQ(get_item(sections, "pci.0.above4g").value, "yes");
}

TEST(DiagFixture, DegradedMachineHitsEveryRule) {
  const auto sections = run_fixture("degraded");
  const auto status = [&](const std::string& key) { return get_item(sections, key).status; };
  EXPECT_EQ(status("cpu.governor"), DiagStatus::kWarn);
  EXPECT_EQ(status("cpu.epp"), DiagStatus::kWarn);
  EXPECT_EQ(status("cpu.freq.max"), DiagStatus::kWarn);
  EXPECT_EQ(status("cpu.turbo"), DiagStatus::kWarn);
  EXPECT_EQ(status("memory.thp"), DiagStatus::kWarn);
  EXPECT_EQ(status("memory.available"), DiagStatus::kWarn);
  EXPECT_EQ(status("memory.numa.nodes"), DiagStatus::kUnknown);
  EXPECT_EQ(status("pci.aspm.policy"), DiagStatus::kWarn);
  EXPECT_EQ(get_item(sections, "pci.devices").value, "3");

  // AMD: downtrained link, BAR smaller than VRAM, BAR below 4 GiB.
  EXPECT_EQ(get_item(sections, "pci.0.address").value, "0000:01:00.0");
  EXPECT_EQ(status("pci.0.link.gen.current"), DiagStatus::kWarn);
  EXPECT_EQ(status("pci.0.link.width.current"), DiagStatus::kWarn);
  EXPECT_EQ(get_item(sections, "pci.0.rebar.enabled").value, "no");
  EXPECT_EQ(status("pci.0.rebar.enabled"), DiagStatus::kWarn);
  EXPECT_EQ(get_item(sections, "pci.0.above4g").value, "no");

  // NVIDIA without a driver; VRAM unknown but the resize capability shows a small BAR.
  EXPECT_EQ(get_item(sections, "pci.1.driver").value, "none");
  EXPECT_EQ(status("pci.1.driver"), DiagStatus::kFail);
  EXPECT_EQ(status("pci.1.rebar.vram"), DiagStatus::kUnknown);
  EXPECT_EQ(get_item(sections, "pci.1.rebar.enabled").value, "no");

  // Intel Arc A770 on i915 with kernel 6.1: driver generation fails; the slot link (into
  // the card's switch) is reported and downtrained while the endpoint's virtual link is not.
  EXPECT_EQ(get_item(sections, "pci.2.address").value, "0000:06:00.0");
  EXPECT_EQ(status("pci.2.driver_support"), DiagStatus::kFail);
  EXPECT_EQ(status("pci.2.link.gen.current"), DiagStatus::kOk);
  const DiagItem slot = get_item(sections, "pci.2.slot_link.gen.current");
  EXPECT_EQ(slot.status, DiagStatus::kWarn);
  EXPECT_NE(slot.value.find("0000:04:00.0"), std::string::npos) << slot.value;
  EXPECT_EQ(get_item(sections, "pci.2.slot_link.width.current").value, "4");
  EXPECT_EQ(status("pci.2.rebar.enabled"), DiagStatus::kFail);

  EXPECT_EQ(exit_code_for(sections), 1);
}

TEST(DiagFixture, VmWithoutCpufreqOrGpuDriver) {
  const auto sections = run_fixture("vm");
  EXPECT_EQ(get_item(sections, "cpu.cpufreq").status, DiagStatus::kUnknown);
  EXPECT_EQ(get_item(sections, "pci.0.driver").status, DiagStatus::kWarn);  // QEMU VGA
  EXPECT_EQ(testing::find_item(sections, "pci.0.rebar.bar_size"), nullptr);
  EXPECT_EQ(exit_code_for(sections), 0);
}

TEST(DiagFixture, EmptyRootReportsUnknownsWithoutCrashing) {
  const auto sections = run_fixture("does-not-exist");
  EXPECT_EQ(get_item(sections, "host.kernel").status, DiagStatus::kUnknown);
  EXPECT_EQ(get_item(sections, "pci.devices").status, DiagStatus::kUnknown);
  EXPECT_EQ(exit_code_for(sections), 0);
}

TEST(DiagFixture, PluginVramHintMatchedByAddress) {
  HostCheckOptions options;
  options.vram_hints.push_back({"00000000:02:00.0", uint64_t{24} << 30, "plugin cuda"});
  const auto sections = run_fixture("degraded", options);
  const DiagItem vram = get_item(sections, "pci.1.rebar.vram");
  EXPECT_EQ(vram.value, "24576");
  EXPECT_EQ(vram.source, "plugin cuda");
  EXPECT_EQ(get_item(sections, "pci.1.rebar.enabled").status, DiagStatus::kWarn);
}

// Files made unreadable on disk. Root ignores file modes, so this half only runs
// unprivileged; DeniedByInjectedReader below covers the rule for everyone.
TEST(DiagFixture, Chmod000FilesNeedRoot) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores chmod 000; see DeniedByInjectedReader";
  testing::TempTree tree("healthy");
  const std::string epp = "/sys/devices/system/cpu/cpufreq/policy0/energy_performance_preference";
  const std::string resource = "/sys/bus/pci/devices/0000:03:00.0/resource";
  ASSERT_EQ(::chmod(tree.real(epp).c_str(), 0), 0);
  ASSERT_EQ(::chmod(tree.real(resource).c_str(), 0), 0);
  const auto sections = run_host_checks(SysfsReader(tree.root()));
  EXPECT_EQ(get_item(sections, "cpu.cpufreq.policy0.epp").status, DiagStatus::kNeedsRoot);
  // The other policies read fine and say "performance": the summary flags the gap.
  EXPECT_EQ(get_item(sections, "cpu.epp").status, DiagStatus::kNeedsRoot);
  EXPECT_EQ(get_item(sections, "pci.0.rebar.bar_size").status, DiagStatus::kNeedsRoot);
  EXPECT_EQ(testing::find_item(sections, "pci.0.rebar.enabled"), nullptr);
  EXPECT_EQ(exit_code_for(sections), 0);
}

// Answers EACCES for chosen real paths and reads everything else from disk.
class DenyingReader final : public FileReader {
 public:
  explicit DenyingReader(std::set<std::string> denied) : denied_(std::move(denied)) {}
  Field read_file(const std::string& path) const override {
    return denied_.count(path) ? deny(path) : real_.read_file(path);
  }
  DirListing list_dir(const std::string& path) const override {
    if (denied_.count(path)) {
      DirListing l;
      l.status = ReadStatus::kNoAccess;
      l.error = "Permission denied";
      return l;
    }
    return real_.list_dir(path);
  }
  Field read_link(const std::string& path) const override {
    return denied_.count(path) ? deny(path) : real_.read_link(path);
  }

 private:
  static Field deny(const std::string& path) {
    Field f = field_failed(ReadStatus::kNoAccess, path);
    f.error = "Permission denied";
    return f;
  }
  std::set<std::string> denied_;
  PosixFileReader real_;
};

TEST(DiagFixture, DeniedByInjectedReader) {
  const std::string root = fixture("healthy");
  const std::string gov = "/sys/devices/system/cpu/cpufreq/policy2/scaling_governor";
  const std::string resource = "/sys/bus/pci/devices/0000:03:00.0/resource";
  const std::string thp = "/sys/kernel/mm/transparent_hugepage/enabled";
  const std::string nodes = "/sys/devices/system/node";
  auto reader = std::make_shared<DenyingReader>(
      std::set<std::string>{root + gov, root + resource, root + thp, root + nodes});
  const auto sections = run_host_checks(SysfsReader(root, reader));

  const DiagItem g = get_item(sections, "cpu.cpufreq.policy2.governor");
  EXPECT_EQ(g.status, DiagStatus::kNeedsRoot);
  EXPECT_EQ(g.value, "permission denied");
  EXPECT_NE(g.hint.find(gov), std::string::npos) << g.hint;  // logical path, no root prefix
  EXPECT_EQ(g.hint.find(root), std::string::npos) << g.hint;
  EXPECT_EQ(get_item(sections, "cpu.governor").status, DiagStatus::kNeedsRoot);
  EXPECT_EQ(get_item(sections, "pci.0.rebar.bar_size").status, DiagStatus::kNeedsRoot);
  EXPECT_EQ(get_item(sections, "memory.thp").status, DiagStatus::kNeedsRoot);
  EXPECT_EQ(get_item(sections, "memory.numa.nodes").status, DiagStatus::kNeedsRoot);
  // Nothing unreadable turns into a "disabled"/"no" verdict.
  EXPECT_EQ(testing::find_item(sections, "pci.0.above4g"), nullptr);
  EXPECT_EQ(exit_code_for(sections), 0);
}

TEST(DiagFixture, EnvironmentRoot) {
  ASSERT_EQ(::setenv("TESSERA_DIAG_ROOT", fixture("vm").c_str(), 1), 0);
  EXPECT_EQ(root_from_environment(), fixture("vm"));
  const auto sections = run_host_checks(SysfsReader(root_from_environment()));
  EXPECT_EQ(get_item(sections, "host.os").value, "Ubuntu 24.04.1 LTS");
  ::unsetenv("TESSERA_DIAG_ROOT");
  EXPECT_EQ(root_from_environment(), "");
}

// run_diagnostics (the public entry point `tessera diagnose` calls): host checks alone, and
// the plugin loader's section with no plugin to load and --device naming a missing one.
TEST(DiagRun, HostOnlyIsTheHostChecks) {
  DiagnoseOptions options;
  options.root = fixture("healthy");
  options.plugins = false;
  const auto sections = run_diagnostics(options);
  ASSERT_EQ(sections.size(), 4u);
  EXPECT_EQ(format_json(sections), format_json(run_fixture("healthy")));
}

TEST(DiagRun, NamedPluginThatIsNotLoadedFails) {
  DiagnoseOptions options;
  options.root = fixture("healthy");
  options.loader.use_environment = false;  // an empty search path: nothing loads
  options.loader.use_default_dir = false;
  options.device = parse_device_spec("nosuch");
  const auto sections = run_diagnostics(options);
  ASSERT_EQ(sections.size(), 5u);
  EXPECT_EQ(sections[4].name, "plugins");
  EXPECT_EQ(get_item(sections, "plugins.loaded").value, "none");
  EXPECT_EQ(get_item(sections, "plugins.loaded").status, DiagStatus::kWarn);
  const DiagItem missing = get_item(sections, "plugins.nosuch");
  EXPECT_EQ(missing.value, "not found");
  EXPECT_EQ(missing.status, DiagStatus::kFail);
  EXPECT_EQ(exit_code_for(sections), 1);
}

}  // namespace
}  // namespace tessera::diag
