import Testing
@testable import CKKS
