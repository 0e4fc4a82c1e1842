-- Figure: how SYMOG moves each layer's weights from one Gaussian to a
-- mixture around the fixed-point modes (weight histograms at epoch 0, a few
-- middle epochs and the last), and the share of weights that still switch
-- modes per epoch next to the rising penalty weight lambda(t). The run is
-- table 1's SYMOG run with seed 1 on Fashion-MNIST (the same settings, so
-- it is trained once).
local C = include "_common.lua"

local profiles = C.copy(C.lenet_profiles)
for _, p in pairs(profiles) do p.seed = { 1 } end

experiment {
  name = "fig-hist",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST",
  base = C.lenet,
  axes = {
    method = C.pick("SYMOG"),
  },
  profiles = profiles,
  report = {
    { kind = "hist", id = "hist-symog", title = "SYMOG weight histograms",
      layers = { "conv1.weight", "conv2.weight", "fc1.weight" } },
    { kind = "switch", id = "mode-switch", title = "SYMOG mode switches" },
  },
}
