# latency_cdf.gp — the distribution of one per-request latency (end to end
# or time to first token) for every variant measured on one target and
# workload, as empirical CDFs; written as SVG and PNG.
#
# dfit writes a copy of this file next to the data and calls it from
# render.gp (see harness/report/plots.c and docs/report.md):
#   call "latency_cdf.gp" "BASE" "METRIC" "VARIANTS" "XLIMIT"
#   BASE      file stem made of ids only (cdf_t0_w1_e2e): reads BASE_vN.dat
#             for each N in VARIANTS, writes BASE.svg and BASE.png
#   METRIC    e2e | ttft
#   VARIANTS  space-separated variant ids ("0 2 3")
#   XLIMIT    the target's p95 SLO for the metric (a number) or none
# Each BASE_vN.dat: a header row whose first field is the variant's
# name, then rows "latency_ms cumulative_fraction" in increasing order.
# Names reach gnuplot only as data: this script holds no user text.
# Non-goal: choosing what is plotted (dfit does that).

reset
base = ARG1
metric = ARG2
xlab = (metric eq "e2e") ? "end-to-end latency per request (ms)" : "time to first token (ms)"
file(v) = sprintf("%s_v%s.dat", base, v)

set xlabel xlab
set ylabel "fraction of requests"
set title "Latency distribution (empirical CDF); dotted line: p95"
xmax = 0
do for [v in ARG3] {
    stats file(v) using 1 nooutput name "S"
    if (S_max > xmax) { xmax = S_max }
}
if (ARG4 ne "none") {
    xlim = real(ARG4)
    if (xlim > xmax) { xmax = xlim }
    set arrow 2 from xlim, graph 0 to xlim, graph 1 nohead dashtype 2 linewidth 2 linecolor rgb "#c0392b"
    set label 2 "SLO (p95)" at xlim, graph 0.08 right offset -0.5, 0 textcolor rgb "#c0392b"
}
set xrange [0 : (xmax > 0 ? 1.05 * xmax : 1)]
set yrange [0 : 1.02]
set grid
set key below
set bmargin 7
set arrow 1 from graph 0, first 0.95 to graph 1, first 0.95 nohead dashtype 3 linecolor rgb "#777777"

do for [fmt in "svg png"] {
    if (fmt eq "svg") {
        set terminal svg size 760,460 noenhanced font "sans,11" background rgb "white"
    } else {
        if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
            set terminal pngcairo size 760,460 noenhanced font "sans,10" background rgb "white"
        } else {
            set terminal png size 760,460 noenhanced background rgb "white"
        }
    }
    set output base . "." . fmt
    plot for [v in ARG3] file(v) using 1:2 with steps linewidth 2 title columnheader(1)
    set output
}
