# switch.gp - SYMOG's mode switches: the share of each layer's weights whose
# nearest fixed-point mode changed during an epoch (left axis, log scale),
# and the penalty weight lambda(t) at the end of each epoch (right axis,
# log scale). Reads <data>.dat, <data>-lambda.dat and <data>.meta.gp from
# `symog report`; writes <out>.{pdf,svg,png}.
load plots.'/style.gp'
load data.'.meta.gp'
H = 2.8
do for [t=1:3] {
    eval term(t)
    set border 11 lw 0.8
    set xlabel "Epoch"
    set ylabel "Mode switches (% of weights)"
    set y2label "Penalty weight λ"
    set logscale y
    set logscale y2
    set format y "10^{%L}"
    set format y2 "10^{%L}"
    set ytics nomirror
    set y2tics nomirror 1e-6, 1000
    unset mytics
    unset my2tics
    set xrange [0:epochs]
    set xtics 1
    set key above horizontal
    plot for [i=1:nlines] data.'.dat' index (i-1) using 1:($2 > 0 ? $2 : NaN) with linespoints lt style[i] title title[i], \
         data.'-lambda.dat' using 1:2 axes x1y2 with lines lt 1 lw 2 title "λ (right axis)"
    unset output
}
