"""Reads gen_weights files with h5py the way Keras' legacy loader does
(load_attributes_from_hdf5_group, then load_weights_from_hdf5_group by
order) and checks names, shapes and the first kernel values against the
generator's documented stream, recomputed here in Python.

usage: /usr/bin/python3 tests/ref/check_weights_layout.py FILE.h5 [MORE.h5]
FILE.h5 from `gen_weights --seed 1`; MORE.h5 (other layouts) must hold the
same numbers.  Needs Debian's python3-h5py.
"""
import math
import sys

import h5py
import numpy as np

SPEC = [(1, 3, 64), (1, 64, 64), (1, 64, 128), (1, 128, 128), (1, 128, 256),
        (1, 256, 256), (1, 256, 256), (1, 256, 512), (1, 512, 512),
        (1, 512, 512), (1, 512, 512), (1, 512, 512), (1, 512, 512),
        (0, 25088, 4096), (0, 4096, 4096)]
M64 = (1 << 64) - 1


def attr_list(group, name):
    if name in group.attrs:
        data = list(group.attrs[name])
    else:
        data, k = [], 0
        while '%s%d' % (name, k) in group.attrs:
            data += list(group.attrs['%s%d' % (name, k)])
            k += 1
    return [n.decode('utf8') if hasattr(n, 'decode') else n for n in data]


def uniforms(seed):  # rng_uniform (common/base/rng.h): splitmix64, top 53 bits
    s = seed
    while True:
        s = (s + 0x9e3779b97f4a7c15) & M64
        z = s
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
        yield ((z ^ (z >> 31)) >> 11) / 9007199254740992.0


def load(path):
    f = h5py.File(path, 'r')
    if 'layer_names' not in f.attrs and 'model_weights' in f:
        f = f['model_weights']
    names = [n for n in attr_list(f, 'layer_names')
             if attr_list(f[n], 'weight_names')]
    out = []
    for n in names[:15]:
        g = f[n]
        out.append((n, [np.asarray(g[w]) for w in attr_list(g, 'weight_names')]))
    return names, out


first = None
for path in sys.argv[1:]:
    names, layers = load(path)
    assert len(names) >= 15, (path, len(names))
    for (conv, cin, cout), (n, (k, b)) in zip(SPEC, layers):
        assert k.shape == ((3, 3, cin, cout) if conv else (cin, cout)), (n, k.shape)
        assert b.shape == (cout,) and k.dtype == np.float32, (n, b.shape, k.dtype)
    if first is None:
        u = uniforms(1)
        sd = math.sqrt(2 / 27)
        k = layers[0][1][0].reshape(-1)
        for i in range(0, 8, 2):
            u1, u2 = next(u), next(u)
            r, t = math.sqrt(-2 * math.log(1 - u1)), 2 * math.pi * u2
            assert k[i] == np.float32(sd * r * math.cos(t)), (i, k[i])
            assert k[i + 1] == np.float32(sd * r * math.sin(t)), (i, k[i + 1])
        first = layers
    else:
        for (_, a), (_, b) in zip(first, layers):
            assert all(np.array_equal(x, y) for x, y in zip(a, b))
    print('%s: ok, %d weighted layers (first 15 used: %s ... %s)'
          % (path, len(names), layers[0][0], layers[-1][0]))
