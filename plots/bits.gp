# bits.gp - test error versus weight bit width: one line per method (mean
# over seeds, error bars one standard deviation), the float network as a
# horizontal reference with its standard deviation as a band. Reads
# <data>.dat and <data>.meta.gp from `symog report`; writes <out>.{pdf,svg,png}.
# ytop > 0 (set by the report when a method lies far above float): the y
# axis stops there and those points are written at the top edge as values.
load plots.'/style.gp'
load data.'.meta.gp'
H = 3.2
do for [t=1:3] {
    eval term(t)
    set xlabel "Weight bit width (bits)"
    set ylabel "Test error (%)"
    set xrange [xmin-0.4:xmax+0.4]
    set xtics xmin, 1, xmax
    set key above horizontal
    if (ytop > 0) { set yrange [*:ytop] }
    if (has_ref) {
        plot '+' using 1:(ref_mean-ref_std):(ref_mean+ref_std) with filledcurves fs transparent solid 0.12 noborder lc rgb "#555555" notitle, \
             ref_mean with lines lt 1 title sprintf("%s (%.2f %%)", ref_title, ref_mean), \
             for [i=1:nlines] data.'.dat' index (i-1) using 1:2:3 with yerrorlines lt style[i] title title[i], \
             for [i=1:nlines] data.'.dat' index (i-1) using 1:((ytop > 0 && $2 > ytop) ? ytop : 1/0):(sprintf("↑%.0f", $2)) \
                 with labels offset 0,-0.9*clip_row[i] tc lt style[i] notitle
    } else {
        plot for [i=1:nlines] data.'.dat' index (i-1) using 1:2:3 with yerrorlines lt style[i] title title[i]
    }
    unset output
}
