-- Ablation of SYMOG's regulariser (METHOD.md [choice]: nearest-mode form by
-- default, the full mixture of Gaussians as the alternative).
local C = include "_common.lua"

experiment {
  name = "ablation-reg",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: the penalty's form",
  notes = "nearest: squared distance to the nearest mode, (w - Q(w))^2 / (2 s^2); mixture: the " ..
          "negative log of the full symmetric Gaussian mixture, its width shrinking by 75 % " ..
          "over the ramp.",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "nearest mode (default)", q = { reg = "nearest" } },
      { label = "full mixture", q = { reg = "mixture" } },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-reg", "Ablation (penalty form)"),
}
