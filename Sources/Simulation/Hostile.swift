import City
import Foundation
import OneCardCore
import OneCardCrypto
import UploadBatch

extension Simulator {
    /// The hostile terminal: a registered terminal holding its own PSAM and nothing else. It
    /// replays what it sniffed, squats its own batch sequences with other bytes, forges
    /// records under its own key, and signs batches as another terminal.
    func hostileAction() throws {
        let op = city.operator(ofTerminal: hostile.id)?.id.rawValue ?? 0
        let created = TripleDESPurse.packedDateTime(clock)
        func send(_ terminal: TerminalID, _ sequence: UInt32, _ bytes: [UInt8], _ what: String) {
            count("hostile \(what)")
            log("hostile \(what): \(terminal)/\(sequence)")
            network.send(.upload(terminal: terminal, sequence: sequence, bytes: bytes), step: step, rng: &rng)
        }
        /// A record off the wire: an honest batch's record, read as plain bytes.
        func sniffedRecord() -> BatchRecord? {
            guard !sniffed.isEmpty else { return nil }
            let (t, _, bytes) = sniffed[rng.below(sniffed.count)]
            let key = BatchFile.uploadKey(batchMaster: try! keyset.masterKey(.batch), terminal: t)
            guard let file = try? BatchFile.decode(bytes, file: "sniffed", key: key), !file.records.isEmpty else { return nil }
            return file.records[rng.below(file.records.count)]
        }
        func forged() -> BatchRecord {
            var r = sniffedRecord() ?? BatchRecord(
                kind: .purchase, transactionType: 0x06, serial: cards[rng.below(cards.count)].serial, cardType: 1, counter: UInt16(rng.below(50)),
                amountFen: 200, balanceBeforeFen: 5000, balanceAfterFen: 4800, terminal: hostile.id, sequence: UInt32(rng.below(1000) + 1),
                dateTimeBCD: created, tac: UInt32(truncatingIfNeeded: rng.next()), industry: 2, line: 0x0600)
            switch rng.below(4) {
            case 0: break  // as sniffed: another terminal's genuine record in the hostile's batch
            case 1: r.terminal = hostile.id  // claimed as its own
            case 2: r.amountFen = r.amountFen &* 2 &+ 100  // a larger amount
            default: r.tac ^= 0x0100_0001  // a TAC of its own making
            }
            return r
        }
        switch rng.below(4) {
        case 0:
            guard !sniffed.isEmpty else { return }
            let (t, seq, bytes) = sniffed[rng.below(sniffed.count)]
            send(t, seq, bytes, "replay")
        case 1:
            hostile.forgedSequence += 1
            let header = BatchHeader(terminal: hostile.id, operatorID: op, sequence: hostile.forgedSequence, createdBCD: created)
            send(hostile.id, hostile.forgedSequence, try hostile.signed(header, [forged(), forged()]), "forgery")
        case 2:
            guard hostile.forgedSequence > 0 else { return }
            let header = BatchHeader(terminal: hostile.id, operatorID: op, sequence: hostile.forgedSequence, createdBCD: created &+ 1)
            send(hostile.id, hostile.forgedSequence, try hostile.signed(header, [forged()]), "squat")
        default:
            let victim = terminals[rng.below(terminals.count)]
            let header = BatchHeader(
                terminal: victim.id, operatorID: city.operator(ofTerminal: victim.id)?.id.rawValue ?? 0, sequence: UInt32(rng.int(in: 1...5)), createdBCD: created)
            send(victim.id, header.sequence, try hostile.signed(header, [forged()]), "impersonation")
        }
    }
}
