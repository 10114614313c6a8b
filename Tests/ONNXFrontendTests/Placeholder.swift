import Testing
@testable import ONNXFrontend
