#!/usr/bin/env python3
"""Writes the fixture sysfs/procfs trees used by tests/diag (run from anywhere).

Each scenario is a directory that stands in for "/" (tessera diagnose --root DIR):
  healthy/   every check passes: performance governor, EPP performance, boost on, THP madvise,
             two NUMA nodes, an AMD GPU at full link with a 16 GiB BAR above 4 GiB.
  degraded/  one case per rule: powersave governor, EPP balance_power, capped max frequency,
             turbo off, THP never, low available memory, ASPM powersave, a downtrained AMD GPU
             with a 256 MiB BAR below 4 GiB, an NVIDIA GPU without a driver, and an Intel Arc
             A770 on i915 with kernel 6.1 behind an on-board switch whose slot link is
             downtrained.
  vm/        a small VM: no cpufreq, no NUMA directory, a QEMU VGA without a driver.
Unreadable files are not stored here: tests make them at run time (chmod 000 or a fake reader).
"""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def write(root, path, text):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def link(root, path, target):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def resource_table(bars):
    """bars: {index: (start, size, flags)} for BAR0..5 and ROM (6); 13 lines like the kernel."""
    lines = []
    for i in range(13):
        if i in bars:
            start, size, flags = bars[i]
            lines.append("0x%016x 0x%016x 0x%016x" % (start, start + size - 1, flags))
        else:
            lines.append("0x%016x 0x%016x 0x%016x" % (0, 0, 0))
    return "\n".join(lines)


MEM64_PREF = 0x14220C
MEM32 = 0x40200
IO = 0x40101
MiB = 1 << 20
GiB = 1 << 30


def cpuinfo(model, flags, n):
    out = []
    for i in range(n):
        out.append("processor\t: %d\nvendor_id\t: x\nmodel name\t: %s\nflags\t\t: %s\n" %
                   (i, model, flags))
    return "\n".join(out)


def policy(root, n, governor, driver, cur, lo, hi, hw, epp=None):
    d = "/sys/devices/system/cpu/cpufreq/policy%d/" % n
    write(root, d + "affected_cpus", str(n))
    write(root, d + "scaling_governor", governor)
    write(root, d + "scaling_available_governors", "performance powersave")
    write(root, d + "scaling_driver", driver)
    write(root, d + "scaling_cur_freq", str(cur))
    write(root, d + "scaling_min_freq", str(lo))
    write(root, d + "scaling_max_freq", str(hi))
    write(root, d + "cpuinfo_max_freq", str(hw))
    if epp is not None:
        write(root, d + "energy_performance_preference", epp)


def pci_device(root, addr, cls, vendor, device, driver, link_state, resource, extra=None,
               real_dir=None):
    d = real_dir or "/sys/bus/pci/devices/" + addr
    write(root, d + "/class", cls)
    write(root, d + "/vendor", vendor)
    write(root, d + "/device", device)
    if driver:
        link(root, d + "/driver", "../../../../bus/pci/drivers/" + driver)
    if link_state:
        cs, cw, ms, mw = link_state
        write(root, d + "/current_link_speed", cs)
        write(root, d + "/current_link_width", cw)
        write(root, d + "/max_link_speed", ms)
        write(root, d + "/max_link_width", mw)
    if resource is not None:
        write(root, d + "/resource", resource)
    write(root, d + "/numa_node", "0")
    for name, text in (extra or {}).items():
        write(root, d + "/" + name, text)


def healthy(root):
    write(root, "/etc/os-release", 'NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"')
    write(root, "/proc/sys/kernel/osrelease", "6.8.0-45-generic")
    write(root, "/proc/sys/kernel/arch", "x86_64")
    write(root, "/proc/cpuinfo", cpuinfo("AMD Ryzen 9 7950X 16-Core Processor",
                                         "fpu sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl "
                                         "avx512_bf16", 4))
    write(root, "/sys/devices/system/cpu/online", "0-3")
    for n in range(4):
        policy(root, n, "performance", "amd-pstate-epp", 4500000, 400000, 5881000, 5881000,
               "performance")
    write(root, "/sys/devices/system/cpu/cpufreq/boost", "1")
    write(root, "/sys/devices/system/cpu/amd_pstate/status", "active")
    write(root, "/proc/meminfo", "MemTotal:       65536000 kB\nMemFree:        50000000 kB\n"
                                 "MemAvailable:   60000000 kB\nHugePages_Total:       0")
    write(root, "/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never")
    write(root, "/sys/kernel/mm/transparent_hugepage/defrag",
          "always defer defer+madvise [madvise] never")
    for n, cpus in ((0, "0-1"), (1, "2-3")):
        write(root, "/sys/devices/system/node/node%d/cpulist" % n, cpus)
        write(root, "/sys/devices/system/node/node%d/meminfo" % n,
              "Node %d MemTotal:       32768000 kB" % n)
    write(root, "/sys/devices/system/node/online", "0-1")
    write(root, "/sys/module/pcie_aspm/parameters/policy",
          "[default] performance powersave powersupersave")
    pci_device(root, "0000:00:00.0", "0x060000", "0x1022", "0x14d8", None, None, None)
    pci_device(root, "0000:03:00.0", "0x030000", "0x1002", "0x744c", "amdgpu",
               ("16.0 GT/s PCIe", "16", "16.0 GT/s PCIe", "16"),
               resource_table({0: (0x7C00000000, 16 * GiB, MEM64_PREF),
                               2: (0x8000000000, 2 * MiB, MEM64_PREF),
                               4: (0xE000, 256, IO),
                               5: (0xFCD00000, 1 * MiB, MEM32)}),
               {"mem_info_vram_total": str(16 * GiB), "resource0_resize": "0000000000007ff0",
                "resource2_resize": "0000000000000002"})


def degraded(root):
    write(root, "/etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"')
    write(root, "/proc/sys/kernel/osrelease", "6.1.0-18-amd64")
    write(root, "/proc/cpuinfo", cpuinfo("Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz",
                                         "fpu sse4_2 avx avx2 fma f16c", 2))
    policy(root, 0, "powersave", "intel_pstate", 1200000, 1200000, 3500000, 3500000,
           "balance_power")
    policy(root, 1, "powersave", "intel_pstate", 1200000, 1200000, 2000000, 3500000,
           "balance_power")
    write(root, "/sys/devices/system/cpu/intel_pstate/no_turbo", "1")
    write(root, "/sys/devices/system/cpu/intel_pstate/status", "active")
    write(root, "/proc/meminfo", "MemTotal:       16000000 kB\nMemAvailable:    1000000 kB")
    write(root, "/sys/kernel/mm/transparent_hugepage/enabled", "always madvise [never]")
    write(root, "/sys/module/pcie_aspm/parameters/policy",
          "default performance [powersave] powersupersave")
    # AMD GPU: downtrained link, 256 MiB BAR below 4 GiB, 16 GiB of VRAM.
    pci_device(root, "0000:01:00.0", "0x030000", "0x1002", "0x73bf", "amdgpu",
               ("2.5 GT/s PCIe", "8", "16.0 GT/s PCIe", "16"),
               resource_table({0: (0xE0000000, 256 * MiB, MEM64_PREF),
                               2: (0xF0000000, 2 * MiB, MEM64_PREF),
                               5: (0xFCD00000, 1 * MiB, MEM32)}),
               {"mem_info_vram_total": str(16 * GiB), "resource0_resize": "0000000000007ff0"})
    # NVIDIA GPU without a driver; BAR1 is 256 MiB though the device could map 8 GiB.
    pci_device(root, "0000:02:00.0", "0x030000", "0x10de", "0x2684", None,
               ("16.0 GT/s PCIe", "16", "16.0 GT/s PCIe", "16"),
               resource_table({0: (0xFB000000, 16 * MiB, MEM32),
                               1: (0xD0000000, 256 * MiB, MEM64_PREF),
                               3: (0xDE000000, 32 * MiB, MEM64_PREF)}),
               {"resource1_resize": "0000000000003fc0"})
    # Intel Arc A770 behind its on-board switch: root port 00:01.0 -> upstream 04:00.0 ->
    # downstream 05:01.0 -> GPU 06:00.0. The GPU's own link is virtual (2.5 GT/s x1).
    base = "/sys/devices/pci0000:00/0000:00:01.0"
    up = base + "/0000:04:00.0"
    down = up + "/0000:05:01.0"
    gpu = down + "/0000:06:00.0"
    pci_device(root, "0000:04:00.0", "0x060400", "0x8086", "0x4fa1", "pcieport",
               ("8.0 GT/s PCIe", "4", "16.0 GT/s PCIe", "16"), None, real_dir=up)
    pci_device(root, "0000:05:01.0", "0x060400", "0x8086", "0x4fa4", "pcieport",
               ("2.5 GT/s PCIe", "1", "2.5 GT/s PCIe", "1"), None, real_dir=down)
    pci_device(root, "0000:06:00.0", "0x030000", "0x8086", "0x56a0", "i915",
               ("2.5 GT/s PCIe", "1", "2.5 GT/s PCIe", "1"),
               resource_table({0: (0xF9000000, 16 * MiB, MEM64_PREF),
                               2: (0xC0000000, 256 * MiB, MEM64_PREF)}),
               {"resource2_resize": "0000000000007f00"}, real_dir=gpu)
    for addr, path in (("0000:04:00.0", up), ("0000:05:01.0", down), ("0000:06:00.0", gpu)):
        link(root, "/sys/bus/pci/devices/" + addr, "../../.." + path[len("/sys"):])


def vm(root):
    write(root, "/etc/os-release", 'PRETTY_NAME="Ubuntu 24.04.1 LTS"')
    write(root, "/proc/sys/kernel/osrelease", "6.8.0-45-generic")
    write(root, "/proc/cpuinfo", cpuinfo("QEMU Virtual CPU version 2.5+",
                                         "fpu sse4_2 avx avx2 fma", 2))
    write(root, "/proc/meminfo", "MemTotal:        4000000 kB\nMemAvailable:    3000000 kB")
    write(root, "/sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never")
    pci_device(root, "0000:00:02.0", "0x030000", "0x1234", "0x1111", None, None,
               resource_table({0: (0xFD000000, 16 * MiB, 0x42208),
                               2: (0xFEBF0000, 4096, MEM32)}))


def main():
    for name, fn in (("healthy", healthy), ("degraded", degraded), ("vm", vm)):
        root = os.path.join(HERE, name)
        shutil.rmtree(root, ignore_errors=True)
        fn(root)


if __name__ == "__main__":
    main()
