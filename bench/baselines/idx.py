"""IDX files (MNIST / Fashion-MNIST format) for the Python baselines: one reader
shared by train_pytorch.py and optuna_study.py."""
import gzip
import os
import struct

import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def idx_file(directory, name):
    path = os.path.join(directory, name)
    return path + ".gz" if os.path.exists(path + ".gz") else path
