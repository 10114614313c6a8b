#!/usr/bin/env python3
"""Train a tiny CNN on scikit-learn's bundled 8x8 digits and export it to ONNX (numpy only for training).

Network (depth 4 in CKKS levels, no bootstrapping needed):
    input [N,1,8,8] (pixels / 16) -> Conv 3x3, 4 channels, pad 1 -> x*x -> AveragePool 2x2 -> Flatten -> Gemm 64->10

Writes, next to this script:
    digits.onnx          the model (symbolic batch dimension "N")
    test_x.npy           the whole test split, float32 [360,1,8,8]
    test_y.npy           its labels (as float32) [360]
    sample_x.npy         a handful of test inputs, float32 [8,1,8,8]
    sample_y.npy         their labels
Usage: python train.py [--epochs 300] [--seed 0]
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
CHANNELS = 4


def im2col(x):
    """x [N,1,8,8] -> columns [N,64,9] for a 3x3 kernel with padding 1."""
    n = x.shape[0]
    padded = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, 64, 9), dtype=x.dtype)
    for ky in range(3):
        for kx in range(3):
            cols[:, :, ky * 3 + kx] = padded[:, ky:ky + 8, kx:kx + 8].reshape(n, 64)
    return cols


def forward(params, x):
    w, b, lw, lb = params
    cols = im2col(x)                                   # [N,64,9]
    conv = cols @ w.reshape(CHANNELS, 9).T + b         # [N,64,C]
    act = conv * conv
    a = act.reshape(-1, 8, 8, CHANNELS)
    pooled = 0.25 * (a[:, 0::2, 0::2] + a[:, 1::2, 0::2] + a[:, 0::2, 1::2] + a[:, 1::2, 1::2])  # [N,4,4,C]
    flat = pooled.transpose(0, 3, 1, 2).reshape(-1, CHANNELS * 16)   # NCHW flatten order
    logits = flat @ lw.T + lb
    return logits, (cols, conv, flat)


def train(x, y, epochs, seed):
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 0.5, (CHANNELS, 1, 3, 3)), np.zeros(CHANNELS),
              rng.normal(0, 0.1, (10, CHANNELS * 16)), np.zeros(10)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(10)[y]
    lr, beta1, beta2 = 0.02, 0.9, 0.999
    for step in range(1, epochs + 1):
        logits, (cols, conv, flat) = forward(params, x)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = -np.mean(np.sum(onehot * np.log(p + 1e-12), axis=1))
        g_logits = (p - onehot) / len(x)
        g_lw = g_logits.T @ flat
        g_lb = g_logits.sum(axis=0)
        g_flat = g_logits @ params[2]
        g_pooled = g_flat.reshape(-1, CHANNELS, 4, 4).transpose(0, 2, 3, 1)
        g_act = np.repeat(np.repeat(g_pooled, 2, axis=1), 2, axis=2) * 0.25   # [N,8,8,C]
        g_conv = g_act.reshape(-1, 64, CHANNELS) * 2 * conv
        g_w = np.einsum("npc,npk->ck", g_conv, cols).reshape(CHANNELS, 1, 3, 3)
        g_b = g_conv.sum(axis=(0, 1))
        grads = [g_w, g_b, g_lw, g_lb]
        for i, g in enumerate(grads):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            params[i] -= lr * (m[i] / (1 - beta1 ** step)) / (np.sqrt(v[i] / (1 - beta2 ** step)) + 1e-8)
        if step % 50 == 0:
            print(f"epoch {step}: loss {loss:.4f}, train accuracy {np.mean(logits.argmax(1) == y):.4f}")
    return params


def export(params, path):
    w, b, lw, lb = [p.astype(np.float32) for p in params]
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Mul", ["conv", "conv"], ["square"]),
            helper.make_node("AveragePool", ["square"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1),
        ],
        "digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(w, "conv.weight"), numpy_helper.from_array(b, "conv.bias"),
         numpy_helper.from_array(lw, "fc.weight"), numpy_helper.from_array(lb, "fc.bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tessera-examples-digits")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float64).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    params = train(x_train, y_train, args.epochs, args.seed)
    test_logits, _ = forward(params, x_test)
    print(f"test accuracy (numpy float64): {np.mean(test_logits.argmax(1) == y_test):.4f} on {len(y_test)} images")
    export(params, os.path.join(HERE, "digits.onnx"))
    np.save(os.path.join(HERE, "test_x.npy"), x_test.astype(np.float32))
    np.save(os.path.join(HERE, "test_y.npy"), y_test.astype(np.float32))  # tessera reads float .npy
    np.save(os.path.join(HERE, "sample_x.npy"), x_test[:8].astype(np.float32))
    np.save(os.path.join(HERE, "sample_y.npy"), y_test[:8].astype(np.float32))
    try:
        import onnxruntime as ort
        session = ort.InferenceSession(os.path.join(HERE, "digits.onnx"))
        ort_logits = session.run(None, {"input": x_test.astype(np.float32)})[0]
        print(f"onnxruntime test accuracy: {np.mean(ort_logits.argmax(1) == y_test):.4f}, "
              f"max |onnxruntime - numpy| = {np.abs(ort_logits - test_logits).max():.2e}")
    except ImportError:
        pass


if __name__ == "__main__":
    main()
