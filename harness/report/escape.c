/* escape.c — user text into HTML, Markdown, gnuplot data labels and shell
 * words (rules in escape.h). Byte-oriented: UTF-8 passes through untouched
 * except in plot labels, which are also checked for valid UTF-8 because
 * gnuplot copies them into SVG.
 * Non-goals: Unicode normalisation, bidi controls, other formats.
 */
#include "report/escape.h"

#include <string.h>

int dfit_escape_html(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*p < 0x20 && *p != '\t' ? ' ' : *p == 0x7f ? ' ' : *p, f);
        }
    }
    return ferror(f) ? -1 : 0;
}

int dfit_escape_md(FILE *f, const char *s)
{
    static const char special[] = "\\`*_[]#|<>~&$@";
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fputc(' ', f);
        else if (strchr(special, *p) ||
                 (p == (const unsigned char *)s && (*p == '-' || *p == '+')))
            fprintf(f, "\\%c", *p);
        else
            fputc(*p, f);
    }
    return ferror(f) ? -1 : 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when p does not
 * start one (stray continuation, overlong form, surrogate, > U+10FFFF,
 * truncated). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (n == 0 || c == 0xc0 || c == 0xc1 || c > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) ||
        (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))
        return 0;
    return n;
}

char *dfit_escape_plot_label(char *dst, size_t cap, const char *s, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t o = 0, chars = 0;
    if (cap < 4) {
        if (cap)
            dst[0] = '\0';
        return dst;
    }
    while (*p) {
        size_t n = utf8_len(p);
        if (chars == max_chars || o + (n ? n : 1) + 3 >= cap) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (n == 0) {
            dst[o++] = '?';
            p++;
        } else if (n == 1) {
            unsigned char c = *p++;
            dst[o++] = c == '"' ? '\'' : c == '\\' ? '/' : (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        } else {
            memcpy(dst + o, p, n);
            o += n;
            p += n;
        }
        chars++;
    }
    if (o == 0)
        dst[o++] = '-';
    dst[o] = '\0';
    return dst;
}

int dfit_escape_shell(FILE *f, const char *s)
{
    fputc('\'', f);
    for (const char *p = s; p && *p; p++) {
        if (*p == '\'')
            fputs("'\\''", f);
        else
            fputc(*p, f);
    }
    fputc('\'', f);
    return ferror(f) ? -1 : 0;
}
