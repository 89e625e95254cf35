#!/usr/bin/env python3
"""Writes tests/data/kv/xxh64_vectors.json: XXH64 digests computed by the PyPI `xxhash`
package (the reference bindings of Yann Collet's C library, pinned in requirements-test.txt)
for the prefixes of one fixed 1,000-byte input, with two seeds.

The lengths cover every path of the algorithm: 0..80 bytes one by one (the 1-, 4- and 8-byte
tails below and above the 32-byte stripe), the stripe boundaries 95..97, 127..129, 255..257,
511..513, and 100, 999, 1000. The input bytes are a fixed pseudo-random sequence (a 64-bit
LCG), stored in the fixture so the C++ test needs nothing but the file.

Regenerate: .venv/bin/python scripts/gen_xxh64_vectors.py tests/data/kv/xxh64_vectors.json
"""
import json
import sys

import xxhash

INPUT_BYTES = 1000
SEEDS = [0, 0x9E3779B97F4A7C15]
LENGTHS = sorted(set(range(0, 81)) | {95, 96, 97, 100, 127, 128, 129, 255, 256, 257,
                                       511, 512, 513, 999, 1000})


def fixed_input():
    state = 0x243F6A8885A308D3
    out = bytearray()
    for _ in range(INPUT_BYTES):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(state >> 56)
    return bytes(out)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_xxh64_vectors.py OUTPUT.json")
    data = fixed_input()
    vectors = [{"length": n, "seed": f"{seed:016x}",
                "xxh64": f"{xxhash.xxh64_intdigest(data[:n], seed=seed):016x}"}
               for seed in SEEDS for n in LENGTHS]
    fixture = {"generator": "scripts/gen_xxh64_vectors.py", "xxhash": xxhash.VERSION,
               "input_hex": data.hex(), "vectors": vectors}
    with open(sys.argv[1], "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
