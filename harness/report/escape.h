/* escape.h — putting user-provided text (variant, target and workload
 * names, paths, reasons, machine strings) into the report's formats so that
 * it reads as text and nothing else: HTML, Markdown, gnuplot data-file
 * labels, and a shell word for the messages that tell the user what to run.
 * Non-goals: escaping for formats dfit does not write; validating text.
 */
#ifndef DFIT_REPORT_ESCAPE_H
#define DFIT_REPORT_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Writes s to f with & < > " ' as entities (&amp; &lt; &gt; &quot; &#39;)
 * and other control characters than tab as spaces (a newline too, so the
 * text stays on its line in tables). NULL writes nothing. Returns 0, or -1
 * when f reports a write error. */
int dfit_escape_html(FILE *f, const char *s);

/* Writes s to f as Markdown inline text that stays one table cell: the
 * ASCII punctuation that can start markup in CommonMark or GitHub's
 * extensions (\ ` * _ [ ] # | < > ~ & $ @: code, emphasis, links and
 * images, headings and issue references, table cells, HTML, strikethrough,
 * entities, math, mentions) backslash-escaped, a leading - or + escaped
 * too (a list item, were the text ever to start a line), and newlines and
 * other control characters as spaces, so the text never starts a line. NULL writes nothing. Returns 0, or -1 on a
 * write error. */
int dfit_escape_md(FILE *f, const char *s);

/* Copies s into dst (cap >= 4) as a label gnuplot reads from a data file
 * inside double quotes, where it is only ever text: " becomes ', \ becomes
 * /, control characters become spaces, bytes that are not UTF-8 become ?,
 * and text past max_chars characters is cut and ends in "...". An empty or
 * NULL s gives "-". Returns dst. */
char *dfit_escape_plot_label(char *dst, size_t cap, const char *s, size_t max_chars);

/* Writes s to f as one POSIX shell word in single quotes ('it'\''s'), for
 * commands printed to the user. Returns 0, or -1 on a write error. */
int dfit_escape_shell(FILE *f, const char *s);

#endif
