import Foundation
import OneCardCore

/// A small card for the hardware tests: SELECT answers `9000`, GET BALANCE (`80 5C 00 02 04`)
/// a fixed balance. Other modes answer the way awkward real cards do. It records every
/// command so a test can prove what reached the card through pcscd.
final class TestCard: CardResponder, @unchecked Sendable {
    // @unchecked: mutated on the VirtualReader's serving thread; tests read it after the
    // exchange finished (pcscd's answer orders the two).

    enum Mode {
        /// SELECT → 9000, GET BALANCE → balance ‖ 9000.
        case purse
        /// Answers READ BINARY (`00 B0`) with `61 xx` chains served by GET RESPONSE.
        case chained(payload: [UInt8], chunk: Int)
        /// Answers READ BINARY with `6C xx` unless Le is exactly `payload.count`.
        case wrongLe(payload: [UInt8])
        /// Answers everything with `61 01` forever.
        case endlessMoreData
        /// Like `.purse`, but INS `EE` takes `delay` before answering.
        case slow(delay: Duration)
    }

    static let defaultATR: [UInt8] = [0x3B, 0x8A, 0x80, 0x01, 0x4F, 0x4E, 0x45, 0x43, 0x41, 0x52, 0x44, 0x54, 0x45, 0x53]

    let atr: [UInt8]
    var mode: Mode
    var balanceFen: UInt32
    private(set) var commands: [[UInt8]] = []
    private(set) var resets = 0
    private var pending: [UInt8] = []

    init(mode: Mode = .purse, balanceFen: UInt32 = 12_345, atr: [UInt8] = TestCard.defaultATR) {
        self.mode = mode
        self.balanceFen = balanceFen
        self.atr = atr
    }

    func reset() { resets += 1; pending = [] }
    func powerOff() { pending = [] }

    func respond(to command: [UInt8]) -> [UInt8] {
        commands.append(command)
        guard command.count >= 4 else { return [0x67, 0x00] }
        switch mode {
        case .purse: return purse(command)
        case .chained(let payload, let chunk): return chained(command, payload: payload, chunk: chunk)
        case .wrongLe(let payload): return wrongLe(command, payload: payload)
        case .endlessMoreData: return [0x61, 0x01]
        case .slow(let delay):
            if command[1] == 0xEE { Thread.sleep(forTimeInterval: seconds(delay)) }
            return purse(command)
        }
    }

    private func purse(_ c: [UInt8]) -> [UInt8] {
        switch (c[0], c[1]) {
        case (0x00, 0xA4): return [0x90, 0x00]
        case (0x80, 0x5C):
            var out: [UInt8] = []
            out.appendBigEndian(balanceFen)
            return out + [0x90, 0x00]
        case (_, 0xEE): return [0x90, 0x00]
        case (0x80, 0xE0):  // ECHO: returns the command data (extended APDUs included)
            return ((try? CommandAPDU(bytes: c))?.data ?? []) + [0x90, 0x00]
        default: return [0x6D, 0x00]
        }
    }

    private func chained(_ c: [UInt8], payload: [UInt8], chunk: Int) -> [UInt8] {
        if c[1] == 0xB0 { pending = payload }
        guard c[1] == 0xB0 || c[1] == 0xC0 else { return [0x6D, 0x00] }
        if c[1] == 0xB0 { return [0x61, UInt8(min(chunk, pending.count) & 0xFF)] }
        let n = min(chunk, pending.count)
        let part = Array(pending.prefix(n))
        pending.removeFirst(n)
        return part + (pending.isEmpty ? [0x90, 0x00] : [0x61, UInt8(min(chunk, pending.count) & 0xFF)])
    }

    private func wrongLe(_ c: [UInt8], payload: [UInt8]) -> [UInt8] {
        guard c[1] == 0xB0, c.count == 5 else { return [0x6D, 0x00] }
        return Int(c[4]) == payload.count ? payload + [0x90, 0x00] : [0x6C, UInt8(payload.count)]
    }
}
