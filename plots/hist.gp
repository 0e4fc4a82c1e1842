# hist.gp - SYMOG's weight distributions during training as ridgelines, one
# panel per layer: each curve is a layer's weight histogram at one epoch
# (epoch 0 = before training, top; the last epoch at the bottom), scaled to
# its own maximum, with x in units of the layer's step; dotted verticals are
# the fixed-point modes the weights are pulled to. Reads <data>-<k>.dat and
# <data>.meta.gp from `symog report`; writes <out>.{pdf,svg,png}.
load plots.'/style.gp'
load data.'.meta.gp'
H = 2.6
do for [t=1:3] {
    eval term(t)
    set multiplot layout 1, nlines margins 0.13, 0.97, 0.23, 0.9 spacing 0.04, 0
    do for [i=1:nlines] {
        unset arrow
        do for [j=1:nmodes] {
            set arrow j from mode[j], graph 0 to mode[j], graph 1 nohead dt 3 lw 0.8 lc rgb "#777777" front
        }
        set title title[i] offset 0,-0.6
        set xrange [-xmax:xmax]
        set yrange [-0.06:nepochs - 0.02]
        set xtics 1 scale 0.5
        set grid noytics
        set border 1
        if (i == 1) {
            set ytics ()
            do for [k=1:nepochs] {
                set ytics add (sprintf("%d", epoch[k]) nepochs - k)
            }
            set ytics scale 0
            set ylabel "Epoch"
        } else {
            unset ytics
            unset ylabel
        }
        set xlabel "w / step"
        f = data.'-'.i.'.dat'
        # back (epoch 0, top) to front: each fill, then its outline
        cmd = "plot "
        do for [k=1:nepochs] {
            cmd = cmd.sprintf("'%s' index %d using 1:2:3 with filledcurves fc rgb '#F8D5C0' fs solid 1.0 noborder, '' index %d using 1:3 with lines lt 10 lw 1.0%s", f, k-1, k-1, k < nepochs ? ", " : "")
        }
        eval cmd
    }
    unset multiplot
    unset output
}
