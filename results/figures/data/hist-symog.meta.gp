# written by symog report; loaded by plots/*.gp
nlines = 3
array title[3] = ['conv1', 'conv2', 'fc1']
array style[3] = [10, 10, 10]
nepochs = 5
array epoch[5] = [0, 1, 3, 4, 5]
last_epoch = 5
nmodes = 3
array mode[3] = [-1, 0, 1]
xmax = 1.98333
