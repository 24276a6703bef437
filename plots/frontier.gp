# frontier.gp — quality against one cost axis, for one target and workload:
# every measured variant (with its standard error), the Pareto frontier, the
# recommended variant and the target's SLO limits; written as SVG and PNG.
#
# dfit writes a copy of this file next to the data and calls it from
# render.gp (see harness/report/plots.c and docs/report.md):
#   call "frontier.gp" "BASE" "XAXIS" "YAXIS" "XLIMIT" "YLIMIT" "REC"
#   BASE    file stem made of ids only (front_t0_w1_e2e): reads BASE_pts.dat and
#           BASE_front.dat, writes BASE.svg and BASE.png
#   XAXIS   cost axis: e2e | mem | usd
#   YAXIS   quality axis: accuracy | top1
#   XLIMIT  the target's SLO on the cost axis (a number) or none
#   YLIMIT  the target's min_quality SLO (a number) or none
#   REC     1 when a variant is recommended, else 0
# BASE_pts.dat: a header row (its 5th field names the target and workload),
# then one row per variant: cost, quality, standard error, recommended (0/1),
# name. BASE_front.dat: a header row, then the frontier sorted by cost.
# Names and titles reach gnuplot only as data: this script holds no user text.
# Non-goal: choosing what is plotted (dfit does that).

reset
base = ARG1
xlab = (ARG2 eq "e2e") ? "p95 end-to-end latency (ms)" : \
       (ARG2 eq "mem") ? "peak memory (MiB)" : "USD per million output tokens"
ylab = (ARG3 eq "accuracy") ? "task accuracy" : "top-1 agreement with the reference"
pts = base . "_pts.dat"
front = base . "_front.dat"

stats pts using 1 nooutput name "X"
stats pts using 2 nooutput name "Y"
xmax = X_max
ymin = Y_min
ymax = Y_max
if (ARG4 ne "none") { xlim = real(ARG4); if (xlim > xmax) { xmax = xlim } }
if (ARG5 ne "none") { ylim = real(ARG5); if (ylim < ymin) { ymin = ylim }; if (ylim > ymax) { ymax = ylim } }
ypad = (ymax > ymin) ? 0.15 * (ymax - ymin) : 0.05
set xrange [0 : (xmax > 0 ? 1.3 * xmax : 1)]
set yrange [ymin - ypad : ymax + ypad]

set xlabel xlab
set ylabel ylab
set title "Quality against cost: Pareto frontier (higher and further left is better)"
set grid
set key below
set bmargin 7
if (ARG4 ne "none") {
    set arrow 1 from xlim, graph 0 to xlim, graph 1 nohead dashtype 2 linewidth 2 linecolor rgb "#c0392b"
    set label 1 "SLO" at xlim, graph 0.96 offset 0.5, 0 textcolor rgb "#c0392b"
}
if (ARG5 ne "none") {
    set arrow 2 from graph 0, first ylim to graph 1, first ylim nohead dashtype 2 linewidth 2 linecolor rgb "#c0392b"
    set label 2 "min quality" at graph 0.01, first ylim offset 0, 0.7 textcolor rgb "#c0392b"
}

do for [fmt in "svg png"] {
    if (fmt eq "svg") {
        set terminal svg size 760,500 noenhanced font "sans,11" background rgb "white"
    } else {
        if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
            set terminal pngcairo size 760,500 noenhanced font "sans,10" background rgb "white"
        } else {
            set terminal png size 760,500 noenhanced background rgb "white"
        }
    }
    set output base . "." . fmt
    if (ARG6 eq "1") {
        plot front using 1:2 with steps linewidth 2 linecolor rgb "#2471a3" title "Pareto frontier", \
             front using 1:2 with points pointtype 6 pointsize 1.8 linecolor rgb "#2471a3" notitle, \
             pts using 1:2:3 with yerrorbars pointtype 7 pointsize 1 linecolor rgb "#555555" title columnheader(5), \
             pts using 1:2:5 with labels offset 1, 0.8 left font ",9" notitle, \
             pts using 1:($4 > 0 ? $2 : NaN) with points pointtype 3 pointsize 3 linewidth 2 linecolor rgb "#1e8449" title "recommended"
    } else {
        plot front using 1:2 with steps linewidth 2 linecolor rgb "#2471a3" title "Pareto frontier", \
             front using 1:2 with points pointtype 6 pointsize 1.8 linecolor rgb "#2471a3" notitle, \
             pts using 1:2:3 with yerrorbars pointtype 7 pointsize 1 linecolor rgb "#555555" title columnheader(5), \
             pts using 1:2:5 with labels offset 1, 0.8 left font ",9" notitle
    }
    set output
}
