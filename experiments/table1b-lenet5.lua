-- Table 1b: the same comparison on plain LeNet5 (no batch norm), the
-- quantization papers' usual LeNet5. BinaryConnect, TTQ and DoReFa are left
-- out: without batch norm they do not train on this net (METHOD.md: a
-- BinaryConnect reference run stayed at 90 % error). One seed in quick, to
-- keep `make reproduce` within its hour.
local C = include "_common.lua"

local base = C.copy(C.lenet)
base.model = "lenet5"

local profiles = C.copy(C.lenet_profiles)
profiles.quick.seed = { 1 }
profiles.quick.note = profiles.quick.note .. "; one seed"

experiment {
  name = "table1b-lenet5",
  caption = "LeNet5 without batch norm on Fashion-MNIST and MNIST, weights at 2 bits (BWN: 1 bit; float: 32)",
  notes = "Plain lenet5 (conv32-5, MP2, conv64-5, MP2, FC512, FC10, no batch norm). " ..
          "BinaryConnect, TTQ and DoReFa need batch norm and are in table 1 (lenet5-bn) only.",
  base = base,
  axes = {
    data = { "fashion-mnist", "mnist" },
    method = C.pick("float", "BWN", "TWN", "LSQ", "fixed-point STE", "post-training", "SYMOG"),
  },
  profiles = profiles,
  report = {
    { kind = "table", id = "table1-nobn", title = "Table 1b", rows = "method", cols = "data",
      reference = "float" },
  },
}
