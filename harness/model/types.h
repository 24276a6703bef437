/* types.h — tensor element types and their block codecs.
 *
 * The ids and block layouts are ggml's (llama.cpp), bit for bit, so files
 * dfit writes load in llama.cpp and vice versa:
 *   F32  (id 0)  4 bytes/element
 *   F16  (id 1)  IEEE binary16
 *   Q4_0 (id 2)  32 elements/block: fp16 d, 16 bytes; element j in the low
 *                nibble and j+16 in the high nibble of byte j; x = d*(q-8)
 *   Q8_0 (id 8)  32 elements/block: fp16 d, 32 int8; x = d*q
 *   BF16 (id 30) bfloat16 (upper half of an F32, round to nearest even)
 * The quantizers reproduce ggml's quantize_row_*_ref exactly.
 * Non-goal: K-quants and the other ggml types (they are rejected as
 * unsupported by name, see dfit_type_ggml_name).
 */
#ifndef DFIT_MODEL_TYPES_H
#define DFIT_MODEL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dfit_type {
    DFIT_TYPE_F32 = 0,
    DFIT_TYPE_F16 = 1,
    DFIT_TYPE_Q4_0 = 2,
    DFIT_TYPE_Q8_0 = 8,
    DFIT_TYPE_BF16 = 30,
};

#define DFIT_QK 32 /* elements per Q4_0 / Q8_0 block */

typedef uint16_t dfit_fp16; /* IEEE binary16 bits */
typedef uint16_t dfit_bf16; /* bfloat16 bits */

struct dfit_block_q8_0 {
    dfit_fp16 d;          /* scale */
    int8_t qs[DFIT_QK];   /* quants */
};

struct dfit_block_q4_0 {
    dfit_fp16 d;              /* scale */
    uint8_t qs[DFIT_QK / 2];  /* nibbles: j low, j+16 high */
};

_Static_assert(sizeof(struct dfit_block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(struct dfit_block_q4_0) == 18, "Q4_0 block is 18 bytes");

struct dfit_type_info {
    const char *name;     /* "f32", "f16", "bf16", "q8_0", "q4_0" */
    int64_t block_size;   /* elements per block (1 for float types) */
    size_t block_bytes;   /* bytes per block */
    bool quantized;
};

/* Info for a supported type, or NULL if `id` is not one dfit supports. */
const struct dfit_type_info *dfit_type_info(uint32_t id);

/* Name of any ggml type id ("q4_k", ...) for error messages, or NULL if the
 * id is unknown to ggml as well. */
const char *dfit_type_ggml_name(uint32_t id);

/* Parses "f32", "F16", "bf16", "q8_0", "q4_0" (case-insensitive). Returns 0
 * and sets *out, or -1 if the name is not a supported type. */
int dfit_type_from_name(const char *name, enum dfit_type *out);

/* Bytes of a row of n elements of type t. Returns false if t is
 * unsupported, n is not a multiple of the block size, or the size
 * overflows. */
bool dfit_type_row_bytes(enum dfit_type t, int64_t n, size_t *out);

/* Scalar conversions, exact as ggml's (round to nearest even; NaN kept). */
float dfit_fp16_to_f32(dfit_fp16 h);
dfit_fp16 dfit_f32_to_fp16(float f);
float dfit_bf16_to_f32(dfit_bf16 h);
dfit_bf16 dfit_f32_to_bf16(float f);

/* Reference quantizers: k must be a multiple of DFIT_QK. Results equal
 * ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref bit for bit. */
void dfit_quantize_row_q8_0_ref(const float *x, struct dfit_block_q8_0 *y, int64_t k);
void dfit_quantize_row_q4_0_ref(const float *x, struct dfit_block_q4_0 *y, int64_t k);
void dfit_dequantize_row_q8_0(const struct dfit_block_q8_0 *x, float *y, int64_t k);
void dfit_dequantize_row_q4_0(const struct dfit_block_q4_0 *x, float *y, int64_t k);

/* Converts a row of n floats into type t (quantizing with the reference
 * quantizer), and back. n must suit t's block size (caller checks with
 * dfit_type_row_bytes). */
void dfit_row_from_f32(enum dfit_type t, const float *x, void *y, int64_t n);
void dfit_row_to_f32(enum dfit_type t, const void *x, float *y, int64_t n);

/* Reference dot products of one weight row (in its own format) with one
 * activation row, computed block by block as ggml's generic kernels do:
 *   F32/F16/BF16 weights: activation in F32, accumulated in double per row
 *   Q8_0/Q4_0 weights: activation already quantized to Q8_0 blocks
 *   (dfit_quantize_row_q8_0_ref), integer block dots scaled by d_w*d_x.
 * dfit_vec_dot_ref dispatches on t; `act` is float* or block_q8_0* as above. */
float dfit_vec_dot_f32(int64_t n, const float *w, const float *x);
float dfit_vec_dot_f16(int64_t n, const dfit_fp16 *w, const float *x);
float dfit_vec_dot_bf16(int64_t n, const dfit_bf16 *w, const float *x);
float dfit_vec_dot_q8_0_q8_0(int64_t n, const struct dfit_block_q8_0 *w,
                             const struct dfit_block_q8_0 *x);
float dfit_vec_dot_q4_0_q8_0(int64_t n, const struct dfit_block_q4_0 *w,
                             const struct dfit_block_q8_0 *x);
/* True when type t's dot product takes Q8_0-quantized activations. */
bool dfit_type_wants_q8_act(enum dfit_type t);
float dfit_vec_dot_ref(enum dfit_type t, int64_t n, const void *w, const void *act);

#endif
