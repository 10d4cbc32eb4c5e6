import OneCardCore
import OneCardCrypto
import Testing
import UploadBatch

private let master = try! TripleDESKey(hex: "0123456789ABCDEFFEDCBA9876543210")
private let terminal = TerminalID(hex: "710002000101")!
private let key = BatchFile.uploadKey(batchMaster: master, terminal: terminal)

private func sample(_ n: Int) -> BatchFile {
    let at = TripleDESPurse.packedDateTime(BCDDateTime(iso: "2026-11-29T08:15:00")!)
    var records: [BatchRecord] = []
    for i in 0..<n {
        let isLoad = i % 5 == 4
        let kind: RecordKind = isLoad ? .load : .purchase
        let type: UInt8 = isLoad ? 0x02 : 0x06
        let serial = CardSerial(rawValue: 0x2000_0000_0000_0000 + UInt64(i))
        let deposit: UInt32 = i == 0 ? 2000 : 0
        let tac: UInt32 = 0xDEAD_0000 | UInt32(i)
        records.append(BatchRecord(
            kind: kind, transactionType: type, serial: serial, cardType: 1, counter: UInt16(i),
            amountFen: UInt32(100 + i), balanceBeforeFen: 5000, balanceAfterFen: 4900, terminal: terminal,
            sequence: UInt32(i + 1), dateTimeBCD: at, tac: tac, industry: 2, line: 0x0600,
            baseFareFen: 200, concessionFen: 100, flags: [.transfer], depositFen: deposit))
    }
    return BatchFile(header: BatchHeader(terminal: terminal, operatorID: 2, sequence: 7, createdBCD: at), records: records)
}

/// Rewrites the MAC so that only the field under test is wrong (a buggy terminal, not a forger).
private func resign(_ bytes: inout [UInt8]) {
    let macAt = bytes.count - 64 + 24
    let mac = BatchFile.mac(key: key, digest: SHA256Digest.hash(Array(bytes[0..<macAt])))
    bytes.replaceSubrange(macAt..<macAt + 32, with: mac)
}

@Suite("Upload batch files")
struct BatchFileTests {
    @Test("HMAC-SHA-256 matches an independent computation (Python hmac)")
    func hmacVector() {
        let mac = Array("OneCard batch".utf8).withUnsafeBytes {
            HMACSHA256.authenticate(key: master.exportKeyMaterial(), data: $0)
        }
        #expect(mac.hex == "EB781405E0D67E1A774FEDE5648C03A2E0ED01EA747A1C121D51E027A4BD29FB")
    }

    @Test("a batch round-trips byte for byte, every field intact")
    func roundTrip() throws {
        let b = sample(25)
        let bytes = b.encode(key: key)
        #expect(bytes.count == 64 + 25 * 128 + 64)
        let decoded = try BatchFile.decode(bytes, file: "b", key: key)
        #expect(decoded == b)
        #expect(decoded.encode(key: key) == bytes)
        #expect(decoded.records[3].at?.description == "2026-11-29T08:15:00")
    }

    @Test("an empty batch is valid")
    func empty() throws {
        #expect(try BatchFile.decode(sample(0).encode(key: key), file: "e", key: key).records.isEmpty)
    }

    @Test("every truncation is refused")
    func truncation() {
        let bytes = sample(3).encode(key: key)
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: BatchError.self) { try BatchFile.decode(Array(bytes[0..<cut]), file: "t", key: key) }
        }
    }

    @Test("flipping any bit of header, records or trailer is refused")
    func tamper() {
        let bytes = sample(3).encode(key: key)
        for i in stride(from: 0, to: bytes.count - 8, by: 3) {
            var t = bytes
            t[i] ^= 0x01
            #expect(throws: BatchError.self) { try BatchFile.decode(t, file: "x", key: key) }
        }
    }

    @Test("the wrong terminal key is refused with macInvalid")
    func wrongKey() {
        let other = BatchFile.uploadKey(batchMaster: master, terminal: TerminalID(hex: "710002000102")!)
        #expect(throws: BatchError.macInvalid(file: "k")) { try BatchFile.decode(sample(2).encode(key: key), file: "k", key: other) }
    }

    @Test("a signed trailer with a wrong count or sum is still refused, naming the field")
    func trailerMismatch() {
        var bytes = sample(4).encode(key: key)
        let t = bytes.count - 64
        bytes[t + 7] = 5
        resign(&bytes)
        #expect(throws: BatchError.countMismatch(file: "c", trailer: 5, records: 4)) { try BatchFile.decode(bytes, file: "c", key: key) }
        bytes = sample(4).encode(key: key)
        bytes[t + 15] &+= 1
        resign(&bytes)
        #expect(throws: BatchError.self) { try BatchFile.decode(bytes, file: "s", key: key) }
    }

    @Test("unknown versions and foreign files are refused before any MAC work")
    func versions() {
        var bytes = sample(1).encode(key: key)
        bytes[5] = 1
        #expect(throws: BatchError.unknownVersion(file: "v", version: 1)) { try BatchFile.decode(bytes, file: "v", key: key) }
        #expect(throws: BatchError.badMagic(file: "m")) {
            try BatchFile.decode([UInt8](repeating: 0x41, count: 300), file: "m", key: key)
        }
    }
}
