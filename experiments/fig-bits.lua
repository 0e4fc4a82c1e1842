-- Figure: test error versus weight bit width (1 to 8 bits), one line per
-- method, on table 1's net and data. The binary methods (BinaryConnect,
-- BWN) are single points at 1 bit, the ternary ones (TWN, TTQ) at 2 bits;
-- LSQ, the fixed-point STE, post-training and SYMOG start at 2 bits (their
-- grids with a zero mode need at least 3 levels); DoReFa covers 1 to 8.
-- float is the horizontal reference. The 2-bit runs are table 1's (same
-- settings, so they are trained once). quick measures 1, 2, 3, 4 and 8 bits.
local C = include "_common.lua"

local profiles = C.copy(C.lenet_profiles)
profiles.smoke.bits = { 1, 2, 4 }
profiles.quick.bits = { 1, 2, 3, 4, 8 }
profiles.quick.note = profiles.quick.note .. "; bit widths 1, 2, 3, 4, 8"

experiment {
  name = "fig-bits",
  caption = "Test error versus weight bit width, LeNet5-BN on Fashion-MNIST",
  base = C.lenet,
  axes = {
    bits = C.range(1, 8),
    method = C.methods,
  },
  profiles = profiles,
  report = {
    { kind = "bits", id = "error-vs-bits", title = "Error versus bit width", x = "bits",
      lines = "method", reference = "float" },
  },
}
