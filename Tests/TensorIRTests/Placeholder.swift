import Testing
@testable import TensorIR
