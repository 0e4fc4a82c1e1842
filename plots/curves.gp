# curves.gp - training curves: test error after each epoch, one line per
# method (mean over seeds), the weights as the network is evaluated (for
# SYMOG: snapped onto the grid, so its error falls as lambda(t) pulls the
# weights to the modes). Reads <data>.dat and <data>.meta.gp from
# `symog report`; writes <out>.{pdf,svg,png}.
load plots.'/style.gp'
load data.'.meta.gp'
H = 3.2
do for [t=1:3] {
    eval term(t)
    set xlabel "Epoch"
    set ylabel ylabel
    set xtics 1
    set mxtics 1
    set key above horizontal
    plot for [i=1:nlines] data.'.dat' index (i-1) using 1:2 with linespoints lt style[i] title title[i]
    unset output
}
