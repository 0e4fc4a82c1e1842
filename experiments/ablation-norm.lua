-- Ablation of how SYMOG's penalty is normalised per layer (METHOD.md [choice]:
-- the mean over a layer's weights; a plain sum needs a far smaller lambda).
local C = include "_common.lua"

experiment {
  name = "ablation-norm",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: per-layer mean or sum of the penalty",
  notes = "mean: each layer's penalty averaged over its weights; sum: summed, so lambda is " ..
          "scaled down by 1e6 (about fc1's 524,288 weights) to keep the largest layer's pull " ..
          "comparable; small layers then feel almost none.",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "mean per layer (default)", q = { norm = "mean" } },
      { label = "sum, lambda / 1e6", q = { norm = "sum", lambda0 = 1e-12, lambdaT = 1e-1 } },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-norm", "Ablation (penalty normalisation)"),
}
