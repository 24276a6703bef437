/* test_tokenizer — the llama SPM tokenizer (model/tokenizer.h): merges on a
 * hand-built vocabulary worked out by hand (score order, leftmost ties),
 * byte and unknown fallback, special tokens, decoding, the agreement of the
 * heap encoder with a naive quadratic one, random round trips, vocabulary
 * checks, and dfit's byte vocabulary through a real GGUF file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/tokenizer.h"
#include "util/rng.h"

#define SP "\xe2\x96\x81" /* "▁" */
#define NB 3              /* id of <0x00> in the hand vocabulary */

/* ---- the hand-built vocabulary ------------------------------------------- */

enum {
    H_SP = 259, /* "▁" */
    H_A, H_B, H_C, H_D,
    H_AB, H_BC, H_CD, H_SPA, H_SPAB, H_AA, H_EACUTE,
    H_N
};

static const struct { const char *piece; float score; } hand_extra[] = {
    {SP, -1}, {"a", -2}, {"b", -2}, {"c", -2}, {"d", -2},
    {"ab", -5}, {"bc", -5}, /* a tie */
    {"cd", -4}, {SP "a", -8}, {SP "ab", -3}, {"aa", -6}, {"\xc3\xa9", -7},
};

static char hand_bytes[256][8];

static struct dfit_tokenizer *hand_tokenizer(void)
{
    const char *pieces[H_N];
    float scores[H_N];
    int32_t types[H_N];
    pieces[0] = "<unk>", pieces[1] = "<s>", pieces[2] = "</s>";
    types[0] = DFIT_TOKEN_UNKNOWN, types[1] = types[2] = DFIT_TOKEN_CONTROL;
    scores[0] = scores[1] = scores[2] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(hand_bytes[b], sizeof hand_bytes[b], "<0x%02X>", b);
        pieces[NB + b] = hand_bytes[b];
        scores[NB + b] = 0;
        types[NB + b] = DFIT_TOKEN_BYTE;
    }
    for (int i = H_SP; i < H_N; i++) {
        pieces[i] = hand_extra[i - H_SP].piece;
        scores[i] = hand_extra[i - H_SP].score;
        types[i] = DFIT_TOKEN_NORMAL;
    }
    struct dfit_tokenizer_vocab v = {
        .n = H_N, .pieces = pieces, .scores = scores, .types = types,
        .bos = 1, .eos = 2, .unk = 0, .pad = -1, .add_space_prefix = 1, .add_bos = 1,
    };
    struct dfit_tokenizer *t = NULL;
    struct dfit_err err = {0};
    int rc = dfit_tokenizer_create(&v, &t, &err);
    if (rc)
        fail_msg("create: %s", err.msg);
    return t;
}

/* Encodes s (NUL-terminated) and checks the ids against want[n_want]. */
static void expect_ids(const struct dfit_tokenizer *t, const char *s, int add_bos, const int32_t *want,
                       size_t n_want)
{
    int32_t ids[64];
    size_t n = 0;
    struct dfit_err err = {0};
    int rc = dfit_tokenizer_encode(t, s, strlen(s), add_bos, ids, 64, &n, &err);
    if (rc)
        fail_msg("encode '%s': %s", s, err.msg);
    if (n != n_want)
        fail_msg("encode '%s': %zu ids, want %zu", s, n, n_want);
    for (size_t i = 0; i < n; i++)
        if (ids[i] != want[i])
            fail_msg("encode '%s': ids[%zu] = %d, want %d", s, i, ids[i], want[i]);
}

#define EXPECT(t, s, ...)                                                             \
    do {                                                                              \
        const int32_t want_[] = {__VA_ARGS__};                                        \
        expect_ids((t), (s), 0, want_, sizeof want_ / sizeof want_[0]);              \
    } while (0)

static void test_hand_merges(void **state)
{
    (void)state;
    struct dfit_tokenizer *t = hand_tokenizer();
    /* ▁ a b c: ab and bc tie at -5, the leftmost (ab) merges; then ▁ab (-3)
     * beats everything; bc is stale. (bc first would give ▁a, bc.) */
    EXPECT(t, "abc", H_SPAB, H_C);
    /* ▁ b c d: cd (-4) beats bc (-5) although it is further right. */
    EXPECT(t, "bcd", H_SP, H_B, H_CD);
    /* ▁ a b c d: cd, then ab, then ▁ab. */
    EXPECT(t, "abcd", H_SPAB, H_CD);
    /* ▁ a a a: the two aa pairs tie, the left one merges; a lone a stays. */
    EXPECT(t, "aaa", H_SP, H_AA, H_A);
    /* spaces are ▁ and there is no "▁▁" piece */
    EXPECT(t, "a b", H_SPA, H_SP, H_B);
    EXPECT(t, "  ", H_SP, H_SP, H_SP);
    /* a two-byte character that is a piece */
    EXPECT(t, "\xc3\xa9", H_SP, H_EACUTE);
    /* BOS once, first */
    const int32_t with_bos[] = {1, H_SPAB, H_C};
    expect_ids(t, "abc", 1, with_bos, 3);
    dfit_tokenizer_free(t);
}

static void test_byte_fallback(void **state)
{
    (void)state;
    struct dfit_tokenizer *t = hand_tokenizer();
    EXPECT(t, "\xc3\xbc", H_SP, NB + 0xC3, NB + 0xBC);                               /* ü */
    EXPECT(t, "\xf0\x9f\x98\x80", H_SP, NB + 0xF0, NB + 0x9F, NB + 0x98, NB + 0x80); /* 😀 */
    EXPECT(t, "\xff", H_SP, NB + 0xFF);
    /* a lead byte without its continuation bytes ends there (llama.cpp
     * would swallow the b, or the first byte of a following "▁") */
    EXPECT(t, "a\xff" "b", H_SPA, NB + 0xFF, H_B);
    EXPECT(t, "\xe2\x96 a", H_SP, NB + 0xE2, NB + 0x96, H_SPA);
    EXPECT(t, "\xf0\x9f\x98" "a", H_SP, NB + 0xF0, NB + 0x9F, NB + 0x98, H_A);
    /* a stray continuation byte is a symbol of its own */
    EXPECT(t, "\x80" "a", H_SP, NB + 0x80, H_A);
    /* a newline has no piece: <0x0A> */
    EXPECT(t, "a\n", H_SPA, NB + '\n');
    dfit_tokenizer_free(t);
}

static void test_unknown_fallback(void **state)
{
    (void)state;
    const char *pieces[] = {"<unk>", "<s>", "</s>", SP, "a", "\xc3", "\xa9"};
    const int32_t types[] = {DFIT_TOKEN_UNKNOWN, DFIT_TOKEN_CONTROL, DFIT_TOKEN_CONTROL, 1, 1, 1, 1};
    struct dfit_tokenizer_vocab v = {
        .n = 7, .pieces = pieces, .types = types, .bos = 1, .eos = 2, .unk = 0, .pad = -1,
        .add_space_prefix = 1,
    };
    struct dfit_tokenizer *t = NULL;
    struct dfit_err err = {0};
    assert_int_equal(dfit_tokenizer_create(&v, &t, &err), 0);
    /* no <0xXX> tokens: single-byte pieces stand in (llama.cpp's fallback) */
    EXPECT(t, "a\xc3\xa9", 3, 4, 5, 6);
    /* ü: 0xBC has neither: one unknown token for the character */
    EXPECT(t, "a\xc3\xbc", 3, 4, 0);
    dfit_tokenizer_free(t);

    /* a user-defined piece decodes verbatim (llama.cpp), a normal one with
     * its "▁" as a space */
    const int32_t types2[] = {DFIT_TOKEN_UNKNOWN, DFIT_TOKEN_CONTROL, DFIT_TOKEN_CONTROL, 1, 1, 4, 1};
    char buf[8];
    v.types = types2;
    v.pieces = (const char *const[]){"<unk>", "<s>", "</s>", SP, "a", SP "u", SP "n"};
    assert_int_equal(dfit_tokenizer_create(&v, &t, &err), 0);
    assert_int_equal(dfit_tokenizer_decode_piece(t, 5, buf, sizeof buf), 4);
    assert_string_equal(buf, SP "u");
    assert_int_equal(dfit_tokenizer_decode_piece(t, 6, buf, sizeof buf), 2);
    assert_string_equal(buf, " n");
    dfit_tokenizer_free(t);
    v.types = types;
    v.pieces = pieces;

    v.unk = -1;
    assert_int_equal(dfit_tokenizer_create(&v, &t, &err), 0);
    int32_t ids[8];
    size_t n = 99;
    assert_int_equal(dfit_tokenizer_encode(t, "\xc3\xbc", 2, 0, ids, 8, &n, &err), DFIT_EINVAL);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.msg, "0xBC"));
    /* and BOS cannot be added without one */
    v.bos = -1;
    dfit_tokenizer_free(t);
    assert_int_equal(dfit_tokenizer_create(&v, &t, &err), 0);
    assert_int_equal(dfit_tokenizer_encode(t, "a", 1, 1, ids, 8, &n, &err), DFIT_EINVAL);
    dfit_tokenizer_free(t);
}

static void test_special_and_decode(void **state)
{
    (void)state;
    struct dfit_tokenizer *t = hand_tokenizer();
    char buf[16];
    assert_int_equal(dfit_tokenizer_n_vocab(t), H_N);
    assert_int_equal(dfit_tokenizer_bos(t), 1);
    assert_int_equal(dfit_tokenizer_eos(t), 2);
    assert_int_equal(dfit_tokenizer_unk(t), 0);
    assert_int_equal(dfit_tokenizer_pad(t), -1);
    assert_true(dfit_tokenizer_add_bos(t));
    /* text that spells a control token is text, not the token */
    int32_t ids[32];
    size_t n = 0;
    assert_int_equal(dfit_tokenizer_encode(t, "<s></s>", 7, 1, ids, 32, &n, NULL), 0);
    assert_int_equal(ids[0], 1);
    for (size_t i = 1; i < n; i++) {
        assert_int_not_equal(ids[i], 1);
        assert_int_not_equal(ids[i], 2);
    }
    /* decoding */
    assert_int_equal(dfit_tokenizer_decode_piece(t, 1, buf, sizeof buf), 0);
    assert_int_equal(dfit_tokenizer_decode_piece(t, 2, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(dfit_tokenizer_decode_piece(t, H_SPAB, buf, sizeof buf), 3);
    assert_string_equal(buf, " ab");
    assert_int_equal(dfit_tokenizer_decode_piece(t, NB + 0x0A, buf, sizeof buf), 1);
    assert_int_equal(buf[0], '\n');
    assert_int_equal(dfit_tokenizer_decode_piece(t, NB + 0x00, buf, sizeof buf), 1);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(dfit_tokenizer_decode_piece(t, 0, buf, sizeof buf), 0); /* unknown */
    /* too small: the length, nothing written */
    memset(buf, 'x', sizeof buf);
    assert_int_equal(dfit_tokenizer_decode_piece(t, H_SPAB, buf, 2), 3);
    assert_int_equal(buf[0], 'x');
    assert_int_equal(dfit_tokenizer_decode_piece(t, H_SPAB, NULL, 0), 3);
    assert_int_equal(dfit_tokenizer_decode_piece(t, -1, buf, sizeof buf), -1);
    assert_int_equal(dfit_tokenizer_decode_piece(t, H_N, buf, sizeof buf), -1);
    /* lookups */
    assert_string_equal(dfit_tokenizer_piece(t, H_SPAB), SP "ab");
    assert_string_equal(dfit_tokenizer_piece(t, NB + 0x41), "<0x41>");
    assert_null(dfit_tokenizer_piece(t, H_N));
    assert_null(dfit_tokenizer_piece(t, -1));
    assert_int_equal(dfit_tokenizer_type(t, 0), DFIT_TOKEN_UNKNOWN);
    assert_int_equal(dfit_tokenizer_type(t, 1), DFIT_TOKEN_CONTROL);
    assert_int_equal(dfit_tokenizer_type(t, NB), DFIT_TOKEN_BYTE);
    assert_int_equal(dfit_tokenizer_type(t, H_A), DFIT_TOKEN_NORMAL);
    assert_int_equal(dfit_tokenizer_find_piece(t, SP "ab", 5), H_SPAB);
    assert_int_equal(dfit_tokenizer_find_piece(t, "abc", 3), -1);
    assert_float_equal(dfit_tokenizer_score(t, H_CD), -4.0f, 0.0f);
    dfit_tokenizer_free(t);
    dfit_tokenizer_free(NULL);
}

static void test_empty_and_range(void **state)
{
    (void)state;
    struct dfit_tokenizer *t = hand_tokenizer();
    struct dfit_err err = {0};
    int32_t ids[4] = {-7, -7, -7, -7};
    size_t n = 99;
    /* empty text: no "▁" (llama.cpp), only BOS when asked */
    assert_int_equal(dfit_tokenizer_encode(t, "", 0, 0, ids, 4, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(dfit_tokenizer_encode(t, NULL, 0, 1, ids, 4, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    /* "bcd" needs 3 ids (4 with BOS): ERANGE, the count, the first ids */
    ids[0] = ids[1] = ids[2] = -7;
    assert_int_equal(dfit_tokenizer_encode(t, "bcd", 3, 1, ids, 2, &n, &err), DFIT_ERANGE);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], H_SP);
    assert_int_equal(ids[2], -7);
    assert_int_equal(err.code, DFIT_ERANGE);
    /* a size query */
    assert_int_equal(dfit_tokenizer_encode(t, "bcd", 3, 0, NULL, 0, &n, &err), DFIT_ERANGE);
    assert_int_equal(n, 3);
    dfit_tokenizer_free(t);
}

/* ---- vocabulary checks ------------------------------------------------------ */

static void expect_create_error(const struct dfit_tokenizer_vocab *v, int code, const char *s1, const char *s2)
{
    struct dfit_tokenizer *t = (struct dfit_tokenizer *)1;
    struct dfit_err err = {0};
    int rc = dfit_tokenizer_create(v, &t, &err);
    if (rc != code)
        fail_msg("create: rc %d, want %d (%s)", rc, code, err.msg);
    assert_null(t);
    if (!strstr(err.msg, s1) || (s2 && !strstr(err.msg, s2)))
        fail_msg("create: message '%s' lacks '%s' / '%s'", err.msg, s1, s2 ? s2 : "");
}

static void test_create_errors(void **state)
{
    (void)state;
    const char *pieces[] = {"<unk>", "a", "b", "<0x41>", "c", "b"};
    struct dfit_tokenizer_vocab v = {.n = 6, .pieces = pieces, .bos = -1, .eos = -1, .unk = 0, .pad = -1};
    expect_create_error(&v, DFIT_EINVAL, "tokenizer.ggml.tokens", "index 5: piece 'b' duplicates index 2");
    v.n = 5;
    struct dfit_tokenizer *t = NULL;
    assert_int_equal(dfit_tokenizer_create(&v, &t, NULL), 0);
    assert_int_equal(dfit_tokenizer_type(t, 3), DFIT_TOKEN_BYTE); /* recognised without types */
    assert_int_equal(dfit_tokenizer_type(t, 1), DFIT_TOKEN_NORMAL);
    dfit_tokenizer_free(t);

    const char *empty[] = {"a", ""};
    struct dfit_tokenizer_vocab e = {.n = 2, .pieces = empty, .bos = -1, .eos = -1, .unk = -1, .pad = -1};
    expect_create_error(&e, DFIT_EINVAL, "tokenizer.ggml.tokens", "index 1: empty piece");

    int32_t types[5] = {2, 1, 1, 6, 9};
    v.types = types;
    expect_create_error(&v, DFIT_EINVAL, "tokenizer.ggml.token_type", "index 4");
    types[4] = 6;
    expect_create_error(&v, DFIT_EINVAL, "tokenizer.ggml.token_type", "index 4: type BYTE but piece 'c'");
    types[4] = 1;
    float scores[5] = {0, 0, NAN, 0, 0};
    v.scores = scores;
    expect_create_error(&v, DFIT_EINVAL, "tokenizer.ggml.scores", "index 2");
    scores[2] = -1;
    v.bos = 5;
    expect_create_error(&v, DFIT_EINVAL, "tokenizer.ggml.bos_token_id", "5");
    v.bos = -1;
    v.pad = -2;
    expect_create_error(&v, DFIT_EINVAL, "tokenizer.ggml.padding_token_id", NULL);
    v.pad = -1;
    v.n = 0;
    expect_create_error(&v, DFIT_EINVAL, "tokenizer.ggml.tokens", NULL);
    v.n = 5;
    assert_int_equal(dfit_tokenizer_create(&v, &t, NULL), 0);
    dfit_tokenizer_free(t);
}

/* ---- the byte vocabulary ----------------------------------------------------- */

static void test_byte_vocab_layout(void **state)
{
    (void)state;
    struct dfit_tokenizer *t = (struct dfit_tokenizer *)1;
    struct dfit_err err = {0};
    assert_int_equal(dfit_tokenizer_create_byte_vocab(258, &t, &err), DFIT_EINVAL);
    assert_null(t);
    assert_int_equal(dfit_tokenizer_create_byte_vocab(259, &t, &err), 0);
    assert_int_equal(dfit_tokenizer_n_vocab(t), 259);
    assert_string_equal(dfit_tokenizer_piece(t, 0), "<unk>");
    assert_string_equal(dfit_tokenizer_piece(t, 1), "<s>");
    assert_string_equal(dfit_tokenizer_piece(t, 2), "</s>");
    assert_string_equal(dfit_tokenizer_piece(t, 3 + 0x0A), "<0x0A>");
    assert_string_equal(dfit_tokenizer_piece(t, 258), "<0xFF>");
    assert_int_equal(dfit_tokenizer_type(t, 0), DFIT_TOKEN_UNKNOWN);
    assert_int_equal(dfit_tokenizer_type(t, 2), DFIT_TOKEN_CONTROL);
    assert_int_equal(dfit_tokenizer_type(t, 100), DFIT_TOKEN_BYTE);
    /* only bytes: "hi" is ▁ h i as bytes */
    EXPECT(t, "hi", 3 + 0xE2, 3 + 0x96, 3 + 0x81, 3 + 'h', 3 + 'i');
    dfit_tokenizer_free(t);

    /* big enough for pieces of 3 characters: all unique (create checks) */
    assert_int_equal(dfit_tokenizer_create_byte_vocab(40000, &t, &err), 0);
    assert_string_equal(dfit_tokenizer_piece(t, 259), SP);
    assert_string_equal(dfit_tokenizer_piece(t, 260), "e");
    assert_string_equal(dfit_tokenizer_piece(t, 261), SP "e");
    assert_string_equal(dfit_tokenizer_piece(t, 262), "t");
    assert_string_equal(dfit_tokenizer_piece(t, 260 + 2 * 92), "ee");
    assert_string_equal(dfit_tokenizer_piece(t, 260 + 2 * 92 + 3), SP "et");
    assert_string_equal(dfit_tokenizer_piece(t, 260 + 2 * 92 + 2 * 92 * 92), "eee");
    float prev = 1;
    for (int32_t id = 259; id < 40000; id++) {
        const char *p = dfit_tokenizer_piece(t, id);
        assert_null(strpbrk(p, "<> "));
        assert_int_equal(dfit_tokenizer_type(t, id), DFIT_TOKEN_NORMAL);
        assert_true(dfit_tokenizer_score(t, id) < prev);
        prev = dfit_tokenizer_score(t, id);
    }
    /* merges happen: "the" is one piece, " the" too */
    EXPECT(t, "the the", dfit_tokenizer_find_piece(t, SP "the", 6), dfit_tokenizer_find_piece(t, SP "the", 6));
    dfit_tokenizer_free(t);
}

/* ---- a naive reference encoder ---------------------------------------------- */

/* lead-byte length, ended early at a byte that is not a continuation */
static size_t ref_char_len(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t want = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4, k = 1;
    while (k < want && k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
        k++;
    return k;
}

/* The SPM algorithm written plainly: rescan for the best pair after every
 * merge (O(n^2)). Returns the number of ids. */
static size_t ref_encode(const struct dfit_tokenizer *t, const char *text, size_t len, int32_t *ids)
{
    char esc[4096];
    size_t n = 0, n_sym = 0, n_ids = 0;
    size_t off[2048], cnt[2048];
    if (len == 0)
        return 0;
    memcpy(esc, SP, 3);
    n = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + n, SP, 3);
            n += 3;
        } else {
            esc[n++] = text[i];
        }
    }
    for (size_t o = 0; o < n; n_sym++) {
        off[n_sym] = o;
        cnt[n_sym] = ref_char_len(esc + o, n - o);
        o += cnt[n_sym];
    }
    for (;;) {
        size_t best = SIZE_MAX;
        float best_score = 0;
        for (size_t i = 0; i + 1 < n_sym; i++) {
            int32_t id = dfit_tokenizer_find_piece(t, esc + off[i], cnt[i] + cnt[i + 1]);
            if (id >= 0 && (best == SIZE_MAX || dfit_tokenizer_score(t, id) > best_score)) {
                best = i;
                best_score = dfit_tokenizer_score(t, id);
            }
        }
        if (best == SIZE_MAX)
            break;
        cnt[best] += cnt[best + 1];
        memmove(off + best + 1, off + best + 2, (n_sym - best - 2) * sizeof off[0]);
        memmove(cnt + best + 1, cnt + best + 2, (n_sym - best - 2) * sizeof cnt[0]);
        n_sym--;
    }
    for (size_t i = 0; i < n_sym; i++) {
        int32_t id = dfit_tokenizer_find_piece(t, esc + off[i], cnt[i]);
        if (id >= 0) {
            ids[n_ids++] = id;
            continue;
        }
        for (size_t j = 0; j < cnt[i]; j++) {
            char hex[8];
            snprintf(hex, sizeof hex, "<0x%02X>", (unsigned char)esc[off[i] + j]);
            ids[n_ids++] = dfit_tokenizer_find_piece(t, hex, 6);
        }
    }
    return n_ids;
}

/* Random text: ASCII, spaces, common letters, raw bytes, UTF-8 characters
 * (never U+2581 itself, which decodes to a space). */
static size_t random_text(struct dfit_rng *r, char *s, size_t max)
{
    size_t n = 0, want = dfit_rng_below(r, max / 4);
    static const char common[] = "etaoin abcd";
    while (n < want) {
        uint64_t k = dfit_rng_below(r, 100);
        if (k < 35) {
            s[n++] = common[dfit_rng_below(r, sizeof common - 1)];
        } else if (k < 60) {
            s[n++] = (char)(0x20 + dfit_rng_below(r, 95));
        } else if (k < 75) {
            s[n++] = (char)dfit_rng_below(r, 256);
        } else {
            static const char *const chars[] = {"\xc3\xa9", "\xc3\xbc", "\xe2\x82\xac", "\xe6\x97\xa5",
                                                "\xf0\x9f\x98\x80", "\xce\xbb", "\xe2\x96\x82"};
            const char *c = chars[dfit_rng_below(r, 7)];
            memcpy(s + n, c, strlen(c));
            n += strlen(c);
        }
    }
    s[n] = '\0';
    if (memmem(s, n, SP, 3))
        return random_text(r, s, max);
    return n;
}

static void check_round_trips(const struct dfit_tokenizer *t, uint64_t seed, int n_texts)
{
    struct dfit_rng r;
    dfit_rng_seed(&r, seed);
    char text[512], out[4096];
    int32_t ids[2048], ref[2048];
    for (int k = 0; k < n_texts; k++) {
        size_t len = random_text(&r, text, sizeof text - 8);
        size_t n = 0;
        struct dfit_err err = {0};
        int rc = dfit_tokenizer_encode(t, text, len, 1, ids, 2048, &n, &err);
        if (rc)
            fail_msg("text %d: %s", k, err.msg);
        assert_int_equal(ids[0], dfit_tokenizer_bos(t));
        /* the heap encoder agrees with the naive one */
        size_t n_ref = ref_encode(t, text, len, ref);
        if (n_ref != n - 1 || memcmp(ref, ids + 1, n_ref * sizeof ref[0]) != 0)
            fail_msg("text %d (%zu bytes): heap encoder gives %zu ids, naive %zu", k, len, n - 1, n_ref);
        /* decoding gives the text back, after the prefix space */
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            int m = dfit_tokenizer_decode_piece(t, ids[i], out + o, sizeof out - o);
            assert_true(m >= 0 && (size_t)m < sizeof out - o);
            o += (size_t)m;
        }
        if (len == 0) {
            assert_int_equal(o, 0);
            continue;
        }
        if (o != len + 1 || out[0] != ' ')
            fail_msg("text %d: %zu bytes decode to %zu", k, len, o);
        if (memcmp(out + 1, text, len) != 0)
            fail_msg("text %d: round trip differs", k);
    }
}

static void test_round_trips(void **state)
{
    (void)state;
    struct dfit_tokenizer *t = hand_tokenizer();
    check_round_trips(t, 1, 300);
    dfit_tokenizer_free(t);
    static const uint32_t sizes[] = {260, 512, 2000, 32000}; /* 259: no "▁" piece */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(dfit_tokenizer_create_byte_vocab(sizes[i], &t, NULL), 0);
        check_round_trips(t, 100 + (uint64_t)i, 300);
        dfit_tokenizer_free(t);
    }
}

/* A long text: a run of one character (every pair ties) and prose, fast. */
static void test_long_text(void **state)
{
    (void)state;
    struct dfit_tokenizer *t = NULL;
    assert_int_equal(dfit_tokenizer_create_byte_vocab(32000, &t, NULL), 0);
    size_t len = 1 << 20;
    char *text = malloc(len);
    int32_t *ids = malloc((len + 8) * sizeof *ids);
    assert_non_null(text);
    assert_non_null(ids);
    memset(text, 'e', len / 2);
    static const char prose[] = "The quick brown fox jumps over the lazy dog. ";
    for (size_t i = len / 2; i < len; i++)
        text[i] = prose[i % (sizeof prose - 1)];
    size_t n = 0;
    assert_int_equal(dfit_tokenizer_encode(t, text, len, 0, ids, len + 8, &n, NULL), 0);
    /* pieces have at most 3 characters after "▁"; merges happen ("ee",
     * prose at about 2 bytes a token) */
    assert_true(n >= len / 4 && n < len * 3 / 4);
    size_t o = 0;
    char buf[16];
    for (size_t i = 0; i < n; i++) {
        int m = dfit_tokenizer_decode_piece(t, ids[i], buf, sizeof buf);
        assert_true(m > 0 && m < 16);
        if (i == 0)
            assert_int_equal(buf[0], ' ');
        assert_memory_equal(buf + (i == 0), text + o, (size_t)m - (i == 0));
        o += (size_t)m - (i == 0);
    }
    assert_int_equal(o, len);
    free(text);
    free(ids);
    dfit_tokenizer_free(t);
}

/* ---- GGUF -------------------------------------------------------------------- */

static char tmpdir[64];

static int gguf_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfit_test_tok.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int gguf_teardown(void **state)
{
    (void)state;
    char p[128];
    static const char *const names[] = {"vocab.gguf", "bad.gguf"}; /* written by the tests */
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    return rmdir(tmpdir);
}

static void test_gguf_round_trip(void **state)
{
    (void)state;
    struct dfit_gguf_writer *w = NULL;
    struct dfit_gguf *g = NULL;
    struct dfit_tokenizer *t = NULL, *mem = NULL;
    struct dfit_err err = {0};
    char path[128];
    snprintf(path, sizeof path, "%s/vocab.gguf", tmpdir);
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    assert_int_equal(dfit_tokenizer_write_byte_vocab(w, 258, &err), DFIT_EINVAL);
    int rc = dfit_tokenizer_write_byte_vocab(w, 1000, &err);
    if (!rc)
        rc = dfit_gguf_writer_write(w, path, &err);
    if (!rc)
        rc = dfit_gguf_open(path, &g, &err);
    if (!rc)
        rc = dfit_tokenizer_from_gguf(g, &t, &err);
    if (rc)
        fail_msg("%s", err.msg);
    dfit_gguf_close(g);
    dfit_gguf_writer_free(w);
    assert_int_equal(dfit_tokenizer_n_vocab(t), 1000);
    assert_int_equal(dfit_tokenizer_bos(t), 1);
    assert_int_equal(dfit_tokenizer_eos(t), 2);
    assert_int_equal(dfit_tokenizer_unk(t), 0);
    assert_true(dfit_tokenizer_add_bos(t));
    /* "hello world\n" with 1000 pieces: "▁h" and "▁w" (1 character after
     * "▁"), "el" (the 2-character pieces start with e, t, a: no "ll", "or",
     * "▁he"), a newline as its byte token. */
    const char *text = "hello world\n";
    int32_t ids[32];
    size_t n = 0;
    assert_int_equal(dfit_tokenizer_encode(t, text, strlen(text), 1, ids, 32, &n, &err), 0);
    static const char *const want[] = {"<s>", SP "h", "el", "l", "o", SP "w", "o", "r", "l", "d", "<0x0A>"};
    assert_int_equal(n, 11);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(dfit_tokenizer_piece(t, ids[i]), want[i]);
    /* the file's vocabulary is the in-memory one */
    assert_int_equal(dfit_tokenizer_create_byte_vocab(1000, &mem, &err), 0);
    for (int32_t id = 0; id < 1000; id++) {
        assert_string_equal(dfit_tokenizer_piece(t, id), dfit_tokenizer_piece(mem, id));
        assert_int_equal(dfit_tokenizer_type(t, id), dfit_tokenizer_type(mem, id));
        assert_float_equal(dfit_tokenizer_score(t, id), dfit_tokenizer_score(mem, id), 0.0f);
    }
    check_round_trips(t, 7, 100);
    dfit_tokenizer_free(mem);
    dfit_tokenizer_free(t);
}

/* Only the model and the tokens: llama.cpp's defaults for the rest. */
static void test_gguf_defaults(void **state)
{
    (void)state;
    struct dfit_gguf_writer *w = NULL;
    struct dfit_gguf *g = NULL;
    struct dfit_tokenizer *t = NULL;
    struct dfit_err err = {0};
    char path[128];
    snprintf(path, sizeof path, "%s/vocab.gguf", tmpdir);
    const char *pieces[] = {"<unk>", "<s>", "</s>", "<0x41>", SP, "a"};
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err), 0);
    assert_int_equal(dfit_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", pieces, 6, &err), 0);
    assert_int_equal(dfit_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false, &err), 0);
    if (dfit_gguf_writer_write(w, path, &err) || dfit_gguf_open(path, &g, &err) ||
        dfit_tokenizer_from_gguf(g, &t, &err))
        fail_msg("%s", err.msg);
    dfit_gguf_writer_free(w);
    dfit_gguf_close(g);
    assert_int_equal(dfit_tokenizer_bos(t), 1);
    assert_int_equal(dfit_tokenizer_eos(t), 2);
    assert_int_equal(dfit_tokenizer_unk(t), 0);
    assert_int_equal(dfit_tokenizer_pad(t), -1);
    assert_true(dfit_tokenizer_add_bos(t));
    assert_int_equal(dfit_tokenizer_type(t, 0), DFIT_TOKEN_NORMAL);
    assert_int_equal(dfit_tokenizer_type(t, 3), DFIT_TOKEN_BYTE);
    assert_float_equal(dfit_tokenizer_score(t, 5), 0.0f, 0.0f);
    /* no "▁" prefix; A falls back to <0x41>, b to unknown */
    EXPECT(t, "a A", 5, 4, 3);
    EXPECT(t, "ab", 5, 0);
    dfit_tokenizer_free(t);
}

/* Writes a vocabulary with one thing spoiled by `spoil` and expects
 * from_gguf to fail with code and a message naming s1 and s2. */
static void expect_gguf_error(void (*spoil)(struct dfit_gguf_writer *w), int code, const char *s1, const char *s2)
{
    struct dfit_gguf_writer *w = NULL;
    struct dfit_gguf *g = NULL;
    struct dfit_tokenizer *t = (struct dfit_tokenizer *)1;
    struct dfit_err err = {0};
    char path[128];
    snprintf(path, sizeof path, "%s/bad.gguf", tmpdir);
    assert_int_equal(dfit_gguf_writer_create(&w, &err), 0);
    assert_int_equal(dfit_tokenizer_write_byte_vocab(w, 300, &err), 0);
    spoil(w);
    if (dfit_gguf_writer_write(w, path, &err) || dfit_gguf_open(path, &g, &err))
        fail_msg("%s", err.msg);
    dfit_gguf_writer_free(w);
    int rc = dfit_tokenizer_from_gguf(g, &t, &err);
    dfit_gguf_close(g);
    if (rc != code)
        fail_msg("from_gguf: rc %d, want %d (%s)", rc, code, err.msg);
    assert_null(t);
    if (!strstr(err.msg, s1) || !strstr(err.msg, s2) || !strstr(err.msg, "bad.gguf"))
        fail_msg("from_gguf: message '%s' lacks '%s' / '%s' / the file", err.msg, s1, s2);
}

static void spoil_model(struct dfit_gguf_writer *w)
{
    assert_int_equal(dfit_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", NULL), 0);
}
static void spoil_scores(struct dfit_gguf_writer *w)
{
    float s[299] = {0};
    assert_int_equal(dfit_gguf_writer_set_arr(w, "tokenizer.ggml.scores", DFIT_GGUF_FLOAT32, s, 299, NULL), 0);
}
static void spoil_types(struct dfit_gguf_writer *w)
{
    int32_t ty[301];
    for (int i = 0; i < 301; i++)
        ty[i] = 1;
    assert_int_equal(dfit_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", DFIT_GGUF_INT32, ty, 301, NULL), 0);
}
static void spoil_dup(struct dfit_gguf_writer *w)
{
    const char *p[4] = {"<unk>", "<s>", "</s>", "<s>"};
    assert_int_equal(dfit_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", p, 4, NULL), 0);
    dfit_gguf_writer_remove(w, "tokenizer.ggml.scores");
    dfit_gguf_writer_remove(w, "tokenizer.ggml.token_type");
    dfit_gguf_writer_remove(w, "tokenizer.ggml.bos_token_id");
    dfit_gguf_writer_remove(w, "tokenizer.ggml.eos_token_id");
}
static void spoil_bos(struct dfit_gguf_writer *w)
{
    assert_int_equal(dfit_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 300, NULL), 0);
}
static void spoil_tokens_type(struct dfit_gguf_writer *w)
{
    float s[300] = {0};
    assert_int_equal(dfit_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", DFIT_GGUF_FLOAT32, s, 300, NULL), 0);
}
static void spoil_no_tokens(struct dfit_gguf_writer *w)
{
    dfit_gguf_writer_remove(w, "tokenizer.ggml.tokens");
}

static void test_gguf_errors(void **state)
{
    (void)state;
    expect_gguf_error(spoil_model, DFIT_EUNSUPPORTED, "tokenizer.ggml.model", "'gpt2'");
    expect_gguf_error(spoil_scores, DFIT_EINVAL, "tokenizer.ggml.scores", "299");
    expect_gguf_error(spoil_types, DFIT_EINVAL, "tokenizer.ggml.token_type", "301");
    expect_gguf_error(spoil_dup, DFIT_EINVAL, "tokenizer.ggml.tokens", "index 3: piece '<s>' duplicates index 1");
    expect_gguf_error(spoil_bos, DFIT_EINVAL, "tokenizer.ggml.bos_token_id", "300");
    expect_gguf_error(spoil_tokens_type, DFIT_EINVAL, "tokenizer.ggml.tokens", "");
    expect_gguf_error(spoil_no_tokens, DFIT_ENOTFOUND, "tokenizer.ggml.tokens", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_merges),
        cmocka_unit_test(test_byte_fallback),
        cmocka_unit_test(test_unknown_fallback),
        cmocka_unit_test(test_special_and_decode),
        cmocka_unit_test(test_empty_and_range),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_byte_vocab_layout),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_long_text),
        cmocka_unit_test(test_gguf_round_trip),
        cmocka_unit_test(test_gguf_defaults),
        cmocka_unit_test(test_gguf_errors),
    };
    return cmocka_run_group_tests(tests, gguf_setup, gguf_teardown);
}
