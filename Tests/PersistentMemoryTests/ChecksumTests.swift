import Testing
@testable import PersistentMemory

@Test(arguments: [
    ("", UInt64(0xEF46_DB37_51D8_E999)),
    ("a", UInt64(0xD24E_C4F1_A98C_6E5B)),
    ("abc", UInt64(0x44BC_2CF5_AD77_0999)),
    ("Nobody inspects the spammish repetition", UInt64(0xFBCE_A83C_8A37_8BF1)),
])
func xxHash64MatchesReference(input: String, expected: UInt64) {
    let bytes = Array(input.utf8)
    #expect(bytes.withUnsafeBytes { PoolChecksum.xxHash64($0) } == expected)
}
