import OneCardCore

extension CityValidator {
    func terminals(_ list: [CityFileDTO.TerminalDTO], _ ops: [OperatorID: Operator], _ bus: [LineID: BusLine],
                   _ metro: MetroNetwork?) throws(CityFileError) -> [TerminalID: Terminal] {
        _ = try number(Int64(list.count), "$.terminals", 0...Int64(Self.terminalsMax))
        var out: [TerminalID: Terminal] = [:]
        out.reserveCapacity(list.count)
        for (i, t) in list.enumerated() {
            let p = "$.terminals[\(i)]"
            guard let id = TerminalID(hex: t.id) else { throw fail(p + ".id", .invalidValue("\"\(t.id)\" is not 12 hex digits")) }
            guard out[id] == nil else { throw fail(p + ".id", .duplicateTerminal(id)) }
            let op = try operatorRef(t.operator, p + ".operator", ops, kind: nil)
            let location = try location(t, p, op, bus, metro)
            out[id] = Terminal(id: id, operatorID: op.id, location: location)
        }
        return out
    }

    /// The one location key of a terminal, checked against its operator and the lines.
    func location(_ t: CityFileDTO.TerminalDTO, _ p: String, _ op: Operator, _ bus: [LineID: BusLine],
                  _ metro: MetroNetwork?) throws(CityFileError) -> TerminalLocation {
        let given: [Any?] = [t.bus, t.metroGate, t.taxi, t.gasCounter, t.serviceCounter, t.topUpAgent]
        let count = given.count { $0 != nil }
        guard count == 1 else { throw fail(p, .terminalLocationCount(count)) }
        let loc: TerminalLocation
        if let b = t.bus {
            let line = try recordCode(b.line, p + ".bus.line")
            guard let busLine = bus[line] else { throw fail(p + ".bus.line", .unknownLine(line)) }
            guard busLine.operatorID == op.id else {
                throw fail(p + ".bus.line", .invalidValue("line \(line) is run by operator \(busLine.operatorID), not \(op.id)"))
            }
            loc = .bus(line: line, vehicle: try text(b.vehicle, p + ".bus.vehicle"))
        } else if let g = t.metroGate {
            loc = try gate(g, p + ".metroGate", metro)
        } else if let x = t.taxi {
            loc = .taxi(vehicle: try text(x.vehicle, p + ".taxi.vehicle"))
        } else if let g = t.gasCounter {
            loc = .gasCounter(counter: try text(g.counter, p + ".gasCounter.counter"))
        } else if let s = t.serviceCounter {
            loc = .serviceCounter(name: try text(s.name, p + ".serviceCounter.name"))
        } else if let a = t.topUpAgent {
            loc = .topUpAgent(name: try text(a.name, p + ".topUpAgent.name"))
        } else {
            throw fail(p, .terminalLocationCount(0))
        }
        guard loc.operatorKind == op.kind else {
            throw fail(p + ".operator", .operatorKindMismatch(op.id, expected: loc.operatorKind, found: op.kind))
        }
        return loc
    }

    func gate(_ g: CityFileDTO.GateAt, _ p: String, _ metro: MetroNetwork?) throws(CityFileError) -> TerminalLocation {
        let lineID = try recordCode(g.line, p + ".line")
        let station = try recordCode(g.station, p + ".station")
        guard let line = metro?.line(lineID) else { throw fail(p + ".line", .unknownLine(lineID)) }
        guard line.stations.contains(where: { $0.id == station }) else {
            throw fail(p + ".station", .unknownStation(station, line: lineID))
        }
        return .metroGate(line: lineID, station: station)
    }
}
