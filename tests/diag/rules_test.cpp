// The pure rules layer: readings built by hand -> items, one test per rule.
#include <gtest/gtest.h>

#include "diag/readings.h"
#include "diag_test_util.h"

namespace tessera::diag {
namespace {

using testing::get_item;

CpuPolicyReadings policy(const std::string& name, const std::string& governor) {
  CpuPolicyReadings p;
  p.name = name;
  p.governor = field_ok(governor);
  p.driver = field_ok("intel_pstate");
  p.cur_khz = field_ok("3000000");
  p.min_khz = field_ok("800000");
  p.max_khz = field_ok("4800000");
  p.hw_max_khz = field_ok("4800000");
  p.epp = field_ok("performance");
  return p;
}

CpuReadings cpu_with(std::vector<CpuPolicyReadings> policies) {
  CpuReadings r;
  r.cpuinfo = field_ok("processor\t: 0\nmodel name\t: Test CPU\nflags\t: avx avx2 fma\n");
  r.policies_status = ReadStatus::kOk;
  r.policies = std::move(policies);
  r.intel_no_turbo = field_ok("0");
  return r;
}

TEST(DiagRules, PerformanceGovernorIsOk) {
  const auto items = check_cpu(cpu_with({policy("policy0", "performance")}));
  EXPECT_EQ(get_item(items, "cpu.governor").status, DiagStatus::kOk);
  EXPECT_EQ(get_item(items, "cpu.epp").status, DiagStatus::kOk);
  EXPECT_EQ(get_item(items, "cpu.turbo").value, "on");
  EXPECT_EQ(get_item(items, "cpu.freq.max").value, "4800");
  EXPECT_EQ(get_item(items, "cpu.freq.max").unit, "MHz");
}

TEST(DiagRules, PowersaveGovernorWarnsWithCommand) {
  const auto items =
      check_cpu(cpu_with({policy("policy0", "powersave"), policy("policy1", "performance")}));
  const DiagItem g = get_item(items, "cpu.governor");
  EXPECT_EQ(g.status, DiagStatus::kWarn);
  EXPECT_NE(g.value.find("powersave on 1 policy"), std::string::npos) << g.value;
  EXPECT_NE(g.hint.find("cpupower frequency-set -g performance"), std::string::npos);
  EXPECT_NE(g.hint.find("scaling_governor"), std::string::npos);
  const DiagItem p0 = get_item(items, "cpu.cpufreq.policy0.governor");
  EXPECT_EQ(p0.status, DiagStatus::kWarn);
  EXPECT_TRUE(p0.detail);
  EXPECT_EQ(get_item(items, "cpu.cpufreq.policy1.governor").status, DiagStatus::kOk);
}

TEST(DiagRules, EppCappedFrequencyAndTurbo) {
  auto p = policy("policy0", "performance");
  p.epp = field_ok("balance_power");
  p.max_khz = field_ok("2000000");
  auto r = cpu_with({p});
  r.intel_no_turbo = field_ok("1");
  const auto items = check_cpu(r);
  EXPECT_EQ(get_item(items, "cpu.epp").status, DiagStatus::kWarn);
  EXPECT_NE(get_item(items, "cpu.epp").hint.find("energy_performance_preference"),
            std::string::npos);
  EXPECT_EQ(get_item(items, "cpu.freq.max").status, DiagStatus::kWarn);
  EXPECT_NE(get_item(items, "cpu.freq.max").hint.find("4800MHz"), std::string::npos);
  EXPECT_EQ(get_item(items, "cpu.turbo").status, DiagStatus::kWarn);
  EXPECT_EQ(get_item(items, "cpu.turbo").value, "off");
}

TEST(DiagRules, UnreadableGovernorNeedsRootNotDisabled) {
  auto p = policy("policy0", "performance");
  p.governor = field_failed(ReadStatus::kNoAccess, "/sys/x/scaling_governor");
  p.epp = field_failed(ReadStatus::kNoAccess, "/sys/x/energy_performance_preference");
  const auto items = check_cpu(cpu_with({p}));
  const DiagItem g = get_item(items, "cpu.governor");
  EXPECT_EQ(g.status, DiagStatus::kNeedsRoot);
  EXPECT_NE(g.hint.find("sudo"), std::string::npos);
  EXPECT_EQ(get_item(items, "cpu.epp").status, DiagStatus::kNeedsRoot);
  EXPECT_EQ(get_item(items, "cpu.cpufreq.policy0.governor").status, DiagStatus::kNeedsRoot);
}

TEST(DiagRules, NoCpufreqIsUnknown) {
  CpuReadings r = cpu_with({});
  r.policies_status = ReadStatus::kMissing;
  const auto items = check_cpu(r);
  EXPECT_EQ(get_item(items, "cpu.cpufreq").status, DiagStatus::kUnknown);
  EXPECT_EQ(testing::find_item(items, "cpu.governor"), nullptr);
}

TEST(DiagRules, IsaWithoutAvx2Warns) {
  CpuReadings r = cpu_with({});
  r.cpuinfo = field_ok("processor : 0\nflags : sse4_2 avx\n");
  EXPECT_EQ(get_item(check_cpu(r), "cpu.isa").status, DiagStatus::kWarn);
  r.cpuinfo = field_ok("processor : 0\nflags : avx2 fma avx512f amx_tile\n");
  const DiagItem isa = get_item(check_cpu(r), "cpu.isa");
  EXPECT_EQ(isa.status, DiagStatus::kOk);
  EXPECT_EQ(isa.value.rfind("amx", 0), 0u) << isa.value;
}

TEST(DiagRules, TransparentHugePages) {
  MemoryReadings r;
  r.meminfo = field_ok("MemTotal: 1048576 kB\nMemAvailable: 524288 kB\n");
  r.thp_enabled = field_ok("always madvise [never]");
  auto items = check_memory(r);
  EXPECT_EQ(get_item(items, "memory.thp").status, DiagStatus::kWarn);
  EXPECT_NE(get_item(items, "memory.thp").hint.find("transparent_hugepage"), std::string::npos);
  EXPECT_EQ(get_item(items, "memory.total").value, "1024");
  EXPECT_EQ(get_item(items, "memory.available").status, DiagStatus::kOk);
  r.thp_enabled = field_ok("[always] madvise never");
  r.meminfo = field_ok("MemTotal: 1048576 kB\nMemAvailable: 4096 kB\n");
  items = check_memory(r);
  EXPECT_EQ(get_item(items, "memory.thp").status, DiagStatus::kOk);
  EXPECT_EQ(get_item(items, "memory.available").status, DiagStatus::kWarn);
}

PciDeviceReadings gpu(const std::string& vendor, const std::string& device,
                      const std::string& driver) {
  PciDeviceReadings d;
  d.address = "0000:01:00.0";
  d.class_code = field_ok("0x030000");
  d.vendor = field_ok(vendor);
  d.device = field_ok(device);
  d.driver = driver.empty() ? field_failed(ReadStatus::kMissing) : field_ok(driver);
  d.cur_speed = field_ok("16.0 GT/s PCIe");
  d.max_speed = field_ok("16.0 GT/s PCIe");
  d.cur_width = field_ok("16");
  d.max_width = field_ok("16");
  // 16 GiB 64-bit prefetchable BAR0 above 4 GiB.
  d.resource = field_ok(
      "0x0000007c00000000 0x0000007fffffffff 0x000000000014220c\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
  return d;
}

std::vector<DiagItem> check_one(PciDeviceReadings d, const std::string& kernel = "6.8.0") {
  PciReadings r;
  r.devices_status = ReadStatus::kOk;
  r.kernel_release = field_ok(kernel);
  r.devices.push_back(std::move(d));
  return check_pci(r);
}

TEST(DiagRules, FullLinkAndCoveringBarAreOk) {
  auto d = gpu("0x1002", "0x744c", "amdgpu");
  d.vram_total = field_ok(std::to_string(uint64_t{16} << 30));
  const auto items = check_one(d);
  EXPECT_EQ(get_item(items, "pci.0.link.gen.current").value, "4");
  EXPECT_EQ(get_item(items, "pci.0.link.gen.current").status, DiagStatus::kOk);
  EXPECT_EQ(get_item(items, "pci.0.link.width.current").value, "16");
  EXPECT_EQ(get_item(items, "pci.0.rebar.bar_size").value, "16384");
  EXPECT_EQ(get_item(items, "pci.0.rebar.vram").value, "16384");
  EXPECT_EQ(get_item(items, "pci.0.rebar.enabled").value, "yes");
  EXPECT_EQ(get_item(items, "pci.0.rebar.enabled").status, DiagStatus::kOk);
  EXPECT_EQ(get_item(items, "pci.0.above4g").value, "yes");
  EXPECT_EQ(get_item(items, "pci.0.driver").value, "amdgpu");
}

TEST(DiagRules, DowntrainedLinkWarnsCheckUnderLoad) {
  auto d = gpu("0x10de", "0x2684", "nvidia");
  d.cur_speed = field_ok("2.5 GT/s PCIe");
  d.cur_width = field_ok("8");
  const auto items = check_one(d);
  const DiagItem gen = get_item(items, "pci.0.link.gen.current");
  EXPECT_EQ(gen.value, "1");
  EXPECT_EQ(gen.status, DiagStatus::kWarn);  // warn, never fail: GPUs downtrain at idle
  EXPECT_NE(gen.hint.find("under load"), std::string::npos);
  EXPECT_NE(gen.hint.find("riser"), std::string::npos);
  EXPECT_NE(gen.hint.find("ASPM"), std::string::npos);
  EXPECT_EQ(get_item(items, "pci.0.link.width.current").status, DiagStatus::kWarn);
  EXPECT_EQ(get_item(items, "pci.0.link.gen.max").value, "4");
}

TEST(DiagRules, BarSmallerThanVramWarns) {
  auto d = gpu("0x1002", "0x73bf", "amdgpu");
  d.resource = field_ok("0x00000000e0000000 0x00000000efffffff 0x000000000014220c\n");
  d.vram_total = field_ok(std::to_string(uint64_t{16} << 30));
  d.resize.emplace_back(0, field_ok("0000000000007ff0"));
  const auto items = check_one(d);
  const DiagItem rebar = get_item(items, "pci.0.rebar.enabled");
  EXPECT_EQ(rebar.value, "no");
  EXPECT_EQ(rebar.status, DiagStatus::kWarn);
  EXPECT_NE(rebar.hint.find("Resizable BAR"), std::string::npos);
  EXPECT_NE(rebar.hint.find("Above 4G Decoding"), std::string::npos);
  EXPECT_NE(rebar.hint.find("16384 MiB"), std::string::npos) << rebar.hint;
  EXPECT_EQ(get_item(items, "pci.0.rebar.bar_size").value, "256");
}

TEST(DiagRules, BarBelow4GiBWarnsAbove4GDecoding) {
  auto d = gpu("0x1002", "0x73bf", "amdgpu");
  d.resource = field_ok("0x00000000e0000000 0x00000000efffffff 0x000000000014220c\n");
  const DiagItem a = get_item(check_one(d), "pci.0.above4g");
  EXPECT_EQ(a.value, "no");
  EXPECT_EQ(a.status, DiagStatus::kWarn);
  EXPECT_NE(a.hint.find("Above 4G Decoding"), std::string::npos);
  // A 32-bit BAR cannot sit above 4 GiB: no verdict on the firmware setting.
  d.resource = field_ok("0x00000000e0000000 0x00000000efffffff 0x0000000000042208\n");
  EXPECT_EQ(get_item(check_one(d), "pci.0.above4g").status, DiagStatus::kOk);
}

TEST(DiagRules, VramUnknownSaysSoOrUsesPluginHint) {
  auto d = gpu("0x10de", "0x2330", "nvidia");
  auto items = check_one(d);
  EXPECT_EQ(get_item(items, "pci.0.rebar.vram").status, DiagStatus::kUnknown);
  EXPECT_EQ(get_item(items, "pci.0.rebar.enabled").status, DiagStatus::kUnknown);
  d.vram_hint = VramHint{"00000000:01:00.0", uint64_t{80} << 30, "plugin cuda"};
  items = check_one(d);
  EXPECT_EQ(get_item(items, "pci.0.rebar.vram").source, "plugin cuda");
  EXPECT_EQ(get_item(items, "pci.0.rebar.enabled").value, "no");  // 16 GiB BAR < 80 GiB
}

TEST(DiagRules, ResizeCapabilityRevealsSmallBarWithoutVram) {
  auto d = gpu("0x10de", "0x2684", "nvidia");
  d.resource = field_ok(
      "0x00000000fb000000 0x00000000fbffffff 0x0000000000040200\n"
      "0x00000000d0000000 0x00000000dfffffff 0x000000000014220c\n");
  d.resize.emplace_back(1, field_ok("0000000000003fc0"));
  const DiagItem rebar = get_item(check_one(d), "pci.0.rebar.enabled");
  EXPECT_EQ(rebar.value, "no");
  EXPECT_EQ(rebar.status, DiagStatus::kWarn);
  EXPECT_NE(rebar.hint.find("up to 8192 MiB"), std::string::npos) << rebar.hint;
}

TEST(DiagRules, MissingDriver) {
  auto items = check_one(gpu("0x10de", "0x2684", ""));
  EXPECT_EQ(get_item(items, "pci.0.driver").value, "none");
  EXPECT_EQ(get_item(items, "pci.0.driver").status, DiagStatus::kFail);
  EXPECT_NE(get_item(items, "pci.0.driver").hint.find("NVIDIA driver"), std::string::npos);
  // A BMC's VGA chip without a driver is not a failure.
  items = check_one(gpu("0x1a03", "0x2000", ""));
  EXPECT_EQ(get_item(items, "pci.0.driver").status, DiagStatus::kWarn);
  items = check_one(gpu("0x10de", "0x2684", "vfio-pci"));
  EXPECT_EQ(get_item(items, "pci.0.driver").status, DiagStatus::kWarn);
}

TEST(DiagRules, UnreadableResourceNeedsRoot) {
  auto d = gpu("0x1002", "0x744c", "amdgpu");
  d.resource = field_failed(ReadStatus::kNoAccess, "/sys/bus/pci/devices/0000:01:00.0/resource");
  const auto items = check_one(d);
  const DiagItem bar = get_item(items, "pci.0.rebar.bar_size");
  EXPECT_EQ(bar.status, DiagStatus::kNeedsRoot);
  EXPECT_NE(bar.hint.find("/sys/bus/pci/devices/0000:01:00.0/resource"), std::string::npos);
  // No false "no" / "disabled" verdicts from a file we could not read.
  EXPECT_EQ(testing::find_item(items, "pci.0.rebar.enabled"), nullptr);
  EXPECT_EQ(testing::find_item(items, "pci.0.above4g"), nullptr);
}

TEST(DiagRules, IntelArcKernelAndDriverGenerations) {
  const auto support = [](const std::string& device, const std::string& driver,
                          const std::string& kernel) {
    return get_item(check_one(gpu("0x8086", device, driver), kernel), "pci.0.driver_support");
  };
  EXPECT_EQ(support("0x56a0", "i915", "6.1.0-18-amd64").status, DiagStatus::kFail);
  EXPECT_EQ(support("0x56a0", "i915", "6.2.0").status, DiagStatus::kWarn);
  EXPECT_NE(support("0x56a0", "i915", "6.2.0").hint.find("6.5"), std::string::npos);
  EXPECT_EQ(support("0x56a0", "i915", "6.5.0").status, DiagStatus::kOk);
  EXPECT_EQ(support("0x56a0", "xe", "6.6.0").status, DiagStatus::kWarn);
  EXPECT_EQ(support("0x56a0", "xe", "6.8.0").status, DiagStatus::kOk);
  EXPECT_EQ(support("0xe20b", "xe", "6.11.0").status, DiagStatus::kFail);
  EXPECT_EQ(support("0xe20b", "xe", "6.12.1").status, DiagStatus::kOk);
  EXPECT_EQ(support("0xe20b", "i915", "6.12.1").status, DiagStatus::kFail);
  EXPECT_EQ(support("0x56a0", "i915", "weird").status, DiagStatus::kUnknown);
  // Integrated Intel graphics get no Arc verdict.
  EXPECT_EQ(testing::find_item(check_one(gpu("0x8086", "0xa780", "i915"), "6.1.0"),
                               "pci.0.driver_support"),
            nullptr);
}

TEST(DiagRules, ArcBarTooSmallFails) {
  auto d = gpu("0x8086", "0x56a0", "i915");
  d.resource = field_ok(
      "0x00000000f9000000 0x00000000f9ffffff 0x000000000014220c\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x00000000c0000000 0x00000000cfffffff 0x000000000014220c\n");
  d.resize.emplace_back(2, field_ok("0000000000007f00"));
  const DiagItem rebar = get_item(check_one(d, "6.8.0"), "pci.0.rebar.enabled");
  EXPECT_EQ(rebar.status, DiagStatus::kFail);  // Arc without Resizable BAR is unusable
}

TEST(DiagRules, NoGpuIsFine) {
  PciReadings r;
  r.devices_status = ReadStatus::kOk;
  const auto items = check_pci(r);
  EXPECT_EQ(get_item(items, "pci.devices").value, "0");
  EXPECT_EQ(get_item(items, "pci.devices").status, DiagStatus::kOk);
}

TEST(DiagRules, AspmPowersaveWarns) {
  PciReadings r;
  r.devices_status = ReadStatus::kOk;
  r.aspm_policy = field_ok("default performance [powersupersave] powersave");
  EXPECT_EQ(get_item(check_pci(r), "pci.aspm.policy").status, DiagStatus::kWarn);
  r.aspm_policy = field_ok("[default] performance powersave powersupersave");
  EXPECT_EQ(get_item(check_pci(r), "pci.aspm.policy").status, DiagStatus::kOk);
}

TEST(DiagRules, HostOsAndKernel) {
  HostReadings r;
  r.os_release = field_ok("NAME=Foo\nPRETTY_NAME=\"Foo Linux 1\"\n");
  r.kernel_release = field_ok("6.8.0-45-generic");
  const auto items = check_host(r);
  EXPECT_EQ(get_item(items, "host.os").value, "Foo Linux 1");
  EXPECT_EQ(get_item(items, "host.kernel").value, "6.8.0-45-generic");
  r.kernel_release = field_failed(ReadStatus::kNoAccess, "/proc/sys/kernel/osrelease");
  EXPECT_EQ(get_item(check_host(r), "host.kernel").status, DiagStatus::kNeedsRoot);
}

}  // namespace
}  // namespace tessera::diag
