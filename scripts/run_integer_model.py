#!/usr/bin/python3
"""Reference reader of an exported factorize-nas integer model (docs/integer-model.md).

Independent of the C++ code: reads DIR/manifest.json and the binary files and runs
the uint8 inference with numpy, following TFLite's reference kernels.

usage: run_integer_model.py DIR IMAGES OUT [--quantized] [--trace TRACEDIR]
  IMAGES  raw uint8 pixels [N][C][H][W] (or, with --quantized, the input codes)
  OUT     written: uint8 logits [N][classes]; the dequantized logits and the
          top-1 class of each image are printed as text on stdout
  --trace every layer's uint8 output [N][C][H][W] (and the input codes) is
          written to TRACEDIR/<name>.u8, e.g. to compare runtimes layer by layer
"""
import json
import math
import os
import sys

import numpy as np

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul on int64 arrays holding int32 values."""
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    v = ab + nudge
    high = np.sign(v) * (np.abs(v) >> 31)  # C division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x, exponent):
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def quantize_multiplier(m):
    """TFLite QuantizeMultiplier: Q31 mantissa of frexp, rounded half away."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    fixed = int(math.floor(q * (1 << 31) + 0.5))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def check_parameters(layer):
    """Recomputes a layer's bias scale and multiplier from its float32 scales as TFLite
    does (GetQuantizedConvolutionMultipler: float32 product, double division) and
    refuses a manifest that disagrees."""
    s_in = np.float32(layer["input"]["scale"])
    s_w = np.float32(layer["weight"]["scale"])
    s_out = np.float32(layer["output"]["scale"])
    product = s_in * s_w  # float32 * float32 -> float32
    real = 0.0 if s_out == 0 else float(product) / float(s_out)
    expected = (real, *quantize_multiplier(real), float(product))
    got = (layer["real_multiplier"], layer["multiplier"], layer["shift"], layer["bias"]["scale"])
    if expected != got:
        raise ValueError("layer %s: (real multiplier, multiplier, shift, bias scale) = %r, "
                         "recomputed %r" % (layer["name"], got, expected))


def requantize(acc, layer):
    shift = layer["shift"]
    left, right = max(shift, 0), max(-shift, 0)
    # TFLite's left shift is a plain int32 multiply: wrap to int32.
    x = (acc * (1 << left) - INT32_MIN) % (1 << 32) + INT32_MIN
    x = rounding_divide_by_pot(srdhm(x, np.int64(layer["multiplier"])), right)
    x = x + layer["output"]["zero_point"]
    return np.clip(x, layer["activation_min"], layer["activation_max"]).astype(np.uint8)


def load(directory, layer, key, dtype):
    spec = layer[key]
    data = np.fromfile(os.path.join(directory, spec["file"]), dtype=np.dtype(dtype).newbyteorder("<"))
    return data.reshape(spec["shape"]).astype(np.int64)


def conv(x, layer, directory):
    n, c, h, w = x.shape
    k, s, p, g = layer["kernel"], layer["stride"], layer["padding"], layer["groups"]
    oc, oh, ow = layer["output_shape"]
    xq = x.astype(np.int64) - layer["input"]["zero_point"]
    xq = np.pad(xq, ((0, 0), (0, 0), (p, p), (p, p)))  # real 0 after the offset
    wq = load(directory, layer, "weights", np.uint8) - layer["weight"]["zero_point"]
    bias = load(directory, layer, "bias", np.int32)
    check_parameters(layer)
    cin_g, cout_g = c // g, oc // g
    out = np.zeros((n, oc, oh, ow), dtype=np.int64)
    for gi in range(g):
        xs = xq[:, gi * cin_g:(gi + 1) * cin_g]
        ws = wq[gi * cout_g:(gi + 1) * cout_g]
        for ky in range(k):
            for kx in range(k):
                patch = xs[:, :, ky:ky + s * oh:s, kx:kx + s * ow:s]
                out[:, gi * cout_g:(gi + 1) * cout_g] += np.einsum("nchw,oc->nohw", patch, ws[:, :, ky, kx])
    out += bias.reshape(1, -1, 1, 1)
    return requantize(out, layer)


def dense(x, layer, directory):
    xq = x.astype(np.int64) - layer["input"]["zero_point"]
    wq = load(directory, layer, "weights", np.uint8) - layer["weight"]["zero_point"]
    acc = xq @ wq.T + load(directory, layer, "bias", np.int32)
    check_parameters(layer)
    return requantize(acc, layer)


def maxpool(x, layer):
    k, s = layer["kernel"], layer["stride"]
    _, oh, ow = layer["output_shape"]
    out = None
    for ky in range(k):
        for kx in range(k):
            v = x[:, :, ky:ky + s * oh:s, kx:kx + s * ow:s]
            out = v if out is None else np.maximum(out, v)
    return out


def quantize_input(pixels, manifest):
    inp = manifest["input"]
    x = pixels.astype(np.float32) / np.float32(255)
    if inp["mean"]:
        mean = np.array(inp["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.array(inp["std"], dtype=np.float32).reshape(1, -1, 1, 1)
        x = (x - mean) / std
    if inp["scale"] == 0:  # a zero-width range: every value is the zero point
        return np.full(x.shape, inp["zero_point"], dtype=np.uint8)
    v = x / np.float32(inp["scale"])
    r = np.sign(v) * np.floor(np.abs(v.astype(np.float64)) + 0.5)  # half away from zero
    return np.clip(r + inp["zero_point"], 0, 255).astype(np.uint8)


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    directory, images, out_path = argv[1:4]
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["format"] == "factorize-nas-integer-model" and manifest["version"] == 1
    c, h, w = manifest["input"]["shape"]
    raw = np.fromfile(images, dtype=np.uint8).reshape(-1, c, h, w)
    x = raw if "--quantized" in argv else quantize_input(raw, manifest)
    trace = argv[argv.index("--trace") + 1] if "--trace" in argv else None
    if trace:
        os.makedirs(trace, exist_ok=True)
        x.astype(np.uint8).tofile(os.path.join(trace, "input.u8"))
    for layer in manifest["layers"]:
        kind = layer["kind"]
        if kind == "conv":
            x = conv(x, layer, directory)
        elif kind == "maxpool":
            x = maxpool(x, layer)
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind == "dense":
            x = dense(x, layer, directory)
        else:
            raise ValueError("unknown layer kind " + kind)
        if trace and kind != "flatten":
            x.astype(np.uint8).tofile(os.path.join(trace, layer["name"] + ".u8"))
    x.astype(np.uint8).tofile(out_path)
    out = manifest["output"]
    logits = out["scale"] * (x.astype(np.float64) - out["zero_point"])
    for row in logits:
        print(int(np.argmax(row)), " ".join("%.6g" % v for v in row))


if __name__ == "__main__":
    main(sys.argv)
