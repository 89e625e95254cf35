#!/usr/bin/env python3
"""Writes the GGUF block-format fixtures of tests/model/quant_blocks_test.cpp.

OUT_DIR/blocks.gguf holds, for every GGUF block type Tessera loads, a tensor "<TYPE>" of
random blocks and "<TYPE>.expected": the same values dequantized by the official `gguf`
package (gguf.quants.dequantize), in F32. Types gguf can quantize are written by its own
quantizer from random normal values; for the others (the K-quants, IQ4_NL) the blocks are random bytes
whose float16 fields are set to random finite scales, so that every bit pattern of the
quantized fields occurs. With --smollm2 FILE it also writes OUT_DIR/smollm2-blocks.gguf: real
Q4_1 tensors of SmolLM2-135M-Instruct with their gguf dequantization (or an empty marker file
when FILE does not exist). Seeds are fixed (see SEED).

Usage: make_quant_blocks.py OUT_DIR [--smollm2 FILE]
"""
import argparse
import os

import numpy as np

SEED = 20251206
# Types Tessera loads natively, and the shape of each test tensor ([rows, cols]; cols a
# multiple of the type's block).
TYPES = {"Q8_0": (6, 96), "Q4_0": (6, 96), "Q4_1": (6, 96), "Q5_0": (6, 96), "Q5_1": (6, 96),
         "Q2_K": (3, 512), "Q3_K": (3, 512), "Q4_K": (3, 512), "Q5_K": (3, 512), "Q6_K": (3, 512),
         "IQ4_NL": (6, 96)}
# Byte offsets of the float16 fields (d, dmin) inside a block of the types written as raw
# random blocks (ggml-common.h's block_q*_K and block_iq4_nl structs; gguf cannot quantize
# to these).
F16_FIELDS = {"Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,),
              "IQ4_NL": (0,)}
SMOLLM2_TENSORS = ["blk.0.attn_k.weight", "blk.0.ffn_down.weight", "blk.29.attn_q.weight"]


def random_blocks(name, qtype, rows, cols, rng):
    import gguf
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    if name not in F16_FIELDS:
        values = rng.standard_normal((rows, cols)).astype(np.float32) * 0.05
        return gguf.quants.quantize(values, qtype)
    raw = rng.integers(0, 256, size=(rows, cols // block, type_size), dtype=np.uint8)
    for offset in F16_FIELDS[name]:
        scales = rng.uniform(1e-3, 0.1, size=(rows, cols // block)).astype(np.float16)
        raw[:, :, offset:offset + 2] = scales.view(np.uint8).reshape(rows, cols // block, 2)
    return raw.reshape(rows, cols // block * type_size)


def write_blocks(path, rng):
    import gguf
    writer = gguf.GGUFWriter(path, "tessera-quant-blocks")
    for name, (rows, cols) in TYPES.items():
        qtype = getattr(gguf.GGMLQuantizationType, name)
        blocks = random_blocks(name, qtype, rows, cols, rng)
        writer.add_tensor(name, blocks, raw_shape=blocks.shape, raw_dtype=qtype)
        expected = gguf.quants.dequantize(blocks, qtype).astype(np.float32)
        assert expected.shape == (rows, cols)
        writer.add_tensor(name + ".expected", expected)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_smollm2(source, path):
    import gguf
    if not os.path.exists(source):
        open(path, "wb").close()  # empty: the test skips and says why
        print(f"make_quant_blocks.py: {source} not found; SmolLM2 blocks skipped")
        return
    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(path, "tessera-quant-blocks")
    for t in reader.tensors:
        if t.name not in SMOLLM2_TENSORS:
            continue
        assert t.tensor_type == gguf.GGMLQuantizationType.Q4_1, t.name
        blocks = np.array(t.data)
        writer.add_tensor(t.name, blocks, raw_shape=blocks.shape, raw_dtype=t.tensor_type)
        writer.add_tensor(t.name + ".expected",
                          gguf.quants.dequantize(blocks, t.tensor_type).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--smollm2")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    write_blocks(os.path.join(args.out_dir, "blocks.gguf"), np.random.default_rng(SEED))
    if args.smollm2:
        write_smollm2(args.smollm2, os.path.join(args.out_dir, "smollm2-blocks.gguf"))


if __name__ == "__main__":
    main()
