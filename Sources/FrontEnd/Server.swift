public import City
import ClearingIngest
import Clearing
import Dispatch
import Foundation
import Hummingbird
import NIOCore
public import OneCardCore
public import OneCardCrypto
public import Storage
import UploadBatch

/// The clearing centre's front-end processor (前置机): terminals upload their batches over
/// HTTP and get an acknowledgement once the batch is cleared and durable (docs/frontend.md).
///
/// `PUT /v1/terminals/{terminal}/batches/{sequence}` with the batch file (`OCUB`) as the body.
/// The batch's own MAC, under the terminal's upload key, is the request's signature: a terminal
/// can upload only as itself (the path's terminal must be the header's, and the MAC must verify
/// under that terminal's key). Concurrent uploads are cleared together in one run and one
/// commit (group commit); each is answered only after that commit, so an acknowledged upload is
/// in the store, whatever happens to the server next.
public enum FrontEnd {
    /// Settings of `onecard serve`.
    public struct Options: Sendable {
        /// Address to listen on.
        public var host: String
        /// Port (0: any free port, reported by `onListening`).
        public var port: Int
        /// The largest request body taken (413 beyond it).
        public var uploadBytesMax: Int
        /// A connection idle this long is closed (a client that stops sending).
        public var idleTimeoutSeconds: Int64
        /// A fixed clearing clock for every receipt (replays, demos, tests); `nil`: the local
        /// wall clock.
        public var receivedAt: BCDDateTime?
        /// TLS (and mutual TLS with a client CA); `nil`: plain HTTP.
        public var tls: TLSFiles?
        /// The key the parameters are signed with; `nil`: `GET /v1/parameters…` answer 503.
        public var parameterKey: Ed25519.PrivateKey?

        /// The default body limit, 16 MiB: a batch of 131,000 records, more than a terminal's day
        /// (and what one request may make the server hold).
        public static let uploadBytesMaxDefault = 16 << 20

        /// The defaults: loopback, 16 MiB bodies, 30 s idle.
        public init(
            host: String = "127.0.0.1", port: Int = 8443, uploadBytesMax: Int = Options.uploadBytesMaxDefault, idleTimeoutSeconds: Int64 = 30,
            receivedAt: BCDDateTime? = nil, tls: TLSFiles? = nil, parameterKey: Ed25519.PrivateKey? = nil
        ) {
            self.parameterKey = parameterKey
            self.host = host
            self.port = port
            self.uploadBytesMax = uploadBytesMax
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.receivedAt = receivedAt
            self.tls = tls
        }
    }

    /// Serves until SIGINT or SIGTERM (graceful: requests in flight are answered first).
    /// `onListening` gets `host:port` once the socket is bound.
    public static func serve(
        store: ClearingStore, city: City, keys: ClearingKeys, options: Options, onListening: @escaping @Sendable (String) -> Void
    ) async throws {
        let fixed = options.receivedAt
        let clock: @Sendable () -> BCDDateTime = { fixed ?? LocalClock.now() }
        let metrics = FrontEndMetrics()
        let desk = try UploadDesk(store: store, city: city, keys: keys, clock: clock, metrics: metrics)
        let router = Router()
        router.get("health") { _, _ in
            try json(.ok, ["status": "ok"])
        }
        router.get("metrics") { _, _ in
            var buffer = ByteBuffer()
            buffer.writeBytes(metrics.text())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: buffer))
        }
        let parameters = options.parameterKey.map { ParameterDesk(store: store, city: city, key: $0, clock: clock) }
        func serving(_ kind: String, _ body: @escaping @Sendable (ParameterDesk, Request, BasicRequestContext) async throws -> Response)
            -> @Sendable (Request, BasicRequestContext) async throws -> Response {
            { request, context in
                guard let parameters else {
                    return try json(.serviceUnavailable, ["error": "parameters are not served: start onecard serve with --parameter-key"])
                }
                let response = try await body(parameters, request, context)
                metrics.parameterRequest(kind: kind, status: Int(response.status.code))
                return response
            }
        }
        router.get("v1/parameters", use: serving("index") { desk, request, _ in try await desk.index(request) })
        router.get("v1/parameters/city/:version", use: serving("city") { desk, request, context in
            try await desk.city(request, version: context.parameters.get("version"))
        })
        router.get("v1/parameters/hotlist", use: serving("hotlist") { desk, request, _ in try await desk.hotlist(request) })
        router.put("v1/terminals/:terminal/batches/:sequence") { request, context in
            let (response, bytes) = try await upload(request, context, desk: desk, limit: options.uploadBytesMax)
            metrics.answered(status: Int(response.status.code), bytes: bytes)
            // One line an upload: the terminal, the batch, the answer; no card number is logged,
            // and only parsed values (a path is the client's text).
            context.logger.info("upload", metadata: [
                "terminal": .string(context.parameters.get("terminal").flatMap { TerminalID(hex: $0)?.description } ?? "invalid"),
                "sequence": .string(context.parameters.get("sequence").flatMap { UInt32($0)?.description } ?? "invalid"),
                "status": .stringConvertible(response.status.code), "bytes": .stringConvertible(bytes),
            ])
            return response
        }
        let app = Application(
            router: router,
            server: try serverBuilder(options),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "onecard-frontend"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                onListening("\(options.host):\(port)")
            }
        )
        try await app.runService()
    }

    /// One upload: checked against its path, cleared with whatever else is waiting, answered.
    static func upload(_ request: Request, _ context: BasicRequestContext, desk: UploadDesk, limit: Int) async throws -> (Response, Int) {
        var received = 0
        let response = try await answer(request, context, desk: desk, limit: limit, received: &received)
        return (response, received)
    }

    /// The answer to one upload; `received` gets the body's length.
    static func answer(_ request: Request, _ context: BasicRequestContext, desk: UploadDesk, limit: Int, received: inout Int) async throws -> Response {
        guard let terminalText = context.parameters.get("terminal"), let terminal = TerminalID(hex: terminalText) else {
            return try json(.badRequest, ["error": "the path's terminal must be 12 hex digits"])
        }
        guard let sequenceText = context.parameters.get("sequence"), let sequence = UInt32(sequenceText) else {
            return try json(.badRequest, ["error": "the path's batch sequence must be a decimal number below 2^32"])
        }
        let name = "\(terminal)/\(sequence)"
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            return try json(.contentTooLarge, ["error": "\(name): the body is larger than \(limit) bytes (--upload-bytes-max): split the batch"])
        }
        let bytes = Array(body.readableBytesView)
        received = bytes.count
        let header: BatchHeader
        do {
            header = try BatchFile.peekHeader(bytes, file: name)
        } catch {
            return try json(.badRequest, ["error": error.description])
        }
        guard header.terminal == terminal else {
            return try json(.forbidden, ["error": "\(name): the batch is terminal \(header.terminal)'s: a terminal can upload only as itself"])
        }
        guard header.sequence == sequence else {
            return try json(.badRequest, ["error": "\(name): the batch's header says sequence \(header.sequence)"])
        }
        let result: Ingestor.UploadResult, next: UInt32
        do {
            (result, next) = try await desk.submit(Ingestor.Upload(name: name, bytes: bytes), terminal: terminal)
        } catch {
            // Nothing of the run was stored: the terminal keeps the batch and sends it again. The
            // cause (which names the database) goes to the log, not to the client.
            context.logger.error("clearing run not committed", metadata: ["upload": .string(name), "error": .string("\(error)")])
            return try json(.serviceUnavailable, ["error": "\(name): not stored (the clearing run could not be committed): send it again"])
        }
        switch result {
        case .cleared(let outcome, let replayed):
            return try json(.ok, Acknowledgement(outcome, replayed: replayed, next: next))
        case .conflict(let why):
            return try json(.conflict, ["error": why])
        case .refused(let refusal):
            return try json(refusal.kind == .malformed ? .badRequest : .forbidden, ["error": refusal.reason])
        }
    }

    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var buffer = ByteBuffer()
        buffer.writeBytes(try encoder.encode(value))
        buffer.writeInteger(UInt8(ascii: "\n"))
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}

/// The answer to a cleared upload (docs/frontend.md).
struct Acknowledgement: Encodable {
    var terminal: String
    var sequence: UInt32
    /// `cleared` (posted now) or `replayed` (the same bytes came before: the first outcome).
    var status: String
    var records: Int
    var accepted: Int
    var acceptedAmountFen: Int64
    /// Refused records by code (`01`…`07`).
    var refused: [String: Int]
    /// The batch sequence the centre expects next from this terminal.
    var nextSequence: UInt32

    init(_ o: BatchOutcome, replayed: Bool, next: UInt32) {
        terminal = o.terminal
        sequence = o.sequence
        status = replayed ? "replayed" : "cleared"
        records = o.records
        accepted = o.accepted
        acceptedAmountFen = o.acceptedAmountFen
        refused = o.refused
        nextSequence = next
    }
}

/// Clears uploads on a queue of its own (SQLite is blocking): what arrives while a run is
/// committed waits, and goes into the next run together (group commit).
final class UploadDesk: @unchecked Sendable {
    /// The most uploads one run takes.
    static let uploadsPerRunMax = 512
    private let ingestor: Ingestor
    private let queue = DispatchQueue(label: "onecard.frontend.clearing")
    private let lock = NSLock()
    /// Guarded by `lock`.
    private var waiting: [(Ingestor.Upload, CheckedContinuation<(Ingestor.UploadResult, UInt32), any Error>, UInt64, TerminalID)] = []
    private var draining = false
    /// The clearing clock a run's receipts are stamped with.
    private let clock: @Sendable () -> BCDDateTime
    private let metrics: FrontEndMetrics

    init(store: ClearingStore, city: City, keys: ClearingKeys, clock: @escaping @Sendable () -> BCDDateTime, metrics: FrontEndMetrics) throws {
        ingestor = try Ingestor(store: store, city: city, keys: keys)
        self.clock = clock
        self.metrics = metrics
    }

    /// Clears an upload (with whatever else is waiting) and returns its result and the
    /// terminal's next expected sequence, once the run is committed.
    func submit(_ upload: Ingestor.Upload, terminal: TerminalID) async throws -> (Ingestor.UploadResult, UInt32) {
        try await withCheckedThrowingContinuation { continuation in
            let start = lock.withLock {
                waiting.append((upload, continuation, DispatchTime.now().uptimeNanoseconds, terminal))
                metrics.setWaiting(waiting.count)
                defer { draining = true }
                return !draining
            }
            if start { queue.async { self.drain() } }
        }
    }

    private func drain() {
        while true {
            let group = lock.withLock {
                let g = Array(waiting.prefix(Self.uploadsPerRunMax))
                waiting.removeFirst(g.count)
                metrics.setWaiting(waiting.count)
                if g.isEmpty { draining = false }
                return g
            }
            guard !group.isEmpty else { return }
            do {
                let results = try ingestor.clear(group.map(\.0), received: clock())
                let oldest = group.map(\.2).min() ?? DispatchTime.now().uptimeNanoseconds
                metrics.run(results, oldestWaitNanoseconds: DispatchTime.now().uptimeNanoseconds - oldest)
                for (k, item) in group.enumerated() {
                    // The terminal the handler read off the header, not parsed again here.
                    item.1.resume(returning: (results[k], ingestor.nextSequence(terminal: item.3)))
                }
            } catch {
                for item in group { item.1.resume(throwing: error) }
            }
        }
    }
}
