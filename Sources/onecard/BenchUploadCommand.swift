import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import UploadBatch

/// `onecard bench-upload` (hidden): the load client of docs/performance.md, "The front-end":
/// uploads every batch file of a directory to `onecard serve` with bounded concurrency, each
/// terminal's batches in sequence order, and reports uploads/s, records/s and the
/// acknowledgement latencies.
struct BenchUploadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-upload",
        abstract: "Upload a directory of batch files to onecard serve with bounded concurrency and report throughput and latency.",
        shouldDisplay: false)

    @Option(help: "The server, http://HOST:PORT.")
    var server: String
    @Option(help: "Uploads in flight at once.")
    var concurrency = 64
    @Option(help: "Append `TERMINAL/SEQUENCE STATUS` to this file for each acknowledged upload, as it arrives (for fault tests).")
    var acks: String?
    @Argument(help: "Batch files (.ocub), or directories of them.")
    var paths: [String]

    func validate() throws {
        guard (1...4096).contains(concurrency) else { throw ValidationError("--concurrency must be 1…4096") }
        guard URL(string: server)?.host != nil else { throw ValidationError("--server must be http://HOST:PORT") }
    }

    struct Upload {
        var terminal: String
        var sequence: UInt32
        var bytes: Data
        var records: Int
    }

    func run() throws {
        try reporting {
            var files: [String] = []
            for p in paths {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { throw CLIError("\(p) does not exist") }
                if isDir.boolValue {
                    files += try FileManager.default.contentsOfDirectory(atPath: p).filter { $0.hasSuffix(".ocub") && !$0.contains("-truncated") }
                        .sorted().map { p + "/" + $0 }
                } else {
                    files.append(p)
                }
            }
            // Each terminal's batches in sequence order, one terminal's upload at a time: a
            // terminal sends its next batch after the acknowledgement of the one before.
            var byTerminal: [String: [Upload]] = [:]
            for f in files {
                let data = try Data(contentsOf: URL(fileURLWithPath: f))
                let header = try BatchFile.peekHeader(Array(data), file: f)
                let records = max(0, (data.count - BatchHeader.byteCount - BatchFile.trailerBytes) / BatchRecord.byteCount)
                byTerminal[header.terminal.description, default: []].append(Upload(terminal: header.terminal.description, sequence: header.sequence, bytes: data, records: records))
            }
            let queues = byTerminal.keys.sorted().map { t in byTerminal[t]!.sorted { $0.sequence < $1.sequence } }
            let results = Results(count: files.count)
            let ackLog: FileHandle? = try acks.map { path in
                if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
                guard let h = FileHandle(forWritingAtPath: path) else { throw CLIError("cannot write \(path)") }
                h.seekToEndOfFile()
                return h
            }
            let ackLock = NSLock()
            let next = Counter()
            let session = URLSession(configuration: .ephemeral)
            let base = server
            let began = DispatchTime.now().uptimeNanoseconds
            // `concurrency` workers, each taking the next terminal and uploading its batches.
            let group = DispatchGroup()
            for _ in 0..<min(concurrency, queues.count) {
                group.enter()
                Thread.detachNewThread {
                    while let k = next.take(below: queues.count) {
                        for u in queues[k] {
                            var request = URLRequest(url: URL(string: "\(base)/v1/terminals/\(u.terminal)/batches/\(u.sequence)")!)
                            request.httpMethod = "PUT"
                            request.httpBody = u.bytes
                            request.timeoutInterval = 120
                            let t0 = DispatchTime.now().uptimeNanoseconds
                            let done = DispatchSemaphore(value: 0)
                            nonisolated(unsafe) var status = 0
                            nonisolated(unsafe) var accepted = 0
                            nonisolated(unsafe) var amount = 0
                            nonisolated(unsafe) var outcome = ""
                            session.dataTask(with: request) { data, response, _ in
                                status = (response as? HTTPURLResponse)?.statusCode ?? 0
                                if let data, let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                                    accepted = o["accepted"] as? Int ?? 0
                                    amount = o["acceptedAmountFen"] as? Int ?? 0
                                    outcome = o["status"] as? String ?? ""
                                }
                                done.signal()
                            }.resume()
                            done.wait()
                            if status == 200, let ackLog {
                                ackLock.withLock { ackLog.write(Data("\(u.terminal)/\(u.sequence) \(outcome)\n".utf8)) }
                            }
                            results.add(status: status, records: u.records, accepted: accepted, amountFen: amount, nanoseconds: DispatchTime.now().uptimeNanoseconds - t0)
                        }
                    }
                    group.leave()
                }
            }
            group.wait()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            let r = results.snapshot()
            let latencies = r.latencies.sorted()
            func percentile(_ p: Double) -> Double { latencies.isEmpty ? 0 : Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1e6 }
            let statuses = r.statuses.keys.sorted().map { "\"\($0)\":\(r.statuses[$0]!)" }.joined(separator: ",")
            print(String(format: "{\"uploads\":%d,\"terminals\":%d,\"records\":%d,\"accepted\":%d,\"acceptedAmountFen\":%d,\"seconds\":%.2f,\"uploadsPerSecond\":%.0f,\"recordsPerSecond\":%.0f,\"p50Ms\":%.1f,\"p99Ms\":%.1f,\"maxMs\":%.1f,\"concurrency\":%d,\"statuses\":{%@}}",
                         latencies.count, queues.count, r.records, r.accepted, r.amountFen, seconds, Double(latencies.count) / seconds, Double(r.records) / seconds,
                         percentile(0.50), percentile(0.99), percentile(1.0), concurrency, statuses))
            if r.statuses.keys.contains(where: { $0 != 200 }) { throw ExitCode(1) }
        }
    }

    /// Hands out indexes to the workers.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func take(below n: Int) -> Int? {
            lock.withLock {
                guard value < n else { return nil }
                defer { value += 1 }
                return value
            }
        }
    }

    /// What the workers measured.
    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var latencies: [UInt64] = []
        private var statuses: [Int: Int] = [:]
        private var records = 0
        private var accepted = 0
        private var amountFen = 0
        init(count: Int) { latencies.reserveCapacity(count) }
        func add(status: Int, records: Int, accepted: Int, amountFen: Int, nanoseconds: UInt64) {
            lock.withLock {
                latencies.append(nanoseconds)
                statuses[status, default: 0] += 1
                self.records += records
                self.accepted += accepted
                self.amountFen += amountFen
            }
        }
        func snapshot() -> (latencies: [UInt64], statuses: [Int: Int], records: Int, accepted: Int, amountFen: Int) {
            lock.withLock { (latencies, statuses, records, accepted, amountFen) }
        }
    }
}
