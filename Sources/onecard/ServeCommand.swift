import ArgumentParser
import ClearingIngest
import Foundation
import OneCardCore
import OneCardCrypto
import FrontEnd

/// `onecard serve`: the front-end processor terminals upload to (docs/frontend.md).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the front-end: terminals PUT their upload batches over HTTP and get an acknowledgement once cleared and durable.",
        discussion: """
            PUT /v1/terminals/{terminal}/batches/{sequence} with the batch file as the body: 200 with the \
            acknowledgement (records accepted, refused by code, the next expected sequence) after the run that \
            cleared it is committed; the same bytes again get the same acknowledgement; other bytes for the same \
            sequence 409; a body that is not the path's terminal's batch 400 or 403; a body over the batch \
            size 413. GET /v1/parameters (the signed index of versions), GET /v1/parameters/city/{version}, \
            GET /v1/parameters/hotlist[?since=N] (the full list or a delta, OCHL) with --parameter-key. GET /health, /metrics. Prints `listening on HOST:PORT` once the socket is bound. SIGINT or SIGTERM \
            stops it after the requests in flight.
            """)

    @OptionGroup var database: ClearingCommand.Database
    @Option(help: "Clearing keyset with masterKeys.tac and masterKeys.batch; repeat it for each key version still in use.")
    var keys: [String]
    @Option(help: "HOST:PORT to listen on (port 0: any free port).")
    var listen = "127.0.0.1:8443"
    @Option(help: "Seconds a connection may stay idle before it is closed.")
    var idleTimeout: Int64 = 30
    @Option(help: "The largest upload body taken, in bytes (413 beyond it).")
    var uploadBytesMax = FrontEnd.Options.uploadBytesMaxDefault
    @Option(help: "A fixed clearing clock for every receipt, YYYY-MM-DDTHH:MM:SS (replays and demos; default: the local clock).")
    var receivedAt: String?
    @Option(help: "TLS: the server's certificate chain (PEM). With --tls-key.")
    var tlsCertificate: String?
    @Option(help: "TLS: the server's private key (PEM).")
    var tlsKey: String?
    @Option(help: "Mutual TLS: the CA (PEM) whose certificates terminals must present.")
    var tlsClientCA: String?
    @Option(help: "The Ed25519 private key (PEM, openssl genpkey -algorithm ed25519) the parameters are signed with; without it GET /v1/parameters… answer 503.")
    var parameterKey: String?

    func validate() throws {
        guard Self.hostPort(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, got \(listen)") }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive") }
        if let receivedAt, BCDDateTime(iso: receivedAt) == nil { throw ValidationError("--received-at must be YYYY-MM-DDTHH:MM:SS") }
        guard (tlsCertificate == nil) == (tlsKey == nil) else { throw ValidationError("--tls-certificate and --tls-key go together") }
        guard tlsClientCA == nil || tlsCertificate != nil else { throw ValidationError("--tls-client-ca needs --tls-certificate and --tls-key") }
        guard (1...BatchReader.fileBytesMax).contains(uploadBytesMax) else { throw ValidationError("--upload-bytes-max must be 1…\(BatchReader.fileBytesMax)") }
    }

    static func hostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        return host.isEmpty ? nil : (host, port)
    }

    func run() throws {
        try reporting {
            let (store, city) = try database.open()
            let clearingKeys = try ClearingKeys(paths: keys)
            guard let (host, port) = Self.hostPort(listen) else { throw CLIError("--listen must be HOST:PORT") }
            let signing = try parameterKey.map { path in
                guard let pem = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read --parameter-key \(path)") }
                return try Ed25519.PrivateKey(pem: Array(pem), source: path)
            }
            let options = FrontEnd.Options(
                host: host, port: port, uploadBytesMax: uploadBytesMax, idleTimeoutSeconds: idleTimeout,
                receivedAt: receivedAt.flatMap { BCDDateTime(iso: $0) },
                tls: tlsCertificate.map { FrontEnd.TLSFiles(certificateChain: $0, privateKey: tlsKey ?? "", clientCA: tlsClientCA) },
                parameterKey: signing)
            // The other commands are synchronous: this one waits here for the server's task.
            let done = DispatchSemaphore(value: 0)
            let outcome = Outcome()
            nonisolated(unsafe) let (s, c) = (store, city)
            Task.detached {
                do {
                    try await FrontEnd.serve(store: s, city: c, keys: clearingKeys, options: options) { address in
                        print("listening on \(address)")
                        flushOutput()
                    }
                } catch {
                    outcome.error = error
                }
                done.signal()
            }
            done.wait()
            if let e = outcome.error { throw e }
        }
    }

    /// The server task's error, read after it ended.
    final class Outcome: @unchecked Sendable { var error: (any Error)? }
}
