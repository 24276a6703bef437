/* cmd_tokenize.c — `dfit tokenize FILE.gguf TEXT [--no-bos] [--ids-only]`:
 * shows how a model's vocabulary splits a text, one token a line
 * ("id<TAB>piece", bytes a terminal would mangle escaped as \xNN), then the
 * count; or, with --ids-only, the ids alone on one line. Only the file's
 * metadata is read. BOS comes first when the model asks for it
 * (tokenizer.ggml.add_bos_token, true by default) unless --no-bos.
 * Non-goals: reading the text from a file or stdin, decoding ids back.
 */
#include "cli/cli.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

#define CMD "tokenize"

static void usage(FILE *f)
{
    fputs("usage: dfit tokenize FILE.gguf TEXT [--no-bos] [--ids-only]\n"
          "Prints the tokens of TEXT under FILE's vocabulary, one a line as\n"
          "ID<TAB>PIECE (bytes outside printable ASCII and valid UTF-8 as \\xNN,\n"
          "a backslash as \\\\), then the number of tokens.\n"
          "  --no-bos     do not put the BOS token first (default: as the model asks)\n"
          "  --ids-only   print only the ids, on one line, separated by spaces\n"
          "  --           end of options (for a TEXT that starts with '-')\n",
          f);
}

#define usage_error(...) dfit_args_usage_error(CMD, usage, __VA_ARGS__)

/* Length of a well-formed UTF-8 sequence at s[0..n) that is printable (no
 * C1 controls, U+0080..U+009F), or 0. */
static size_t utf8_printable_len(const unsigned char *s, size_t n)
{
    size_t len = dfit_args_utf8_len(s, n);
    return len == 2 && s[0] == 0xC2 && s[1] < 0xA0 ? 0 : len;
}

static void print_escaped(const char *piece)
{
    const unsigned char *s = (const unsigned char *)piece;
    size_t n = strlen(piece);
    for (size_t i = 0; i < n;) {
        size_t u;
        if (s[i] == '\\') {
            fputs("\\\\", stdout);
            i++;
        } else if (s[i] >= 0x20 && s[i] < 0x7f) {
            putchar(s[i]);
            i++;
        } else if ((u = utf8_printable_len(s + i, n - i)) > 0) {
            fwrite(s + i, 1, u, stdout);
            i += u;
        } else {
            printf("\\x%02X", s[i]);
            i++;
        }
    }
}

int dfit_cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *text = NULL;
    bool no_bos = false, ids_only = false, opts_done = false;
    struct dfit_gguf *g = NULL;
    struct dfit_tokenizer *t = NULL;
    int32_t *ids = NULL;
    struct dfit_err err = {0};
    size_t len, n = 0, n_max;
    int add_bos, status = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--no-bos") == 0) {
                no_bos = true;
            } else if (strcmp(a, "--ids-only") == 0) {
                ids_only = true;
            } else if (strcmp(a, "--") == 0) {
                opts_done = true;
            } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                usage(stdout);
                return 0;
            } else {
                return usage_error("unknown option '%s'", a);
            }
        } else if (!path) {
            path = a;
        } else if (!text) {
            text = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!path || !text)
        return usage_error("%s", !path ? "missing FILE.gguf and TEXT" : "missing TEXT");

    if (dfit_gguf_open(path, &g, &err) || dfit_tokenizer_from_gguf(g, &t, &err))
        goto fail;
    dfit_gguf_close(g);
    g = NULL;

    len = strlen(text);
    n_max = 3 * len + 4; /* worst case: every byte, and each "▁", as bytes; BOS */
    ids = malloc(n_max * sizeof *ids);
    if (!ids) {
        dfit_err_set(&err, DFIT_ENOMEM, "out of memory for %zu ids", n_max);
        goto fail;
    }
    add_bos = !no_bos && dfit_tokenizer_add_bos(t) && dfit_tokenizer_bos(t) >= 0;
    if (dfit_tokenizer_encode(t, text, len, add_bos, ids, n_max, &n, &err))
        goto fail;

    for (size_t i = 0; i < n; i++) {
        if (ids_only) {
            printf(i ? " %d" : "%d", (int)ids[i]);
            continue;
        }
        printf("%d\t", (int)ids[i]);
        print_escaped(dfit_tokenizer_piece(t, ids[i]));
        putchar('\n');
    }
    if (ids_only)
        putchar('\n');
    else
        printf("%zu token%s\n", n, n == 1 ? "" : "s");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        dfit_err_set(&err, DFIT_EIO, "writing to standard output failed");
        goto fail;
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "dfit tokenize: %s\n", err.msg);
done:
    free(ids);
    dfit_tokenizer_free(t);
    dfit_gguf_close(g);
    return status;
}
