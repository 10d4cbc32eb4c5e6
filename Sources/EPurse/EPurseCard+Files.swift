import OneCardCore
import OneCardCrypto

/// Selection, file access, PIN and secure messaging.
extension EPurseCard {
    func select(_ c: CommandAPDU, _ s: CardState) -> ResponseAPDU {
        guard c.p1 == 0x04, c.p2 == 0x00 else { return .sw(.incorrectP1P2) }
        session.pending = nil
        if c.data == PurseApplication.ppseName {
            session.selection = .ppse
            return .ok(ppseFCI())
        }
        guard c.data == PurseApplication.purseAID else {
            session.selection = .none
            return .sw(.fileNotFound)
        }
        session.selection = .purse
        let fci = tlv(0x6F, tlv(0x84, PurseApplication.purseAID) + tlv(0xA5, tlv(0x9F0C, s.issuerInfo)))
        return ResponseAPDU(data: fci, status: s.blocked == .none ? .success : .selectedFileInvalidated)
    }

    private func ppseFCI() -> [UInt8] {
        let entry = tlv(0x61, tlv(0x4F, PurseApplication.purseAID) + tlv(0x50, PurseApplication.label) + tlv(0x87, [0x01]))
        return tlv(0x6F, tlv(0x84, PurseApplication.ppseName) + tlv(0xA5, tlv(0xBF0C, entry)))
    }

    func readBinary(_ c: CommandAPDU, _ s: CardState) -> ResponseAPDU {
        guard session.selection == .purse else { return .sw(.conditionsOfUseNotSatisfied) }
        guard c.data.isEmpty, let le = c.le else { return .sw(.wrongLength) }
        guard c.p1 & 0x80 != 0, c.p1 & 0x60 == 0 else { return .sw(.incorrectP1P2) }
        let sfi = c.p1 & 0x1F
        if PurseApplication.recordFiles[sfi] != nil { return .sw(.commandIncompatible) }
        guard let file = binaryFile(sfi, s) else { return .sw(.fileNotFound) }
        let offset = Int(c.p2)
        guard offset < file.count else { return .sw(.wrongP1P2) }
        let available = file.count - offset
        if le == 256 || le == available { return .ok(Array(file[offset...])) }
        if le < available { return .ok(Array(file[offset..<offset + le])) }
        return .sw(StatusWord(sw1: 0x6C, sw2: UInt8(available)))
    }

    func readRecord(_ c: CommandAPDU, _ s: CardState) -> ResponseAPDU {
        guard session.selection == .purse else { return .sw(.conditionsOfUseNotSatisfied) }
        guard c.data.isEmpty, let le = c.le else { return .sw(.wrongLength) }
        guard c.p2 & 0x07 == 0x04, c.p1 != 0 else { return .sw(.incorrectP1P2) }
        let sfi = c.p2 >> 3
        if binaryFile(sfi, s) != nil { return .sw(.commandIncompatible) }
        guard let layout = PurseApplication.recordFiles[sfi] else { return .sw(.fileNotFound) }
        let records = recordFile(sfi, s)
        let n = Int(c.p1)
        guard n <= records.count else { return .sw(.recordNotFound) }
        let record = records[n - 1]
        if le == 256 || le == layout.recordBytes { return .ok(record) }
        return .sw(StatusWord(sw1: 0x6C, sw2: UInt8(layout.recordBytes)))
    }

    func binaryFile(_ sfi: UInt8, _ s: CardState) -> [UInt8]? {
        switch sfi {
        case PurseApplication.issuerInfoSFI: s.issuerInfo
        case PurseApplication.holderSFI: s.holderFile
        case PurseApplication.managementSFI: s.managementFile
        default: nil
        }
    }

    func recordFile(_ sfi: UInt8, _ s: CardState) -> [[UInt8]] {
        switch sfi {
        case PurseApplication.transactionLogSFI: s.transactionLog.map(\.bytes)
        case PurseApplication.tripLogSFI: s.tripLog
        case PurseApplication.compoundCacheSFI: s.compoundCache.map { [$0] } ?? []
        default: []
        }
    }

    func getChallenge(_ c: CommandAPDU) -> ResponseAPDU {
        guard c.p1 == 0, c.p2 == 0 else { return .sw(.incorrectP1P2) }
        guard c.data.isEmpty, c.le == 4 || c.le == 8 else { return .sw(.wrongLength) }
        let challenge = random()
        session.challenge = challenge
        var out: [UInt8] = []
        out.appendBigEndian(challenge)
        if c.le == 8 { out.appendBigEndian(random()) }
        return .ok(out)
    }

    func verifyPIN(_ c: CommandAPDU, _ s: inout CardState) -> ResponseAPDU {
        guard session.selection == .purse else { return .sw(.conditionsOfUseNotSatisfied) }
        guard c.p1 == 0, c.p2 == 0 else { return .sw(.incorrectP1P2) }
        guard (2...6).contains(c.data.count), c.le == nil else { return .sw(.wrongLength) }
        if s.blocked != .none { return .sw(.applicationBlockedPermanently) }
        guard s.pinTriesRemaining > 0 else { return .sw(.authenticationMethodBlocked) }
        if ConstantTime.equal(c.data, s.pin) {
            s.pinTriesRemaining = CardState.pinTriesMaxDefault
            session.pinVerified = true
            return .ok()
        }
        s.pinTriesRemaining -= 1
        session.pinVerified = false
        return .sw(StatusWord(sw1: 0x63, sw2: 0xC0 | UInt8(s.pinTriesRemaining)))
    }

    /// UPDATE BINARY with secure messaging (`04 D6`): the last 4 data bytes are a MAC under the
    /// maintenance key over the header and the data (spec §4). The application serial
    /// (file 0x15 bytes [10..19]) never changes: keys are diversified from it.
    func updateBinarySecure(_ c: CommandAPDU, _ s: inout CardState) -> ResponseAPDU {
        guard session.selection == .purse else { return .sw(.conditionsOfUseNotSatisfied) }
        let challenge = session.challenge
        session.challenge = nil
        guard c.le == nil, c.data.count > 4 else { return .sw(.wrongLength) }
        guard c.p1 & 0xE0 == 0x80 else { return .sw(.incorrectP1P2) }
        guard let challenge else { return .sw(.conditionsOfUseNotSatisfied) }
        let payload = Array(c.data.dropLast(4))
        guard macMatches(c, payload: payload, challenge: challenge, s) else { return .sw(.macInvalid) }
        if s.blocked != .none { return .sw(.applicationBlockedPermanently) }
        let sfi = c.p1 & 0x1F
        guard var file = binaryFile(sfi, s) else { return .sw(.fileNotFound) }
        let offset = Int(c.p2)
        guard offset + payload.count <= file.count else { return .sw(.wrongLength) }
        file.replaceSubrange(offset..<offset + payload.count, with: payload)
        switch sfi {
        case PurseApplication.issuerInfoSFI:
            guard file[10..<20] == s.issuerInfo[10..<20] else { return .sw(.conditionsOfUseNotSatisfied) }
            guard IssuerInfo(bytes: file) != nil else { return .sw(.incorrectData) }
            s.issuerInfo = file
        case PurseApplication.holderSFI: s.holderFile = file
        default: s.managementFile = file
        }
        return .ok()
    }

    /// APPLICATION BLOCK `84 1E 00 P2 04 MAC`: P2 `00` blocks until unblocked, `01` for good.
    func applicationBlock(_ c: CommandAPDU, _ s: inout CardState) -> ResponseAPDU {
        guard session.selection == .purse else { return .sw(.conditionsOfUseNotSatisfied) }
        let challenge = session.challenge
        session.challenge = nil
        guard c.p1 == 0, c.p2 <= 1 else { return .sw(.incorrectP1P2) }
        guard c.data.count == 4, c.le == nil else { return .sw(.wrongLength) }
        guard let challenge else { return .sw(.conditionsOfUseNotSatisfied) }
        guard macMatches(c, payload: [], challenge: challenge, s) else { return .sw(.macInvalid) }
        if s.blocked != .permanent { s.blocked = c.p2 == 1 ? .permanent : .temporary }
        session.pending = nil
        return .ok()
    }

    /// APPLICATION UNBLOCK `84 18 00 00 04 MAC`: lifts a temporary block.
    func applicationUnblock(_ c: CommandAPDU, _ s: inout CardState) -> ResponseAPDU {
        guard session.selection == .purse else { return .sw(.conditionsOfUseNotSatisfied) }
        let challenge = session.challenge
        session.challenge = nil
        guard c.p1 == 0, c.p2 == 0 else { return .sw(.incorrectP1P2) }
        guard c.data.count == 4, c.le == nil else { return .sw(.wrongLength) }
        guard let challenge else { return .sw(.conditionsOfUseNotSatisfied) }
        guard macMatches(c, payload: [], challenge: challenge, s) else { return .sw(.macInvalid) }
        switch s.blocked {
        case .none: return .sw(.conditionsOfUseNotSatisfied)
        case .permanent: return .sw(.applicationBlockedPermanently)
        case .temporary: s.blocked = .none
        }
        return .ok()
    }

    private func macMatches(_ c: CommandAPDU, payload: [UInt8], challenge: UInt32, _ s: CardState) -> Bool {
        guard let given = c.data.suffix(4).bigEndianInteger(count: 4) else { return false }
        let expected = TripleDESPurse.secureMessagingMAC(
            damk: s.keys.damk, challenge: challenge, cla: c.cla, ins: c.ins, p1: c.p1, p2: c.p2, data: payload)
        return UInt32(given) == expected
    }
}

/// BER-TLV with one- or two-byte tags and short or `81` lengths (FCI sizes stay below 256).
func tlv(_ tag: UInt16, _ value: [UInt8]) -> [UInt8] {
    var out: [UInt8] = tag > 0xFF ? [UInt8(tag >> 8), UInt8(tag & 0xFF)] : [UInt8(tag)]
    if value.count > 127 { out.append(0x81) }
    out.append(UInt8(value.count))
    return out + value
}
