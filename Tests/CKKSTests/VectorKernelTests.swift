import CModularKernels
import Foundation
import ModularArithmetic
import Testing
@testable import CKKS

/// The AVX-512 kernels of key switching (basis conversion, inner product) against the portable Swift loops: the
/// words must agree exactly. On a CPU without the kernels both paths run the Swift loops and still agree.
@Suite struct VectorKernelTests {
    static let contexts: [TestContext] = [
        TestContext.small,
        try! TestContext(BootstrappableParametersLiteral.insecureTest(logN: 10, applicationLevels: 2).scheme),
    ]

    @Test(arguments: 0..<2)
    func basisConversionKernelMatchesPortableLoop(context: Int) throws {
        let parameters = Self.contexts[context].parameters
        let n = parameters.degree
        let moduli = parameters.ring.qModuli + parameters.ring.pModuli
        var rng = ChaChaRandom(seed: UInt64(17 + context))
        // Every source count a digit or ModDown uses, scaled and unscaled outputs.
        for sourceCount in 2...min(5, moduli.count - 1) {
            for scaled in [false, true] {
                let source = Array(moduli.prefix(sourceCount)), targets = Array(moduli.dropFirst(sourceCount))
                let converter = BasisConverter(source: source, targets: targets, scaleOutputByWord: scaled)
                #expect(converter.montgomery)
                let input = source.map { q in (0..<n).map { _ in UInt64.random(in: 0..<(2 * q.value), using: &rng) } }
                func run(portable: Bool) -> [[UInt64]] {
                    let inputs = input.map { limb -> UnsafeMutablePointer<UInt64> in
                        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: n)
                        p.initialize(from: limb, count: n)
                        return p
                    }
                    let outputs = targets.map { _ in UnsafeMutablePointer<UInt64>.allocate(capacity: n) }
                    let scratch = UnsafeMutablePointer<UInt64>.allocate(capacity: sourceCount * n)
                    defer {
                        (inputs + outputs).forEach { $0.deallocate() }
                        scratch.deallocate()
                    }
                    converter.convert(
                        input: inputs, output: outputs, degree: n, scratch: scratch, executor: ParallelExecutor(threads: 1),
                        portable: portable)
                    return outputs.map { Array(UnsafeBufferPointer(start: $0, count: n)) }
                }
                #expect(run(portable: true) == run(portable: false), "\(sourceCount) sources, scaled \(scaled)")
            }
        }
    }

    @Test(arguments: 0..<2)
    func innerProductKernelMatchesPortableLoop(context: Int) throws {
        let context = Self.contexts[context]
        let switcher = context.evaluator.switcher
        let n = context.parameters.degree
        let ct = try context.encrypt(context.randomValues(context.parameters.slotCount, seed: 5))
        let decomposition = switcher.decompose(ct.polynomials[1])
        #expect(decomposition.scaledByWord)  // the Montgomery inner product, which has the kernel
        let limbs = decomposition.limbsPerDigit * n
        let g = context.parameters.galoisElement(forRotation: 3)
        let rotation = try #require(context.evaluator.galoisKeys[g])
        let permutation = try #require(context.evaluator.permutations[g])
        for (key, perm) in [(context.relinearizationKey.key, nil), (rotation, permutation.indices)] as [(KeySwitchingKey, [Int32]?)] {
            func run(portable: Bool) -> [UInt64] {
                let acc = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * limbs)
                defer { acc.deallocate() }
                if let perm {
                    perm.withUnsafeBufferPointer {
                        switcher.innerProduct(
                            decomposition, key: key, permutation: $0.baseAddress!, acc0: acc, acc1: acc + limbs, portable: portable)
                    }
                } else {
                    switcher.innerProduct(decomposition, key: key, permutation: nil, acc0: acc, acc1: acc + limbs, portable: portable)
                }
                return Array(UnsafeBufferPointer(start: acc, count: 2 * limbs))
            }
            #expect(run(portable: true) == run(portable: false), "permutation \(perm != nil)")
        }
    }

    /// The rescale / ModDown step and the Chebyshev linear combination kernels against their Swift loops, word for
    /// word, including sizes that are not multiples of 8 and inputs at the top of their ranges.
    @Test(arguments: [(40, 1000), (60, 1024), (61, 77)])
    func elementwiseKernelsMatchSwiftLoops(bits: Int, n: Int) throws {
        try #require(NTTTables.vectorKernels, "no AVX-512 on this CPU: the kernels are not used")
        let q = Modulus(try PrimeGenerator.nttPrimes(bits: bits, count: 1, degree: 16)[0])
        let qv = q.value
        var rng = ChaChaRandom(seed: UInt64(bits * n))
        let x = (0..<n).map { _ in UInt64.random(in: 0..<(2 * qv), using: &rng) }
        let t = (0..<n).map { $0 == 0 ? 4 * qv - 1 : UInt64.random(in: 0..<(4 * qv), using: &rng) }
        let w = UInt64.random(in: 0..<qv, using: &rng), ws = q.shoupPrecompute(w)
        let start = (0..<n).map { _ in UInt64.random(in: 0..<qv, using: &rng) }
        for accumulate in [false, true] {
            var expected = start
            for c in 0..<n {
                let v = q.multiplyShoup(x[c] &+ 4 &* qv &- t[c], w, ws)
                expected[c] = accumulate ? q.add(expected[c], v) : v
            }
            var got = start
            tessera_scaled_difference(&got, x, t, n, 4 &* qv, w, ws, qv, accumulate ? 1 : 0)
            #expect(got == expected, "accumulate \(accumulate)")
        }
        let terms = (0..<7).map { _ in (0..<n).map { _ in rng.next() } }  // any 64-bit words
        let factors = (0..<7).map { _ in UInt64.random(in: 0..<qv, using: &rng) }
        let c0 = qv - 1
        var expected = [UInt64](repeating: c0, count: n)
        for (term, f) in zip(terms, factors) {
            let fs = q.shoupPrecompute(f)
            for c in 0..<n { expected[c] = q.add(expected[c], q.multiplyShoup(term[c], f, fs)) }
        }
        var got = [UInt64](repeating: 0, count: n)
        let pointers = terms.map { term -> UnsafeMutablePointer<UInt64> in
            let p = UnsafeMutablePointer<UInt64>.allocate(capacity: n)
            p.initialize(from: term, count: n)
            return p
        }
        defer { pointers.forEach { $0.deallocate() } }
        let inputs: [UnsafePointer<UInt64>?] = pointers.map { UnsafePointer($0) }
        tessera_linear_combination(&got, inputs, factors, factors.map { q.shoupPrecompute($0) }, Int32(terms.count), c0, n, qv)
        #expect(got == expected)
    }
}
