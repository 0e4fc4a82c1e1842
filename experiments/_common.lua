-- _common.lua: definitions shared by the experiment files (included with
-- include "_common.lua"; not an experiment itself: `make reproduce` runs
-- experiments/[!_]*.lua). Keeping them in one place makes runs of different
-- experiments identical where they should be: a run with the same settings
-- (same config hash) is trained once and reused by every experiment that
-- declares it, e.g. the default SYMOG run of table 1, the histogram figure,
-- the 2-bit points of the bit-width figure and every ablation's baseline.
local C = {}

local function range(a, b)
  local t = {}
  for i = a, b do t[#t + 1] = i end
  return t
end
C.range = range

-- The methods compared in the tables and figures. `style` fixes a method's
-- colour and marker in every figure (plots/style.gp). BinaryConnect and BWN
-- are binary (1 bit), TWN and TTQ ternary (2 bits): `only` keeps them at
-- their one width when a grid crosses bit widths. The fixed-point STE uses
-- exactly SYMOG's default grid (the MSE power-of-two step), so the two
-- differ only in SYMOG's soft penalty. Post-training quantizes a float net
-- once with the MSE power-of-two step.
C.methods = {
  { label = "float", quantizer = "float", style = 1 },
  { label = "BinaryConnect", quantizer = "binaryconnect", bits = 1, only = { bits = 1 }, style = 2 },
  { label = "BWN", quantizer = "bwn", bits = 1, only = { bits = 1 }, style = 3 },
  { label = "TWN", quantizer = "twn", bits = 2, only = { bits = 2 }, style = 4 },
  { label = "TTQ", quantizer = "ttq", bits = 2, only = { bits = 2 }, style = 5 },
  { label = "DoReFa", quantizer = "dorefa", style = 6 },
  { label = "LSQ", quantizer = "lsq", only = { bits = range(2, 8) }, style = 7 },
  { label = "fixed-point STE", quantizer = "fixedpoint", q = { shift = 0 },
    only = { bits = range(2, 8) }, style = 8 },
  { label = "post-training", quantizer = "posttrain", only = { bits = range(2, 8) }, style = 9 },
  { label = "SYMOG", quantizer = "symog", only = { bits = range(2, 8) }, style = 10 },
}

-- A deep copy of t (to change a shared table in one experiment only).
function C.copy(t)
  if type(t) ~= "table" then return t end
  local o = {}
  for k, v in pairs(t) do o[k] = C.copy(v) end
  return o
end

-- The methods by label, in the order above.
function C.pick(...)
  local want, out = { ... }, {}
  for _, l in ipairs(want) do
    for _, m in ipairs(C.methods) do
      if m.label == l then out[#out + 1] = m end
    end
  end
  return out
end

-- LeNet5 on Fashion-MNIST (the offline default): SGD momentum 0.9, lr 0.01,
-- cosine schedule, weight decay 5e-4, batch 64, no augmentation (the
-- engine's defaults, written out so the files say what they run). lenet5-bn
-- has batch norm after conv1, conv2 and fc1, which BinaryConnect, TTQ and
-- DoReFa need to train at all; all methods of a table share one net.
C.lenet = {
  model = "lenet5-bn", data = "fashion-mnist", bits = 2, first_last = 1,
  lr = 0.01, optim = "sgd", momentum = 0.9, wd = 5e-4, schedule = "cosine", batch = 64,
}

-- Profiles of every LeNet5 experiment. quick must fit, with every other
-- experiment, in about an hour on 2 cores: a LeNet5 epoch over all 60,000
-- images costs about a minute of one core, so quick trains 5 epochs on the
-- first 8,000 training images and tests on the first 5,000 test images
-- (about a minute per run); paper trains the usual 100 epochs on all data.
C.lenet_profiles = {
  smoke = { epochs = 2, train_subset = 1000, test_subset = 500, seed = { 1 },
            note = "a check that the pipeline runs, not a result" },
  quick = { epochs = 5, train_subset = 8000, test_subset = 5000, seed = { 1, 2 },
            note = "training and test subsets sized so that `make reproduce` takes about an hour on 2 cores" },
  paper = { epochs = 100, seed = { 1, 2, 3 },
            note = "the full recipe" },
}

-- CIFAR (VGG7, VGG11, DenseNet): SGD momentum 0.9, lr 0.1 with a cosine
-- schedule, weight decay 5e-4, batch 128, pad-4 crop + flip augmentation.
C.cifar = {
  bits = 2, first_last = 1, lr = 0.1, optim = "sgd", momentum = 0.9, wd = 5e-4,
  schedule = "cosine", batch = 128, augment = 1,
}

-- A CIFAR epoch of VGG7 costs hours of one core, so quick on CIFAR is a
-- check that the pipeline runs (4 methods, 2 epochs on 2,000 images), not a
-- result; paper is the published recipe's length.
C.cifar_profiles = {
  smoke = { epochs = 1, train_subset = 200, test_subset = 200, seed = { 1 },
            method = { "float", "SYMOG" },
            note = "float and SYMOG only; a check that the pipeline runs, not a result" },
  quick = { epochs = 2, train_subset = 2000, test_subset = 1000, seed = { 1 },
            method = { "float", "TWN", "fixed-point STE", "SYMOG" },
            note = "4 of the 10 methods; a check that the pipeline runs, not a result (a CIFAR epoch costs hours of one core)" },
  paper = { epochs = 200, seed = { 1, 2, 3 },
            note = "the full recipe" },
}

-- Each ablation varies one SYMOG [choice] of METHOD.md on table 1's net and
-- data; `default` is table 1's SYMOG run (so it is trained once).
C.ablation_base = {
  model = "lenet5-bn", data = "fashion-mnist", bits = 2, first_last = 1, quantizer = "symog",
  lr = 0.01, optim = "sgd", momentum = 0.9, wd = 5e-4, schedule = "cosine", batch = 64,
}

-- The ablation table of one axis `variant`.
function C.ablation_report(id, title)
  return {
    { kind = "table", id = id, title = title, rows = "variant",
      metrics = { "test_error", "test_error_soft" } },
  }
end

return C
