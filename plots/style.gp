# style.gp - the look shared by every figure (loaded by the figure scripts):
# one column of a two-column paper (3.5 in wide), 8 pt sans-serif text, a
# colour-blind-safe palette (Okabe-Ito), and one fixed colour + marker per
# method: linetype N is style N of experiments/_common.lua, so a method looks
# the same in every figure. term(t) switches to PDF (t=1), SVG (2) or PNG
# at 300 dpi (3); the three show the same layout.
#
# Expects `out` (output path without extension); W and H (inches) may be
# changed after loading.
W = 3.5
H = 2.6
font = "Helvetica"
fs = 8
dpi = 300.0
kfs = 7  # legend text
# the font sizes in each terminal's units: PDF points, SVG user units (1 pt),
# PNG pixels at dpi (cairo counts 1 pt as 1 px)
fscale(t) = t == 3 ? dpi/72 : 1.0
term(t) = (t == 1 ? sprintf("set terminal pdfcairo enhanced color rounded size %gin,%gin font '%s,%g' fontscale 1 linewidth 2; set output '%s.pdf'", W, H, font, fs, out) : \
           t == 2 ? sprintf("set terminal svg enhanced rounded size %d,%d font '%s,%g' linewidth 1 background '#ffffff'; set output '%s.svg'", int(W*72), int(H*72), font, fs*fscale(t), out) : \
                    sprintf("set terminal pngcairo enhanced color rounded size %d,%d font '%s,%g' linewidth %g pointscale %g; set output '%s.png'", int(W*dpi), int(H*dpi), font, fs*fscale(t), dpi/72, dpi/72, out)) . \
          sprintf("; set key font ',%g'", kfs*fscale(t))

# methods (style numbers): 1 float, 2 BinaryConnect, 3 BWN, 4 TWN, 5 TTQ,
# 6 DoReFa, 7 LSQ, 8 fixed-point STE, 9 post-training, 10 SYMOG; 11-12 spare
set linetype 1  lc rgb "#555555" lw 1.5 dt 2 pt 1  ps 0.6
set linetype 2  lc rgb "#E69F00" lw 1.2 dt 1 pt 5  ps 0.55
set linetype 3  lc rgb "#56B4E9" lw 1.2 dt 1 pt 7  ps 0.6
set linetype 4  lc rgb "#009E73" lw 1.2 dt 1 pt 9  ps 0.65
set linetype 5  lc rgb "#B59B00" lw 1.2 dt 1 pt 11 ps 0.65
set linetype 6  lc rgb "#0072B2" lw 1.2 dt 1 pt 13 ps 0.65
set linetype 7  lc rgb "#CC79A7" lw 1.2 dt 1 pt 4  ps 0.55
set linetype 8  lc rgb "#882255" lw 1.2 dt 1 pt 6  ps 0.6
set linetype 9  lc rgb "#999999" lw 1.2 dt 1 pt 8  ps 0.6
set linetype 10 lc rgb "#D55E00" lw 2.0 dt 1 pt 7  ps 0.7
set linetype 11 lc rgb "#117733" lw 1.2 dt 1 pt 12 ps 0.6
set linetype 12 lc rgb "#332288" lw 1.2 dt 1 pt 10 ps 0.6
set linetype cycle 12

set border 3 lw 0.8
set tics nomirror out scale 0.6
set grid ytics lw 0.5 lc rgb "#e0e0e0"
set key noautotitle reverse Left samplen 1.6 spacing 1.0 width -1
set bars 0.6
set encoding utf8
