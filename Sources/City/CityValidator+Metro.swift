import OneCardCore

extension CityValidator {
    func metroNetwork(_ m: CityFileDTO.MetroDTO, _ ops: [OperatorID: Operator], _ card: CardRules,
                      busLineIDs: Set<LineID>) throws(CityFileError) -> MetroNetwork {
        let op = try operatorRef(m.operator, "$.metro.operator", ops, kind: .metro)
        _ = try number(Int64(m.lines.count), "$.metro.lines", 1...Int64(Self.metroLinesMax))
        var lines: [MetroLine] = []
        for (i, l) in m.lines.enumerated() {
            let line = try metroLine(l, "$.metro.lines[\(i)]")
            if busLineIDs.contains(line.id) || lines.contains(where: { $0.id == line.id }) {
                throw fail("$.metro.lines[\(i)].line", .duplicateLine(line.id))
            }
            lines.append(line)
        }
        let bands = try fareBands(m.fareBands, card)
        let every = try number(m.beyondLastBand?.everyMetres.value ?? 0, "$.metro.beyondLastBand.everyMetres",
                               (m.beyondLastBand == nil ? 0 : 1)...Self.lineMetresMax)
        let add = try amount(m.beyondLastBand?.addFen.value ?? 0, "$.metro.beyondLastBand.addFen", 0...card.balanceFenMax)
        let (index, metres) = try distances(lines)
        var net = MetroNetwork(
            operatorID: op.id, lines: lines, fareBands: bands, beyondEveryMetres: every, beyondAddFen: add,
            staleEntryMinutesMax: Int(try number(m.staleEntryMinutesMax, "$.metro.staleEntryMinutesMax", 1...Self.staleEntryMinutesMax)),
            incompleteJourney: try policy(m.incompleteJourney, "$.metro.incompleteJourney"),
            entryTwice: try policy(m.entryTwice, "$.metro.entryTwice"),
            maxFareFen: 0, stationIndex: index, metresBetween: metres
        )
        net.maxFareFen = try amount(net.fareFen(forMetres: metres.max() ?? 0), "$.metro.fareBands", 0...card.balanceFenMax)
        return net
    }

    func metroLine(_ l: CityFileDTO.MetroLineDTO, _ p: String) throws(CityFileError) -> MetroLine {
        _ = try number(Int64(l.stations.count), p + ".stations", 2...Int64(Self.metroStationsMax))
        var stations: [Station] = []
        for (j, s) in l.stations.enumerated() {
            let sp = p + ".stations[\(j)]"
            let id = try recordCode(s.station, sp + ".station")
            guard !stations.contains(where: { $0.id == id }) else { throw fail(sp + ".station", .duplicateStation(id)) }
            let metres = try number(s.metres, sp + ".metres", 0...Self.lineMetresMax)
            if let prev = stations.last, metres <= prev.metres { throw fail(sp + ".metres", .unsortedStations) }
            stations.append(Station(id: id, name: try text(s.name, sp + ".name"), metres: metres))
        }
        return MetroLine(id: try recordCode(l.line, p + ".line"), name: try text(l.name, p + ".name"), stations: stations)
    }

    func fareBands(_ list: [CityFileDTO.BandDTO], _ card: CardRules) throws(CityFileError) -> [FareBand] {
        _ = try number(Int64(list.count), "$.metro.fareBands", 1...Int64(Self.fareBandsMax))
        var out: [FareBand] = []
        for (i, b) in list.enumerated() {
            let p = "$.metro.fareBands[\(i)]"
            let band = FareBand(metresMax: try number(b.metresMax, p + ".metresMax", 0...Self.lineMetresMax * Int64(Self.metroLinesMax)),
                                fareFen: try amount(b.fareFen, p + ".fareFen", 0...card.balanceFenMax))
            if let prev = out.last, band.metresMax <= prev.metresMax || band.fareFen < prev.fareFen {
                throw fail(p, .unsortedFareBands)
            }
            out.append(band)
        }
        return out
    }

    /// All-pairs shortest track distances (Floyd–Warshall over at most `metroStationsMax`
    /// stations; adjacent stations on a line are joined by their difference in metres).
    func distances(_ lines: [MetroLine]) throws(CityFileError) -> ([StationID: Int], [Int64]) {
        var index: [StationID: Int] = [:]
        var ids: [StationID] = []
        for s in lines.flatMap(\.stations) where index[s.id] == nil {
            index[s.id] = ids.count
            ids.append(s.id)
        }
        let n = ids.count
        _ = try number(Int64(n), "$.metro.lines", 2...Int64(Self.metroStationsMax))
        let none = Int64.max
        var d = [Int64](repeating: none, count: n * n)
        for i in 0..<n { d[i * n + i] = 0 }
        for line in lines {
            for (a, b) in zip(line.stations, line.stations.dropFirst()) {
                // Both ids were indexed above.
                let i = index[a.id] ?? 0, j = index[b.id] ?? 0, w = b.metres - a.metres
                d[i * n + j] = min(d[i * n + j], w)
                d[j * n + i] = min(d[j * n + i], w)
            }
        }
        for k in 0..<n {
            for i in 0..<n where d[i * n + k] != none {
                for j in 0..<n where d[k * n + j] != none && d[i * n + k] + d[k * n + j] < d[i * n + j] {
                    d[i * n + j] = d[i * n + k] + d[k * n + j]
                }
            }
        }
        if let gap = d.firstIndex(of: none) {
            throw fail("$.metro.lines", .disconnectedMetro(ids[gap / n], ids[gap % n]))
        }
        return (index, d)
    }
}
