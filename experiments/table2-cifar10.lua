-- Table 2: CIFAR-10 with VGG7 (the TWN/BinaryConnect net: 2x128C3 MP2
-- 2x256C3 MP2 2x512C3 MP2 FC1024 FC10, batch norm) and DenseNet-40, weights
-- at 2 bits. The SYMOG paper's headline 2-bit result on CIFAR-10 is 5.71 %
-- (its abstract; the network is not named there, so the number stands in
-- the table's Published column without a network).
local C = include "_common.lua"

experiment {
  name = "table2-cifar10",
  caption = "CIFAR-10, weights at 2 bits (BinaryConnect and BWN: 1 bit; float: 32)",
  notes = "SGD momentum 0.9, lr 0.1 with a cosine schedule, weight decay 5e-4, batch 128, " ..
          "pad-4 crop and flip. SYMOG and the fixed-point STE on the power-of-two grid with the " ..
          "MSE power-of-two step; first and last layers quantized.",
  base = C.cifar,
  axes = {
    data = { "cifar10" },
    model = { "vgg7", "densenet40" },
    method = C.methods,
  },
  profiles = C.cifar_profiles,
  report = {
    { kind = "table", id = "table2", title = "Table 2", rows = "method", cols = "model",
      reference = "float",
      published = {
        { row = "SYMOG", value = 5.71,
          source = "SYMOG paper (Enderich, Timm, Burgard, Neurocomputing 2020), abstract: " ..
                   "best 2-bit error on CIFAR-10; the network is not named there." },
      } },
  },
}
