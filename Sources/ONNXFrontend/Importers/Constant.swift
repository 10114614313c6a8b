import TensorIR

/// Constant: exactly one of value (tensor), value_float(s), value_int(s). Sparse and string constants
/// are unsupported.
enum ConstantImporters {
    static let all: [OperatorImporter] = [
        OperatorImporter("Constant", unsupportedReason: { node in
            for attribute in ["sparse_value", "value_string", "value_strings"] where node.has(attribute) {
                return "Constant with '\(attribute)' is not supported; only numeric tensors"
            }
            return nil
        }) { importer, node throws(ONNXImportError) in
            try node.expectInputs(0...0)
            let tensor: Tensor
            if let proto = try node.tensor("value") {
                tensor = try importer.decoder.decode(proto, name: node.outputs[0])
            } else if let value = try node.optionalFloat("value_float") {
                tensor = Tensor(shape: [], floats: [value])
            } else if let values = try node.floats("value_floats") {
                tensor = Tensor(shape: [values.count], floats: values)
            } else if let value = try node.optionalInt("value_int") {
                tensor = Tensor(shape: [], int64s: [Int64(value)])
            } else if let values = try node.ints("value_ints") {
                tensor = Tensor(shape: [values.count], int64s: values.map(Int64.init))
            } else {
                throw .invalidAttribute(node: node.name, name: "value",
                                        detail: "is missing; Constant needs one of value, value_float(s), value_int(s)")
            }
            return importer.emit(.constant(tensor), inputs: [], for: node, type: tensor.type)
        },
    ]
}
