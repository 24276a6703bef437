/* distill.h — logit distillation for `dfit distill`: a student llama model
 * trained to match a teacher's next-token distributions, as Hinton et al.
 * (2015) describe it:
 *
 *   loss = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(data)
 *
 * where x_T = softmax(logits / T). Both terms are averaged over the rows
 * whose mask is set (the data's answer tokens; every token for text or
 * with all_tokens). The teacher runs the trainer's own F32 forward pass
 * (train_pass.h) on every training batch — its weights imported from any
 * type dfit reads, so a BF16 teacher's logits are exact in F32 — on a
 * thread pool of its own; the student is trained by the ordinary trainer
 * (train.h) through its loss hook, so AdamW, the schedule, clipping,
 * progress and determinism are the trainer's. The student is a fresh model
 * of a smaller shape or any model imported for training (e.g. the teacher
 * with layers or FFN channels removed by `dfit compress --prune`, which
 * distillation then heals); it must share the teacher's vocabulary.
 * Non-goals: feature (hidden-state) distillation, caching teacher logits,
 * sequence-level distillation, different vocabularies, resuming a stopped
 * run.
 */
#ifndef DFIT_COMPRESS_DISTILL_H
#define DFIT_COMPRESS_DISTILL_H

#include <stdbool.h>
#include <stdint.h>

#include "compress/train.h"
#include "compress/train_data.h"
#include "compress/train_model.h"
#include "compress/train_pass.h"
#include "model/types.h"
#include "util/err.h"

#define DFIT_DISTILL_DEFAULT_TEMPERATURE 2.0f
#define DFIT_DISTILL_DEFAULT_ALPHA 0.5f

struct dfit_distill_params {
    float temperature;   /* T > 0 (at most 100) */
    float alpha;         /* weight of the KL term, in [0, 1] */
    int n_threads;       /* the teacher's pool; <= 0: 1 */
};

/* KL, cross-entropy and agreement of a student against the teacher over
 * held-out tokens (dfit_distill_measure), at temperature 1. */
struct dfit_distill_measure {
    double kl;            /* mean KL(teacher || student) per counted token, nats */
    double kl_se;         /* its standard error */
    double ce_student;    /* mean next-token cross-entropy of the student */
    double ce_teacher;    /* ... and of the teacher */
    double top1;          /* fraction of tokens where both argmaxes agree */
    int64_t n_tokens;     /* tokens counted */
};

struct dfit_distill;

/* A distiller from teacher (borrowed; unchanged; it must outlive d) for
 * batches of at most B x T tokens. DFIT_EINVAL naming the field for a
 * temperature outside (0, 100], alpha outside [0, 1], T above the
 * teacher's context; DFIT_ENOMEM. *out NULL on failure. */
int dfit_distill_create(const struct dfit_train_model *teacher, const struct dfit_distill_params *p,
                        uint32_t B, uint32_t T, struct dfit_distill **out, struct dfit_err *err);
void dfit_distill_free(struct dfit_distill *d); /* accepts NULL */

/* Checks that a student can learn from d's teacher: the same vocabulary
 * size, and seq within both contexts. DFIT_EINVAL naming both shapes. */
int dfit_distill_check_student(const struct dfit_distill *d, const struct dfit_train_model *student,
                               uint32_t seq, struct dfit_err *err);

/* The trainer's loss hook (dfit_train_params.loss, with loss_user = d): runs
 * the teacher on the batch's inputs and sets pass->dlogits to the gradient
 * of the loss above. Returns the loss; *count gets the rows counted. The
 * batch must fit d's B x T and the student's vocabulary must be the
 * teacher's (dfit_distill_check_student). */
double dfit_distill_loss(void *d, struct dfit_train_pass *pass, const int32_t *inputs /* [B][T] */,
                         const int32_t *targets /* [B][T] */, const uint8_t *mask /* [B][T] or NULL */,
                         uint32_t B, uint32_t T, int64_t *count);

/* The last hook call's mean KL at temperature T (without the T^2 factor)
 * and mean cross-entropy (NAN before any call), and the means over the last
 * up to 16 calls. */
void dfit_distill_last(const struct dfit_distill *d, double *kl, double *ce);
void dfit_distill_recent(const struct dfit_distill *d, double *kl, double *ce);

/* Measures student against the teacher on data's consecutive windows of T
 * tokens (T <= d's T, at most max_windows of them; 0: all), over the rows
 * that count (the data's mask unless all_tokens). DFIT_EINVAL when data is
 * shorter than one window or the student does not suit the teacher,
 * DFIT_ENOMEM. */
int dfit_distill_measure(struct dfit_distill *d, const struct dfit_train_model *student,
                         const struct dfit_train_data *data, uint32_t T, uint64_t max_windows,
                         bool all_tokens, struct dfit_distill_measure *out, struct dfit_err *err);

/* Where a distilled student came from, for its dfit.* metadata. */
struct dfit_distill_lineage {
    const char *teacher_path;      /* the teacher's file */
    char teacher_sha256[65];
    const char *init_path;         /* the student's starting file; NULL: a fresh init */
    char init_sha256[65];
    struct dfit_distill_params params;
    double final_kl, final_ce;     /* dfit_distill_recent at the end */
    bool have_heldout;             /* a held-out measurement before and after */
    char heldout_sha256[65];
    struct dfit_distill_measure heldout_before, heldout_after;
};

/* Writes the student to path (atomically) with matrices as type (F32, F16
 * or BF16): the llama keys and vocabulary of dfit_train_model_add_to_writer,
 * dfit.recipe.method = "distill" with the teacher's and init's SHA-256, the
 * student's shape, temperature, alpha, the data's SHA-256 and the training
 * recipe r (dfit.distill.*, dfit.train.*), and lineage: dfit.parent.* names
 * the init file (or the teacher for a fresh student) and dfit.lineage gets
 * that file's recipe appended. Errors: the parent file's reader, the
 * writer's; an existing file at path stays as it was. */
int dfit_distill_export(const struct dfit_train_model *student, enum dfit_type type,
                        const struct dfit_train_recipe *r, const struct dfit_distill_lineage *lin,
                        const char *path, struct dfit_err *err);

/* The student's shape from a spec and the teacher's shape: a comma list of
 * an optional preset name first ("tiny", "15m", ... as dfit synth, or
 * "teacher" for the teacher's own shape, the default base) then KEY=VALUE
 * overrides (dim, layers, heads, kv_heads, ffn, ctx; tied=true|false).
 * The vocabulary is always the teacher's; heads without kv_heads keep the
 * teacher's query/KV ratio when it divides, else kv_heads = heads.
 * Example: "layers=2", "dim=128,heads=4,ffn=384". DFIT_EINVAL naming the
 * item, or the shape check's message. */
int dfit_distill_shape_parse(const char *spec, const struct dfit_synth_shape *teacher,
                             struct dfit_synth_shape *out, struct dfit_err *err);

#endif
