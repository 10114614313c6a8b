import CipherIR
import CKKS
import Foundation
import PersistentMemory
import Testing
@testable import Runtime

@Suite struct CKKSExecutionTests {
    /// CKKS output equals the plaintext answer within the stated precision.
    @Test(arguments: [
        ("dot_product", 0x1p-20), ("polynomial", 0x1p-16), ("matrix_vector", 0x1p-18),
    ])
    func matchesPlaintext(name: String, tolerance: Double) throws {
        let fixture = try CKKSFixture(name)
        let result = try fixture.run()
        let decrypted = try fixture.decrypt(result.outputs)
        let expected: [Double]
        switch name {
        case "dot_product": expected = Examples.dotProduct(fixture.input)
        case "polynomial": expected = Examples.polynomial(fixture.input)
        default: expected = Examples.matrixVector(fixture.input)
        }
        #expect(decrypted.count == expected.count)
        let error = maxAbsoluteError(decrypted, expected)
        #expect(error < tolerance, "\(name): max error 2^\(log2(error))")
        // Every value is freed after its last use.
        #expect(result.statistics.store.values == 0)
    }

    @Test func refreshUsesTheKeyHolder() throws {
        let fixture = try CKKSFixture("relu_refresh")
        let decrypted = try fixture.decrypt(try fixture.run(refresh: true).outputs)
        let error = maxAbsoluteError(decrypted, Examples.reluRefresh(fixture.input))
        #expect(error < 0x1p-20, "max error 2^\(log2(error))")
        #expect(throws: RuntimeError.refreshNeedsKeyHolder(instruction: 3)) { try fixture.run(refresh: false) }
    }

    @Test func unknownRefreshFunctionIsTyped() throws {
        var program = try Examples.program("relu_refresh")
        program.instructions[3].immediate = .refresh(function: "softmax", level: 2)
        let fixture = try CKKSFixture("relu_refresh")
        let session = PlanSession(program: program, parameters: fixture.session.parameters)
        #expect(throws: RuntimeError.unknownRefreshFunction("softmax")) {
            try PlanRunner.runCKKS(session: session, inputs: fixture.ciphertexts, relinearizationKey: nil, galoisKeys: nil,
                                   refreshSecretKey: fixture.keys.secretKey)
        }
    }

    /// Values in DRAM, in a pool on a file, and under a DRAM budget smaller than the live set give
    /// byte-identical output ciphertexts.
    @Test(arguments: ["matrix_vector", "polynomial"])
    func poolAndBudgetGiveIdenticalBytes(name: String) throws {
        let fixture = try CKKSFixture(name)
        let inDRAM = try fixture.run()
        let slotSize = ValueStoreSetup.largestCiphertextBytes(fixture.session.program.parameters!)
        let tag = PoolOwnerTag(hashing: withUnsafeBytes(of: fixture.session.planFingerprint) { Array($0) })

        let poolPath = temporaryPath("pool")
        defer { unlink(poolPath) }
        let poolStore = try ValueStoreSetup.makeStore(poolPath: poolPath, poolSize: nil, dramBudget: nil, slotSize: slotSize,
                                                      defaultSlots: 16, ownerTag: tag)
        let inPool = try fixture.run(store: poolStore)
        #expect(fixture.bytes(inPool.outputs) == fixture.bytes(inDRAM.outputs))
        #expect(inPool.statistics.store.spills > 0)
        #expect(inPool.statistics.store.peakDRAMBytes <= slotSize)
        poolStore.pool?.close()

        // A budget of about one ciphertext, below the peak live set.
        let budget = inDRAM.statistics.peakLiveBytes / 2
        #expect(budget < inDRAM.statistics.store.peakDRAMBytes)
        let budgetPath = temporaryPath("pool-budget")
        defer { unlink(budgetPath) }
        let budgetStore = try ValueStoreSetup.makeStore(poolPath: budgetPath, poolSize: nil, dramBudget: budget, slotSize: slotSize,
                                                        defaultSlots: 16, ownerTag: tag)
        let underBudget = try fixture.run(store: budgetStore)
        #expect(fixture.bytes(underBudget.outputs) == fixture.bytes(inDRAM.outputs))
        #expect(underBudget.statistics.store.spills > 0)
        budgetStore.pool?.close()

        // The pool file is reopened (same plan) and reused.
        let reopened = try ValueStoreSetup.makeStore(poolPath: poolPath, poolSize: nil, dramBudget: nil, slotSize: slotSize,
                                                     defaultSlots: 16, ownerTag: tag)
        #expect(fixture.bytes(try fixture.run(store: reopened).outputs) == fixture.bytes(inDRAM.outputs))
        reopened.pool?.close()
        // ... and refused for another plan.
        let otherTag = PoolOwnerTag(hashing: [1, 2, 3])
        #expect(throws: PersistentMemoryError.self) {
            _ = try ValueStoreSetup.makeStore(poolPath: poolPath, poolSize: nil, dramBudget: nil, slotSize: slotSize,
                                              defaultSlots: 16, ownerTag: otherTag)
        }
    }

    @Test func budgetWithoutPoolIsRefused() {
        #expect(throws: RuntimeError.self) {
            _ = try ValueStoreSetup.makeStore(poolPath: nil, poolSize: nil, dramBudget: 1000, slotSize: 100, defaultSlots: 1, ownerTag: .none)
        }
    }
}

@Suite struct SimulatorTests {
    /// The simulator's predicted error is within 2 bits of the error CKKS actually makes, measured
    /// over all N/2 slots of the output (the `slots`-long result is replicated across them).
    @Test(arguments: ["dot_product", "polynomial", "matrix_vector", "relu_refresh"])
    func predictsTheMeasuredError(name: String) throws {
        let fixture = try CKKSFixture(name)
        let program = fixture.session.program
        let binding = program.inputs[0]
        let simulated = try PlanRunner.simulate(program: program, inputs: [binding.name: (binding.shape, fixture.input)])
        let decrypted = try fixture.decryptAllSlots(try fixture.run(refresh: true).outputs)
        var measured = 0.0, predicted = 0.0, count = 0.0
        for (slotValues, ciphertext) in zip(decrypted, simulated.outputs[0].ciphertexts) {
            let mse: [Double] = ciphertext.meanSquareError
            let width: Int = ciphertext.slots
            for (i, value) in slotValues.enumerated() {
                let ideal: Double = ciphertext.ideal[i % width]
                let difference: Double = value - ideal
                measured += difference * difference
                predicted += mse[i % width]
                count += 1
            }
        }
        let measuredBits = 0.5 * log2(measured / count)
        let predictedBits = 0.5 * log2(predicted / count)
        #expect(abs(measuredBits - predictedBits) <= 2, "\(name): measured 2^\(measuredBits), predicted 2^\(predictedBits)")
        // The simulator's noise-free values are the plaintext answer up to the predicted error.
        let expected: [Double]
        switch name {
        case "dot_product": expected = Examples.dotProduct(fixture.input)
        case "polynomial": expected = Examples.polynomial(fixture.input)
        case "matrix_vector": expected = Examples.matrixVector(fixture.input)
        default: expected = Examples.reluRefresh(fixture.input)
        }
        #expect(maxAbsoluteError(simulated.outputs[0].ideal, expected) < 1e-12)
        #expect(maxAbsoluteError(simulated.outputs[0].values, expected) < 0x1p-16)
    }

    @Test func noiseModelScalesWithTheParameters() throws {
        let program = try Examples.program("dot_product")
        let model = NoiseModel(parameters: try program.ckksParameters())
        // Fresh secret-key noise: N·(σ² + 1/12)/(2Δ²).
        let expected = 4096 * (3.2 * 3.2 + 1.0 / 12) / (2 * 0x1p80)
        #expect(abs(model.freshEncryption(scale: 0x1p40, publicKey: false) / expected - 1) < 1e-12)
        #expect(model.freshEncryption(scale: 0x1p40, publicKey: true) > 1000 * expected)
        // Key switching is noisier at higher levels only through the digits; rescale noise grows with h.
        #expect(model.keySwitch(level: 3, scale: 0x1p40) >= model.keySwitch(level: 0, scale: 0x1p40))
        let sparse = NoiseModel(parameters: try Examples.program("polynomial").ckksParameters())
        #expect(sparse.rescale(scale: 0x1p40) < model.rescale(scale: 0x1p40))
    }
}

@Suite struct CostModelTests {
    @Test(arguments: ["dot_product", "polynomial", "matrix_vector"])
    func predictsTheMemoryOfTheCKKSRun(name: String) throws {
        let fixture = try CKKSFixture(name)
        let program = fixture.session.program
        let estimate = try PlanRunner.estimate(program: program)
        let run = try fixture.run()
        #expect(estimate.peakCiphertextBytes == run.statistics.peakLiveBytes)
        #expect(estimate.peakLiveCiphertexts == run.statistics.peakLiveValues)
        #expect(estimate.countByOp == program.opcodeHistogram())
        #expect(estimate.predictedMilliseconds > 0)
        #expect(abs(estimate.millisecondsByOp.values.reduce(0, +) - estimate.predictedMilliseconds) < 1e-9)
    }

    @Test func keySizes() throws {
        let program = try Examples.program("dot_product")
        let sizes = KeySizes(program: program, parameters: program.parameters!)
        // Three rotation keys used at level 2 (of 3): 2 digits × (b, a) × (3 q + 2 p limbs) × N × 8 bytes each.
        #expect(sizes.galoisBytes == 3 * 2 * 2 * 5 * 4096 * 8)
        #expect(sizes.galoisKeyCount == 3 && sizes.highestGaloisLevel == 2)
        #expect(sizes.relinearizationBytes == 0 && sizes.relinearizationLevel == nil)
        let fixture = try CKKSFixture("dot_product")
        #expect(sizes.galoisBytes == fixture.keys.galoisKeys!.byteCount)
    }

    @Test func costGrowsWithLevelAndReadsBenchJSON() throws {
        let program = try Examples.program("matrix_vector")
        let json = """
            {"logN": 12, "q_bits": [60, 40, 40, 40], "p_bits": [60, 60], "dnum": 2,
             "ntt": 0.05, "encode": 0.5, "encrypt": 1.0, "add": 0.02, "mul_plain": 0.03, "mul_relin": 3.0,
             "rescale": 0.4, "rotate": 2.5, "rotate_hoisted": 1.0, "relin_key_mb": 0.4, "rotation_key_mb": 0.4}
            """
        let table = try CostTable(json: Data(json.utf8))
        #expect(table.logN == 12 && table.qLimbs == 4 && table.dnum == 2)
        let backend = CostModelBackend(parameters: program.parameters!, table: table)
        // Measured at the plan's own parameters: the top-level cost is the table's.
        #expect(abs(backend.cost(.rotate, level: 3) - 2.5) < 1e-12)
        #expect(backend.cost(.rotate, level: 1) < backend.cost(.rotate, level: 3))
        #expect(backend.cost(.rotateHoisted, level: 3, steps: 3) < 3 * backend.cost(.rotate, level: 3))
        let estimate = try PlanRunner.estimate(program: program, table: table)
        // 3 hoisted rotations, 4 encodes, 4 mulPlain, 3 adds, 1 rescale, all at level 3.
        let expected = (2.5 - 1.0 + 3 * 1.0) + 4 * 0.5 + 4 * 0.03 + 3 * 0.02 + 0.4
        #expect(abs(estimate.predictedMilliseconds - expected) < 1e-9)
        #expect(throws: RuntimeError.self) { try CostTable(json: Data("{\"add\": 1}".utf8)) }
        #expect(throws: RuntimeError.self) { try CostTable(json: Data("[1, 2]".utf8)) }
    }
}

@Suite struct InterpreterTests {
    @Test func lastUsesAndTrace() throws {
        let program = try Examples.program("dot_product")
        let last = Interpreter<CostModelBackend>.lastUses(program)
        #expect(last[0] == 2)  // %0 read by mulPlain
        #expect(last[9] == 10)  // %9 read by output
        let backend = CostModelBackend(parameters: program.parameters!)
        let interpreter = try Interpreter(program: program, backend: backend)
        let trace = TraceRecorder()
        var seen = 0
        interpreter.observer = { event in
            trace.record(event)
            seen += 1
        }
        let result = try interpreter.run { _, _ in backend.input(level: 3, scale: 0x1p40) }
        #expect(seen == program.instructions.count)
        #expect(result.statistics.peakLiveValues == 3)  // %3, %4 and their sum before the frees
        let parsed = try JSONSerialization.jsonObject(with: Data(trace.json.utf8)) as? [String: Any]
        let events = parsed?["traceEvents"] as? [[String: Any]] ?? []
        #expect(events.filter { $0["ph"] as? String == "X" }.count == program.instructions.count)
        #expect(events.filter { $0["ph"] as? String == "C" }.count == program.instructions.count)
    }

    @Test func sizes() throws {
        #expect(try ValueStoreSetup.parseSize("512") == 512)
        #expect(try ValueStoreSetup.parseSize("64K") == 65536)
        #expect(try ValueStoreSetup.parseSize("1.5G") == 3 << 29)
        #expect(try ValueStoreSetup.parseSize("2MiB") == 2 << 20)
        #expect(try ValueStoreSetup.parseSize("3MB") == 3 << 20)
        #expect(throws: RuntimeError.self) { try ValueStoreSetup.parseSize("lots") }
    }

    @Test func packingFollowsTheLayout() throws {
        let binding = TensorBinding(name: "x", shape: [2, 3], ciphertextCount: 3, slots: 4,
                                    layout: .strided(ciphertextStrides: [0, 1], slotStrides: [1, 0], slotOffset: 1))
        let vectors = try Packing.pack([1, 2, 3, 4, 5, 6], shape: [2, 3], into: binding)
        #expect(vectors == [[0, 1, 4, 0], [0, 2, 5, 0], [0, 3, 6, 0]])
        #expect(try Packing.unpack(vectors, from: binding) == [1, 2, 3, 4, 5, 6])
        #expect(throws: RuntimeError.shapeMismatch(binding: "x", expected: [2, 3], found: [6])) {
            try Packing.pack([1, 2, 3, 4, 5, 6], shape: [6], into: binding)
        }
        #expect(Packing.replicate([1, 2], toSlotCount: 6) == [1, 2, 1, 2, 1, 2])
    }
}
