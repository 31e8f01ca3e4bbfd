#!/usr/bin/python3
"""PyTorch peer of bench_extract: VGG16 through fc2 (features, then the
classifier through its second ReLU) built by hand with torch.nn, on the
same weights file and the same preprocessed images.

  bench_torch.py WEIGHTS.h5 IMAGES.f32 N BATCH THREADS REPS [ONNX_OUT]

IMAGES.f32 holds at least N preprocessed images (N, 224, 224, 3) float32, as
bench_extract --dump writes them.  Prints "img_per_s X" (median of REPS
passes over the N images, under torch.no_grad()) and "peak_rss_mb X".
With ONNX_OUT, also exports the same network (batch dimension dynamic,
NHWC input as ours) for bench_ort.py.  Run with Debian's /usr/bin/python3
(python3-torch).
"""
import resource
import sys
import time

import h5py
import numpy as np
import torch
from torch import nn

POOL_AFTER = {1, 3, 6, 9, 12}


def load_weights(path):
    """The 15 weighted layers in file order, as Keras' loader takes them."""
    out = []
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for name in root.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            g = root[name]
            wn = [w.decode() if isinstance(w, bytes) else w for w in g.attrs["weight_names"]]
            if wn:
                out.append((np.array(g[wn[0]]), np.array(g[wn[1]])))
    return out[:15]


class VGG16Fc2(nn.Module):
    def __init__(self, weights):
        super().__init__()
        layers, cin = [], 3
        for i in range(13):
            k, b = weights[i]
            conv = nn.Conv2d(cin, k.shape[3], 3, padding=1)
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
            conv.bias.data = torch.from_numpy(b)
            layers += [conv, nn.ReLU(inplace=True)]
            if i in POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
            cin = k.shape[3]
        self.features = nn.Sequential(*layers)
        fc1, fc2 = nn.Linear(25088, 4096), nn.Linear(4096, 4096)
        for fc, (k, b) in ((fc1, weights[13]), (fc2, weights[14])):
            fc.weight.data = torch.from_numpy(np.ascontiguousarray(k.T))
            fc.bias.data = torch.from_numpy(b)
        self.classifier = nn.Sequential(fc1, nn.ReLU(inplace=True), fc2, nn.ReLU(inplace=True))

    def forward(self, x):
        # x is NHWC like Keras' input; Keras flattens pool5 in H, W, C order.
        x = self.features(x.permute(0, 3, 1, 2))
        return self.classifier(torch.flatten(x.permute(0, 2, 3, 1), 1))


def main():
    wpath, ipath = sys.argv[1], sys.argv[2]
    n, batch, threads, reps = (int(a) for a in sys.argv[3:7])
    torch.set_num_threads(threads)
    imgs = torch.from_numpy(np.fromfile(ipath, dtype=np.float32, count=n * 224 * 224 * 3).reshape(n, 224, 224, 3))
    net = VGG16Fc2(load_weights(wpath)).eval()
    rates = []
    with torch.no_grad():
        net(imgs[:batch])
        for _ in range(reps):
            t = time.perf_counter()
            for b0 in range(0, n, batch):
                net(imgs[b0:b0 + batch])
            rates.append(n / (time.perf_counter() - t))
    rates.sort()
    print("img_per_s %.3f" % rates[len(rates) // 2])
    print("peak_rss_mb %.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    if len(sys.argv) > 7:
        torch.onnx.export(net, imgs[:batch], sys.argv[7], input_names=["x"],
                          output_names=["fc2"], opset_version=13,
                          dynamic_axes={"x": {0: "n"}, "fc2": {0: "n"}})


if __name__ == "__main__":
    main()
