-- Ablation of when SYMOG chooses the step (METHOD.md [choice]: once at the start,
-- optionally again at each epoch).
local C = include "_common.lua"

experiment {
  name = "ablation-reestimate",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: step chosen once or at every epoch",
  notes = "once: the step of each layer is chosen on the initial weights and kept; epoch: " ..
          "chosen again at the start of every epoch (on the current, clipped weights).",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "once (default)", q = { reestimate = "once" } },
      { label = "every epoch", q = { reestimate = "epoch" } },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-reestimate", "Ablation (step re-estimation)"),
}
