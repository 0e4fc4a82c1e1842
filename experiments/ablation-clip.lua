-- Ablation of SYMOG's weight clipping (METHOD.md [choice]: clip to the outer modes).
local C = include "_common.lua"

experiment {
  name = "ablation-clip",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: weight clipping",
  notes = "outer: after every step the latent weights are clipped to the outer modes [-K D, K " ..
          "D]; half: to [-(K + 1/2) D, (K + 1/2) D]; off: no clipping.",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "outer modes (default)", q = { clip = "outer" } },
      { label = "half a step beyond", q = { clip = "half" } },
      { label = "off", q = { clip = "off" } },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-clip", "Ablation (clipping)"),
}
