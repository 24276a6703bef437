/* plots.c — the gnuplot driver (plots.h): data files, render.gp and one
 * gnuplot process per report, spawned without a shell in the plot
 * directory. The rules that keep user text out of gnuplot's scripts are in
 * plots.h; every line of render.gp is printed here from ids, fixed words and
 * numbers.
 * Non-goals: deciding what to plot, reading the store, HTML.
 */
#include "report/plots.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report/escape.h"
#include "store/store.h"

extern char **environ;

struct dfit_plots {
    char *dir;
    FILE *script;                  /* render.gp's lines, in memory */
    char *script_text;
    size_t script_len;
    char (*stems)[DFIT_PLOT_STEM_MAX]; /* every plot added */
    size_t n_stems, cap_stems;
};

static const char *const cdf_keys[] = {"e2e", "ttft"};

/* ---- files ------------------------------------------------------------------------ */

static int path_of(const struct dfit_plots *p, const char *name, char *buf, size_t cap,
                   struct dfit_err *err)
{
    int n = snprintf(buf, cap, "%s/%s", p->dir, name);
    if (n < 0 || (size_t)n >= cap)
        return dfit_err_set(err, DFIT_ERANGE, "%s: path too long for '%s'", p->dir, name);
    return 0;
}

/* Writes text to dir/name. */
static int write_text(const struct dfit_plots *p, const char *name, const char *text,
                      size_t len, struct dfit_err *err)
{
    char path[PATH_MAX];
    int rc = path_of(p, name, path, sizeof path, err);
    if (rc)
        return rc;
    FILE *f = fopen(path, "w");
    if (!f)
        return dfit_err_set(err, DFIT_EIO, "%s: cannot create: %s", path, strerror(errno));
    bool ok = fwrite(text, 1, len, f) == len;
    ok &= fclose(f) == 0;
    if (!ok)
        return dfit_err_set(err, DFIT_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

/* Opens dir/name for writing in *f. */
static int open_data(const struct dfit_plots *p, const char *name, FILE **f,
                     struct dfit_err *err)
{
    char path[PATH_MAX];
    int rc = path_of(p, name, path, sizeof path, err);
    if (rc)
        return rc;
    if (!(*f = fopen(path, "w")))
        return dfit_err_set(err, DFIT_EIO, "%s: cannot create: %s", path, strerror(errno));
    return 0;
}

static int close_data(const struct dfit_plots *p, const char *name, FILE *f,
                      struct dfit_err *err)
{
    bool bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad)
        return dfit_err_set(err, DFIT_EIO, "%s/%s: write failed: %s", p->dir, name,
                            strerror(errno));
    return 0;
}

/* A quoted gnuplot data label: "text", made harmless. */
static void put_label(FILE *f, const char *s)
{
    char buf[4 * DFIT_PLOT_LABEL_CHARS + 8];
    fprintf(f, "\"%s\"", dfit_escape_plot_label(buf, sizeof buf, s, DFIT_PLOT_LABEL_CHARS));
}

/* A number as render.gp passes it: digits, or the word none. */
static void put_limit(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, " \"%.15g\"", v);
    else
        fputs(" \"none\"", f);
}

/* Records stem (which must be made of [a-z0-9_]) and removes its stale
 * outputs. */
static int add_stem(struct dfit_plots *p, const char *stem, struct dfit_err *err)
{
    for (const char *c = stem; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return dfit_err_set(err, DFIT_EINTERNAL, "plot stem '%s' is not made of ids", stem);
    if (p->n_stems == p->cap_stems) {
        size_t ncap = p->cap_stems ? 2 * p->cap_stems : 16;
        void *v = realloc(p->stems, ncap * sizeof *p->stems);
        if (!v)
            return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for plots", p->dir);
        p->stems = v;
        p->cap_stems = ncap;
    }
    snprintf(p->stems[p->n_stems++], DFIT_PLOT_STEM_MAX, "%s", stem);
    static const char *const ext[] = {".svg", ".png"};
    for (int i = 0; i < 2; i++) {
        char name[DFIT_PLOT_STEM_MAX + 8], path[PATH_MAX];
        snprintf(name, sizeof name, "%s%s", stem, ext[i]);
        if (path_of(p, name, path, sizeof path, NULL) == 0 && unlink(path) != 0 &&
            errno != ENOENT)
            return dfit_err_set(err, DFIT_EIO, "%s: cannot remove the old plot: %s", path,
                                strerror(errno));
    }
    return 0;
}

/* ---- open / close ----------------------------------------------------------------- */

int dfit_plots_open(const char *dir, struct dfit_plots **out, struct dfit_err *err)
{
    *out = NULL;
    struct dfit_plots *p = calloc(1, sizeof *p);
    int rc = DFIT_ENOMEM;
    if (!p || !(p->dir = strdup(dir)) ||
        !(p->script = open_memstream(&p->script_text, &p->script_len))) {
        dfit_err_set(err, rc, "%s: out of memory for plots", dir);
        goto fail;
    }
    fputs("# render.gp: written by dfit; renders every plot of this report.\n"
          "# Run it in this directory: gnuplot render.gp\n", p->script);
    static const char *const names[] = {"frontier.gp", "latency_cdf.gp"};
    if ((rc = dfit_store_mkdirs(dir, err)))
        goto fail;
    for (int i = 0; i < 2; i++) {
        char *t = dfit_plots_template(names[i]);
        if (!t) {
            rc = dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for plots", dir);
            goto fail;
        }
        rc = write_text(p, names[i], t, strlen(t), err);
        free(t);
        if (rc)
            goto fail;
    }
    *out = p;
    return 0;
fail:
    dfit_plots_close(p);
    return rc;
}

void dfit_plots_close(struct dfit_plots *p)
{
    if (!p)
        return;
    if (p->script)
        fclose(p->script);
    free(p->script_text);
    free(p->stems);
    free(p->dir);
    free(p);
}

const char *dfit_plots_dir(const struct dfit_plots *p) { return p->dir; }

/* ---- frontier ---------------------------------------------------------------------- */

static bool plottable(const struct dfit_plot_point *pt)
{
    return isfinite(pt->cost) && isfinite(pt->quality);
}

static int write_points(struct dfit_plots *p, const char *stem, const struct dfit_plot_frontier *f,
                        struct dfit_err *err)
{
    char name[DFIT_PLOT_STEM_MAX + 16];
    FILE *d = NULL;
    snprintf(name, sizeof name, "%s_pts.dat", stem);
    int rc = open_data(p, name, &d, err);
    if (rc)
        return rc;
    fputs("\"cost\" \"quality\" \"se\" \"recommended\" ", d);
    put_label(d, f->title);
    fputc('\n', d);
    for (size_t i = 0; i < f->n_points; i++) {
        const struct dfit_plot_point *pt = &f->points[i];
        if (!plottable(pt))
            continue;
        fprintf(d, "%.9g %.9g %.9g %d ", pt->cost, pt->quality,
                isfinite(pt->quality_se) ? pt->quality_se : 0.0, pt->recommended ? 1 : 0);
        put_label(d, pt->label);
        fputc('\n', d);
    }
    if ((rc = close_data(p, name, d, err)))
        return rc;

    /* the frontier, by cost then quality, for gnuplot's steps */
    snprintf(name, sizeof name, "%s_front.dat", stem);
    if ((rc = open_data(p, name, &d, err)))
        return rc;
    fputs("\"cost\" \"quality\"\n", d);
    const struct dfit_plot_point *prev = NULL;
    for (;;) {
        const struct dfit_plot_point *next = NULL;
        for (size_t i = 0; i < f->n_points; i++) {
            const struct dfit_plot_point *pt = &f->points[i];
            if (!pt->on_frontier || !plottable(pt))
                continue;
            bool after = !prev || pt->cost > prev->cost ||
                         (pt->cost == prev->cost &&
                          (pt->quality > prev->quality || (pt->quality == prev->quality && pt > prev)));
            bool before = !next || pt->cost < next->cost ||
                          (pt->cost == next->cost &&
                           (pt->quality < next->quality || (pt->quality == next->quality && pt < next)));
            if (after && before)
                next = pt;
        }
        if (!next)
            break;
        fprintf(d, "%.9g %.9g\n", next->cost, next->quality);
        prev = next;
    }
    return close_data(p, name, d, err);
}

int dfit_plots_add_frontier(struct dfit_plots *p, const struct dfit_plot_frontier *f,
                            char *stem, struct dfit_err *err)
{
    stem[0] = '\0';
    if (f->target < 0 || f->workload < 0 || (unsigned)f->axis >= DFIT_COST_COUNT)
        return dfit_err_set(err, DFIT_EINVAL, "frontier plot: bad ids (target %d, workload %d, "
                            "axis %d)", f->target, f->workload, (int)f->axis);
    bool any = false, rec = false;
    for (size_t i = 0; i < f->n_points; i++)
        if (plottable(&f->points[i])) {
            any = true;
            rec |= f->points[i].recommended;
        }
    if (!any)
        return 0;
    char s[DFIT_PLOT_STEM_MAX];
    snprintf(s, sizeof s, "front_t%d_w%d_%s", f->target, f->workload,
             dfit_cost_axis_key(f->axis));
    int rc;
    if ((rc = add_stem(p, s, err)) || (rc = write_points(p, s, f, err)))
        return rc;
    fprintf(p->script, "call \"frontier.gp\" \"%s\" \"%s\" \"%s\"", s,
            dfit_cost_axis_key(f->axis),
            f->quality == DFIT_QUALITY_ACCURACY ? "accuracy" : "top1");
    put_limit(p->script, f->x_limit);
    put_limit(p->script, f->y_limit);
    fprintf(p->script, " \"%d\"\n", rec ? 1 : 0);
    snprintf(stem, DFIT_PLOT_STEM_MAX, "%s", s);
    return 0;
}

/* ---- latency CDFs --------------------------------------------------------------------- */

int dfit_plots_add_cdf(struct dfit_plots *p, const struct dfit_plot_cdf *c, char *stem,
                       struct dfit_err *err)
{
    stem[0] = '\0';
    if (c->target < 0 || c->workload < 0 || (unsigned)c->metric > DFIT_CDF_TTFT)
        return dfit_err_set(err, DFIT_EINVAL, "latency plot: bad ids (target %d, workload %d)",
                            c->target, c->workload);
    bool any = false;
    for (size_t i = 0; i < c->n_series; i++) {
        const struct dfit_plot_series *sr = &c->series[i];
        if (sr->variant < 0)
            return dfit_err_set(err, DFIT_EINVAL, "latency plot: bad variant id %d", sr->variant);
        for (size_t j = 1; j < sr->n; j++)
            if (!(sr->values_ms[j] >= sr->values_ms[j - 1]))
                return dfit_err_set(err, DFIT_EINVAL, "latency plot: variant %d: values are not "
                                    "ascending at %zu", sr->variant, j);
        any |= sr->n > 0;
    }
    if (!any)
        return 0;
    char s[DFIT_PLOT_STEM_MAX];
    snprintf(s, sizeof s, "cdf_t%d_w%d_%s", c->target, c->workload, cdf_keys[c->metric]);
    int rc = add_stem(p, s, err);
    if (rc)
        return rc;
    fprintf(p->script, "call \"latency_cdf.gp\" \"%s\" \"%s\" \"", s, cdf_keys[c->metric]);
    bool first = true;
    for (size_t i = 0; i < c->n_series; i++) {
        const struct dfit_plot_series *sr = &c->series[i];
        if (!sr->n)
            continue;
        char name[DFIT_PLOT_STEM_MAX + 32];
        FILE *d = NULL;
        snprintf(name, sizeof name, "%s_v%d.dat", s, sr->variant);
        if ((rc = open_data(p, name, &d, err)))
            return rc;
        put_label(d, sr->label);
        fputs(" \"fraction\"\n", d);
        fprintf(d, "%.9g 0\n", sr->values_ms[0]);
        for (size_t j = 0; j < sr->n; j++)
            fprintf(d, "%.9g %.9g\n", sr->values_ms[j], (double)(j + 1) / (double)sr->n);
        if ((rc = close_data(p, name, d, err)))
            return rc;
        fprintf(p->script, "%s%d", first ? "" : " ", sr->variant);
        first = false;
    }
    fputc('"', p->script);
    put_limit(p->script, c->x_limit);
    fputc('\n', p->script);
    snprintf(stem, DFIT_PLOT_STEM_MAX, "%s", s);
    return 0;
}

/* ---- rendering ------------------------------------------------------------------------- */

/* Waits for pid up to timeout_s, then kills it. Returns its wait status,
 * or -1 when it had to be killed (or could not be waited for). */
static int wait_child(pid_t pid, int timeout_s)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (long waited_ms = 0;; waited_ms += 10) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return errno == ECHILD ? 0 : -1; /* reaped elsewhere: judge by the files */
        if (waited_ms >= (long)timeout_s * 1000) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        nanosleep(&tick, NULL);
    }
}

/* "cd 'DIR' && gnuplot render.gp" into buf. */
static void render_command(const struct dfit_plots *p, char *buf, size_t cap)
{
    FILE *f = fmemopen(buf, cap, "w");
    if (!f) {
        snprintf(buf, cap, "gnuplot render.gp (in the plot directory)");
        return;
    }
    fputs("cd ", f);
    dfit_escape_shell(f, p->dir);
    fputs(" && gnuplot render.gp", f);
    fclose(f);
}

static bool nonempty(const struct dfit_plots *p, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    return path_of(p, name, path, sizeof path, NULL) == 0 && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode) && st.st_size > 0;
}

/* Whether an executable named name is on PATH (as posix_spawnp searches it:
 * an empty entry is the current directory, an unset PATH is /bin:/usr/bin). */
static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char full[PATH_MAX];
        int n = len ? snprintf(full, sizeof full, "%.*s/%s", (int)len, p, name)
                    : snprintf(full, sizeof full, "%s", name);
        struct stat st;
        if (n > 0 && (size_t)n < sizeof full && stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
            access(full, X_OK) == 0)
            return true;
        if (!end)
            return false;
        p = end + 1;
    }
}

/* Runs gnuplot render.gp in the plot directory: 0 started and waited for
 * (status in *wstatus, -1 when killed), else the errno of the spawn. */
static int spawn_gnuplot(const struct dfit_plots *p, int *wstatus)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    char arg0[] = "gnuplot", arg1[] = "render.gp";
    char *argv[] = {arg0, arg1, NULL};
    int e = posix_spawn_file_actions_init(&fa);
    if (e)
        return e;
    if (!(e = posix_spawn_file_actions_addchdir_np(&fa, p->dir)) &&
        !(e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) &&
        !(e = posix_spawn_file_actions_addopen(&fa, 1, "render.log",
                                               O_WRONLY | O_CREAT | O_TRUNC, 0644)) &&
        !(e = posix_spawn_file_actions_adddup2(&fa, 1, 2)))
        e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (!e)
        *wstatus = wait_child(pid, DFIT_PLOTS_TIMEOUT_S);
    return e;
}

int dfit_plots_render(struct dfit_plots *p, struct dfit_plots_outcome *o, struct dfit_err *err)
{
    memset(o, 0, sizeof *o);
    if (p->n_stems == 0) {
        o->status = DFIT_PLOTS_NONE;
        snprintf(o->message, sizeof o->message, "no measured points to plot");
        return 0;
    }
    if (fflush(p->script) != 0)
        return dfit_err_set(err, DFIT_ENOMEM, "%s: out of memory for render.gp", p->dir);
    int rc = write_text(p, "render.gp", p->script_text, p->script_len, err);
    if (rc)
        return rc;
    char cmd[1024];
    render_command(p, cmd, sizeof cmd);
    int wstatus = 0;
    if (!on_path("gnuplot")) {
        o->status = DFIT_PLOTS_NO_GNUPLOT;
        snprintf(o->message, sizeof o->message,
                 "gnuplot was not found on PATH, so the plots were not rendered; their data and "
                 "scripts are written; render them with: %s", cmd);
        return 0;
    }
    int e = spawn_gnuplot(p, &wstatus);
    o->status = DFIT_PLOTS_FAILED;
    if (e) {
        snprintf(o->message, sizeof o->message, "gnuplot could not be started (%s); render the "
                 "plots with: %s", strerror(e), cmd);
        return 0;
    }
    if (wstatus == -1) {
        snprintf(o->message, sizeof o->message, "gnuplot did not finish within %d s and was "
                 "killed (its output is in render.log); render the plots with: %s",
                 DFIT_PLOTS_TIMEOUT_S, cmd);
        return 0;
    }
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        snprintf(o->message, sizeof o->message, "gnuplot failed (%s %d; its messages are in "
                 "render.log); render the plots with: %s",
                 WIFEXITED(wstatus) ? "exit status" : "signal",
                 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus), cmd);
        return 0;
    }
    for (size_t i = 0; i < p->n_stems; i++) {
        static const char *const ext[] = {".svg", ".png"};
        for (int k = 0; k < 2; k++) {
            char name[DFIT_PLOT_STEM_MAX + 8];
            snprintf(name, sizeof name, "%s%s", p->stems[i], ext[k]);
            if (!nonempty(p, name)) {
                snprintf(o->message, sizeof o->message, "gnuplot did not write %s (its messages "
                         "are in render.log); render the plots with: %s", name, cmd);
                return 0;
            }
        }
    }
    o->status = DFIT_PLOTS_RENDERED;
    snprintf(o->message, sizeof o->message, "%zu plots rendered as SVG and PNG", p->n_stems);
    return 0;
}
