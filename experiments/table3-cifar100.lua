-- Table 3: CIFAR-100 with VGG11 and DenseNet-40, weights at 2 bits. The
-- SYMOG paper's headline 2-bit result on CIFAR-100 is 27.65 % (abstract;
-- network not named there).
local C = include "_common.lua"

experiment {
  name = "table3-cifar100",
  caption = "CIFAR-100, weights at 2 bits (BinaryConnect and BWN: 1 bit; float: 32)",
  notes = "SGD momentum 0.9, lr 0.1 with a cosine schedule, weight decay 5e-4, batch 128, " ..
          "pad-4 crop and flip. SYMOG and the fixed-point STE on the power-of-two grid with the " ..
          "MSE power-of-two step; first and last layers quantized.",
  base = C.cifar,
  axes = {
    data = { "cifar100" },
    model = { "vgg11", "densenet40" },
    method = C.methods,
  },
  profiles = C.cifar_profiles,
  report = {
    { kind = "table", id = "table3", title = "Table 3", rows = "method", cols = "model",
      reference = "float",
      published = {
        { row = "SYMOG", value = 27.65,
          source = "SYMOG paper (Enderich, Timm, Burgard, Neurocomputing 2020), abstract: " ..
                   "best 2-bit error on CIFAR-100; the network is not named there." },
      } },
  },
}
