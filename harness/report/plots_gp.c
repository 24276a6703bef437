/* plots_gp.c — the gnuplot templates plots/frontier.gp and
 * plots/latency_cdf.gp, compiled in so that a report needs no source tree
 * (test_report_gnuplot keeps them identical to the files). Edit the .gp
 * file and copy it here line for line (one string per line keeps each
 * literal short, as ISO C asks).
 * Non-goal: anything but the text.
 */
#include "report/plots.h"

#include <stdlib.h>
#include <string.h>

static const char *const frontier_gp[] = {
    "# frontier.gp — quality against one cost axis, for one target and workload:\n",
    "# every measured variant (with its standard error), the Pareto frontier, the\n",
    "# recommended variant and the target's SLO limits; written as SVG and PNG.\n",
    "#\n",
    "# dfit writes a copy of this file next to the data and calls it from\n",
    "# render.gp (see harness/report/plots.c and docs/report.md):\n",
    "#   call \"frontier.gp\" \"BASE\" \"XAXIS\" \"YAXIS\" \"XLIMIT\" \"YLIMIT\" \"REC\"\n",
    "#   BASE    file stem made of ids only (front_t0_w1_e2e): reads BASE_pts.dat and\n",
    "#           BASE_front.dat, writes BASE.svg and BASE.png\n",
    "#   XAXIS   cost axis: e2e | mem | usd\n",
    "#   YAXIS   quality axis: accuracy | top1\n",
    "#   XLIMIT  the target's SLO on the cost axis (a number) or none\n",
    "#   YLIMIT  the target's min_quality SLO (a number) or none\n",
    "#   REC     1 when a variant is recommended, else 0\n",
    "# BASE_pts.dat: a header row (its 5th field names the target and workload),\n",
    "# then one row per variant: cost, quality, standard error, recommended (0/1),\n",
    "# name. BASE_front.dat: a header row, then the frontier sorted by cost.\n",
    "# Names and titles reach gnuplot only as data: this script holds no user text.\n",
    "# Non-goal: choosing what is plotted (dfit does that).\n",
    "\n",
    "reset\n",
    "base = ARG1\n",
    "xlab = (ARG2 eq \"e2e\") ? \"p95 end-to-end latency (ms)\" : \\\n",
    "       (ARG2 eq \"mem\") ? \"peak memory (MiB)\" : \"USD per million output tokens\"\n",
    "ylab = (ARG3 eq \"accuracy\") ? \"task accuracy\" : \"top-1 agreement with the reference\"\n",
    "pts = base . \"_pts.dat\"\n",
    "front = base . \"_front.dat\"\n",
    "\n",
    "stats pts using 1 nooutput name \"X\"\n",
    "stats pts using 2 nooutput name \"Y\"\n",
    "xmax = X_max\n",
    "ymin = Y_min\n",
    "ymax = Y_max\n",
    "if (ARG4 ne \"none\") { xlim = real(ARG4); if (xlim > xmax) { xmax = xlim } }\n",
    "if (ARG5 ne \"none\") { ylim = real(ARG5); if (ylim < ymin) { ymin = ylim }; if (ylim > ymax) { ymax = ylim } }\n",
    "ypad = (ymax > ymin) ? 0.15 * (ymax - ymin) : 0.05\n",
    "set xrange [0 : (xmax > 0 ? 1.3 * xmax : 1)]\n",
    "set yrange [ymin - ypad : ymax + ypad]\n",
    "\n",
    "set xlabel xlab\n",
    "set ylabel ylab\n",
    "set title \"Quality against cost: Pareto frontier (higher and further left is better)\"\n",
    "set grid\n",
    "set key below\n",
    "set bmargin 7\n",
    "if (ARG4 ne \"none\") {\n",
    "    set arrow 1 from xlim, graph 0 to xlim, graph 1 nohead dashtype 2 linewidth 2 linecolor rgb \"#c0392b\"\n",
    "    set label 1 \"SLO\" at xlim, graph 0.96 offset 0.5, 0 textcolor rgb \"#c0392b\"\n",
    "}\n",
    "if (ARG5 ne \"none\") {\n",
    "    set arrow 2 from graph 0, first ylim to graph 1, first ylim nohead dashtype 2 linewidth 2 linecolor rgb \"#c0392b\"\n",
    "    set label 2 \"min quality\" at graph 0.01, first ylim offset 0, 0.7 textcolor rgb \"#c0392b\"\n",
    "}\n",
    "\n",
    "do for [fmt in \"svg png\"] {\n",
    "    if (fmt eq \"svg\") {\n",
    "        set terminal svg size 760,500 noenhanced font \"sans,11\" background rgb \"white\"\n",
    "    } else {\n",
    "        if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n",
    "            set terminal pngcairo size 760,500 noenhanced font \"sans,10\" background rgb \"white\"\n",
    "        } else {\n",
    "            set terminal png size 760,500 noenhanced background rgb \"white\"\n",
    "        }\n",
    "    }\n",
    "    set output base . \".\" . fmt\n",
    "    if (ARG6 eq \"1\") {\n",
    "        plot front using 1:2 with steps linewidth 2 linecolor rgb \"#2471a3\" title \"Pareto frontier\", \\\n",
    "             front using 1:2 with points pointtype 6 pointsize 1.8 linecolor rgb \"#2471a3\" notitle, \\\n",
    "             pts using 1:2:3 with yerrorbars pointtype 7 pointsize 1 linecolor rgb \"#555555\" title columnheader(5), \\\n",
    "             pts using 1:2:5 with labels offset 1, 0.8 left font \",9\" notitle, \\\n",
    "             pts using 1:($4 > 0 ? $2 : NaN) with points pointtype 3 pointsize 3 linewidth 2 linecolor rgb \"#1e8449\" title \"recommended\"\n",
    "    } else {\n",
    "        plot front using 1:2 with steps linewidth 2 linecolor rgb \"#2471a3\" title \"Pareto frontier\", \\\n",
    "             front using 1:2 with points pointtype 6 pointsize 1.8 linecolor rgb \"#2471a3\" notitle, \\\n",
    "             pts using 1:2:3 with yerrorbars pointtype 7 pointsize 1 linecolor rgb \"#555555\" title columnheader(5), \\\n",
    "             pts using 1:2:5 with labels offset 1, 0.8 left font \",9\" notitle\n",
    "    }\n",
    "    set output\n",
    "}\n",
    NULL,
};

static const char *const latency_cdf_gp[] = {
    "# latency_cdf.gp — the distribution of one per-request latency (end to end\n",
    "# or time to first token) for every variant measured on one target and\n",
    "# workload, as empirical CDFs; written as SVG and PNG.\n",
    "#\n",
    "# dfit writes a copy of this file next to the data and calls it from\n",
    "# render.gp (see harness/report/plots.c and docs/report.md):\n",
    "#   call \"latency_cdf.gp\" \"BASE\" \"METRIC\" \"VARIANTS\" \"XLIMIT\"\n",
    "#   BASE      file stem made of ids only (cdf_t0_w1_e2e): reads BASE_vN.dat\n",
    "#             for each N in VARIANTS, writes BASE.svg and BASE.png\n",
    "#   METRIC    e2e | ttft\n",
    "#   VARIANTS  space-separated variant ids (\"0 2 3\")\n",
    "#   XLIMIT    the target's p95 SLO for the metric (a number) or none\n",
    "# Each BASE_vN.dat: a header row whose first field is the variant's\n",
    "# name, then rows \"latency_ms cumulative_fraction\" in increasing order.\n",
    "# Names reach gnuplot only as data: this script holds no user text.\n",
    "# Non-goal: choosing what is plotted (dfit does that).\n",
    "\n",
    "reset\n",
    "base = ARG1\n",
    "metric = ARG2\n",
    "xlab = (metric eq \"e2e\") ? \"end-to-end latency per request (ms)\" : \"time to first token (ms)\"\n",
    "file(v) = sprintf(\"%s_v%s.dat\", base, v)\n",
    "\n",
    "set xlabel xlab\n",
    "set ylabel \"fraction of requests\"\n",
    "set title \"Latency distribution (empirical CDF); dotted line: p95\"\n",
    "xmax = 0\n",
    "do for [v in ARG3] {\n",
    "    stats file(v) using 1 nooutput name \"S\"\n",
    "    if (S_max > xmax) { xmax = S_max }\n",
    "}\n",
    "if (ARG4 ne \"none\") {\n",
    "    xlim = real(ARG4)\n",
    "    if (xlim > xmax) { xmax = xlim }\n",
    "    set arrow 2 from xlim, graph 0 to xlim, graph 1 nohead dashtype 2 linewidth 2 linecolor rgb \"#c0392b\"\n",
    "    set label 2 \"SLO (p95)\" at xlim, graph 0.08 right offset -0.5, 0 textcolor rgb \"#c0392b\"\n",
    "}\n",
    "set xrange [0 : (xmax > 0 ? 1.05 * xmax : 1)]\n",
    "set yrange [0 : 1.02]\n",
    "set grid\n",
    "set key below\n",
    "set bmargin 7\n",
    "set arrow 1 from graph 0, first 0.95 to graph 1, first 0.95 nohead dashtype 3 linecolor rgb \"#777777\"\n",
    "\n",
    "do for [fmt in \"svg png\"] {\n",
    "    if (fmt eq \"svg\") {\n",
    "        set terminal svg size 760,460 noenhanced font \"sans,11\" background rgb \"white\"\n",
    "    } else {\n",
    "        if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n",
    "            set terminal pngcairo size 760,460 noenhanced font \"sans,10\" background rgb \"white\"\n",
    "        } else {\n",
    "            set terminal png size 760,460 noenhanced background rgb \"white\"\n",
    "        }\n",
    "    }\n",
    "    set output base . \".\" . fmt\n",
    "    plot for [v in ARG3] file(v) using 1:2 with steps linewidth 2 title columnheader(1)\n",
    "    set output\n",
    "}\n",
    NULL,
};

char *dfit_plots_template(const char *name)
{
    const char *const *lines = NULL;
    if (name && strcmp(name, "frontier.gp") == 0)
        lines = frontier_gp;
    else if (name && strcmp(name, "latency_cdf.gp") == 0)
        lines = latency_cdf_gp;
    if (!lines)
        return NULL;
    size_t len = 1;
    for (size_t i = 0; lines[i]; i++)
        len += strlen(lines[i]);
    char *text = malloc(len), *o = text;
    for (size_t i = 0; text && lines[i]; i++) {
        size_t n = strlen(lines[i]);
        memcpy(o, lines[i], n);
        o += n;
    }
    if (text)
        *o = '\0';
    return text;
}
