#!/usr/bin/env python3
"""Load a symog model.safetensors into the equivalent PyTorch module and
print its test error, to compare with `symog eval`.

    python3 tools/torch_eval.py --model lenet5 --checkpoint RUN/model.safetensors \
        [--data fashion-mnist] [--data-dir DIR]
    python3 tools/torch_eval.py --model vgg7 --checkpoint FILE --compare
    python3 tools/torch_eval.py --compare vgg7=FILE1 densenet40=FILE2 ...

--compare checks equivalence instead: FILE also holds `test.input` (a batch)
and `test.logits` (what symog computed for it in evaluation mode); the
module loads every model tensor with strict=True, runs the batch, and the
largest logit difference must stay within 1e-4 of the logits' scale (exit
status 1 otherwise). tests/test_models.c writes such files for every model.
The modules take their sizes (input channels, classes, the classifier's
input) from the checkpoint's tensor shapes.

Needs python3-torch and python3-numpy (Debian packages); torch 1.13 has no
safetensors reader, so the file is parsed here (8-byte length, JSON header,
raw little-endian data). The normalisation is the one symog wrote into the
run's config.yaml: (pixel/255 - mean) / std.
"""
import argparse, gzip, json, math, os, struct, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NORM = {"fashion-mnist": ((0.2860,), (0.3530,)), "mnist": ((0.1307,), (0.3081,)),
        "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
        "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}
DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "I8": np.int8, "U8": np.uint8}


class LeNet5(nn.Module):
    """symog's `lenet5`: conv32-5 MP2 conv64-5 MP2 FC512 FC10."""
    def __init__(self, classes=10, in_ch=1, flat=64 * 4 * 4):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 32, 5)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.fc1 = nn.Linear(flat, 512)
        self.fc2 = nn.Linear(512, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class LeNet5Classic(nn.Module):
    """symog's `lenet5-classic`: conv6-5 MP2 conv16-5 MP2 FC120 FC84 FC10."""
    def __init__(self, classes=10, in_ch=1, flat=16 * 4 * 4):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(flat, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc3(F.relu(self.fc2(x)))


class LeNet5BN(nn.Module):
    """symog's `lenet5-bn`: lenet5 with BatchNorm after conv1, conv2, fc1."""
    def __init__(self, classes=10, in_ch=1, flat=64 * 4 * 4):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 32, 5, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 5, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(flat, 512, bias=False)
        self.bn3 = nn.BatchNorm1d(512)
        self.fc2 = nn.Linear(512, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc2(F.relu(self.bn3(self.fc1(torch.flatten(x, 1)))))


def vgg_features(cfg, in_ch, bias):
    """kuangliu/pytorch-cifar's VGG._make_layers: conv3x3-BN-ReLU per number,
    a 2x2 max-pool per 'M'."""
    layers, c = [], in_ch
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, v, kernel_size=3, padding=1, bias=bias), nn.BatchNorm2d(v),
                       nn.ReLU(inplace=True)]
            c = v
    return layers


class VGG7(nn.Module):
    """symog's `vgg7` (TWN's VGG-7): 2x128C3 MP2 2x256C3 MP2 2x512C3 MP2
    FC1024 FC, batch norm and ReLU after every conv and after FC1024."""
    def __init__(self, classes=10, in_ch=3, flat=512 * 4 * 4):
        super().__init__()
        self.features = nn.Sequential(*vgg_features(
            [128, 128, "M", 256, 256, "M", 512, 512, "M"], in_ch, False))
        self.classifier = nn.Sequential(nn.Linear(flat, 1024, bias=False), nn.BatchNorm1d(1024),
                                        nn.ReLU(inplace=True), nn.Linear(1024, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class VGG11(nn.Module):
    """symog's `vgg11`: pytorch-cifar's VGG('VGG11') with batch norm."""
    def __init__(self, classes=10, in_ch=3, flat=512):
        super().__init__()
        self.features = nn.Sequential(*vgg_features(
            [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"], in_ch, True),
            nn.AvgPool2d(kernel_size=1, stride=1))
        self.classifier = nn.Linear(flat, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class DenseLayer(nn.Module):
    """Pre-activation: BN-ReLU-conv3x3 (basic) or BN-ReLU-conv1x1(4k)-BN-ReLU-
    conv3x3 (bottleneck); the output is cat(input, new features)."""
    def __init__(self, c, growth, bottleneck):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(c), nn.ReLU(inplace=True)
        if bottleneck:
            self.conv1 = nn.Conv2d(c, 4 * growth, 1, bias=False)
            self.norm2, self.relu2 = nn.BatchNorm2d(4 * growth), nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(c, growth, 3, padding=1, bias=False)
        self.bottleneck = bottleneck

    def forward(self, x):
        h = self.conv1(self.relu1(self.norm1(x)))
        if self.bottleneck:
            h = self.conv2(self.relu2(self.norm2(h)))
        return torch.cat([x, h], 1)


class Transition(nn.Sequential):
    def __init__(self, c, out):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(c))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(c, out, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(2, 2))


class DenseNet(nn.Module):
    """symog's `densenet40` / `densenet-bc100` (liuzhuang13/DenseNet's CIFAR
    layout): conv0, 3 dense blocks with 2 transitions, BN-ReLU-global pool-FC."""
    def __init__(self, classes=10, in_ch=3, layers=12, growth=12, bottleneck=False,
                 compression=1.0):
        super().__init__()
        c = 2 * growth
        self.conv0 = nn.Conv2d(in_ch, c, 3, padding=1, bias=False)
        for b in range(1, 4):
            block = nn.Sequential()
            for i in range(1, layers + 1):
                block.add_module("denselayer%d" % i, DenseLayer(c, growth, bottleneck))
                c += growth
            self.add_module("denseblock%d" % b, block)
            if b < 3:
                out = int(math.floor(c * compression))
                self.add_module("transition%d" % b, Transition(c, out))
                c = out
        self.norm_final = nn.BatchNorm2d(c)
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        x = self.conv0(x)
        for b in range(1, 4):
            x = getattr(self, "denseblock%d" % b)(x)
            if b < 3:
                x = getattr(self, "transition%d" % b)(x)
        x = F.adaptive_avg_pool2d(F.relu(self.norm_final(x)), 1)
        return self.classifier(torch.flatten(x, 1))


MODELS = {"lenet5": LeNet5, "lenet5-classic": LeNet5Classic, "lenet5-bn": LeNet5BN,
          "vgg7": VGG7, "vgg11": VGG11,
          "densenet40": lambda **kw: DenseNet(layers=12, growth=12, **kw),
          "densenet-bc100": lambda **kw: DenseNet(layers=16, growth=12, bottleneck=True,
                                                   compression=0.5, **kw)}

# (first weight, classifier weight, classifier weight whose in-size is `flat`)
SHAPES = {"lenet5": ("conv1.weight", "fc2.weight", "fc1.weight"),
          "lenet5-classic": ("conv1.weight", "fc3.weight", "fc1.weight"),
          "lenet5-bn": ("conv1.weight", "fc2.weight", "fc1.weight"),
          "vgg7": ("features.0.weight", "classifier.3.weight", "classifier.0.weight"),
          "vgg11": ("features.0.weight", "classifier.weight", "classifier.weight"),
          "densenet40": ("conv0.weight", "classifier.weight", None),
          "densenet-bc100": ("conv0.weight", "classifier.weight", None)}


def build(name, tensors):
    """The module for `name`, sized from the checkpoint's tensors."""
    first, last, flat = SHAPES[name]
    kw = {"in_ch": int(tensors[first].shape[1]), "classes": int(tensors[last].shape[0])}
    if flat:
        kw["flat"] = int(tensors[flat].shape[1])
    return MODELS[name](**kw)


def is_extra(name):
    """Tensors symog stores beside the state_dict: quantization codes and
    scales, and the test batch of --compare."""
    return name.startswith("test.") or name.endswith((".codes", ".scale", ".scale_exponent"))


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, header.get("__metadata__", {})


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, count = struct.unpack(">II", raw[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw[16:], np.uint8).reshape(count, 1, rows, cols)
    return np.frombuffer(raw[8:], np.uint8).astype(np.int64)


def find(dirs, stem):
    for d in dirs:
        for suffix in ("", ".gz"):
            p = os.path.join(d, stem + suffix)
            if os.path.exists(p):
                return p
    sys.exit("cannot find %s in %s" % (stem, dirs))


def read_cifar(path, label_bytes):
    with open(path, "rb") as f:
        raw = np.frombuffer(f.read(), np.uint8).reshape(-1, label_bytes + 3072)
    return raw[:, label_bytes:].reshape(-1, 3, 32, 32), raw[:, label_bytes - 1].astype(np.int64)


def load_test(data, data_dir):
    """The test split as (uint8 images N x C x H x W, int64 labels)."""
    if data == "cifar10":
        return read_cifar(find([os.path.join(data_dir, "cifar-10-batches-bin")],
                               "test_batch.bin"), 1)
    if data == "cifar100":
        return read_cifar(find([os.path.join(data_dir, "cifar-100-binary")], "test.bin"), 2)
    dirs = [os.path.join(data_dir, data)]
    if data == "fashion-mnist":
        dirs.append("/usr/share/datasets/fashion-mnist")
    return (read_idx(find(dirs, "t10k-images-idx3-ubyte")),
            read_idx(find(dirs, "t10k-labels-idx1-ubyte")))


def load_model(name, path):
    tensors, meta = read_safetensors(path)
    net = build(name, tensors)
    net.load_state_dict({k: v for k, v in tensors.items() if not is_extra(k)}, strict=True)
    net.eval()
    return net, tensors, meta


def compare(model, path):
    """Logits of the checkpoint's test batch against symog's."""
    net, tensors, _ = load_model(model, path)
    with torch.no_grad():
        z = net(tensors["test.input"].float())
    want = tensors["test.logits"].float()
    diff = float((z - want).abs().max())
    scale = max(1.0, float(want.abs().max()))
    ok = z.shape == want.shape and diff <= 1e-4 * scale
    print("compare %s: %d tensors loaded strictly, max |logit diff| %.3g (logit scale %.3g) %s"
          % (model, len(net.state_dict()), diff, scale, "OK" if ok else "MISMATCH"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lenet5", choices=sorted(MODELS))
    ap.add_argument("--checkpoint")
    ap.add_argument("--data", default="fashion-mnist", choices=sorted(NORM))
    ap.add_argument("--data-dir", default=os.environ.get("SYMOG_DATA", "data"))
    ap.add_argument("--compare", nargs="*", metavar="MODEL=FILE",
                    help="compare the logits of each checkpoint's test.input with its "
                         "test.logits (no pairs: --model and --checkpoint)")
    a = ap.parse_args()
    if a.compare is not None:
        pairs = [p.split("=", 1) for p in a.compare] or [(a.model, a.checkpoint)]
        if any(len(p) != 2 or p[0] not in MODELS or not p[1] for p in pairs):
            ap.error("--compare takes MODEL=FILE pairs (models: %s)" % ", ".join(sorted(MODELS)))
        sys.exit(max(compare(m, f) for m, f in pairs))
    if not a.checkpoint:
        ap.error("--checkpoint FILE is required")
    x, y = load_test(a.data, a.data_dir)
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in NORM[a.data])
    x = (torch.from_numpy(x.astype(np.float32)) / 255.0 - mean) / std
    net, _, meta = load_model(a.model, a.checkpoint)
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    wrong = int((pred != torch.from_numpy(y)).sum())
    print("test_error %.2f%% (%d of %d wrong) torch %s, %s" % (
        100.0 * wrong / len(y), wrong, len(y), torch.__version__, meta.get("quantizer", "float")))


if __name__ == "__main__":
    main()
