import Testing
@testable import ModularArithmetic
