import TensorIR
