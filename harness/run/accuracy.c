/* accuracy.c — task accuracy (greedy exact match, multiple choice by
 * log-likelihood) and text perplexity on a backend (see accuracy.h).
 * Every item is encoded first so the backend is loaded once with the
 * context the longest item needs; items then run n_seq sequences at a
 * time: prompts prefilled in one stream of forward calls, greedy decoding
 * one token per active sequence per call, and scored sequences (choices,
 * perplexity chunks) each in its own sequence of the same stream.
 * Non-goals: sampling, KV reuse between the choices of an item (the
 * backend has no sequence copy), fidelity metrics (quality.c).
 */
#include "run/accuracy.h"
#include "run/accuracy_impl.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/corpus.h"
#include "model/tokenizer.h"
#include "run/eval_data.h"

/* ---- encoded work ------------------------------------------------------------------- */

struct enc_set {
    const struct dfit_eval_set *set;
    uint32_t n_items;  /* after the limit */
    uint32_t per_item; /* jobs per item: 1 or k */
    struct job *jobs;  /* [n_items * per_item] */
};

static void enc_set_clear(struct enc_set *s)
{
    if (s->jobs)
        for (size_t i = 0; i < (size_t)s->n_items * s->per_item; i++)
            free(s->jobs[i].ids);
    free(s->jobs);
    memset(s, 0, sizeof *s);
}

static void item_where(const struct dfit_eval_set *s, uint32_t i, char *buf, size_t cap)
{
    const struct dfit_eval_item *it = &s->items[i];
    if (it->row)
        snprintf(buf, cap, "%s: row %u (line %u)", s->name, (unsigned)it->row, (unsigned)it->line);
    else
        snprintf(buf, cap, "%s: item %u", s->name, (unsigned)i + 1);
}

/* Encodes one job; *need gets the context it takes. */
static int encode_job(struct evaluator *e, const char *prompt, const char *cont, uint32_t extra, struct job *j,
                      uint32_t *need, struct dfit_err *err)
{
    size_t cap = 3 * (strlen(prompt) + (cont ? strlen(cont) : 0) + 2) + 8, n = 0, np = 0;
    j->ids = malloc(cap * sizeof *j->ids);
    if (!j->ids)
        return dfit_err_set(err, DFIT_ENOMEM, "out of memory");
    int rc = dfit_corpus_encode(&e->enc, prompt, cont, j->ids, NULL, cap, &n, &np, err);
    if (rc)
        return rc;
    if (n == 0)
        return dfit_err_set(err, DFIT_EINVAL, "the prompt gives no token");
    int32_t *fit = realloc(j->ids, n * sizeof *fit);
    if (fit)
        j->ids = fit;
    j->n = (uint32_t)n;
    j->from = (uint32_t)np;
    *need = (uint32_t)n + extra;
    return 0;
}

static int encode_set(struct evaluator *e, const struct dfit_eval_set *s, uint32_t limit, struct enc_set *out,
                      uint32_t *max_need, struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    out->set = s;
    out->n_items = limit && limit < s->n_items ? limit : s->n_items;
    out->per_item = s->kind == DFIT_EVAL_MC ? s->n_choices : 1;
    out->jobs = calloc((size_t)out->n_items * out->per_item + 1, sizeof *out->jobs);
    if (!out->jobs)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for %u items", s->name, (unsigned)out->n_items);
    const uint32_t ctx_train = e->m->hp.n_ctx_train;
    for (uint32_t i = 0; i < out->n_items; i++) {
        const struct dfit_eval_item *it = &s->items[i];
        for (uint32_t c = 0; c < out->per_item; c++) {
            struct job *j = &out->jobs[(size_t)i * out->per_item + c];
            uint32_t need = 0;
            int rc = s->kind == DFIT_EVAL_MC
                         ? encode_job(e, it->prompt, it->choices[c], 0, j, &need, err)
                         : encode_job(e, it->prompt, NULL, (uint32_t)strlen(it->answer) + 1, j, &need, err);
            char where[256];
            if (!rc && ctx_train && need > ctx_train)
                rc =
                    dfit_err_set(err, DFIT_EINVAL, "%s of %u tokens does not fit the model's context of %u tokens",
                                 s->kind == DFIT_EVAL_MC ? "prompt and choice" : "prompt and longest answer",
                                 (unsigned)need, (unsigned)ctx_train);
            if (rc) {
                item_where(s, i, where, sizeof where);
                return dfit_err_prefix(err, "%s", where);
            }
            if (need > *max_need)
                *max_need = need;
        }
    }
    return 0;
}

/* ---- generation -------------------------------------------------------------------------- */

struct gen_item {
    const char *answer;
    size_t answer_len;
    char *text; /* [answer_len + 1] what was generated so far */
    size_t text_len;
    uint32_t n_gen, max_new, pos;
    int32_t last;
    bool done, mismatch;
};

struct gen_group {
    struct evaluator *e;
    struct gen_item *items;
    uint32_t *row_item; /* wanted ordinal -> item */
};

static void gen_take(void *user, size_t k, const float *logits)
{
    struct gen_group *g = user;
    struct evaluator *e = g->e;
    struct gen_item *it = &g->items[g->row_item[k]];
    const int32_t t = dfit_acc_argmax(logits, e->n_vocab);
    it->n_gen++;
    it->last = t;
    if (t == e->eos) {
        it->done = true;
        return;
    }
    char piece[256];
    int n = dfit_tokenizer_decode_piece(e->tok, t, piece, sizeof piece);
    if (n < 0 || (size_t)n >= sizeof piece) {
        it->done = it->mismatch = true;
        return;
    }
    const char *nl = memchr(piece, '\n', (size_t)n);
    size_t take = nl ? (size_t)(nl - piece) : (size_t)n;
    if (it->text_len + take > it->answer_len || memcmp(it->answer + it->text_len, piece, take) != 0) {
        it->done = it->mismatch = true; /* can no longer equal the answer */
        return;
    }
    memcpy(it->text + it->text_len, piece, take);
    it->text_len += take;
    if (nl || it->n_gen >= it->max_new)
        it->done = true;
}

static int gen_set(struct evaluator *e, const struct enc_set *es, uint64_t *n_correct, struct dfit_err *err)
{
    const struct dfit_eval_set *s = es->set;
    struct gen_item *items = calloc(e->n_seq, sizeof *items);
    uint32_t *row_item = malloc(e->s_cap * sizeof *row_item);
    int rc = 0;
    if (!items || !row_item) {
        rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", s->name);
        goto done;
    }
    struct gen_group g = {e, items, row_item};
    for (uint32_t base = 0; base < es->n_items; base += e->n_seq) {
        const uint32_t n = es->n_items - base < e->n_seq ? es->n_items - base : e->n_seq;
        e->ops->seq_reset(e->ctx, -1);
        size_t len = 0, k = 0;
        for (uint32_t j = 0; j < n; j++) {
            struct gen_item *it = &items[j];
            const struct job *jb = &es->jobs[base + j];
            free(it->text);
            memset(it, 0, sizeof *it);
            it->answer = s->items[base + j].answer;
            it->answer_len = strlen(it->answer);
            it->max_new = (uint32_t)it->answer_len + 1;
            it->pos = jb->n;
            if (!(it->text = malloc(it->answer_len + 1))) {
                rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", s->name);
                goto done;
            }
            for (uint32_t t = 0; t < jb->n; t++, len++) {
                e->s_tok[len] = jb->ids[t];
                e->s_pos[len] = (int32_t)t;
                e->s_seq[len] = (int32_t)j;
                e->s_want[len] = t + 1 == jb->n;
            }
            row_item[k++] = j;
        }
        if ((rc = dfit_acc_run_stream(e, len, gen_take, &g, err)))
            goto fail_forward;
        for (;;) { /* one token for every item still going */
            len = 0;
            for (uint32_t j = 0; j < n; j++) {
                struct gen_item *it = &items[j];
                if (it->done)
                    continue;
                e->s_tok[len] = it->last;
                e->s_pos[len] = (int32_t)it->pos++;
                e->s_seq[len] = (int32_t)j;
                e->s_want[len] = 1;
                row_item[len++] = j;
            }
            if (len == 0)
                break;
            if ((rc = dfit_acc_run_stream(e, len, gen_take, &g, err)))
                goto fail_forward;
        }
        for (uint32_t j = 0; j < n; j++)
            *n_correct += !items[j].mismatch && items[j].text_len == items[j].answer_len;
    }
    goto done;
fail_forward:
    dfit_err_prefix(err, "%s", s->name);
done:
    if (items)
        for (uint32_t j = 0; j < e->n_seq; j++)
            free(items[j].text);
    free(items);
    free(row_item);
    return rc;
}

/* ---- multiple choice ------------------------------------------------------------ */

static int mc_set(struct evaluator *e, const struct enc_set *es, uint64_t *n_sum, uint64_t *n_norm,
                  struct dfit_err *err)
{
    struct score_group g = {0};
    int rc = dfit_acc_score_jobs(e, es->jobs, (size_t)es->n_items * es->per_item, &g, err);
    if (rc)
        return dfit_err_prefix(err, "%s", es->set->name);
    for (uint32_t i = 0; i < es->n_items; i++) {
        const struct job *jb = &es->jobs[(size_t)i * es->per_item];
        uint32_t best = 0, best_norm = 0;
        for (uint32_t c = 1; c < es->per_item; c++) {
            if (jb[c].sum_lp > jb[best].sum_lp)
                best = c;
            if (jb[c].sum_lp / (jb[c].n - jb[c].from) >
                jb[best_norm].sum_lp / (jb[best_norm].n - jb[best_norm].from))
                best_norm = c;
        }
        *n_sum += best == es->set->items[i].label;
        *n_norm += best_norm == es->set->items[i].label;
    }
    return 0;
}

/* ---- perplexity ---------------------------------------------------------------------------- */

struct ppl_work {
    struct job *chunks;
    uint32_t n_chunks, n_ctx;
};

static void ppl_work_clear(struct ppl_work *w)
{
    if (w->chunks)
        for (uint32_t c = 0; c < w->n_chunks; c++)
            free(w->chunks[c].ids);
    free(w->chunks);
    memset(w, 0, sizeof *w);
}

static int ppl_prepare(struct evaluator *e, const struct dfit_accuracy_params *p, const char *path,
                       struct ppl_work *w, struct dfit_err *err)
{
    memset(w, 0, sizeof *w);
    int32_t *ids = NULL;
    uint32_t n = 0;
    int rc = dfit_eval_text(path, e->tok, p->ppl_max_tokens ? p->ppl_max_tokens : DFIT_ACCURACY_PPL_MAX_TOKENS,
                            &ids, &n, err);
    if (rc)
        return rc;
    const uint32_t ctx_train = e->m->hp.n_ctx_train;
    uint32_t c = p->ppl_ctx;
    if (c == 0) {
        c = DFIT_ACCURACY_PPL_MAX_CTX;
        if (ctx_train && ctx_train < c)
            c = ctx_train;
        if (n < c)
            c = n;
    }
    if (c < 4 || c > n)
        rc = dfit_err_set(err, DFIT_EINVAL,
                          "%s: %u tokens cannot make a chunk of %u tokens (chunks need 4 or more)", path,
                          (unsigned)n, (unsigned)c);
    else if (ctx_train && c > ctx_train)
        rc = dfit_err_set(err, DFIT_EINVAL, "%s: chunks of %u tokens exceed the model's context of %u", path,
                          (unsigned)c, (unsigned)ctx_train);
    if (!rc) {
        w->n_ctx = c;
        w->n_chunks = n / c;
        w->chunks = calloc(w->n_chunks, sizeof *w->chunks);
        if (!w->chunks)
            rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for %u chunks", path, (unsigned)w->n_chunks);
    }
    for (uint32_t k = 0; !rc && k < w->n_chunks; k++) {
        struct job *jb = &w->chunks[k];
        if (!(jb->ids = malloc(c * sizeof *jb->ids))) {
            rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory", path);
            break;
        }
        memcpy(jb->ids, ids + (size_t)k * c, c * sizeof *jb->ids);
        if (e->enc.bos >= 0)
            jb->ids[0] = e->enc.bos;
        jb->n = c;
        jb->from = c / 2 + 1;
    }
    free(ids);
    if (rc)
        ppl_work_clear(w);
    return rc;
}

static int ppl_run(struct evaluator *e, struct ppl_work *w, const char *path, struct dfit_perplexity *out,
                   struct dfit_err *err)
{
    struct score_group g = {0};
    int rc = dfit_acc_score_jobs(e, w->chunks, w->n_chunks, &g, err);
    if (rc)
        return dfit_err_prefix(err, "%s", path);
    memset(out, 0, sizeof *out);
    out->n_tokens = g.n_scored;
    out->n_ctx = w->n_ctx;
    out->n_chunks = w->n_chunks;
    const double n = (double)g.n_scored;
    out->nll = g.n_scored ? g.s1 / n : 0.0;
    const double var = g.n_scored > 1 ? (g.s2 / n - out->nll * out->nll) * n / (n - 1) : 0.0;
    out->nll_se = var > 0 ? sqrt(var / n) : 0.0;
    out->ppl = exp(out->nll);
    out->ppl_se = out->ppl * out->nll_se;
    return 0;
}

/* ---- the run -------------------------------------------------------------------------------- */

static void finish(struct dfit_accuracy *a, bool length_norm)
{
    const double n = (double)a->n_items;
    const uint64_t c = length_norm ? a->n_correct_norm : a->n_correct_sum;
    a->n_correct = c;
    a->accuracy = n > 0 ? (double)c / n : 0.0;
    a->accuracy_se = n > 0 ? sqrt(a->accuracy * (1 - a->accuracy) / n) : 0.0;
    a->accuracy_sum = n > 0 ? (double)a->n_correct_sum / n : 0.0;
    a->accuracy_sum_se = n > 0 ? sqrt(a->accuracy_sum * (1 - a->accuracy_sum) / n) : 0.0;
    a->accuracy_norm = n > 0 ? (double)a->n_correct_norm / n : 0.0;
    a->accuracy_norm_se = n > 0 ? sqrt(a->accuracy_norm * (1 - a->accuracy_norm) / n) : 0.0;
}

void dfit_accuracy_report_clear(struct dfit_accuracy_report *r)
{
    if (!r)
        return;
    free(r->sets);
    memset(r, 0, sizeof *r);
}

int dfit_accuracy_run_sets(const char *model_path, const struct dfit_accuracy_params *p,
                           const struct dfit_eval_set *const *sets, uint32_t n_sets, const char *text_path,
                           struct dfit_accuracy_report *out, struct dfit_err *err)
{
    static const struct dfit_accuracy_params defaults = {0};
    struct dfit_err local;
    if (!p)
        p = &defaults;
    if (!err)
        err = &local;
    memset(out, 0, sizeof *out);
    if (n_sets == 0 && !text_path)
        return dfit_err_set(err, DFIT_EINVAL, "accuracy: no eval set and no text to score");
    struct evaluator e;
    struct enc_set *enc = calloc(n_sets ? n_sets : 1, sizeof *enc);
    struct ppl_work w = {0};
    uint32_t need = 1;
    int rc = 0;
    out->sets = calloc(n_sets ? n_sets : 1, sizeof *out->sets);
    if (!enc || !out->sets) {
        free(enc);
        free(out->sets);
        out->sets = NULL;
        return dfit_err_set(err, DFIT_ENOMEM, "accuracy: out of memory");
    }
    if ((rc = dfit_acc_open(&e, model_path, p, err)))
        goto fail_open;
    for (uint32_t i = 0; i < n_sets && !rc; i++)
        rc = encode_set(&e, sets[i], p->limit, &enc[i], &need, err);
    if (!rc && text_path && (rc = ppl_prepare(&e, p, text_path, &w, err)) == 0 && w.n_ctx > need)
        need = w.n_ctx;
    if (!rc)
        rc = dfit_acc_load(&e, model_path, p, need, err);

    struct dfit_accuracy *all = &out->all;
    snprintf(all->name, sizeof all->name, "all");
    for (uint32_t i = 0; i < n_sets && !rc; i++) {
        struct dfit_accuracy *a = &out->sets[i];
        snprintf(a->name, sizeof a->name, "%s", sets[i]->name);
        a->kind = sets[i]->kind;
        a->n_choices = sets[i]->n_choices;
        a->n_items = enc[i].n_items;
        if (sets[i]->kind == DFIT_EVAL_GEN) {
            rc = gen_set(&e, &enc[i], &a->n_correct_sum, err);
            a->n_correct_norm = a->n_correct_sum;
        } else {
            rc = mc_set(&e, &enc[i], &a->n_correct_sum, &a->n_correct_norm, err);
        }
        finish(a, p->length_norm);
        all->n_items += a->n_items;
        all->n_correct_sum += a->n_correct_sum;
        all->n_correct_norm += a->n_correct_norm;
    }
    finish(all, p->length_norm);
    out->n_sets = n_sets;
    if (!rc && text_path) {
        rc = ppl_run(&e, &w, text_path, &out->ppl, err);
        out->has_ppl = rc == 0;
    }
    dfit_acc_close(&e);
fail_open:
    for (uint32_t i = 0; i < n_sets; i++)
        enc_set_clear(&enc[i]);
    free(enc);
    ppl_work_clear(&w);
    if (rc)
        dfit_accuracy_report_clear(out);
    return rc;
}

int dfit_accuracy_run(const char *model_path, const struct dfit_accuracy_params *p, const char *const *csv_paths,
                      uint32_t n_csv, const char *text_path, struct dfit_accuracy_report *out,
                      struct dfit_err *err)
{
    memset(out, 0, sizeof *out);
    struct dfit_eval_set **sets = calloc(n_csv ? n_csv : 1, sizeof *sets);
    if (!sets)
        return dfit_err_set(err, DFIT_ENOMEM, "accuracy: out of memory");
    int rc = 0;
    for (uint32_t i = 0; i < n_csv && !rc; i++)
        rc = dfit_eval_csv_read(csv_paths[i], &sets[i], err);
    if (!rc)
        rc = dfit_accuracy_run_sets(model_path, p, (const struct dfit_eval_set *const *)sets, n_csv, text_path,
                                    out, err);
    for (uint32_t i = 0; i < n_csv; i++)
        dfit_eval_set_free(sets[i]);
    free(sets);
    return rc;
}

int dfit_accuracy_csv(const char *model_path, const struct dfit_accuracy_params *p, const char *csv_path,
                      struct dfit_accuracy *out, struct dfit_err *err)
{
    struct dfit_accuracy_report r;
    memset(out, 0, sizeof *out);
    int rc = dfit_accuracy_run(model_path, p, &csv_path, 1, NULL, &r, err);
    if (!rc)
        *out = r.sets[0];
    dfit_accuracy_report_clear(&r);
    return rc;
}

int dfit_perplexity_text(const char *model_path, const struct dfit_accuracy_params *p, const char *text_path,
                         struct dfit_perplexity *out, struct dfit_err *err)
{
    struct dfit_accuracy_report r;
    memset(out, 0, sizeof *out);
    int rc = dfit_accuracy_run_sets(model_path, p, NULL, 0, text_path, &r, err);
    if (!rc)
        *out = r.ppl;
    dfit_accuracy_report_clear(&r);
    return rc;
}

void dfit_accuracy_to_quality(const struct dfit_accuracy *a, struct dfit_quality *q)
{
    q->has_accuracy = true;
    q->accuracy = a->accuracy;
    q->accuracy_se = a->accuracy_se;
}
