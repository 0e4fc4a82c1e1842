# written by symog report; loaded by plots/*.gp
nlines = 10
array title[10] = ['float', 'BinaryConnect', 'BWN', 'TWN', 'TTQ', 'DoReFa', 'LSQ', 'fixed-point STE', 'post-training', 'SYMOG']
array style[10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
reference = 'float'
ylabel = "Test error (%)"
