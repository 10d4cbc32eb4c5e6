import City
import EPurse
import Foundation
import OneCardCore
import OneCardCrypto
import PSAMCard
import Storage
import Terminal
import UploadBatch

/// One card, and every change of its balance as the card itself made it: the truth the
/// checker holds clearing to.
final class SimCard {
    struct Event: Equatable {
        /// The purse counter the transaction used (offline for a purchase, online for a load).
        var counter: UInt16
        var amountFen: UInt32
        var terminal: TerminalID
        /// The terminal's clock at the transaction (the record's time).
        var at: Int64
    }

    let card: EPurseCard
    let serial: CardSerial
    var debits: [Event] = []
    var credits: [Event] = []
    var balance: UInt32 { card.state.balanceFen }

    init(card: EPurseCard, serial: CardSerial) {
        self.card = card
        self.serial = serial
    }

    /// Runs an operation on the card and records what it did to the purse.
    func observe<T>(terminal: TerminalID, at: Int64, _ body: () throws -> T) rethrows -> T {
        let before = card.state
        // Also when the operation failed: a card torn after it processed a command changed.
        defer { record(before: before, terminal: terminal, at: at) }
        return try body()
    }

    private func record(before: CardState, terminal: TerminalID, at: Int64) {
        let after = card.state
        // A purchase moves the offline counter (a metro entry debits 0 fen but is one), a load
        // the online counter.
        if after.offlineCounter != before.offlineCounter {
            debits.append(Event(counter: before.offlineCounter.rawValue, amountFen: before.balanceFen - after.balanceFen, terminal: terminal, at: at))
        }
        if after.onlineCounter != before.onlineCounter {
            credits.append(Event(counter: before.onlineCounter.rawValue, amountFen: after.balanceFen - before.balanceFen, terminal: terminal, at: at))
        }
    }
}

/// What uploads: a fare terminal (its PSAM signs) or the service counter (its upload key
/// signs), from its journal, as `onecard terminal sync` does.
protocol Uploading: AnyObject {
    var id: TerminalID { get }
    var journal: SQLiteJournal { get }
    var world: Simulator { get }
    /// The batch sent and not yet answered, and the step it was sent at.
    var awaiting: (sequence: UInt32, step: Int)? { get set }
    /// Seconds its clock is ahead of the simulation's.
    var skew: Int64 { get }
    /// Makes the batch file's MAC.
    func sign(_ digest: [UInt8]) throws -> [UInt8]
}

/// Sends a terminal's oldest unacknowledged batch again when no answer came for this many steps.
let resendSteps = 8

extension Uploading {
    /// The oldest unacknowledged batch (or a new one), unless one is out and not yet overdue.
    func nextUpload(at: Int64, includeGrey: Bool) throws -> (sequence: UInt32, records: Int, bytes: [UInt8])? {
        if let awaiting, world.step - awaiting.step < resendSteps { return nil }
        guard let u = try journal.nextUpload(
            sign: { try self.sign($0) }, uploadKeyVersion: 1, createdAt: BCDDateTime(secondsSinceEpoch: at + skew), includeGrey: includeGrey)
        else { return nil }
        awaiting = (u.sequence, world.step)
        return u
    }

    /// The front-end's answer: an acknowledgement marks the batch uploaded.
    func answered(sequence: UInt32, acknowledged: Bool, json: String) throws {
        guard acknowledged else { return }
        try journal.markAcknowledged(sequence, acknowledgement: json)
        if awaiting?.sequence == sequence { awaiting = nil }
    }

    /// Whether everything it journaled was acknowledged.
    func allAcknowledged() throws -> Bool { try journal.unacknowledged().batches == 0 }
}

/// A fare terminal: its journal on disk, its PSAM (an emulated card, which survives a crash of
/// the terminal as hardware would), the real `TapTerminal` on top.
final class SimTerminal: Uploading {
    let id: TerminalID
    let direction: GateDirection
    let path: String
    let psamCard: PSAMCard
    var journal: SQLiteJournal
    var psam: PSAMModule
    var terminal: TapTerminal
    /// Seconds the terminal's clock is ahead of the simulation's.
    var skew: Int64 = 0
    var awaiting: (sequence: UInt32, step: Int)?
    unowned let world: Simulator
    /// The hostile terminal's own next batch sequence.
    var forgedSequence: UInt32 = 0

    var entersAmount: Bool { terminal.action == .taxi || terminal.action == .gas }

    init(world: Simulator, terminal id: TerminalID, direction: GateDirection) throws {
        self.world = world
        self.id = id
        self.direction = direction
        path = world.dir + "/\(id).sqlite"
        let op = world.city.operator(ofTerminal: id)?.id.rawValue ?? 0
        let state = PSAMState(
            serial: [0, 0] + id.bytes + [0, 0], terminal: id, purchaseKeys: [0x01: try world.keyset.masterKey(.purchase)],
            start: BCDDate("2026-01-01")!, expiry: BCDDate("2036-01-01")!, sequence: 0,
            uploadKey: BatchFile.uploadKey(batchMaster: try world.keyset.masterKey(.batch), terminal: id))
        psamCard = PSAMCard(state: state)
        journal = try SQLiteJournal(path: path, terminal: id, operatorID: op)
        psam = try PSAMModule(channel: InProcessChannel(card: psamCard))
        terminal = try TapTerminal(city: world.city, terminal: id, sam: psam, journal: journal, gateDirection: direction)
    }

    /// The process dies and starts again: the journal is read back from disk, the PSAM opened anew.
    func crash() throws {
        journal = try SQLiteJournal(existing: path)
        psam = try PSAMModule(channel: InProcessChannel(card: psamCard))
        terminal = try TapTerminal(city: world.city, terminal: id, sam: psam, journal: journal, gateDirection: direction)
        awaiting = nil
    }

    func tap(_ card: SimCard, at: Int64, amountFen: Int64?, tearAt: Int?, responseLost: Bool) throws -> String {
        var channel = TearingChannel(card: card.card, cutAt: tearAt, responseLost: responseLost)
        let local = at + skew
        let result = try card.observe(terminal: id, at: local) {
            try terminal.tap(&channel, at: BCDDateTime(secondsSinceEpoch: local), enteredAmountFen: amountFen)
        }
        return "\(result.outcome.rawValue) \(result.amountFen) fen\(result.outcome == .declined ? " (\(result.reason))" : "")"
    }

    func sign(_ digest: [UInt8]) throws -> [UInt8] { try psam.signBatch(digest: digest, keyVersion: 1) }

    /// A batch of this terminal's, signed by its PSAM (the hostile terminal's forgeries).
    func signed(_ header: BatchHeader, _ records: [BatchRecord]) throws -> [UInt8] {
        try BatchFile(header: header, records: records).encode(sign: sign)
    }
}

/// The service counter: issues and loads cards (it holds the load and maintenance master keys,
/// as the counter's load host does) and signs its batches with its own upload key.
final class SimCounter: Uploading {
    let id: TerminalID
    let journal: SQLiteJournal
    let counter: ServiceCounter
    let uploadKey: [UInt8]
    var awaiting: (sequence: UInt32, step: Int)?
    let skew: Int64 = 0
    unowned let world: Simulator

    init(world: Simulator, terminal id: TerminalID) throws {
        self.world = world
        self.id = id
        let issuer = try IssuerDatabase(
            path: world.dir + "/issuer.sqlite", journal: world.dir + "/\(id).sqlite", counterTerminal: id,
            operatorID: world.city.operator(ofTerminal: id)?.id.rawValue ?? 0)
        journal = issuer.journal
        counter = try ServiceCounter(city: world.city, terminal: id, keyset: world.keyset.restricted(to: [.load, .maintenance]), journal: IssuerCounterJournal(issuer))
        uploadKey = BatchFile.uploadKey(batchMaster: try world.keyset.masterKey(.batch), terminal: id)
    }

    func issue(_ card: SimCard, firstLoadFen: UInt32, at: Int64) throws {
        var channel = InProcessChannel(card: card.card)
        _ = try card.observe(terminal: id, at: at) {
            try counter.issue(&channel, cardType: .adult, at: BCDDateTime(secondsSinceEpoch: at), firstLoadFen: firstLoadFen)
        }
    }

    func load(_ card: SimCard, amountFen: UInt32, at: Int64, tearAt: Int?, responseLost: Bool) throws -> String {
        var channel = TearingChannel(card: card.card, cutAt: tearAt, responseLost: responseLost)
        do {
            let r = try card.observe(terminal: id, at: at) { try counter.load(&channel, amountFen: amountFen, at: BCDDateTime(secondsSinceEpoch: at)) }
            return "loaded, balance \(r.balanceAfterFen)"
        } catch is TearingChannel.Torn {
            return "torn"
        } catch let e as TerminalError {
            return "refused (\(e))"
        }
    }

    func sign(_ digest: [UInt8]) throws -> [UInt8] { BatchFile.mac(key: uploadKey, digest: digest) }
}
