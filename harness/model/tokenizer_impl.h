/* tokenizer_impl.h — the tokenizer's internals shared by tokenizer.c
 * (vocabulary, lookups, decoding) and tokenizer_spm.c (encoding). Not part
 * of the public interface: include tokenizer.h instead. */
#ifndef DFIT_MODEL_TOKENIZER_IMPL_H
#define DFIT_MODEL_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer.h"

#define DFIT_TOKENIZER_MAX_VOCAB (1u << 24)       /* pieces */
#define DFIT_TOKENIZER_MAX_PIECE_BYTES (1u << 20) /* bytes in one piece */
#define DFIT_TOKENIZER_MAX_TEXT_BYTES (1u << 28)  /* bytes one encode call accepts */

#define DFIT_TOKENIZER_SPACE_MARK "\xe2\x96\x81" /* U+2581 "▁", 3 bytes */

struct dfit_tokenizer {
    uint32_t n_vocab;
    char *arena;                /* every piece, each followed by a NUL */
    size_t *off;                /* [n_vocab] start of the piece in arena */
    uint32_t *len;              /* [n_vocab] piece length in bytes */
    float *score;               /* [n_vocab] */
    uint8_t *type;              /* [n_vocab] enum dfit_token_type */
    int32_t bos, eos, unk, pad; /* -1: none */
    bool add_space_prefix, add_bos;
    uint32_t max_len;           /* longest piece in bytes */
    int32_t byte_id[256];       /* byte fallback id per byte value, -1: none */
    uint32_t slot_mask;         /* n_slots - 1, n_slots a power of two >= 2 n_vocab */
    int32_t *slots;             /* [n_slots] piece id, -1 for an empty slot */
};

#endif
