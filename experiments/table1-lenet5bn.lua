-- Table 1: LeNet5 (with batch norm) at 2 bits on MNIST and Fashion-MNIST.
-- MNIST is the paper's dataset; Fashion-MNIST is the offline default (Debian
-- ships it). Every method trains the same lenet5-bn net, because
-- BinaryConnect, TTQ and DoReFa do not train LeNet5 without batch norm;
-- table1b-lenet5.lua is the same comparison on plain LeNet5.
local C = include "_common.lua"

experiment {
  name = "table1-lenet5bn",
  caption = "LeNet5 with batch norm, weights at 2 bits (BinaryConnect and BWN: 1 bit; float: 32)",
  notes = "All methods share lenet5-bn (batch norm after conv1, conv2 and fc1). " ..
          "SYMOG: MSE power-of-two step, lambda 1e-6 -> 1e5 exponentially over 85 % of the steps, " ..
          "applied as a proximal step after each SGD step, " ..
          "clipping at the outer modes; fixed-point STE uses the same grid. First and last layers quantized.",
  base = C.lenet,
  axes = {
    data = { "fashion-mnist", "mnist" },
    method = C.methods,
  },
  profiles = C.lenet_profiles,
  report = {
    { kind = "table", id = "table1", title = "Table 1", rows = "method", cols = "data",
      reference = "float" },
    { kind = "curves", id = "curves-lenet5bn", title = "Training curves, LeNet5-BN",
      lines = "method", where = { data = "fashion-mnist" }, reference = "float" },
  },
}
