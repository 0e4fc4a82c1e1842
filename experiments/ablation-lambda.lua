-- Ablation of lambda(t) (METHOD.md [choice]: exponential ramp by default, linear,
-- or constant).
local C = include "_common.lua"

experiment {
  name = "ablation-lambda",
  caption = "SYMOG at 2 bits, LeNet5-BN on Fashion-MNIST: the schedule of lambda(t)",
  notes = "exp: lambda rises exponentially from 1e-6 to 1e5 over the first 85 % of the steps, " ..
          "then held; linear: the same end points, linear; const: 1e5 from the first step (the " ..
          "grid pulls before the task has shaped the weights); ramp 50 %: the exponential rise over " ..
          "the first half, so the weights sit near the grid for the second half.",
  base = C.ablation_base,
  axes = {
    variant = {
      { label = "exponential ramp (default)", q = { lambda = "exp" } },
      { label = "exponential ramp over 50 % (held for the last half)", q = { lambda = "exp", ramp = 0.5 } },
      { label = "linear ramp", q = { lambda = "linear" } },
      { label = "constant 1e5", q = { lambda = "const" } },
    },
  },
  profiles = C.lenet_profiles,
  report = C.ablation_report("ablation-lambda", "Ablation (lambda schedule)"),
}
