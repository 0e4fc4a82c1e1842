# written by symog report; loaded by plots/*.gp
nlines = 9
array title[9] = ['BinaryConnect', 'BWN', 'TWN', 'TTQ', 'DoReFa', 'LSQ', 'fixed-point STE', 'post-training', 'SYMOG']
array style[9] = [2, 3, 4, 5, 6, 7, 8, 9, 10]
has_ref = 1
ref_mean = 12.7300
ref_std = 0.1838
ref_title = 'float'
xmin = 1
xmax = 8
ytop = 20.7300
array clip_row[9] = [0, 0, 0, 1, 0, 0, 0, 2, 0]
