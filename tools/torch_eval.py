#!/usr/bin/env python3
"""Load a symog model.safetensors into the equivalent PyTorch module and
print its test error, to compare with `symog eval`.

    python3 tools/torch_eval.py --model lenet5 --checkpoint RUN/model.safetensors \
        [--data fashion-mnist] [--data-dir DIR]

Needs python3-torch and python3-numpy (Debian packages); torch 1.13 has no
safetensors reader, so the file is parsed here (8-byte length, JSON header,
raw little-endian data). The normalisation is the one symog wrote into the
run's config.yaml: (pixel/255 - mean) / std.
"""
import argparse, gzip, json, os, struct, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NORM = {"fashion-mnist": (0.2860, 0.3530), "mnist": (0.1307, 0.3081)}
DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "I8": np.int8, "U8": np.uint8}


class LeNet5(nn.Module):
    """symog's `lenet5`: conv32-5 MP2 conv64-5 MP2 FC512 FC10."""
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.fc1 = nn.Linear(64 * 4 * 4, 512)
        self.fc2 = nn.Linear(512, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class LeNet5Classic(nn.Module):
    """symog's `lenet5-classic`: conv6-5 MP2 conv16-5 MP2 FC120 FC84 FC10."""
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc3(F.relu(self.fc2(x)))


class LeNet5BN(nn.Module):
    """symog's `lenet5-bn`: lenet5 with BatchNorm after conv1, conv2, fc1."""
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 5, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 4 * 4, 512, bias=False)
        self.bn3 = nn.BatchNorm1d(512)
        self.fc2 = nn.Linear(512, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc2(F.relu(self.bn3(self.fc1(torch.flatten(x, 1)))))


MODELS = {"lenet5": LeNet5, "lenet5-classic": LeNet5Classic, "lenet5-bn": LeNet5BN}


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lenet5", choices=sorted(MODELS))
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", default="fashion-mnist", choices=sorted(NORM))
    ap.add_argument("--data-dir", default=os.environ.get("SYMOG_DATA", "data"))
    a = ap.parse_args()
    dirs = [os.path.join(a.data_dir, a.data)]
    if a.data == "fashion-mnist":
        dirs.append("/usr/share/datasets/fashion-mnist")
    x = read_idx(find(dirs, "t10k-images-idx3-ubyte"))
    y = read_idx(find(dirs, "t10k-labels-idx1-ubyte"))
    mean, std = NORM[a.data]
    x = (torch.from_numpy(x.astype(np.float32)) / 255.0 - mean) / std
    tensors, meta = read_safetensors(a.checkpoint)
    net = MODELS[a.model]()
    state = {k: v for k, v in tensors.items() if k in net.state_dict()}
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    wrong = int((pred != torch.from_numpy(y)).sum())
    print("test_error %.2f%% (%d of %d wrong) torch %s, %s" % (
        100.0 * wrong / len(y), wrong, len(y), torch.__version__, meta.get("quantizer", "float")))


if __name__ == "__main__":
    main()
