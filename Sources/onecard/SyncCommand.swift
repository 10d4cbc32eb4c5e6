import ArgumentParser
import Dispatch
import EPurse
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import FrontEnd
import OneCardCore
import OneCardCrypto
import OneCardPCSC
import Storage
import Terminal

extension TerminalCommand {
    /// `onecard terminal sync`: upload the journal to the front-end, then fetch the parameters.
    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload the journal's pending batches to onecard serve, then fetch the newest signed parameters.",
            discussion: """
                Each batch not yet acknowledged is signed by the terminal's PSAM and PUT to the front-end, oldest \
                first, then a new batch of the records not yet exported; a batch counts as uploaded only once the \
                200 acknowledgement came back (it is kept in the journal). Anything else stops the sync with the \
                server's reason and marks nothing: run sync again. Then, with --parameter-key, the hotlist store \
                is brought to the centre's version (a delta when it has one, else the full list) and the city file \
                in force is written to --city-out; a parameter whose signature does not verify is refused and \
                nothing is changed.
                """)

        @Option(help: "The terminal's journal (SQLite), or an issuer database for the service counter.")
        var journal: String
        @Option(help: "The reader slot holding this terminal's PSAM, which signs the batches.")
        var psamReader: String
        @Option(help: "The front-end, http://HOST:PORT.")
        var server: String
        @Option(help: "The centre's parameter public key (PEM): parameters are fetched and checked against it.")
        var parameterKey: String?
        @Option(help: "The terminal's hotlist store (OCHL): created or brought to the centre's version.")
        var hotlist: String?
        @Option(help: "Where to write the city file in force (only when it changed).")
        var cityOut: String?
        @Flag(help: "Also upload unresolved grey records as kind grey (clearing refuses them with code 04).")
        var includeGrey = false
        @Option(help: "The terminal clock for a new batch's header time, YYYY-MM-DDTHH:MM:SS (default: now).")
        var at: String?
        @Flag(help: "Print one JSON line.")
        var json = false

        func validate() throws {
            guard let url = URL(string: server), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ValidationError("--server must be http://HOST:PORT")
            }
            guard parameterKey != nil || (hotlist == nil && cityOut == nil) else {
                throw ValidationError("--hotlist and --city-out need --parameter-key: parameters are taken only when their signature verifies")
            }
        }

        struct Summary: Encodable {
            var terminal: String
            var batches: [Acknowledged] = []
            var hotlistVersion: UInt64?
            var hotlistCards: Int?
            var cityVersion: Int64?
            var cityChanged = false
        }

        struct Acknowledged: Codable {
            var sequence: UInt32
            var records: Int
            var accepted: Int
            var acceptedAmountFen: Int64
            var refused: [String: Int]
            var status: String
        }

        func run() throws {
            try reporting {
                let journal = try SQLiteJournal(existing: journal)
                let psam = try TerminalCommand.psam(in: psamReader, for: journal.terminal)
                let created = try at.map { text in
                    guard let t = BCDDateTime(iso: text) else { throw CLIError("--at must be YYYY-MM-DDTHH:MM:SS, got \(text)") }
                    return t
                } ?? localNow()
                let client = HTTPClient(base: server.hasSuffix("/") ? String(server.dropLast()) : server)
                var summary = Summary(terminal: journal.terminal.description)
                let version = psam.uploadKeyVersion
                while let upload = try journal.nextUpload(
                    sign: { try psam.signBatch(digest: $0, keyVersion: version) }, uploadKeyVersion: version, createdAt: created,
                    includeGrey: includeGrey) {
                    let name = "batch \(upload.sequence) of terminal \(journal.terminal)"
                    let answer = try client.send("PUT", "/v1/terminals/\(journal.terminal)/batches/\(upload.sequence)", body: upload.bytes)
                    guard answer.status == 200 else {
                        throw CLIError("\(name) was not acknowledged (HTTP \(answer.status): \(answer.errorText)); nothing is marked uploaded: run sync again")
                    }
                    guard let ack = try? JSONDecoder().decode(Acknowledged.self, from: answer.body), ack.sequence == upload.sequence else {
                        throw CLIError("\(name): the server's answer is not its acknowledgement; nothing is marked uploaded")
                    }
                    try journal.markAcknowledged(upload.sequence, acknowledgement: String(decoding: answer.body, as: UTF8.self))
                    summary.batches.append(ack)
                }
                if let parameterKey {
                    guard let pem = FileManager.default.contents(atPath: parameterKey) else { throw CLIError("cannot read --parameter-key \(parameterKey)") }
                    let key = try Ed25519.PublicKey(pem: Array(pem), source: parameterKey)
                    try fetchParameters(client, key: key, into: &summary)
                }
                report(summary)
            }
        }

        /// The index, then the hotlist and the city file when they are newer than what is here.
        private func fetchParameters(_ client: HTTPClient, key: Ed25519.PublicKey, into summary: inout Summary) throws {
            let answer = try client.send("GET", "/v1/parameters")
            let body = try checked(answer, kind: "index", key: key)
            guard let index = try? JSONDecoder().decode(Parameters.Index.self, from: Data(body)) else {
                throw CLIError("the parameter index from \(server) is not onecard-parameters/1 JSON")
            }
            if let hotlist {
                let local = FileManager.default.fileExists(atPath: hotlist) ? try HotlistStore(path: hotlist) : nil
                if let local, local.version >= index.hotlist.version {
                    summary.hotlistVersion = local.version
                    summary.hotlistCards = local.count
                } else {
                    let store = try updateHotlist(client, local: local, key: key)
                    summary.hotlistVersion = store.version
                    summary.hotlistCards = store.count
                }
            }
            if let cityOut, let version = index.city.inForce, let entry = index.city.versions.first(where: { $0.version == version }) {
                summary.cityVersion = version
                let current = FileManager.default.contents(atPath: cityOut).map { Hex.encode(SHA256Digest.hash(Array($0))) }
                if current != entry.sha256 {
                    let file = try checked(try client.send("GET", "/v1/parameters/city/\(version)"), kind: "city", key: key, version: UInt64(version))
                    guard Hex.encode(SHA256Digest.hash(file)) == entry.sha256 else {
                        throw CLIError("city version \(version) from \(server) is not the file its index lists: refused")
                    }
                    try AtomicFile.write(Data(file), to: cityOut)
                    summary.cityChanged = true
                }
            }
        }

        /// A delta from the local version when the centre has one, else the full list.
        private func updateHotlist(_ client: HTTPClient, local: HotlistStore?, key: Ed25519.PublicKey) throws -> HotlistStore {
            guard let hotlist else { preconditionFailure("called with --hotlist only") }
            if let local {
                let answer = try client.send("GET", "/v1/parameters/hotlist?since=\(local.version)")
                switch answer.status {
                case 200:
                    let delta = try checked(answer, kind: "hotlist", key: key)
                    let path = hotlist + ".delta"
                    try HotlistStore.writeAtomically(delta, to: path)
                    defer { unlink(path) }
                    try local.apply(deltaAt: path)
                    return local
                case 304:
                    return local
                case 409:
                    break  // The centre has no delta from this version: take the full list.
                default:
                    throw CLIError("GET hotlist since \(local.version) from \(server): HTTP \(answer.status) (\(answer.errorText))")
                }
            }
            let full = try checked(try client.send("GET", "/v1/parameters/hotlist"), kind: "hotlist", key: key)
            let header = try full.withUnsafeBytes { raw throws(HotlistStore.StoreError) in try HotlistStore.check(raw, path: "\(server) hotlist") }
            guard header.kind == .full else { throw CLIError("the hotlist from \(server) is not a full list: refused") }
            if let local, header.version <= local.version {
                throw CLIError("the hotlist from \(server) is version \(header.version), not newer than the store's \(local.version): refused")
            }
            try HotlistStore.writeAtomically(full, to: hotlist)
            return try HotlistStore(path: hotlist)
        }

        /// The body of a 200 whose signature verifies as `kind` (and `version`), or the reason.
        private func checked(_ answer: HTTPClient.Answer, kind: String, key: Ed25519.PublicKey, version: UInt64? = nil) throws -> [UInt8] {
            guard answer.status == 200 else { throw CLIError("GET \(kind) from \(server): HTTP \(answer.status) (\(answer.errorText))") }
            let body = Array(answer.body)
            switch Parameters.verify(body: body, parameter: answer.header("OneCard-Parameter"), signature: answer.header("OneCard-Signature"), kind: kind, key: key) {
            case .failure(let e):
                throw CLIError("\(kind) from \(server): \(e); nothing changed")
            case .success(let v):
                if let version, v != version { throw CLIError("\(kind) from \(server) is signed as version \(v), not \(version): refused") }
                return body
            }
        }

        private func report(_ s: Summary) {
            if json {
                printJSON(s)
                return
            }
            let records = s.batches.reduce(0) { $0 + $1.records }
            print("terminal \(s.terminal): \(s.batches.count) batch(es) acknowledged, \(records) records")
            for b in s.batches {
                let refused = b.refused.values.reduce(0, +)
                print("  batch \(b.sequence): \(b.status), \(b.accepted) accepted (\(Fen.yuan(b.acceptedAmountFen)) yuan), \(refused) refused")
            }
            if let v = s.hotlistVersion { print("hotlist version \(v), \(s.hotlistCards ?? 0) card(s)") }
            if let v = s.cityVersion { print("city version \(v) in force\(s.cityChanged ? ", written to \(cityOut ?? "")" : ", unchanged")") }
        }
    }

    /// The PSAM in a reader, checked to be this terminal's.
    static func psam(in reader: String, for terminal: TerminalID) throws -> PSAMModule {
        let psam: PSAMModule
        do {
            psam = try PSAMModule(channel: try ReaderAccess.card(in: reader, context: try PCSCContext()))
        } catch let e as TerminalError {
            throw CLIError("\(reader) does not hold a working PSAM (\(e)): insert terminal \(terminal)'s PSAM")
        }
        guard psam.terminal == terminal else {
            throw CLIError("the PSAM in \(reader) is terminal \(psam.terminal)'s, not \(terminal)'s: a terminal signs its batches with its own PSAM only")
        }
        return psam
    }
}

/// A small synchronous HTTP client over URLSession (the CLI is synchronous).
struct HTTPClient {
    let base: String
    let session = URLSession(configuration: .ephemeral)

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: Data

        func header(_ name: String) -> String? {
            headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
        }

        /// The server's `error` field, or the status's text.
        var errorText: String {
            if let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let e = o["error"] as? String { return e }
            return HTTPURLResponse.localizedString(forStatusCode: status)
        }
    }

    func send(_ method: String, _ path: String, body: [UInt8]? = nil) throws -> Answer {
        guard let url = URL(string: base + path) else { throw CLIError("\(base)\(path) is not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = 60
        if let body { request.httpBody = Data(body) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Data?, URLResponse?, (any Error)?) = (nil, nil, nil)
        session.dataTask(with: request) { data, response, error in
            result = (data, response, error)
            done.signal()
        }.resume()
        done.wait()
        guard let response = result.1 as? HTTPURLResponse else {
            throw CLIError("\(method) \(base)\(path): no answer (\(result.2.map { "\($0.localizedDescription)" } ?? "no response")): nothing is marked uploaded or changed; run sync again")
        }
        var headers: [String: String] = [:]
        for (k, v) in response.allHeaderFields { if let k = k as? String, let v = v as? String { headers[k] = v } }
        return Answer(status: response.statusCode, headers: headers, body: result.0 ?? Data())
    }
}
