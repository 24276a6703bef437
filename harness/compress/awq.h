/* awq.h — activation-aware weight quantization (in the spirit of AWQ):
 * per input channel j of a group of matrices that share an input, a scale
 * s_j = mean|X_j|^alpha (normalised by sqrt(max s * min s)), alpha picked
 * from a grid over [0, 1] to minimise the calibration output error
 *   sum over matrices, rows r and sample tokens t of
 *   ((Q(W_r * s) / s - W_r) . x_t)^2
 * where Q rounds to the target type. The scales are folded so the model
 * computes the same function before rounding: 1/s_j into what produces the
 * input, s_j into the weight columns.
 *   attn_q, attn_k, attn_v   <- attn_norm weight
 *   ffn_gate, ffn_up         <- ffn_norm weight
 *   ffn_down                 <- ffn_up rows (SwiGLU is linear in up)
 *   attn_output              <- attn_v rows (one scale per KV-head channel,
 *                               shared by the query heads of its group)
 *   output (untied only)     <- output_norm weight
 * Alpha 0 is plain rounding, so on the calibration sample the error never
 * exceeds plain rounding's. The file stays plain llama GGUF (norms F32).
 * Non-goals: AWQ's weight clipping search, per-group (sub-row) scales,
 * sequential calibration on the partly quantized model.
 */
#ifndef DFIT_COMPRESS_AWQ_H
#define DFIT_COMPRESS_AWQ_H

#include <stdint.h>

#include "compress/calib.h"
#include "compress/wmodel.h"
#include "model/types.h"
#include "util/err.h"

#define DFIT_AWQ_DEFAULT_GRID 20u

struct dfit_awq_params {
    enum dfit_type qtype;   /* the type the search rounds to: q4_0 or q8_0 */
    uint32_t n_grid;        /* alphas k/n_grid, k = 0..n_grid; 0: DEFAULT_GRID */
    int n_threads;          /* <= 0: 1 */
};

struct dfit_awq_result {
    uint32_t n_groups;      /* groups searched */
    uint32_t n_scaled;      /* of them with alpha > 0 */
    double err_plain;       /* summed calibration output error, alpha 0 */
    double err_awq;         /* with the chosen alphas */
    float *alpha;           /* [n_groups] chosen alpha per group, layer by
                               layer (qkv, gate/up, down, o), then output;
                               free with dfit_awq_result_clear */
};

/* Scales wm in place using cal (gathered on wm's current shape with
 * n_sample > 0). Errors: DFIT_EINVAL (qtype not quantized; no sample rows),
 * DFIT_EINTERNAL (cal does not match wm), DFIT_ENOMEM; on failure wm may be
 * partly scaled (discard it) and res->alpha is NULL. */
int dfit_awq_apply(struct dfit_wmodel *wm, const struct dfit_calib *cal, const struct dfit_awq_params *p,
                   struct dfit_awq_result *res, struct dfit_err *err);
void dfit_awq_result_clear(struct dfit_awq_result *res); /* accepts NULL */

#endif
