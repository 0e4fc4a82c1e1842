-- Ablation of the Gaussian width s_l (METHOD.md [choice]: layer-relative s_l = D_l).
local C = include "_common.lua"

experiment {
  name = "ablation-width",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: the Gaussian width",
  notes = "relative: s = sigma * D_l per layer (sigma = 1); absolute: one s = 0.125 for every " ..
          "layer (the step of the large layers, so conv1, whose step is 0.5, is pulled 16 times" ..
          " harder).",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "relative s = D (default)", q = { width = "relative", sigma = 1 } },
      { label = "absolute s = 0.125", q = { width = "absolute", sigma = 0.125 } },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-width", "Ablation (Gaussian width)"),
}
