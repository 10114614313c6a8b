// CipherIR: the SSA HE instruction set that the compiler emits and the runtime interprets.
//
// Map of the module (the authoritative definition is ir-spec/cipher-ir.md and ir-spec/plan-format.md):
// - Values.swift          ValueID, ValueKind, ValueType (slots, level, scale once known), the type side table
// - Opcode.swift          the closed op set with stable numeric codes and its traits table (op properties as data)
// - Instruction.swift     Immediate arguments and Instruction (opcode, operands, immediate, results)
// - Program.swift         Program: parameters, key requirements, bindings, constant pool, instructions, memory plan
// - Verifier.swift        type inference and the verifier (levels, scales, keys, SSA order), as diagnostics
// - Program+Text.swift    the canonical text printer
// - TextParser.swift      the text parser (errors with line:column)
// - PlanFile.swift        the binary `.tsp` plan format: encode/decode, read/write, typed errors
