#!/usr/bin/env python3
"""Generates Tessera's ONNX example models and the ONNX front end's test fixtures.

Models (random, seeded weights; every run writes identical files):
  resnet50        ResNet-50 (torchvision layout, ImageNet shape 1x3x224x224, ~25.6 M parameters)
  resnet20        CIFAR ResNet-20 (1x3x32x32, 16/32/64 channels, 1x1 conv + BN shortcuts, 10 classes)
  conv_variants   Conv: bias, explicit/asymmetric pads, strides, dilation, depthwise and grouped,
                  auto_pad SAME_UPPER / SAME_LOWER / VALID; BatchNormalization, Relu
  pooling         MaxPool (ceil_mode, pads, SAME_UPPER), AveragePool with and without
                  count_include_pad, GlobalAveragePool, Add, Sub, Mul, Concat
  legacy_opset7   opset 7 forms: Clip with min/max attributes (ReLU6), Pad with attributes,
                  Dropout-7 (ratio attribute), BatchNormalization with spatial, Sigmoid
  clip_opset6     opset 6 (IR 3): Conv, Clip-6 with min/max attributes (ReLU6), Sigmoid
  clip_inputs     opset 13 Clip with min/max inputs (initializer and Constant; one bound omitted)
  elementwise     Sub/Mul/Add with numpy broadcasting and constants on either side
  gemm            Flatten, Gemm with alpha/beta/transA/transB and without C, Reshape with -1
  matmul          Reshape with 0 and -1, MatMul + Add, Flatten (negative axis), Identity, Dropout
  shape_ops       Pad (inputs), Constant (value, value_float, value_ints), Concat (negative axis), Reshape
  pad_axes        opset 18 Pad with an axes input
  batchnorm_dropout  standalone BatchNormalization, Dropout with ratio/training_mode inputs
  symbolic_batch  input with a symbolic batch dimension "N"

Usage:
  python make_models.py --out DIR [--only NAME ...] [--fixtures]

Every small model is written three ways: NAME.onnx (initializers as raw_data), NAME.typed.onnx (as
float_data / int64_data) and NAME.external.onnx + NAME.external.data (external data). With --fixtures,
each small model and ResNet-20 also get NAME.input.npy (seeded random input) and NAME.expected.npy
(onnxruntime's output, float32), and the error fixtures are written: truncated.onnx, not_onnx.onnx,
missing_external.onnx, unsupported_ops.onnx, dropout_mask_used.onnx, symbolic_dims.onnx, and dtypes.onnx
(initializers of every element type the importer decodes, as graph outputs).
"""
import argparse
import copy
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Builder:
    """Accumulates nodes and initializers of one graph; names every node."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self.counters = {}

    def fresh(self, prefix):
        index = self.counters.get(prefix, 0)
        self.counters[prefix] = index + 1
        return f"{prefix}{index}"

    def constant(self, prefix, array):
        name = self.fresh(prefix)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op_type, inputs, outputs=1, name=None, domain=None, **attributes):
        name = name or self.fresh(op_type.lower() + "_")
        output_names = [f"{name}_out{i}" if i else f"{name}_out" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, output_names, name=name, domain=domain, **attributes))
        return output_names[0] if outputs == 1 else output_names

    # layers with random weights

    def conv(self, x, cin, cout, kernel, stride=1, pads=None, group=1, dilation=1, bias=False, auto_pad=None,
             name=None):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        fan_in = cin // group * kh * kw
        weight = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(cout, cin // group, kh, kw)).astype(np.float32)
        inputs = [x, self.constant("w", weight)]
        if bias:
            inputs.append(self.constant("b", self.rng.normal(0.0, 0.1, size=cout).astype(np.float32)))
        strides = [stride, stride] if isinstance(stride, int) else list(stride)
        attributes = {"kernel_shape": [kh, kw], "strides": strides}
        if group != 1:
            attributes["group"] = group
        if dilation != 1:
            attributes["dilations"] = [dilation, dilation] if isinstance(dilation, int) else list(dilation)
        if auto_pad:
            attributes["auto_pad"] = auto_pad
        elif pads is not None:
            attributes["pads"] = [pads] * 4 if isinstance(pads, int) else list(pads)
        return self.node("Conv", inputs, name=name, **attributes)

    def batch_norm(self, x, channels, scale_range=(0.5, 1.5), epsilon=1e-5, name=None, **attributes):
        scale = self.rng.uniform(*scale_range, size=channels).astype(np.float32)
        shift = self.rng.normal(0.0, 0.1, size=channels).astype(np.float32)
        mean = self.rng.normal(0.0, 0.1, size=channels).astype(np.float32)
        var = self.rng.uniform(0.5, 1.5, size=channels).astype(np.float32)
        inputs = [x] + [self.constant(p, v) for p, v in (("gamma", scale), ("beta", shift), ("mean", mean), ("var", var))]
        return self.node("BatchNormalization", inputs, name=name, epsilon=epsilon, **attributes)

    def gemm(self, x, fan_in, fan_out, name=None):
        weight = self.rng.normal(0.0, np.sqrt(1.0 / fan_in), size=(fan_out, fan_in)).astype(np.float32)
        bias = self.rng.normal(0.0, 0.01, size=fan_out).astype(np.float32)
        return self.node("Gemm", [x, self.constant("fc_w", weight), self.constant("fc_b", bias)], name=name, transB=1)

    def model(self, graph_name, inputs, outputs, opset, ir_version):
        if ir_version < 4:
            # Before IR version 4 every initializer must also be listed as a graph input.
            inputs = inputs + [helper.make_tensor_value_info(t.name, t.data_type, t.dims) for t in self.initializers]
        graph = helper.make_graph(self.nodes, graph_name, inputs, outputs, initializer=self.initializers)
        model = helper.make_model(graph, producer_name="tessera-make-models", producer_version="1.0",
                                  opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = ir_version
        # Let onnx fill in the output shapes (the checker wants them) without keeping intermediate value_info.
        if any(not o.type.tensor_type.HasField("shape") for o in outputs):
            inferred = onnx.shape_inference.infer_shapes(model)
            del model.graph.output[:]
            model.graph.output.extend(inferred.graph.output)
        return model


def tensor_input(name, dims, elem_type=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem_type, dims)


def output(name, elem_type=TensorProto.FLOAT):
    # Output shapes are left to inference (onnxruntime and Tessera both infer them).
    return helper.make_tensor_value_info(name, elem_type, None)


# ---------------------------------------------------------------------------------------------------
# ResNets


def resnet50():
    b = Builder(seed=50)
    x = b.conv("input", 3, 64, 7, stride=2, pads=3, name="conv1")
    x = b.node("Relu", [b.batch_norm(x, 64, name="bn1")], name="relu")
    x = b.node("MaxPool", [x], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    channels = 64
    for stage, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            s = stride if block == 0 else 1
            out_channels = width * 4
            y = b.conv(x, channels, width, 1, name=f"{prefix}.conv1")
            y = b.node("Relu", [b.batch_norm(y, width, name=f"{prefix}.bn1")], name=f"{prefix}.relu1")
            # torchvision (v1.5) puts the stride on the 3x3 convolution.
            y = b.conv(y, width, width, 3, stride=s, pads=1, name=f"{prefix}.conv2")
            y = b.node("Relu", [b.batch_norm(y, width, name=f"{prefix}.bn2")], name=f"{prefix}.relu2")
            y = b.conv(y, width, out_channels, 1, name=f"{prefix}.conv3")
            # A small last-BN scale keeps activations bounded through 16 residual additions.
            y = b.batch_norm(y, out_channels, scale_range=(0.1, 0.3), name=f"{prefix}.bn3")
            if block == 0:
                shortcut = b.conv(x, channels, out_channels, 1, stride=s, name=f"{prefix}.downsample.0")
                shortcut = b.batch_norm(shortcut, out_channels, name=f"{prefix}.downsample.1")
            else:
                shortcut = x
            x = b.node("Relu", [b.node("Add", [y, shortcut], name=f"{prefix}.add")], name=f"{prefix}.relu3")
            channels = out_channels
    x = b.node("GlobalAveragePool", [x], name="avgpool")
    x = b.node("Flatten", [x], name="flatten", axis=1)
    x = b.gemm(x, 2048, 1000, name="fc")
    b.nodes[-1].output[0] = "logits"
    return b.model("resnet50", [tensor_input("input", [1, 3, 224, 224])], [output("logits")], opset=17, ir_version=8)


def resnet20():
    b = Builder(seed=20)
    x = b.conv("input", 3, 16, 3, pads=1, name="conv1")
    x = b.node("Relu", [b.batch_norm(x, 16, name="bn1")], name="relu")
    channels = 16
    for stage, width in enumerate([16, 32, 64], start=1):
        for block in range(3):
            prefix = f"layer{stage}.{block}"
            s = 2 if stage > 1 and block == 0 else 1
            y = b.conv(x, channels, width, 3, stride=s, pads=1, name=f"{prefix}.conv1")
            y = b.node("Relu", [b.batch_norm(y, width, name=f"{prefix}.bn1")], name=f"{prefix}.relu1")
            y = b.conv(y, width, width, 3, pads=1, name=f"{prefix}.conv2")
            y = b.batch_norm(y, width, scale_range=(0.2, 0.5), name=f"{prefix}.bn2")
            if s != 1 or channels != width:
                shortcut = b.conv(x, channels, width, 1, stride=s, name=f"{prefix}.shortcut.0")
                shortcut = b.batch_norm(shortcut, width, name=f"{prefix}.shortcut.1")
            else:
                shortcut = x
            x = b.node("Relu", [b.node("Add", [y, shortcut], name=f"{prefix}.add")], name=f"{prefix}.relu2")
            channels = width
    x = b.node("GlobalAveragePool", [x], name="avgpool")
    x = b.node("Flatten", [x], name="flatten", axis=1)
    x = b.gemm(x, 64, 10, name="fc")
    b.nodes[-1].output[0] = "logits"
    return b.model("resnet20", [tensor_input("input", [1, 3, 32, 32])], [output("logits")], opset=17, ir_version=8)


# ---------------------------------------------------------------------------------------------------
# Small models that together exercise every supported operator


def finish(b, name, input_dims, opset=17, ir_version=8, output_dims=None):
    b.nodes[-1].output[0] = "y"
    y = output("y") if output_dims is None else tensor_input("y", output_dims)
    return b.model(name, [tensor_input("x", input_dims)], [y], opset=opset, ir_version=ir_version)


def conv_variants():
    b = Builder(seed=1)
    x = b.conv("x", 4, 8, 3, pads=1, bias=True)                                   # 11x11
    x = b.node("Relu", [b.batch_norm(x, 8)])
    x = b.conv(x, 8, 8, 3, stride=2, pads=[1, 0, 0, 1], group=8, bias=True)       # depthwise, asymmetric: 5x5
    x = b.conv(x, 8, 8, 3, pads=2, group=2, dilation=2)                           # grouped, dilated: 5x5
    x = b.node("Relu", [x])
    x = b.conv(x, 8, 6, 3, stride=2, auto_pad="SAME_UPPER", bias=True)           # 3x3, pad (1, 1)
    x = b.conv(x, 6, 6, 2, auto_pad="SAME_LOWER")                                # 3x3, pad (1, 0)
    x = b.conv(x, 6, 5, [2, 1], stride=[1, 2], auto_pad="VALID", bias=True)      # 2x2
    return finish(b, "conv_variants", [1, 4, 11, 11])


def pooling():
    b = Builder(seed=2)
    mp_ceil = b.node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)              # 5x5
    mp_pad = b.node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 0, 0])         # 5x5
    mp_same = b.node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")    # 5x5
    ap_incl = b.node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                     count_include_pad=1)                                                                # 5x5
    ap_excl = b.node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])    # 5x5
    ap_ceil = b.node("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1],
                     ceil_mode=1)                                                                        # ceil_mode with end pads
    first = b.node("Add", [b.node("Add", [mp_ceil, ap_incl]), mp_same])
    second = b.node("Sub", [ap_excl, mp_pad])
    joined = b.node("Concat", [first, second], axis=1)                                                  # 1x6x5x5
    scale = b.node("GlobalAveragePool", [joined])
    pooled = b.node("Mul", [joined, scale])
    extra = b.node("GlobalAveragePool", [ap_ceil])                                                      # 1x3x1x1
    b.node("Concat", [b.node("GlobalAveragePool", [pooled]), extra], axis=1)                          # 1x9x1x1
    return finish(b, "pooling", [1, 3, 10, 10])


def legacy_opset7():
    b = Builder(seed=3)
    x = b.conv("x", 2, 4, 3, pads=1, bias=True)
    x = b.batch_norm(x, 4, spatial=1)
    x = b.node("Clip", [x], min=0.0, max=6.0)                                     # ReLU6, Clip-6 attributes
    x = b.node("Pad", [x], pads=[0, 0, 1, 2, 0, 0, 2, 1], value=0.25, mode="constant")
    x = b.node("Dropout", [x], ratio=0.5)
    x = b.node("Sigmoid", [x])
    b.node("Clip", [x], max=0.7)                                                   # only an upper bound
    # onnx's shape inference does not cover these old opsets; state the output shape.
    return finish(b, "legacy_opset7", [1, 2, 5, 5], opset=7, ir_version=3, output_dims=[1, 4, 8, 8])


def clip_opset6():
    b = Builder(seed=15)
    x = b.conv("x", 2, 3, 3, pads=1, bias=True)
    x = b.node("Clip", [x], min=0.0, max=6.0)                                     # ReLU6 as Clip-6 attributes
    b.node("Sigmoid", [x])
    # onnxruntime runs opset 6 only where it kept the old kernels (Conv, Clip, Sigmoid do; BatchNormalization does not).
    return finish(b, "clip_opset6", [1, 2, 4, 4], opset=6, ir_version=3, output_dims=[1, 3, 4, 4])


def clip_inputs():
    b = Builder(seed=4)
    low = b.constant("low", np.array(0.0, dtype=np.float32))
    high = b.node("Constant", [], value=numpy_helper.from_array(np.array(6.0, dtype=np.float32), "high"))
    x = b.conv("x", 3, 4, 3, pads=1)
    x = b.node("Clip", [x, low, high])                                             # ReLU6, Clip-11+ inputs
    x = b.node("Sigmoid", [x])
    x = b.node("Clip", [x, "", b.constant("cap", np.array(0.6, dtype=np.float32))])   # min omitted
    b.node("Relu", [b.node("Sub", [x, b.constant("half", np.array(0.5, dtype=np.float32))])])
    return finish(b, "clip_inputs", [1, 3, 6, 6], opset=13, ir_version=7)


def elementwise():
    b = Builder(seed=5)
    per_channel = b.constant("c", b.rng.normal(size=(3, 1, 1)).astype(np.float32))
    a = b.node("Sub", ["x", per_channel])                                           # [1,3,4,4] - [3,1,1]
    a = b.node("Mul", [a, b.constant("s", np.array(0.5, dtype=np.float32))])        # scalar constant
    gap = b.node("GlobalAveragePool", ["x"])                                        # [1,3,1,1]
    a = b.node("Mul", [a, gap])                                                     # activation x activation
    row = b.constant("r", b.rng.normal(size=(1, 1, 4, 4)).astype(np.float32))
    cross = b.node("Add", [gap, row])                                               # [1,3,1,1] + [1,1,4,4]
    a = b.node("Add", [a, cross])
    b.node("Sub", [b.constant("k", b.rng.normal(size=(4,)).astype(np.float32)), a])  # constant on the left
    return finish(b, "elementwise", [1, 3, 4, 4])


def gemm():
    b = Builder(seed=6)
    x = b.node("Flatten", ["x"], axis=1)                                            # [1,48]
    x = b.node("Gemm", [x, b.constant("w", b.rng.normal(size=(10, 48)).astype(np.float32)),
                        b.constant("c", b.rng.normal(size=(10,)).astype(np.float32))],
               alpha=0.5, beta=2.0, transB=1)                                       # [1,10]
    x = b.node("Reshape", [x, b.constant("shape", np.array([-1, 1], dtype=np.int64))])   # [10,1]
    x = b.node("Gemm", [x, b.constant("w", b.rng.normal(size=(10, 4)).astype(np.float32)),
                        b.constant("c", b.rng.normal(size=(1, 4)).astype(np.float32))],
               alpha=1.5, transA=1)                                                 # [1,4]
    x = b.node("Relu", [x])
    b.node("Gemm", [x, b.constant("w", b.rng.normal(size=(4, 3)).astype(np.float32))])   # no C: [1,3]
    return finish(b, "gemm", [1, 3, 4, 4])


def matmul():
    b = Builder(seed=7)
    x = b.node("Reshape", ["x", b.constant("shape", np.array([0, 3, -1], dtype=np.int64))])   # [1,3,16]
    x = b.node("MatMul", [x, b.constant("w", b.rng.normal(size=(16, 8)).astype(np.float32))])  # [1,3,8]
    x = b.node("Add", [x, b.constant("bias", b.rng.normal(size=(8,)).astype(np.float32))])
    x = b.node("Relu", [x])
    x = b.node("Flatten", [x], axis=-1)                                             # [3,8]
    x = b.node("Identity", [x])
    x = b.node("Dropout", [x])
    b.node("MatMul", [x, b.constant("w", b.rng.normal(size=(8, 2)).astype(np.float32))])       # [3,2]
    return finish(b, "matmul", [1, 3, 4, 4])


def shape_ops():
    b = Builder(seed=8)
    pads = b.constant("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], dtype=np.int64))
    fill = b.constant("fill", np.array(0.5, dtype=np.float32))
    x = b.node("Pad", ["x", pads, fill], mode="constant")                            # [1,2,8,8]
    block = b.node("Constant", [], value=numpy_helper.from_array(
        b.rng.normal(size=(1, 3, 8, 8)).astype(np.float32), "block"))
    x = b.node("Concat", [x, block], axis=-3)                                       # [1,5,8,8]
    target = b.node("Constant", [], value_ints=[1, -1, 16])
    x = b.node("Reshape", [x, target])                                              # [1,20,16]
    x = b.node("Mul", [x, b.node("Constant", [], value_float=2.0)])
    x = b.node("Add", [x, b.node("Constant", [], value_floats=[float(v) for v in range(16)])])
    x = b.node("Pad", [x, b.constant("pads", np.array([0, 0, 0, 0, 1, 0], dtype=np.int64))])   # default value 0
    b.node("Reshape", [x, b.constant("shape", np.array([0, 0, 4, 4], dtype=np.int64))], allowzero=0)
    return finish(b, "shape_ops", [1, 2, 5, 5], opset=17)


def pad_axes():
    b = Builder(seed=9)
    x = b.node("Pad", ["x", b.constant("pads", np.array([1, 2, 3, 0], dtype=np.int64)),
                       b.constant("v", np.array(-1.0, dtype=np.float32)),
                       b.constant("axes", np.array([2, -1], dtype=np.int64))])
    b.node("Relu", [x])
    return finish(b, "pad_axes", [1, 2, 4, 4], opset=18, ir_version=8)


def batchnorm_dropout():
    b = Builder(seed=10)
    x = b.batch_norm("x", 4, epsilon=1e-3)
    x = b.node("Dropout", [x, b.constant("ratio", np.array(0.3, dtype=np.float32)),
                           b.constant("training", np.array(False))])
    b.node("Mul", [x, x])
    return finish(b, "batchnorm_dropout", [1, 4, 3, 3], opset=15)


def symbolic_batch():
    b = Builder(seed=11)
    x = b.conv("x", 3, 4, 3, pads=1, bias=True)
    x = b.node("Relu", [x])
    x = b.node("GlobalAveragePool", [x])
    b.node("Flatten", [x])
    b.nodes[-1].output[0] = "y"
    return b.model("symbolic_batch", [tensor_input("x", ["N", 3, 6, 6])], [output("y")], opset=17, ir_version=8)


SMALL_MODELS = {
    "conv_variants": conv_variants,
    "pooling": pooling,
    "legacy_opset7": legacy_opset7,
    "clip_opset6": clip_opset6,
    "clip_inputs": clip_inputs,
    "elementwise": elementwise,
    "gemm": gemm,
    "matmul": matmul,
    "shape_ops": shape_ops,
    "pad_axes": pad_axes,
    "batchnorm_dropout": batchnorm_dropout,
    "symbolic_batch": symbolic_batch,
}
LARGE_MODELS = {"resnet50": resnet50, "resnet20": resnet20}
# Batch size used for the fixture input of a model with a symbolic batch dimension.
SYMBOLIC_BATCH = 2


# ---------------------------------------------------------------------------------------------------
# Error fixtures


def unsupported_ops():
    b = Builder(seed=12)
    x = b.conv("x", 3, 4, 3, pads=1)
    x = b.node("Erf", [x], name="erf_gate")
    x = b.node("LeakyRelu", [x], name="leaky", alpha=0.1)
    x = b.node("Pad", [x, b.constant("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64))],
               name="reflect_pad", mode="reflect")
    x = b.node("Relu", [x])
    x = b.node("FusedThing", [x], name="custom_op", domain="com.example")
    x = b.node("Flatten", [x])
    b.node("Softmax", [x], name="softmax", axis=1)
    model = finish(b, "unsupported_ops", [1, 3, 6, 6], output_dims=[1, 256])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    return model


def dropout_mask_used():
    b = Builder(seed=13)
    y, mask = b.node("Dropout", ["x"], outputs=2, name="dropout")
    b.node("Relu", [y], name="relu")
    b.nodes[-1].output[0] = "y"
    return b.model("dropout_mask_used", [tensor_input("x", [1, 4])],
                   [output("y"), output(mask, TensorProto.BOOL)], opset=13, ir_version=7)


def symbolic_dims():
    b = Builder(seed=14)
    b.node("Relu", ["x"])
    return finish_symbolic(b)


def finish_symbolic(b):
    b.nodes[-1].output[0] = "y"
    return b.model("symbolic_dims", [tensor_input("x", ["N", 3, "H", "W"])], [output("y")], opset=13, ir_version=7)


def dtypes():
    """Graph outputs that are initializers of every decodable element type, stored both as raw_data and as
    the typed field; the importer turns them into constant nodes (float types → float32, integers → int64)."""
    floats = np.array([0.5, -2.0, 3.25, 1024.0], dtype=np.float32).reshape(2, 2)
    integers = {
        "int8": np.array([-3, 7], np.int8), "uint8": np.array([200, 1], np.uint8),
        "int16": np.array([-300, 7], np.int16), "uint16": np.array([60000, 1], np.uint16),
        "int32": np.array([-70000, 5], np.int32), "uint32": np.array([4000000000, 2], np.uint32),
        "int64": np.array([-(2 ** 40), 9], np.int64), "uint64": np.array([2 ** 40, 3], np.uint64),
        "bool": np.array([True, False]),
    }
    arrays = {"float32": floats, "float64": floats.astype(np.float64), "float16": floats.astype(np.float16), **integers}
    initializers = []
    for name, array in arrays.items():
        data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        initializers.append(numpy_helper.from_array(array, f"{name}_raw"))
        initializers.append(helper.make_tensor(f"{name}_typed", data_type, array.shape, array.flatten().tolist()))
    bfloat16 = helper.make_tensor("bfloat16_typed", TensorProto.BFLOAT16, [2, 2], floats.flatten().tolist())
    initializers.append(bfloat16)
    outputs = [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in initializers]
    graph = helper.make_graph([], "dtypes", [], outputs, initializer=initializers)
    model = helper.make_model(graph, producer_name="tessera-make-models", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


# ---------------------------------------------------------------------------------------------------
# Writing


def typed(model):
    """A copy whose tensors use the typed fields (float_data, int64_data, int32_data) instead of raw_data."""
    model = copy.deepcopy(model)

    def convert(tensor):
        array = numpy_helper.to_array(tensor)
        replacement = helper.make_tensor(tensor.name, tensor.data_type, array.shape, array.flatten().tolist(), raw=False)
        tensor.CopyFrom(replacement)

    for tensor in model.graph.initializer:
        convert(tensor)
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                convert(attribute.t)
    return model


def save(model, path, external=False):
    model = copy.deepcopy(model)
    if external:
        location = os.path.basename(path).replace(".onnx", ".data")
        data_path = os.path.join(os.path.dirname(path), location)
        if os.path.exists(data_path):
            os.remove(data_path)  # onnx appends to an existing data file
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=location, size_threshold=0, convert_attribute=True)
    else:
        onnx.save_model(model, path)
    onnx.checker.check_model(path)


def write_expected(model_path, name, out, batch):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # opset-6 models otherwise print support warnings
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else batch for d in meta.shape]
    x = np.random.default_rng(1234).standard_normal(shape).astype(np.float32)
    y = session.run(None, {meta.name: x})[0].astype(np.float32)
    np.save(os.path.join(out, f"{name}.input.npy"), x)
    np.save(os.path.join(out, f"{name}.expected.npy"), y)
    return y.shape


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--only", nargs="*", help="model names to write (default: all but resnet50 with --fixtures, else all)")
    parser.add_argument("--fixtures", action="store_true",
                        help="also write inputs, onnxruntime outputs and the error fixtures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    everything = {**LARGE_MODELS, **SMALL_MODELS}
    if args.only:
        unknown = [name for name in args.only if name not in everything]
        if unknown:
            parser.error(f"unknown model(s) {unknown}; choose from {sorted(everything)}")
        names = args.only
    else:
        names = [n for n in everything if not (args.fixtures and n == "resnet50")]

    for name in names:
        model = everything[name]()
        path = os.path.join(args.out, f"{name}.onnx")
        save(model, path)
        written = [path]
        if name in SMALL_MODELS:
            save(typed(model), os.path.join(args.out, f"{name}.typed.onnx"))
            save(model, os.path.join(args.out, f"{name}.external.onnx"), external=True)
            written += [f"{name}.typed.onnx", f"{name}.external.onnx", f"{name}.external.data"]
        detail = ""
        if args.fixtures and name != "resnet50":
            shape = write_expected(path, name, args.out, SYMBOLIC_BATCH)
            detail = f", output {list(shape)}"
        parameters = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        print(f"{name}: {len(model.graph.node)} nodes, {parameters:,} parameters{detail}")

    if args.fixtures:
        # Cut inside the weights so protobuf decoding fails (checked below with the onnx package).
        data = conv_variants().SerializeToString()
        truncated = os.path.join(args.out, "truncated.onnx")
        with open(truncated, "wb") as f:
            f.write(data[: len(data) * 2 // 3])
        try:
            onnx.load(truncated)
            sys.exit("truncated.onnx still parses; choose another cut")
        except Exception:
            pass
        with open(os.path.join(args.out, "not_onnx.onnx"), "w") as f:
            f.write("This is a text file, not an ONNX model.\n")
        missing = os.path.join(args.out, "missing_external.onnx")
        save(gemm(), missing, external=True)
        os.remove(os.path.join(args.out, "missing_external.data"))
        onnx.save_model(unsupported_ops(), os.path.join(args.out, "unsupported_ops.onnx"))
        onnx.save_model(dropout_mask_used(), os.path.join(args.out, "dropout_mask_used.onnx"))
        onnx.save_model(symbolic_dims(), os.path.join(args.out, "symbolic_dims.onnx"))
        onnx.save_model(dtypes(), os.path.join(args.out, "dtypes.onnx"))
        print("error fixtures: truncated, not_onnx, missing_external, unsupported_ops, dropout_mask_used, symbolic_dims; "
              "data types: dtypes")


if __name__ == "__main__":
    main()
