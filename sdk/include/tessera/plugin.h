/* Tessera plugin C ABI, version 1.
 *
 * The waist of the hourglass: the Tessera core (C++) talks to backend plugins (C++ or
 * anything that exports C) only through this header. C99, no C++ types.
 *
 * Versioning (PJRT's rule):
 *   - TSR_ABI_VERSION_MAJOR changes only on an incompatible change; a host refuses a plugin
 *     built against another major version.
 *   - Every table and descriptor begins with `size_t struct_size`. Fields are only ever
 *     appended. A reader checks `struct_size` before touching a field (TSR_STRUCT_HAS); a
 *     field beyond the writer's struct_size is absent and means "not provided".
 *   - Minor versions add fields at the end of structs and lines at the end of ops.def.
 *
 * Errors: every fallible call returns tsr_error* — NULL is success. A non-NULL error is
 * owned by the caller, who must release it with its own `destroy` function. No exception,
 * longjmp or abort crosses this boundary.
 *
 * Threading: unless a function says otherwise it may be called from any thread. Calls that
 * take a stream enqueue work on that stream; a stream is used by one host thread at a time.
 * Work on one stream runs in enqueue order; work on different streams may overlap.
 *
 * Logging: plugins never print. They log through tsr_host_api.log.
 */
#ifndef TESSERA_PLUGIN_H
#define TESSERA_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TSR_ABI_VERSION_MAJOR 1
#define TSR_ABI_VERSION_MINOR 3

#if defined(_WIN32)
#define TSR_PLUGIN_EXPORT __declspec(dllexport)
#else
#define TSR_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* True when a struct written with `struct_size` includes `field` (offset + size fits). */
#define TSR_STRUCT_HAS(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

/* ------------------------------------------------------------------------------------ */
/* Errors                                                                                */
/* ------------------------------------------------------------------------------------ */

typedef enum tsr_error_code {
  TSR_ERROR_CODE_OK = 0,
  TSR_ERROR_CODE_INVALID_ARGUMENT = 1,   /* the caller passed something wrong */
  TSR_ERROR_CODE_UNIMPLEMENTED = 2,      /* valid, but this plugin does not do it */
  TSR_ERROR_CODE_RESOURCE_EXHAUSTED = 3, /* out of device or host memory */
  TSR_ERROR_CODE_UNAVAILABLE = 4,        /* driver/runtime/device missing or lost */
  TSR_ERROR_CODE_INTERNAL = 5,           /* a bug or an unexpected runtime failure */
  TSR_ERROR_CODE_CANCELLED = 6,          /* the host's cancellation flag was observed */
  TSR_ERROR_CODE_NOT_FOUND = 7,          /* e.g. a device index that does not exist */
  TSR_ERROR_CODE_FAILED_PRECONDITION = 8 /* called in the wrong state */
} tsr_error_code;

/* Made by the plugin, owned by whoever receives it. `message` is NUL-terminated UTF-8 and
 * stays valid until destroy(self). destroy is never NULL. */
typedef struct tsr_error {
  size_t struct_size;
  tsr_error_code code;
  const char* message;
  void (*destroy)(struct tsr_error* self);
} tsr_error;

/* ------------------------------------------------------------------------------------ */
/* Host services, passed to the plugin at load                                           */
/* ------------------------------------------------------------------------------------ */

typedef enum tsr_log_level {
  TSR_LOG_LEVEL_TRACE = 0,
  TSR_LOG_LEVEL_DEBUG = 1,
  TSR_LOG_LEVEL_INFO = 2,
  TSR_LOG_LEVEL_WARN = 3,
  TSR_LOG_LEVEL_ERROR = 4
} tsr_log_level;

/* Status codes of host services (they return int, not tsr_error*, because a plugin cannot
 * free an error the host made). */
#define TSR_HOST_OK 0
#define TSR_HOST_NOT_FOUND 1
#define TSR_HOST_TIMEOUT 2
#define TSR_HOST_TOO_SMALL 3
#define TSR_HOST_FAILED 4

/* Lives as long as the plugin is loaded; every function pointer is non-NULL and
 * thread-safe. `ctx` is passed back unchanged to each function. */
typedef struct tsr_host_api {
  size_t struct_size;
  void* ctx;
  /* Log one message; `plugin` is the plugin's name. Never blocks for long. */
  void (*log)(void* ctx, tsr_log_level level, const char* plugin, const char* message);
  /* Option lookup ("cpu.num_threads", "cpu.isa", …). Returns NULL when unset. The string
   * stays valid while the plugin is loaded. */
  const char* (*get_option)(void* ctx, const char* key);
  /* Key-value store for collective bootstrap (e.g. NCCL unique ids across ranks).
   * kv_set copies `value`. kv_get blocks up to timeout_ms (negative: forever) until the key
   * exists, then copies at most `capacity` bytes to `value` and stores the value's full size
   * in *size; it returns TSR_HOST_TOO_SMALL if capacity < size. */
  int (*kv_set)(void* ctx, const char* key, const void* value, size_t size);
  int (*kv_get)(void* ctx, const char* key, void* value, size_t capacity, size_t* size,
                int64_t timeout_ms);
  /* Nonzero once the host wants long-running work (prepacking, profiling, diagnostics,
   * collective setup) to stop. Plugins poll it and return TSR_ERROR_CODE_CANCELLED. */
  int (*cancel_requested)(void* ctx);
} tsr_host_api;

/* ------------------------------------------------------------------------------------ */
/* Types and handles                                                                     */
/* ------------------------------------------------------------------------------------ */

typedef enum tsr_dtype {
  TSR_DTYPE_INVALID = 0,
  TSR_DTYPE_F32 = 1,
  TSR_DTYPE_F16 = 2,
  TSR_DTYPE_BF16 = 3,
  TSR_DTYPE_I32 = 4,
  TSR_DTYPE_I64 = 5,
  TSR_DTYPE_U8 = 6,
  TSR_DTYPE_I8 = 7,
  TSR_DTYPE_FP8_E4M3 = 8,
  TSR_DTYPE_U64 = 9
} tsr_dtype;
#define TSR_DTYPE_BIT(d) (1ull << (d))

typedef enum tsr_device_type {
  TSR_DEVICE_TYPE_CPU = 0,
  TSR_DEVICE_TYPE_CUDA = 1,
  TSR_DEVICE_TYPE_XPU = 2,
  TSR_DEVICE_TYPE_OTHER = 3
} tsr_device_type;

/* Canonical weight formats the core hands to weight_prepack. Layouts (row-major, rows =
 * output features N, cols = input features K):
 *   F32/F16/BF16       data: [N][K] of that type; scales unused.
 *   INT8_PER_CHANNEL   data: int8 [N][K]; scales: f32 [N]; w = q * scale[n].
 *   INT8_GROUP         data: int8 [N][K]; scales: f32 [N][K/group_size];
 *                      w = q * scale[n][k/group_size]   (GGUF Q8_0 maps here, group 32).
 *   INT4_GROUP         data: uint8 [N][K/2], element k in the low nibble when k is even,
 *                      high nibble when odd; nibble u in 0..15; scales f32 [N][K/group_size];
 *                      w = (u - 8) * scale           (GGUF Q4_0 maps here, group 32).
 *   FP8_E4M3           data: e4m3fn bytes [N][K]; scales f32 [N]; w = fp8(q) * scale[n].
 *   INT4_GROUP_ASYM    (ABI 1.1) data as INT4_GROUP; scales and mins f32 [N][K/group_size];
 *                      w = u * scale + min          (GGUF Q4_1 maps here, group 32).
 *   INT8_GROUP_ASYM    (ABI 1.2) data: uint8 [N][K], code u in 0..255; scales and mins f32
 *                      [N][K/group_size]; w = u * scale + min
 *                      (GGUF Q5_1 and Q5_K map here, group 32, codes 0..31).
 * A plugin lists the formats it takes in tsr_device_properties.weight_formats; the core
 * never hands it another. */
typedef enum tsr_weight_format {
  TSR_WEIGHT_FORMAT_F32 = 0,
  TSR_WEIGHT_FORMAT_F16 = 1,
  TSR_WEIGHT_FORMAT_BF16 = 2,
  TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL = 3,
  TSR_WEIGHT_FORMAT_INT8_GROUP = 4,
  TSR_WEIGHT_FORMAT_INT4_GROUP = 5,
  TSR_WEIGHT_FORMAT_FP8_E4M3 = 6,
  TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM = 7,
  TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM = 8
} tsr_weight_format;
#define TSR_WEIGHT_FORMAT_BIT(f) (1u << (f))

typedef enum tsr_buffer_kind {
  TSR_BUFFER_KIND_DEVICE = 0,     /* device memory (for the CPU plugin: host memory) */
  TSR_BUFFER_KIND_HOST_PINNED = 1 /* page-locked host memory, host-visible, for swap space */
} tsr_buffer_kind;

/* Opaque handles, owned by the plugin. Each has a destroy/free call; destroying a device
 * requires that everything made on it was destroyed first. */
typedef struct tsr_device_s* tsr_device_t;
typedef struct tsr_buffer_s* tsr_buffer_t;
typedef struct tsr_stream_s* tsr_stream_t;
typedef struct tsr_event_s* tsr_event_t;
typedef struct tsr_weight_s* tsr_weight_t;
typedef struct tsr_graph_s* tsr_graph_t;
typedef struct tsr_comm_s* tsr_comm_t;

#define TSR_MAX_DIMS 4

/* A dense, row-major (C-contiguous) tensor view: `shape[0..ndim)` elements of `dtype`
 * starting `offset` bytes into `buffer`. The view does not own the buffer. */
typedef struct tsr_tensor {
  size_t struct_size;
  tsr_buffer_t buffer;
  size_t offset;
  tsr_dtype dtype;
  int32_t ndim;
  int64_t shape[TSR_MAX_DIMS];
} tsr_tensor;

/* Device capabilities (bit flags in tsr_device_properties.caps). */
#define TSR_DEVICE_CAP_GRAPHS (1ull << 0)       /* graph capture/launch is implemented */
#define TSR_DEVICE_CAP_COLLECTIVES (1ull << 1)  /* the collectives table works here */
#define TSR_DEVICE_CAP_PINNED_HOST (1ull << 2)  /* TSR_BUFFER_KIND_HOST_PINNED is real pinning */
#define TSR_DEVICE_CAP_UNIFIED_HOST (1ull << 3) /* device buffers are host-addressable */
/* ABI 1.3: linear takes out_parts (one GEMM writes q, k and v to their own tensors). */
#define TSR_DEVICE_CAP_LINEAR_OUT_PARTS (1ull << 4)

/* Filled by device_get_properties. The caller sets struct_size to the size it knows; the
 * plugin writes only fields that fit and leaves struct_size unchanged. */
typedef struct tsr_device_properties {
  size_t struct_size;
  char name[256]; /* "NVIDIA H100 80GB HBM3", "Intel Xeon … (AVX-512)" */
  char vendor[64];
  char pci_bus_id[32]; /* "0000:01:00.0", empty when not a PCI device */
  tsr_device_type type;
  uint64_t total_memory;  /* bytes usable for buffers */
  uint32_t compute_units; /* SMs, EUs or cores */
  uint32_t reserved0;
  uint64_t caps;              /* TSR_DEVICE_CAP_* */
  uint64_t activation_dtypes; /* TSR_DTYPE_BIT set of dtypes the ops accept as activations */
  uint64_t kv_cache_dtypes;   /* TSR_DTYPE_BIT set usable as KV cache dtype */
  uint32_t weight_formats;    /* TSR_WEIGHT_FORMAT_BIT set accepted by weight_prepack */
  uint32_t reserved1;
  uint64_t memory_bandwidth; /* bytes/s, theoretical peak; 0 when unknown */
} tsr_device_properties;

/* ------------------------------------------------------------------------------------ */
/* Weights                                                                                */
/* ------------------------------------------------------------------------------------ */

/* A canonical weight (see tsr_weight_format for layouts). All pointers refer to host memory
 * that must stay valid only for the duration of weight_prepack; the plugin copies and
 * re-lays it out in its own format. */
typedef struct tsr_weight_desc {
  size_t struct_size;
  tsr_weight_format format;
  int64_t rows;       /* N: output features */
  int64_t cols;       /* K: input features */
  int64_t group_size; /* group-wise formats: elements per group along K (divides K) */
  const void* data;
  const float* scales;     /* NULL for F32/F16/BF16 */
  tsr_dtype compute_dtype; /* activation dtype linear will be called with (F32 or BF16/F16) */
  /* ABI 1.1: the *_ASYM formats' per-group offsets, laid out as scales; NULL otherwise. */
  const float* mins;
} tsr_weight_desc;

/* ------------------------------------------------------------------------------------ */
/* KV cache                                                                               */
/* ------------------------------------------------------------------------------------ */

/* One layer's KV cache is one buffer of `num_blocks` blocks of kv_block_bytes each, block
 * outermost. A block holds keys and values of `block_size` consecutive token slots for all
 * KV heads; its inner layout is the plugin's. A slot index is block * block_size + offset.
 * Copy and swap move whole blocks as bytes, so any layout works with them. */
typedef struct tsr_kv_layout {
  size_t struct_size;
  int32_t num_kv_heads;
  int32_t head_dim;
  int32_t block_size; /* tokens per block */
  tsr_dtype dtype;    /* KV element type: F32, F16, BF16 (FP8_E4M3 where supported) */
} tsr_kv_layout;

/* ------------------------------------------------------------------------------------ */
/* Op parameters (one struct per op of ops.def)                                           */
/* Shapes: T = tokens in the flat batch, H = hidden size, B = sequences, V = vocabulary.  */
/* Unless stated, inputs and outputs share one activation dtype (F32, BF16 or F16) and an */
/* output may not alias an input.                                                        */
/* ------------------------------------------------------------------------------------ */

/* out[t, :] = table[ids[t], :]. ids: I32 [T], each in [0, V); table: [V, H];
 * out: [T, H] of table's dtype. An id out of range is INVALID_ARGUMENT where the plugin can
 * see it and must never read out of bounds. */
typedef struct tsr_embedding_params {
  size_t struct_size;
  tsr_tensor ids;
  tsr_tensor table;
  tsr_tensor out;
} tsr_embedding_params;

/* x: [R, H]; weight: [H]; out: [R, H].
 * Without residual: out = x / sqrt(mean(x^2) + eps) * weight.
 * With residual (residual.buffer != NULL, [R, H]): residual = residual + x (in place, in the
 * activation dtype), then out = rms_norm(residual) * weight — vLLM's fused_add_rms_norm.
 * The normalisation is computed in f32 whatever the activation dtype. */
typedef struct tsr_rms_norm_params {
  size_t struct_size;
  tsr_tensor x;
  tsr_tensor weight;
  tsr_tensor residual;
  tsr_tensor out;
  float eps;
} tsr_rms_norm_params;

/* out[M, N] = x[M, K] · W^T (+ bias[N] when bias.buffer != NULL). weight was prepacked with
 * rows = N, cols = K. Accumulation is at least f32. bias has x's dtype. out has x's dtype,
 * or F32 whatever x's dtype (so logits come out in f32 from bf16/f16 activations).
 * Rounding of the inputs a plugin may do for speed (the conformance suite bounds the error
 * each case can get from it and accepts nothing beyond):
 *   - BF16/F16 activations: the (dequantized) weight may be rounded to x's dtype.
 *   - INT8_PER_CHANNEL, INT8_GROUP, INT4_GROUP weights: each row of x may be rounded to int8
 *     with one scale absmax/127 per block of at most 32 consecutive elements along K that
 *     does not cross a multiple of 32 (llama.cpp's Q8_0 scheme, for integer dot products).
 *   - FP8_E4M3 weights: x may be rounded to e4m3 with one scale amax/448 for the whole
 *     tensor (dynamic per-tensor fp8 activations). */
typedef struct tsr_linear_params {
  size_t struct_size;
  tsr_tensor x;
  tsr_weight_t weight;
  tsr_tensor bias;
  tsr_tensor out;
  /* ABI 1.3, only on a device with TSR_DEVICE_CAP_LINEAR_OUT_PARTS (any other plugin refuses
   * a present part with INVALID_ARGUMENT; a struct_size that ends before this field, or
   * absent parts, mean one output): the output's columns split across tensors. With
   * out_parts[0] present, out is [M, N0], out_parts[0] [M, N1] and out_parts[1] (may be
   * absent) [M, N2], N0 + N1 + N2 = N, all of out's dtype, none overlapping x, bias or each
   * other; they hold columns [0, N0), [N0, N0 + N1) and the rest of the unsplit result, with
   * the same values the unsplit call writes. Why: q, k and v fused into one weight are one
   * GEMM (one pass over the weights, one quantization of x, one op) while rope, the KV write
   * and attention keep their dense q, k and v tensors. */
  tsr_tensor out_parts[2];
} tsr_linear_params;

typedef enum tsr_rope_scaling {
  TSR_ROPE_SCALING_NONE = 0,
  TSR_ROPE_SCALING_LINEAR = 1,  /* position / factor */
  TSR_ROPE_SCALING_LLAMA3 = 2,  /* Llama 3.1 frequency-dependent scaling */
  TSR_ROPE_SCALING_LONGROPE = 3 /* ABI 1.2: Phi-3 LongRoPE ("longrope", formerly "su") */
} tsr_rope_scaling;

/* Rotary embedding, in place on query [T, Hq, D] and key [T, Hk, D] (key may be absent:
 * key.buffer == NULL). positions: I32 [T]. The first rotary_dim (even, <= D) dims rotate.
 *   inv_freq[i] = theta^(-2i/rotary_dim), i in [0, rotary_dim/2), then scaled:
 *     LINEAR: inv_freq /= factor
 *     LLAMA3: wavelen = 2π/inv_freq; low = original_max_position/low_freq_factor,
 *             high = original_max_position/high_freq_factor;
 *             wavelen > low  -> inv_freq / factor;  wavelen < high -> unchanged;
 *             else s = (original_max_position/wavelen - low_freq_factor) /
 *                      (high_freq_factor - low_freq_factor),
 *                  inv_freq = (1 - s) * inv_freq / factor + s * inv_freq
 *   angle = position * inv_freq[i]; computed in f32.
 *     LONGROPE (ABI 1.2): inv_freq[i] /= factors[i], where factors is long_factors for a
 *             token at position >= original_max_position and short_factors otherwise
 *             (decided per token, so a token's rotation never depends on the batch it
 *             runs in); then cos and sin are multiplied by attention_factor.
 * neox_style != 0: dims (i, i + rotary_dim/2) are a pair (Llama, Qwen: rotate_half);
 * neox_style == 0: dims (2i, 2i + 1) are a pair (GPT-J, GGUF-permuted weights).
 *   (a, b) -> (a cos - b sin, b cos + a sin). */
typedef struct tsr_rope_params {
  size_t struct_size;
  tsr_tensor query;
  tsr_tensor key;
  tsr_tensor positions;
  int32_t rotary_dim;
  int32_t neox_style;
  float theta;
  tsr_rope_scaling scaling;
  float factor;
  float low_freq_factor;
  float high_freq_factor;
  int32_t original_max_position;
  /* ABI 1.2, read only when scaling == LONGROPE (which requires them: a struct_size that
   * ends before them is INVALID_ARGUMENT): host arrays of rotary_dim/2 positive floats each,
   * read during the call only (like copy_blocks' ids: the frequencies are fixed per model
   * and small), and the cos/sin multiplier (> 0). */
  const float* short_factors;
  const float* long_factors;
  float attention_factor;
} tsr_rope_params;

/* Writes key/value [T, Hkv, D] into one layer's cache at slots slot_mapping (I64 [T]); a
 * negative slot skips that token (padding). Values convert to layout.dtype. */
typedef struct tsr_kv_cache_write_params {
  size_t struct_size;
  tsr_tensor key;
  tsr_tensor value;
  tsr_tensor slot_mapping;
  tsr_buffer_t cache;
  tsr_kv_layout layout;
  int64_t num_blocks;
} tsr_kv_cache_write_params;

/* The inverse of kv_cache_write: key/value [T, Hkv, D] (activation dtype) = cache at slots
 * (I64 [T], all >= 0). For debugging, conformance and tests; not on the hot path. */
typedef struct tsr_kv_cache_read_params {
  size_t struct_size;
  tsr_tensor slot_mapping;
  tsr_buffer_t cache;
  tsr_kv_layout layout;
  int64_t num_blocks;
  tsr_tensor key;
  tsr_tensor value;
} tsr_kv_cache_read_params;

/* Paged attention over a flat mixed batch of B sequences (prefill chunks and decode rows
 * together). Sequence b owns query rows [query_start_loc[b], query_start_loc[b+1]) of
 * query [T, Hq, D]; its context holds seq_lens[b] tokens (already written to the cache,
 * including this step's), stored in blocks block_tables[b, 0..ceil(seq_lens[b]/block_size)).
 * Query row i of b sits at position seq_lens[b] - q_len_b + i and attends causally to
 * context positions <= its own (and > position - sliding_window when sliding_window > 0).
 * GQA: query head h reads KV head h / (Hq / Hkv).
 *   out[t, h, :] = softmax(scale * q·K^T (+ soft-capping when logit_softcap > 0:
 *                  cap * tanh(s / cap))) · V, accumulated in f32.
 * query_start_loc: I32 [B+1] (query_start_loc[0] = 0, [B] = T); seq_lens: I32 [B];
 * block_tables: I32 [B, max_blocks_per_seq]; out: [T, Hq, D]. */
typedef struct tsr_paged_attention_params {
  size_t struct_size;
  tsr_tensor query;
  tsr_tensor out;
  tsr_buffer_t cache;
  tsr_kv_layout layout;
  int64_t num_blocks;
  tsr_tensor query_start_loc;
  tsr_tensor seq_lens;
  tsr_tensor block_tables;
  int32_t num_query_heads;
  int32_t max_seq_len; /* upper bound of seq_lens, a hint for tiling */
  float scale;
  int32_t sliding_window;
  float logit_softcap;
} tsr_paged_attention_params;

/* x: [T, 2I] = [gate | up]; out: [T, I] = silu(gate) * up, computed in f32. */
typedef struct tsr_silu_mul_params {
  size_t struct_size;
  tsr_tensor x;
  tsr_tensor out;
} tsr_silu_mul_params;

/* ABI 1.2. GeGLU (Gemma): x: [T, 2I] = [gate | up]; out: [T, I] = gelu_tanh(gate) * up,
 * computed in f32, with the tanh approximation of GELU (PyTorch's approximate="tanh"):
 *   gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))). */
typedef struct tsr_gelu_tanh_mul_params {
  size_t struct_size;
  tsr_tensor x;
  tsr_tensor out;
} tsr_gelu_tanh_mul_params;

/* out = a + b, elementwise, same shape and dtype. out may alias a or b. */
typedef struct tsr_add_params {
  size_t struct_size;
  tsr_tensor a;
  tsr_tensor b;
  tsr_tensor out;
} tsr_add_params;

/* out[m, :] = x[indices[m], :]. x: [N, C]; indices: I32 [M] in [0, N); out: [M, C]. Any
 * dtype; rows are copied as bytes. Used to keep only the rows whose logits are wanted. */
typedef struct tsr_gather_rows_params {
  size_t struct_size;
  tsr_tensor x;
  tsr_tensor indices;
  tsr_tensor out;
} tsr_gather_rows_params;

/* Per-row sampling. logits: F32 [B, V]. Per-row parameter tensors are F32 [B] unless noted.
 * For each row, in order:
 *   1. penalties over that row's token history (history_tokens I32 [total] with
 *      history_offsets I32 [B+1]; history_prompt_lens I32 [B] marks the first
 *      history_prompt_lens[b] entries as prompt, the rest as generated output):
 *        repetition (r != 1): for every token seen in prompt or output,
 *          l = l > 0 ? l / r : l * r;
 *        frequency f, presence p (output tokens only): l -= f * count + p * (count > 0).
 *   2. temperature t: t <= 0 (or < 1e-5) means greedy (argmax, lowest index on ties);
 *      otherwise l /= t.
 *   3. top_k (I32; <= 0 or >= V: off), top_p (in (0, 1]; 1: off), min_p (in [0, 1); 0: off;
 *      keeps tokens with prob >= min_p * max prob) restrict the candidates.
 *   4. draw from softmax over the survivors with a generator seeded from seeds (U64 [B])
 *      and step (counter-based, so the same (seed, step, logits) gives the same token).
 * out_tokens: I32 [B]. out_logprobs (optional, F32 [B]): log-softmax of the chosen token
 * over the processed logits (after penalties, before temperature, vLLM's "raw" choice is
 * not used). top_logprobs (optional: num_top_logprobs > 0): top_ids I32 [B, N] and
 * top_values F32 [B, N] of the same distribution, best first, ties by lower id. */
typedef struct tsr_sample_params {
  size_t struct_size;
  tsr_tensor logits;
  tsr_tensor temperature;
  tsr_tensor top_k;
  tsr_tensor top_p;
  tsr_tensor min_p;
  tsr_tensor repetition_penalty;
  tsr_tensor presence_penalty;
  tsr_tensor frequency_penalty;
  tsr_tensor seeds;
  uint64_t step;
  tsr_tensor history_tokens;
  tsr_tensor history_offsets;
  tsr_tensor history_prompt_lens;
  tsr_tensor out_tokens;
  tsr_tensor out_logprobs;
  int32_t num_top_logprobs;
  tsr_tensor top_ids;
  tsr_tensor top_values;
} tsr_sample_params;

/* Copies whole blocks within or between KV buffers on one device:
 * for each i: block dst_ids[i] of dst = block src_ids[i] of src, as block_bytes raw bytes.
 * src_ids, dst_ids: I64 host arrays of num_pairs entries (read during the call only).
 * Used for copy-on-write of shared prefix blocks. Pairs may not write one block twice. */
typedef struct tsr_copy_blocks_params {
  size_t struct_size;
  tsr_buffer_t src;
  tsr_buffer_t dst;
  size_t block_bytes;
  const int64_t* src_ids;
  const int64_t* dst_ids;
  int64_t num_pairs;
} tsr_copy_blocks_params;

typedef enum tsr_swap_direction {
  TSR_SWAP_DIRECTION_OUT = 0, /* device KV buffer -> host pinned swap buffer */
  TSR_SWAP_DIRECTION_IN = 1   /* host pinned swap buffer -> device KV buffer */
} tsr_swap_direction;

/* Moves whole blocks between a device KV buffer and a TSR_BUFFER_KIND_HOST_PINNED buffer:
 * OUT: host block dst_ids[i] = device block src_ids[i]; IN: the reverse direction, with
 * src_ids indexing the host buffer. Asynchronous on `stream`. */
typedef struct tsr_swap_blocks_params {
  size_t struct_size;
  tsr_buffer_t device_buffer;
  tsr_buffer_t host_buffer;
  tsr_swap_direction direction;
  size_t block_bytes;
  const int64_t* src_ids;
  const int64_t* dst_ids;
  int64_t num_pairs;
} tsr_swap_blocks_params;

/* ------------------------------------------------------------------------------------ */
/* The op table (generated from ops.def)                                                 */
/* ------------------------------------------------------------------------------------ */

typedef enum tsr_op_id {
#define TSR_OP(UPPER, lower, params) TSR_OP_##UPPER,
#include "tessera/ops.def"
#undef TSR_OP
  TSR_OP_COUNT
} tsr_op_id;

/* Every field may be NULL: the op is unimplemented (op_supported then answers 0). Each op
 * validates its params (struct_size, dtypes, shapes) and returns INVALID_ARGUMENT with a
 * message naming the field on a mismatch; it never reads or writes out of bounds. */
typedef struct tsr_ops_api {
  size_t struct_size;
#define TSR_OP(UPPER, lower, params) \
  tsr_error* (*lower)(tsr_stream_t stream, const struct params* p);
#include "tessera/ops.def"
#undef TSR_OP
} tsr_ops_api;

/* ------------------------------------------------------------------------------------ */
/* Collectives (extension: the table pointer may be NULL)                                 */
/* ------------------------------------------------------------------------------------ */

#define TSR_COMM_ID_BYTES 128
typedef struct tsr_comm_id {
  size_t struct_size;
  uint8_t bytes[TSR_COMM_ID_BYTES];
} tsr_comm_id;

typedef enum tsr_reduce_op { TSR_REDUCE_OP_SUM = 0, TSR_REDUCE_OP_MAX = 1 } tsr_reduce_op;

/* Rank 0 makes a unique id, shares it (e.g. through host kv_set/kv_get) and every rank
 * calls comm_init with it. Collective calls are enqueued on the given stream and must be
 * issued in the same order on every rank. */
typedef struct tsr_collectives_api {
  size_t struct_size;
  tsr_error* (*unique_id)(tsr_device_t device, tsr_comm_id* out);
  tsr_error* (*comm_init)(tsr_device_t device, int32_t num_ranks, int32_t rank,
                          const tsr_comm_id* id, tsr_comm_t* out);
  tsr_error* (*comm_destroy)(tsr_comm_t comm);
  /* out = reduce(in over ranks); out may alias in. */
  tsr_error* (*all_reduce)(tsr_comm_t comm, tsr_stream_t stream, const tsr_tensor* in,
                           const tsr_tensor* out, tsr_reduce_op op);
  /* out ([num_ranks * n] elements) = concatenation of every rank's in ([n] elements). */
  tsr_error* (*all_gather)(tsr_comm_t comm, tsr_stream_t stream, const tsr_tensor* in,
                           const tsr_tensor* out);
  /* every rank's tensor = root's tensor, in place. */
  tsr_error* (*broadcast)(tsr_comm_t comm, tsr_stream_t stream, const tsr_tensor* tensor,
                          int32_t root);
} tsr_collectives_api;

/* ------------------------------------------------------------------------------------ */
/* Diagnostics                                                                            */
/* ------------------------------------------------------------------------------------ */

typedef enum tsr_diag_status {
  TSR_DIAG_STATUS_OK = 0,
  TSR_DIAG_STATUS_WARN = 1,
  TSR_DIAG_STATUS_FAIL = 2,
  TSR_DIAG_STATUS_UNKNOWN = 3,
  TSR_DIAG_STATUS_NEEDS_ROOT = 4 /* could not be read without privileges: not a "no" */
} tsr_diag_status;

/* One finding. Strings are UTF-8, valid only during push (the host copies them); any but
 * key may be NULL. Standard keys (docs/diagnostics-keys.md lists them all):
 *   driver.version, driver.cuda_version, runtime.version, device.N.name,
 *   gpu.N.freq.sm.current / .max, gpu.N.freq.mem.current / .max, gpu.N.freq.locked,
 *   gpu.N.throttle_reasons, gpu.N.persistence_mode, gpu.N.ecc,
 *   pcie.N.link.gen.current / .max, pcie.N.link.width.current / .max,
 *   pcie.N.rebar.bar_size / .vram / .enabled, pcie.N.above4g,
 *   cpu.isa, cpu.threads, cpu.affinity, cpu.governor, onednn.version. */
typedef struct tsr_diag_item {
  size_t struct_size;
  const char* key;
  const char* value;
  const char* unit;
  tsr_diag_status status;
  const char* source; /* "nvml", "sysfs", "level-zero-sysman", "onednn" … */
  const char* hint;   /* what to do when status is not OK */
} tsr_diag_item;

typedef struct tsr_diag_sink {
  size_t struct_size;
  void* ctx;
  void (*push)(void* ctx, const tsr_diag_item* item);
} tsr_diag_sink;

/* ------------------------------------------------------------------------------------ */
/* The plugin's function table                                                           */
/* ------------------------------------------------------------------------------------ */

typedef struct tsr_plugin_api {
  size_t struct_size;
  uint32_t abi_major; /* TSR_ABI_VERSION_MAJOR the plugin was built with */
  uint32_t abi_minor;
  const char* name;    /* short, unique: "cpu", "cuda", "xpu"; static storage */
  const char* version; /* the plugin's own version string; static storage */
  tsr_device_type device_type;

  /* Lifecycle. initialize is called once, before anything else but device_count may be
   * called; it starts the runtime (may be slow). It fails with UNAVAILABLE when the driver
   * is missing. shutdown is called once, last, after everything made was destroyed. */
  tsr_error* (*initialize)(void);
  void (*shutdown)(void);

  /* Devices. device_count succeeds with 0 when the runtime exists but no device does. */
  tsr_error* (*device_count)(int32_t* count);
  tsr_error* (*device_get_properties)(int32_t index, tsr_device_properties* props);
  tsr_error* (*device_open)(int32_t index, tsr_device_t* out);
  tsr_error* (*device_close)(tsr_device_t device);
  tsr_error* (*device_memory_info)(tsr_device_t device, uint64_t* free_bytes,
                                   uint64_t* total_bytes);

  /* Buffers. Zero-byte allocations succeed with a valid handle. buffer_host_ptr returns the
   * host address of a host-visible buffer (HOST_PINNED always; DEVICE when the device caps
   * include UNIFIED_HOST), else UNIMPLEMENTED. Freeing waits for no stream: the caller
   * synchronizes first. */
  tsr_error* (*buffer_alloc)(tsr_device_t device, size_t bytes, tsr_buffer_kind kind,
                             tsr_buffer_t* out);
  tsr_error* (*buffer_free)(tsr_buffer_t buffer);
  tsr_error* (*buffer_host_ptr)(tsr_buffer_t buffer, void** out);

  /* Streams and events. */
  tsr_error* (*stream_create)(tsr_device_t device, tsr_stream_t* out);
  tsr_error* (*stream_destroy)(tsr_stream_t stream);
  tsr_error* (*stream_synchronize)(tsr_stream_t stream);
  tsr_error* (*event_create)(tsr_device_t device, tsr_event_t* out);
  tsr_error* (*event_destroy)(tsr_event_t event);
  tsr_error* (*event_record)(tsr_event_t event, tsr_stream_t stream);
  tsr_error* (*event_synchronize)(tsr_event_t event);
  tsr_error* (*stream_wait_event)(tsr_stream_t stream, tsr_event_t event);
  /* Milliseconds between two recorded and completed events. */
  tsr_error* (*event_elapsed_ms)(tsr_event_t start, tsr_event_t end, float* ms);

  /* Copies, asynchronous on `stream`. Host pointers must stay valid and unchanged until
   * the stream is synchronized (or, for h2d from pageable memory, until the call returns:
   * plugins stage pageable sources). Ranges must lie inside the buffers. */
  tsr_error* (*memcpy_h2d)(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset,
                           const void* src, size_t bytes);
  tsr_error* (*memcpy_d2h)(tsr_stream_t stream, void* dst, tsr_buffer_t src, size_t src_offset,
                           size_t bytes);
  tsr_error* (*memcpy_d2d)(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset,
                           tsr_buffer_t src, size_t src_offset, size_t bytes);
  tsr_error* (*memset_d)(tsr_stream_t stream, tsr_buffer_t dst, size_t offset, int value,
                         size_t bytes);

  /* Weights: prepack once at load, into the plugin's layout; the handle is immutable and
   * may be used from any stream of its device. weight_bytes reports device bytes held. */
  tsr_error* (*weight_prepack)(tsr_device_t device, const tsr_weight_desc* desc, tsr_weight_t* out);
  tsr_error* (*weight_destroy)(tsr_weight_t weight);
  tsr_error* (*weight_bytes)(tsr_weight_t weight, uint64_t* bytes);

  /* KV: the byte size of one block for one layer with this layout (keys and values). */
  tsr_error* (*kv_block_bytes)(tsr_device_t device, const tsr_kv_layout* layout, uint64_t* bytes);

  /* Ops. op_supported answers without side effects whether `op` with these params (NULL:
   * in general) would run on `device`: 1 yes, 0 no. */
  const tsr_ops_api* ops;
  int (*op_supported)(tsr_device_t device, tsr_op_id op, const void* params);

  /* Optional graph capture (TSR_DEVICE_CAP_GRAPHS); all four NULL when not offered. */
  tsr_error* (*graph_begin_capture)(tsr_stream_t stream);
  tsr_error* (*graph_end_capture)(tsr_stream_t stream, tsr_graph_t* out);
  tsr_error* (*graph_launch)(tsr_graph_t graph, tsr_stream_t stream);
  tsr_error* (*graph_destroy)(tsr_graph_t graph);

  /* Optional extension tables (NULL when not offered). */
  const tsr_collectives_api* collectives;

  /* Diagnostics: push every finding the plugin can make about its drivers and devices to
   * the sink, synchronously. Works without initialize (no device runtime required) and
   * never fails because hardware is missing: it reports that as an item. */
  tsr_error* (*diagnose)(const tsr_diag_sink* sink);
} tsr_plugin_api;

/* ------------------------------------------------------------------------------------ */
/* Exports                                                                               */
/* ------------------------------------------------------------------------------------ */

/* Required. Called once, first. `host` lives until the plugin is unloaded. Returns the
 * plugin's table (static storage), or NULL when the plugin refuses the host's version (it
 * logs why through host->log). Must not start a device runtime. */
typedef const tsr_plugin_api* (*tsr_plugin_get_api_fn)(const tsr_host_api* host, uint32_t abi_major,
                                                       uint32_t abi_minor);
#define TSR_PLUGIN_GET_API_SYMBOL "tsr_plugin_get_api"

/* Optional. How well this plugin fits this machine: 0 = cannot run here, higher = better
 * (the loader's `--device auto` picks the highest). Side-effect free and cheap: it may
 * look for a driver library or device node but must not initialize a device runtime. */
typedef int32_t (*tsr_plugin_score_fn)(void);
#define TSR_PLUGIN_SCORE_SYMBOL "tsr_plugin_score"

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TESSERA_PLUGIN_H */
