import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL

extension FrontEnd {
    /// TLS for `onecard serve` (docs/frontend.md, "TLS"): the server's certificate chain and key
    /// (PEM), and optionally the CA whose certificates the terminals must present (mutual TLS:
    /// a client without a certificate that CA signed is refused in the handshake).
    public struct TLSFiles: Sendable {
        public var certificateChain: String
        public var privateKey: String
        public var clientCA: String?

        public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCA = clientCA
        }

        /// The NIOSSL server configuration: TLS 1.2 at the least.
        func configuration() throws -> TLSConfiguration {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateChain).map { NIOSSLCertificateSource.certificate($0) }
            guard !chain.isEmpty else { throw ServerSetupError("\(certificateChain) holds no PEM certificate") }
            let key = try NIOSSLPrivateKey(file: privateKey, format: .pem)
            var c = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            c.minimumTLSVersion = .tlsv12
            if let clientCA {
                c.trustRoots = .file(clientCA)
                // The terminal's certificate must chain to the CA; a terminal is no host name.
                c.certificateVerification = .noHostnameVerification
            }
            return c
        }
    }

    /// Why the server could not be set up.
    public struct ServerSetupError: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    static func serverBuilder(_ options: Options) throws -> HTTPServerBuilder {
        let http = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(options.idleTimeoutSeconds)))
        guard let tls = options.tls else { return http }
        do {
            return try .tls(http, tlsConfiguration: try tls.configuration())
        } catch let e as ServerSetupError {
            throw e
        } catch {
            throw ServerSetupError("TLS: cannot use \(tls.certificateChain) and \(tls.privateKey)\(tls.clientCA.map { " with the client CA \($0)" } ?? ""): \(error)")
        }
    }
}
