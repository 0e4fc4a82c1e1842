-- Ablation of the grid's modes (METHOD.md [choice]: 2^N - 1 symmetric modes with
-- zero; alternative 2^N modes without zero).
local C = include "_common.lua"

experiment {
  name = "ablation-modes",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: the modes of the grid",
  notes = "zero: 2^N - 1 modes k D with zero ({-D, 0, D} at 2 bits); nozero: 2^N modes (k + " ..
          "1/2) D ({-3D/2, -D/2, D/2, 3D/2}).",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "with zero, 3 modes (default)", q = { modes = "zero" } },
      { label = "without zero, 4 modes", q = { modes = "nozero" } },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-modes", "Ablation (modes)"),
}
