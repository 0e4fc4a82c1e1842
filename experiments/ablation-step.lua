-- Ablation of SYMOG's step rule (METHOD.md [choice]: D_l a power of two chosen by
-- MSE (the default); alternatives: doubled, the range rule, a free real
-- step).
local C = include "_common.lua"

experiment {
  name = "ablation-step",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: how the step D of each layer is chosen",
  notes = "mse: the power-of-two step of least squared error on the initial weights; range: the" ..
          " smallest power of two whose outer mode covers max|w|; free: the real-valued MSE " ..
          "step (no power-of-two constraint, what it costs); x2: the chosen step doubled " ..
          "(shift=1). METHOD.md's independent run found the doubled step better; on this engine " ..
          "(SGD + cosine, lambdaT 1e5) the undoubled step was better (session-1 note).",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "MSE step (default)", q = { step = "mse", shift = 0 } },
      { label = "MSE step x2", q = { step = "mse", shift = 1 } },
      { label = "range: outer mode covers max |w|", q = { step = "range", shift = 0 } },
      { label = "free real MSE step", q = { step = "free", shift = 0 } },
      { label = "free real MSE step x2", q = { step = "free", shift = 1 } },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-step", "Ablation (step rule)"),
}
