# written by symog report; loaded by plots/*.gp
nlines = 4
array title[4] = ['conv1', 'conv2', 'fc1', 'fc2']
array style[4] = [2, 3, 4, 5]
epochs = 5
