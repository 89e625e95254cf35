// Parsers of sysfs/procfs text formats.
#include "diag/parse.h"

#include <gtest/gtest.h>

namespace tessera::diag {
namespace {

TEST(DiagParse, Integers) {
  EXPECT_EQ(parse_u64("42\n"), 42u);
  EXPECT_EQ(parse_u64("0x030000"), 0x030000u);
  EXPECT_EQ(parse_u64(" 0X10de "), 0x10deu);
  EXPECT_FALSE(parse_u64(""));
  EXPECT_FALSE(parse_u64("12abc"));
  EXPECT_FALSE(parse_u64("0x"));
  EXPECT_FALSE(parse_u64("-1"));
}

TEST(DiagParse, KernelVersion) {
  EXPECT_EQ(parse_kernel_version("6.8.0-45-generic"), (KernelVersion{6, 8, 0}));
  EXPECT_EQ(parse_kernel_version("6.1.0-18-amd64"), (KernelVersion{6, 1, 0}));
  EXPECT_EQ(parse_kernel_version("6.12"), (KernelVersion{6, 12, 0}));
  EXPECT_EQ(parse_kernel_version("5.15.153.1-microsoft-standard-WSL2"),
            (KernelVersion{5, 15, 153}));
  EXPECT_FALSE(parse_kernel_version("linux"));
  EXPECT_FALSE(parse_kernel_version("6"));
  EXPECT_LT((KernelVersion{6, 1, 0}), (KernelVersion{6, 2, 0}));
  EXPECT_LT((KernelVersion{6, 9, 0}), (KernelVersion{6, 12, 0}));
}

TEST(DiagParse, PciAddress) {
  EXPECT_EQ(normalize_pci_address("0000:03:00.0"), "0000:03:00.0");
  EXPECT_EQ(normalize_pci_address("00000000:3B:00.0"), "0000:3b:00.0");
  EXPECT_EQ(normalize_pci_address("03:00.1"), "0000:03:00.1");
  EXPECT_FALSE(normalize_pci_address("pci0000:00"));
  EXPECT_FALSE(normalize_pci_address("0000:03:00"));
  EXPECT_FALSE(normalize_pci_address("0000:03:20.0"));  // device number is 5 bits
  EXPECT_FALSE(normalize_pci_address(""));
}

TEST(DiagParse, LinkSpeed) {
  EXPECT_EQ(parse_link_speed("16.0 GT/s PCIe"), 16.0);
  EXPECT_EQ(parse_link_speed("2.5 GT/s"), 2.5);
  EXPECT_FALSE(parse_link_speed("Unknown"));
  EXPECT_EQ(link_speed_to_gen(2.5), 1);
  EXPECT_EQ(link_speed_to_gen(8.0), 3);
  EXPECT_EQ(link_speed_to_gen(32.0), 5);
  EXPECT_FALSE(link_speed_to_gen(3.0));
}

TEST(DiagParse, TextFormats) {
  EXPECT_EQ(bracketed_choice("always [madvise] never"), "madvise");
  EXPECT_EQ(bracketed_choice("performance\n"), "performance");
  const std::string cpuinfo =
      "processor\t: 0\nmodel name\t: Foo CPU\nflags\t\t: a b\n\n"
      "processor\t: 1\nmodel name\t: Foo CPU\n";
  EXPECT_EQ(colon_value(cpuinfo, "model name"), "Foo CPU");
  EXPECT_FALSE(colon_value(cpuinfo, "model"));
  EXPECT_EQ(count_cpuinfo_processors(cpuinfo), 2);
  EXPECT_EQ(os_release_value("NAME=\"Debian\"\nPRETTY_NAME='Debian 12'\n", "PRETTY_NAME"),
            "Debian 12");
  EXPECT_EQ(meminfo_bytes("MemTotal:   1024 kB\nMemAvailable: 512 kB\n", "MemAvailable"),
            512u * 1024);
  EXPECT_EQ(meminfo_bytes("Node 1 MemTotal:   2048 kB\n", "MemTotal"), 2048u * 1024);
  EXPECT_EQ(meminfo_bytes("HugePages_Total:       7\n", "HugePages_Total"), 7u);
  EXPECT_FALSE(meminfo_bytes("MemTotal: lots\n", "MemTotal"));
  EXPECT_EQ(count_cpu_list("0-7,16-23"), 16);
  EXPECT_EQ(count_cpu_list("3"), 1);
  EXPECT_FALSE(count_cpu_list("7-3"));
}

TEST(DiagParse, ResourceTable) {
  const auto table = parse_resource_table(
      "0x0000007c00000000 0x0000007fffffffff 0x000000000014220c\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x000000000000e000 0x000000000000e0ff 0x0000000000040101\n");
  ASSERT_TRUE(table);
  ASSERT_EQ(table->size(), 3u);
  EXPECT_EQ((*table)[0].size(), uint64_t{16} << 30);
  EXPECT_TRUE((*table)[0].is_memory());
  EXPECT_TRUE((*table)[0].is_64bit());
  EXPECT_TRUE((*table)[0].is_prefetchable());
  EXPECT_FALSE((*table)[1].used());
  EXPECT_FALSE((*table)[2].is_memory());
  EXPECT_EQ((*table)[2].index, 2);
  EXPECT_FALSE(parse_resource_table("0x0 0x1\n"));
  EXPECT_FALSE(parse_resource_table("zz yy xx\n"));
}

TEST(DiagParse, RebarMask) {
  EXPECT_EQ(rebar_max_bytes(0), 0u);
  EXPECT_EQ(rebar_max_bytes(0x1), uint64_t{1} << 20);      // 1 MiB
  EXPECT_EQ(rebar_max_bytes(0x7ff0), uint64_t{16} << 30);  // up to 16 GiB
  EXPECT_EQ(rebar_max_bytes(0x3fc0), uint64_t{8} << 30);   // up to 8 GiB
}

}  // namespace
}  // namespace tessera::diag
