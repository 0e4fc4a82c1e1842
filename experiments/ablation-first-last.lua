-- Ablation of the host switch --first-last (METHOD.md: whether the first and last
-- layers are quantized is a switch, logged in every result).
local C = include "_common.lua"

experiment {
  name = "ablation-first-last",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: quantizing the first and last layer",
  notes = "on: conv1 and fc2 are quantized like every other layer; off: they stay float (32 bits).",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "first and last quantized (default)", first_last = 1 },
      { label = "first and last float", first_last = 0 },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-first-last", "Ablation (first and last layer)"),
}
