import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Storage
import Testing
import UploadBatch
import StoreTestSupport

/// `onecard serve` as a terminal meets it: a real process on a real socket.
@Suite("the front-end over HTTP (onecard serve)", .serialized)
struct FrontEndTests {
    /// A running server and the port it bound.
    final class Server {
        let process: Process
        let port: Int
        init(_ binary: String, db: String, keys: String, extra: [String] = []) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["serve", "--db", db, "--keys", keys, "--listen", "127.0.0.1:0"] + extra
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The first line says where it listens.
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = out.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                line += chunk
            }
            let text = String(decoding: line, as: UTF8.self)
            guard let p = text.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
                process.terminate()
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "serve printed \(text)"])
            }
            port = p
        }
        /// SIGKILL: no graceful anything.
        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        deinit { if process.isRunning { kill9() } }
    }

    /// PUT (or GET without a body) on the server; status and body as text.
    func request(_ port: Int, _ method: String, _ path: String, _ body: [UInt8]? = nil) throws -> (Int, String) {
        let (status, _, bytes) = try exchange(port, method, path, body: body)
        return (status, String(decoding: bytes, as: UTF8.self))
    }

    func json(_ text: String) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }

    @Test("every batch of a day uploaded over HTTP is cleared and acknowledged; replays get the first answer, other bytes 409, bad bodies 4xx and nothing stored; acknowledged uploads survive kill -9")
    func uploadDay() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let keys = dir + "/keys.json"
            try runOnecard(binary, ["keys", "new", "--out", keys])
            // Yesterday: inside the upload window, and headers (yesterday 23:59:59) behind the clock.
            let yesterday = BCDDate(daysSinceEpoch: LocalClock.now().date.daysSinceEpoch - 1).description
            try runOnecard(binary, ["loadgen", "--city", TestPaths.city, "--keys", keys, "--cards", "300", "--taps", "3000", "--seed", "8",
                                    "--start-date", yesterday, "--out", dir + "/day", "--duplicates", "0.02", "--batch-records-max", "150"])
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            try runOnecard(binary, ["clearing", "terminals", "add", "--db", db, "--city", TestPaths.city, "--from-city"])
            let truth = json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/day/ground-truth.json")), as: UTF8.self))
            let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/day/batches").sorted()
            #expect(names.count > 20)
            @Sendable func parts(_ name: String) -> (String, String) {
                let stem = name.replacingOccurrences(of: ".ocub", with: "").split(separator: "-")
                return (String(stem[0]), String(Int(stem[1])!))
            }
            func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/day/batches/" + name))) }

            var server = try Server(binary, db: db, keys: keys)
            #expect(try request(server.port, "GET", "/health").0 == 200)
            // Half the day, a few uploads at a time (they share runs).
            let half = names.count / 2
            nonisolated(unsafe) var acks = [(Int, String)](repeating: (0, ""), count: names.count)
            let port = server.port
            let files = try names.map(bytes)
            let paths = names.map { name in parts(name) }.map { "/v1/terminals/\($0.0)/batches/\($0.1)" }
            let me = self
            DispatchQueue.concurrentPerform(iterations: half) { i in
                acks[i] = (try? me.request(port, "PUT", paths[i], files[i])) ?? (0, "")
            }
            #expect(acks[0..<half].allSatisfy { $0.0 == 200 }, "\(acks[0..<half].filter { $0.0 != 200 })")
            // Killed with no warning after those acknowledgements: they are in the store.
            server.kill9()
            server = try Server(binary, db: db, keys: keys)
            let (t0, s0) = parts(names[0])
            let again = try request(server.port, "PUT", "/v1/terminals/\(t0)/batches/\(s0)", files[0])
            #expect(again.0 == 200 && json(again.1)["status"] as? String == "replayed", "\(again)")
            #expect(json(again.1)["accepted"] as? Int == json(acks[0].1)["accepted"] as? Int)
            // The rest of the day.
            for i in half..<names.count {
                let (t, s) = parts(names[i])
                acks[i] = try request(server.port, "PUT", "/v1/terminals/\(t)/batches/\(s)", files[i])
            }
            #expect(acks.allSatisfy { $0.0 == 200 })
            let accepted = acks.reduce(0) { $0 + (json($1.1)["accepted"] as? Int ?? 0) }
            #expect(accepted == truth["accepted"] as? Int, "accepted over HTTP = the ground truth")
            let last = json(acks[names.count - 1].1)
            #expect(last["nextSequence"] as? Int == (last["sequence"] as? Int).map { $0 + 1 })

            // Hostile or broken bodies: each refused with its reason, nothing stored.
            let runsBefore = try TestBackend.open(db).runNumbers().count
            let (t, s) = parts(names[1])
            let good = files[1]
            #expect(try request(server.port, "PUT", "/v1/terminals/\(t)/batches/\(s)", Array(good.prefix(good.count - 7))).0 == 400, "truncated")
            #expect(try request(server.port, "PUT", "/v1/terminals/\(t)/batches/\(s)", Array(repeating: 0x41, count: 500)).0 == 400, "garbage")
            #expect(try request(server.port, "PUT", "/v1/terminals/\(t)/batches/\(s)", []).0 == 400, "empty")
            #expect(try request(server.port, "PUT", "/v1/terminals/\(t)/batches/\(Int(s)! + 50)", good).0 == 400, "another sequence")
            let other = names.map(parts).first { $0.0 != t }!.0
            let foreign = try request(server.port, "PUT", "/v1/terminals/\(other)/batches/\(s)", good)
            #expect(foreign.0 == 403 && foreign.1.contains("only as itself"), "\(foreign)")
            var tampered = good
            tampered[100] ^= 0x01
            #expect(try request(server.port, "PUT", "/v1/terminals/\(t)/batches/\(s)", tampered).0 == 403, "a MAC that does not verify")
            #expect(try request(server.port, "PUT", "/v1/terminals/\(t)/batches/notanumber", good).0 == 400)
            #expect(try request(server.port, "PUT", "/v1/terminals/XYZ/batches/\(s)", good).0 == 400)
            // The same sequence with other bytes, properly signed by the terminal: a conflict.
            let keyset = try Keyset.load(path: keys)
            var batch = try BatchFile.decode(good, file: "b", key: BatchFile.uploadKey(batchMaster: try keyset.masterKey(.batch), terminal: TerminalID(hex: t)!))
            batch.records.removeLast()
            let resigned = batch.encode(key: BatchFile.uploadKey(batchMaster: try keyset.masterKey(.batch), terminal: TerminalID(hex: t)!))
            let conflict = try request(server.port, "PUT", "/v1/terminals/\(t)/batches/\(s)", resigned)
            #expect(conflict.0 == 409, "\(conflict)")
            // What the server counted (this process: the second half of the day and the bad bodies).
            let (metricsStatus, text) = try request(server.port, "GET", "/metrics")
            #expect(metricsStatus == 200)
            func value(_ line: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last!) }
            }
            #expect(value("onecard_uploads_total{status=\"409\"}") == 1, "\(text)")
            #expect(value("onecard_uploads_total{status=\"403\"}") == 2)
            #expect(value("onecard_uploads_total{status=\"400\"}") == 6, "truncated, garbage, empty, another sequence, two bad paths")
            #expect((value("onecard_uploads_total{status=\"200\"}") ?? 0) == Double(names.count - half + 1))
            let acceptedHere = acks[half...].reduce(0) { $0 + (json($1.1)["accepted"] as? Int ?? 0) }
            #expect(value("onecard_records_accepted_total") == Double(acceptedHere), "replays are not counted again")
            #expect(value("onecard_clearing_waiting_uploads") == 0)
            server.kill9()
            // Oversized: a server with a small limit.
            server = try Server(binary, db: db, keys: keys, extra: ["--upload-bytes-max", "4096"])
            let big = try request(server.port, "PUT", "/v1/terminals/\(t)/batches/\(s)", Array(repeating: 0, count: 100_000))
            #expect(big.0 == 413 && big.1.contains("--upload-bytes-max"), "\(big)")
            #expect(try request(server.port, "GET", "/health").0 == 200, "the server is still up")
            server.kill9()
            // The conflict is recorded (in a run that posted nothing); nothing else was stored.
            #expect(try TestBackend.open(db).runNumbers().count == runsBefore + 1)
            let conflicts = try runOnecard(binary, ["clearing", "conflicts", "--db", db, "--json"])
            #expect(conflicts.contains(t), "the conflict is listed for an officer")
        }
    }
}

extension FrontEndTests {
    @Test("a client that stops sending mid-body is cut off after the idle timeout, and the server keeps serving")
    func slowClient() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let keys = dir + "/keys.json"
            try runOnecard(binary, ["keys", "new", "--out", keys])
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            try runOnecard(binary, ["clearing", "terminals", "add", "--db", db, "--city", TestPaths.city, "--from-city"])
            let server = try Server(binary, db: db, keys: keys, extra: ["--idle-timeout", "1"])
            defer { server.kill9() }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #expect(fd >= 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(server.port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            #expect(connected == 0)
            let head = "PUT /v1/terminals/710001000001/batches/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nOCUB"
            _ = head.withCString { send(fd, $0, strlen($0), 0) }
            // Then nothing: the server must close the connection by itself.
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let began = Date()
            var buffer = [UInt8](repeating: 0, count: 4096)
            var n = 0
            repeat { n = recv(fd, &buffer, buffer.count, 0) } while n > 0
            let waited = Date().timeIntervalSince(began)
            #expect(n == 0, "the server closed the connection (recv returned \(n), errno \(errno))")
            #expect(waited < 4.5, "closed after the 1 s idle timeout, not the client's 5 s (\(waited) s)")
            #expect(try request(server.port, "GET", "/health").0 == 200)
        }
    }
}

extension FrontEndTests {
    @Test("kill -9 at random moments while terminals upload: once every batch is acknowledged, each was cleared exactly once, the ledger holds and the totals are the ground truth")
    func killNineUnderLoad() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let keys = dir + "/keys.json"
            try runOnecard(binary, ["keys", "new", "--out", keys])
            let yesterday = BCDDate(daysSinceEpoch: LocalClock.now().date.daysSinceEpoch - 1).description
            try runOnecard(binary, ["loadgen", "--city", TestPaths.city, "--keys", keys, "--cards", "400", "--taps", "8000", "--seed", "21",
                                    "--start-date", yesterday, "--out", dir + "/day", "--duplicates", "0.01", "--forged-tac", "0.01",
                                    "--batch-records-max", "40"])
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            try runOnecard(binary, ["clearing", "terminals", "add", "--db", db, "--city", TestPaths.city, "--from-city"])
            let truth = json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/day/ground-truth.json")), as: UTF8.self))
            var rng = SystemRandomNumberGenerator()
            var kills = 0, interrupted = 0
            // Terminals upload everything (a batch already cleared is answered `replayed`); the
            // server is killed part-way, restarted, and the terminals send again.
            func acks() -> Int {
                ((try? Data(contentsOf: URL(fileURLWithPath: dir + "/acks.txt"))) ?? Data()).reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
            }
            for pass in 0..<6 {
                let server = try Server(binary, db: db, keys: keys)
                let client = Process()
                client.executableURL = URL(fileURLWithPath: binary)
                client.arguments = ["bench-upload", "--server", "http://127.0.0.1:\(server.port)", "--concurrency", "8",
                                    "--acks", dir + "/acks.txt", dir + "/day/batches"]
                client.standardOutput = FileHandle.nullDevice
                client.standardError = FileHandle.nullDevice
                try client.run()
                // Every other pass the kill lands after this pass's first acknowledgement (a slow
                // machine would otherwise kill every pass before any); the others, at any moment.
                if pass % 2 == 0 {
                    let before = acks(), deadline = Date().addingTimeInterval(20)
                    while acks() == before, client.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
                }
                Thread.sleep(forTimeInterval: Double(UInt64.random(in: 50...600, using: &rng)) / 1000)
                server.kill9()
                kills += 1
                client.waitUntilExit()
                if client.terminationStatus != 0 { interrupted += 1 }
            }
            // The last pass, nothing killed: every batch acknowledged, with its first outcome.
            let server = try Server(binary, db: db, keys: keys)
            let final = try runOnecardStatus(binary, ["bench-upload", "--server", "http://127.0.0.1:\(server.port)", "--concurrency", "8",
                                                      "--acks", dir + "/final.txt", dir + "/day/batches"])
            server.kill9()
            // No acknowledged upload was lost: every batch acknowledged before a kill is answered
            // `replayed` now, none is cleared afresh.
            func lines(_ file: String) throws -> [String] {
                String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data(), as: UTF8.self).split(separator: "\n").map(String.init)
            }
            let acknowledged = Set(try lines(dir + "/acks.txt").map { String($0.split(separator: " ")[0]) })
            let finalStatus = Dictionary(try lines(dir + "/final.txt").map { ($0.split(separator: " ").map(String.init)[0], $0.split(separator: " ").map(String.init)[1]) },
                                         uniquingKeysWith: { a, _ in a })
            #expect(!acknowledged.isEmpty, "some uploads were acknowledged before a kill")
            #expect(acknowledged.allSatisfy { finalStatus[$0] == "replayed" }, "an acknowledged batch was cleared again: \(acknowledged.filter { finalStatus[$0] != "replayed" }.prefix(5))")
            #expect(final.status == 0, "every batch acknowledged at last: \(final.out)")
            let report = json(final.out)
            #expect(report["accepted"] as? Int == truth["accepted"] as? Int, "each batch cleared once: \(final.out)")
            #expect(kills == 6)
            #expect(interrupted > 0, "at least one kill landed while uploads were in flight")
            let check = try runOnecardStatus(binary, ["clearing", "check", "--db", db])
            #expect(check.status == 0 && check.out.contains("ledger OK"), "\(check.out)")
        }
    }
}

extension FrontEndTests {
    /// Checks a JSON value against a schema of docs/openapi.json: the subset it uses (object,
    /// required, properties, string, integer, enum, pattern, minimum, maximum,
    /// additionalProperties, $ref).
    static func violations(_ value: Any, _ schema: [String: Any], _ components: [String: Any], at path: String = "$") -> [String] {
        if let ref = schema["$ref"] as? String, let name = ref.split(separator: "/").last {
            return violations(value, components[String(name)] as? [String: Any] ?? [:], components, at: path)
        }
        if let types = schema["type"] as? [String] {
            // A union such as ["string", "null"].
            if value is NSNull { return types.contains("null") ? [] : ["\(path) is null"] }
            var one = schema
            one["type"] = types.first { $0 != "null" }
            return violations(value, one, components, at: path)
        }
        var out: [String] = []
        switch schema["type"] as? String {
        case "array":
            guard let a = value as? [Any] else { return ["\(path) is not an array"] }
            if let items = schema["items"] as? [String: Any] {
                for (i, v) in a.enumerated() { out += violations(v, items, components, at: "\(path)[\(i)]") }
            }
        case "object":
            guard let o = value as? [String: Any] else { return ["\(path) is not an object"] }
            for r in schema["required"] as? [String] ?? [] where o[r] == nil { out.append("\(path).\(r) is missing") }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (k, v) in o {
                if let p = properties[k] as? [String: Any] {
                    out += violations(v, p, components, at: "\(path).\(k)")
                } else if let extra = schema["additionalProperties"] as? [String: Any] {
                    out += violations(v, extra, components, at: "\(path).\(k)")
                } else if !properties.isEmpty {
                    out.append("\(path).\(k) is not in the schema")
                }
            }
        case "string":
            guard let text = value as? String else { return ["\(path) is not a string"] }
            if let e = schema["enum"] as? [String], !e.contains(text) { out.append("\(path) = \(text) is not one of \(e)") }
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                out.append("\(path) = \(text) does not match \(pattern)")
            }
        case "integer":
            // A JSON true/false is an NSNumber of type "c" (on Linux `is Bool` holds for 0 and 1 too).
            guard let n = value as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue == n.doubleValue.rounded() else {
                return ["\(path) is not an integer"]
            }
            if let min = schema["minimum"] as? Double, n.doubleValue < min { out.append("\(path) = \(n) is below \(min)") }
            if let max = schema["maximum"] as? Double, n.doubleValue > max { out.append("\(path) = \(n) is above \(max)") }
        default:
            break
        }
        return out
    }

    @Test("the running server answers as docs/openapi.json says: each documented route, each status it was made to give, each JSON body against its schema")
    func openAPI() throws {
        guard let binary = onecardBinary() else { return }
        let spec = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.root.appendingPathComponent("docs/openapi.json"))) as? [String: Any])
        let paths = try #require(spec["paths"] as? [String: Any])
        let components = (spec["components"] as? [String: Any])?["schemas"] as? [String: Any] ?? [:]
        try withTempDir { dir in
            let keys = dir + "/keys.json"
            try runOnecard(binary, ["keys", "new", "--out", keys])
            let yesterday = BCDDate(daysSinceEpoch: LocalClock.now().date.daysSinceEpoch - 1).description
            try runOnecard(binary, ["loadgen", "--city", TestPaths.city, "--keys", keys, "--cards", "50", "--taps", "400", "--seed", "4",
                                    "--start-date", yesterday, "--out", dir + "/day", "--batch-records-max", "100"])
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            try runOnecard(binary, ["clearing", "terminals", "add", "--db", db, "--city", TestPaths.city, "--from-city"])
            let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/day/batches").sorted()
            let file = try #require(names.first)
            let stem = file.replacingOccurrences(of: ".ocub", with: "").split(separator: "-")
            let (t, s) = (String(stem[0]), String(Int(stem[1])!))
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/day/batches/" + file)))
            let other = try #require(names.map { String($0.prefix(12)) }.first { $0 != t })
            let (pem, _) = try parameterKey(in: dir)
            let server = try Server(binary, db: db, keys: keys, extra: ["--upload-bytes-max", "1000000", "--parameter-key", pem])
            defer { server.kill9() }
            let keyset = try Keyset.load(path: keys)
            let uploadKey = BatchFile.uploadKey(batchMaster: try keyset.masterKey(.batch), terminal: TerminalID(hex: t)!)
            var changed = try BatchFile.decode(bytes, file: file, key: uploadKey)
            changed.records.removeLast()
            // (documented path, method, request path, body, the status it must give)
            let cases: [(String, String, String, [UInt8]?, Int)] = [
                ("/health", "get", "/health", nil, 200),
                ("/metrics", "get", "/metrics", nil, 200),
                ("/v1/terminals/{terminal}/batches/{sequence}", "put", "/v1/terminals/\(t)/batches/\(s)", bytes, 200),
                ("/v1/terminals/{terminal}/batches/{sequence}", "put", "/v1/terminals/\(t)/batches/\(s)", bytes, 200),
                ("/v1/terminals/{terminal}/batches/{sequence}", "put", "/v1/terminals/\(t)/batches/\(s)", Array(bytes.prefix(90)), 400),
                ("/v1/terminals/{terminal}/batches/{sequence}", "put", "/v1/terminals/\(other)/batches/\(s)", bytes, 403),
                ("/v1/terminals/{terminal}/batches/{sequence}", "put", "/v1/terminals/\(t)/batches/\(s)", changed.encode(key: uploadKey), 409),
                ("/v1/terminals/{terminal}/batches/{sequence}", "put", "/v1/terminals/\(t)/batches/\(s)", Array(repeating: 7, count: 1_500_000), 413),
            ]
            // The parameter routes, with the ETag an earlier answer gave.
            let tags = try ["/v1/parameters", "/v1/parameters/city/1", "/v1/parameters/hotlist"].map { try exchange(server.port, "GET", $0).1["etag"] ?? "" }
            let parameterCases: [(String, String, [String: String], Int)] = [
                ("/v1/parameters", "/v1/parameters", [:], 200),
                ("/v1/parameters", "/v1/parameters", ["If-None-Match": tags[0]], 304),
                ("/v1/parameters/city/{version}", "/v1/parameters/city/1", [:], 200),
                ("/v1/parameters/city/{version}", "/v1/parameters/city/1", ["If-None-Match": tags[1]], 304),
                ("/v1/parameters/city/{version}", "/v1/parameters/city/zero", [:], 400),
                ("/v1/parameters/city/{version}", "/v1/parameters/city/7", [:], 404),
                ("/v1/parameters/hotlist", "/v1/parameters/hotlist", [:], 200),
                ("/v1/parameters/hotlist", "/v1/parameters/hotlist", ["If-None-Match": tags[2]], 304),
                ("/v1/parameters/hotlist", "/v1/parameters/hotlist?since=1", [:], 304),
                ("/v1/parameters/hotlist", "/v1/parameters/hotlist?since=one", [:], 400),
                ("/v1/parameters/hotlist", "/v1/parameters/hotlist?since=5", [:], 409),
            ]
            var exercised: Set<String> = []
            for (template, path, headers, expected) in parameterCases {
                let (status, _, body) = try exchange(server.port, "GET", path, headers: headers)
                #expect(status == expected, "GET \(path): \(status)")
                let operation = (paths[template] as? [String: Any])?["get"] as? [String: Any]
                let documented = try #require(operation?["responses"] as? [String: Any], "get \(template) is documented")
                let response = try #require(documented[String(status)] as? [String: Any], "\(status) is documented for get \(template)")
                exercised.insert("get \(template) \(status)")
                if let schema = ((response["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any] {
                    let problems = Self.violations(try JSONSerialization.jsonObject(with: Data(body)), schema, components)
                    #expect(problems.isEmpty, "GET \(path) \(status): \(problems)")
                }
            }
            for (template, method, path, body, expected) in cases {
                let (status, text) = try request(server.port, method.uppercased(), path, body)
                #expect(status == expected, "\(method) \(path): \(status) \(text)")
                let operation = (paths[template] as? [String: Any])?[method] as? [String: Any]
                let documented = try #require(operation?["responses"] as? [String: Any], "\(method) \(template) is documented")
                let response = try #require(documented[String(status)] as? [String: Any], "\(status) is documented for \(method) \(template)")
                exercised.insert("\(method) \(template) \(status)")
                if let schema = ((response["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any] {
                    let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
                    let problems = Self.violations(value, schema, components)
                    #expect(problems.isEmpty, "\(method) \(path) \(status): \(problems)")
                }
            }
            // Every documented route was called; every documented status but 503 (a failed
            // commit) was produced.
            for (template, item) in paths {
                for (method, operation) in item as? [String: Any] ?? [:] {
                    for status in ((operation as? [String: Any])?["responses"] as? [String: Any] ?? [:]).keys where status != "503" {
                        #expect(exercised.contains("\(method) \(template) \(status)"), "\(method) \(template) \(status) was not exercised")
                    }
                }
            }
        }
    }
}

extension FrontEndTests {
    /// Runs a program (openssl, curl) to the end: exit status and standard output.
    func run(_ program: String, _ arguments: [String]) throws -> (Int32, String) {
        let r = try runOnecardStatus(program, arguments)
        return (r.status, r.out)
    }

    @Test("with TLS and a client CA, a terminal with a certificate the CA signed uploads over HTTPS; one without a certificate, or over plain HTTP, gets nothing")
    func mutualTLS() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let openssl = "/usr/bin/openssl", curl = "/usr/bin/curl"
            try #require(FileManager.default.isExecutableFile(atPath: openssl) && FileManager.default.isExecutableFile(atPath: curl),
                         "the TLS test needs openssl and curl (scripts/install-deps.sh installs them)")
            func ok(_ args: [String]) throws { #expect(try run(openssl, args).0 == 0, "openssl \(args.prefix(2))") }
            try ok(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem", "-days", "2", "-subj", "/CN=OneCard test CA"])
            try Data("subjectAltName=IP:127.0.0.1\n".utf8).write(to: URL(fileURLWithPath: dir + "/san.ext"))
            for (name, subject, ext) in [("server", "/CN=127.0.0.1", [dir + "/san.ext"]), ("terminal", "/CN=710001000001", [])] {
                try ok(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).csr", "-subj", subject])
                try ok(["x509", "-req", "-in", "\(dir)/\(name).csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-CAcreateserial",
                        "-out", "\(dir)/\(name).pem", "-days", "2"] + (ext.isEmpty ? [] : ["-extfile", ext[0]]))
            }
            let keys = dir + "/keys.json"
            try runOnecard(binary, ["keys", "new", "--out", keys])
            let yesterday = BCDDate(daysSinceEpoch: LocalClock.now().date.daysSinceEpoch - 1).description
            try runOnecard(binary, ["loadgen", "--city", TestPaths.city, "--keys", keys, "--cards", "30", "--taps", "200", "--seed", "5",
                                    "--start-date", yesterday, "--out", dir + "/day"])
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            try runOnecard(binary, ["clearing", "terminals", "add", "--db", db, "--city", TestPaths.city, "--from-city"])
            let server = try Server(binary, db: db, keys: keys, extra: [
                "--tls-certificate", dir + "/server.pem", "--tls-key", dir + "/server.key", "--tls-client-ca", dir + "/ca.pem"])
            defer { server.kill9() }
            let base = "https://127.0.0.1:\(server.port)"
            let terminal = ["--cacert", dir + "/ca.pem", "--cert", dir + "/terminal.pem", "--key", dir + "/terminal.key"]
            let health = try run(curl, ["-s", "-w", " %{http_code}"] + terminal + [base + "/health"])
            #expect(health.0 == 0 && health.1.hasSuffix(" 200"), "\(health)")
            let file = try #require(try FileManager.default.contentsOfDirectory(atPath: dir + "/day/batches").sorted().first)
            let stem = file.replacingOccurrences(of: ".ocub", with: "").split(separator: "-")
            let upload = try run(curl, ["-s", "-w", " %{http_code}", "-X", "PUT", "--data-binary", "@" + dir + "/day/batches/" + file] + terminal
                                       + ["\(base)/v1/terminals/\(stem[0])/batches/\(Int(stem[1])!)"])
            #expect(upload.0 == 0 && upload.1.hasSuffix(" 200") && upload.1.contains("\"status\":\"cleared\""), "\(upload)")
            // No client certificate: the handshake fails, no HTTP status at all.
            let anonymous = try run(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", dir + "/ca.pem", base + "/health"])
            #expect(anonymous.0 != 0 && anonymous.1 == "000", "\(anonymous)")
            // Plain HTTP to the TLS port: no answer either.
            let plain = try run(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", "http://127.0.0.1:\(server.port)/health"])
            #expect(plain.1 != "200", "\(plain)")
            // And the server still serves the terminal.
            #expect(try run(curl, ["-s", "-w", " %{http_code}"] + terminal + [base + "/health"]).1.hasSuffix(" 200"))
        }
    }
}
