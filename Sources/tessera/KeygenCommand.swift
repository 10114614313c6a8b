import ArgumentParser
import CipherIR
import Foundation
import Runtime

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate the keys of a plan: the secret key (client only) and the evaluation keys (server).",
        discussion: "The evaluation-key file holds only public material: the relinearization key and the Galois keys for the plan's rotation steps (and conjugation), each at the highest level the plan uses it, and for a plan that bootstraps the bootstrapping keys (their own relinearization key, the Galois keys of the bootstrapping circuit and the sparse-secret encapsulation keys). The file is written key by key, never held in memory twice."
    )

    @Argument(help: "The plan file (.tsp).")
    var plan: String

    @Option(name: .customLong("secret-key"), help: "Where to write the secret key (.tsk). Keep it on the client.")
    var secretKey: String

    @Option(name: .customLong("eval-keys"), help: "Where to write the evaluation keys (.tek) for the server.")
    var evalKeys: String

    @Option(name: .customLong("public-key"), help: "Also write a public key (.tpk) for encrypting without the secret key.")
    var publicKey: String?

    @Option(help: "Seed the key generator (reproducible keys; for tests only).")
    var seed: UInt64?

    @OptionGroup var threadOptions: ThreadOptions

    func run() throws {
        let start = monotonicSeconds()
        let session = try PlanSession(program: try loadPlan(plan))
        let keys = try session.generateKeys(seed: seed, threads: threadOptions.resolved)
        try session.writeSecretKey(keys.secretKey, to: secretKey)
        try session.writeEvaluationKeys(
            relinearizationKey: keys.relinearizationKey, galoisKeys: keys.galoisKeys, bootstrapKeys: keys.bootstrapKeys, to: evalKeys)
        if let publicKey { try session.writePublicKey(keys.publicKey, to: publicKey) }
        let galoisBytes = keys.galoisKeys?.byteCount ?? 0
        let relinearizationBytes = keys.relinearizationKey?.key.byteCount ?? 0
        print("parameters:  \(session.parameters)")
        print("secret key:  \(secretKey)")
        let bootstrapping = keys.bootstrapKeys.map { ", bootstrapping \(formatBytes($0.byteCount)) (\($0.galoisKeyCount) Galois keys)" } ?? ""
        print("eval keys:   \(evalKeys) (relinearization \(formatBytes(relinearizationBytes)), \(keys.galoisKeys?.galoisElements.count ?? 0) Galois keys \(formatBytes(galoisBytes))\(bootstrapping))")
        if let publicKey { print("public key:  \(publicKey)") }
        print(String(format: "generated in %.3f s", monotonicSeconds() - start))
    }
}
