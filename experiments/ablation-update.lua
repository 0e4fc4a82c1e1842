-- Ablation of how SYMOG applies its penalty (not a choice of METHOD.md but
-- of this engine): the paper's form adds lambda dR/dw to the task gradient;
-- the default applies it as a proximal (implicit) step after the optimizer's,
-- w <- (w + a m(w)) / (1 + a), a = lr lambda / (n s^2), which cannot
-- overshoot a mode however large lambda gets.
local C = include "_common.lua"

experiment {
  name = "ablation-update",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: penalty as a gradient or as a proximal step",
  notes = "grad: the gradient of lambda R added to the task gradient, so SGD's momentum " ..
          "carries it (oscillates across modes once lr lambda / (n s^2) is large); prox: " ..
          "the implicit step after the optimizer's.",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "proximal step (default)", q = { update = "prox" } },
      { label = "gradient (paper)", q = { update = "grad" } },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-update", "Ablation (penalty update)"),
}
