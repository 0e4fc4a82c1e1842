# written by symog report; loaded by plots/*.gp
nlines = 9
array title[9] = ['BinaryConnect', 'BWN', 'TWN', 'TTQ', 'DoReFa', 'LSQ', 'fixed-point STE', 'post-training', 'SYMOG']
array style[9] = [2, 3, 4, 5, 6, 7, 8, 9, 10]
has_ref = 1
ref_mean = 24.2000
ref_std = 0.0000
ref_title = 'float'
xmin = 1
xmax = 4
