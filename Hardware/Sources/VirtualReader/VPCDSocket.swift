#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where vpcd listens. Debian's vpcd entry listens on port 35963 for slot 0
/// (`Virtual PCD 00 00`) and 35964 for slot 1 (`Virtual PCD 00 01`).
public struct VPCDEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// An IPv4 address in dotted form.
    public var host: String
    /// The TCP port.
    public var port: UInt16

    /// An endpoint.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Slot 0, `Virtual PCD 00 00`.
    public static let slot0 = VPCDEndpoint(host: "127.0.0.1", port: 35963)
    /// Slot 1, `Virtual PCD 00 01` (for a SAM later).
    public static let slot1 = VPCDEndpoint(host: "127.0.0.1", port: 35964)

    /// Parses `HOST:PORT`; `nil` when malformed.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            return nil
        }
        self.init(host: String(text[..<colon]), port: port)
    }

    /// `HOST:PORT`.
    public var description: String { "\(host):\(port)" }
}

/// Why the virtual reader stopped or could not start.
public enum VirtualReaderError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed (`call`, `errno`).
    case system(call: String, errno: Int32)
    /// The host is not an IPv4 address.
    case badAddress(String)
    /// vpcd sent a message longer than ``VPCDConnection/messageBytesMax``.
    case messageTooLong(Int)
    /// vpcd did not accept the connection in time.
    case connectTimedOut(VPCDEndpoint)

    /// A sentence for the operator.
    public var description: String {
        switch self {
        case .system(let call, let e): "\(call) failed: \(String(cString: strerror(e)))"
        case .badAddress(let host): "not an IPv4 address: \(host)"
        case .messageTooLong(let n): "vpcd sent a \(n)-byte message"
        case .connectTimedOut(let endpoint): "vpcd at \(endpoint) did not answer (is pcscd running with vpcd?)"
        }
    }
}

/// The one funnel for socket calls: retries `EINTR`, throws ``VirtualReaderError/system(call:errno:)``.
@discardableResult
func sys<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(VirtualReaderError) -> T {
    while true {
        let rv = body()
        if rv >= 0 { return rv }
        if errno == EINTR { continue }
        throw .system(call: call, errno: errno)
    }
}

/// One TCP connection to vpcd, speaking its framing: a 2-byte big-endian length, then the
/// payload. Owns the socket and closes it in `deinit` (closing = card removed).
final class VPCDConnection {
    /// The largest message: an extended APDU and its response fit in 65 535 bytes.
    static let messageBytesMax = Int(UInt16.max)
    /// How long a receive waits before checking whether to stop.
    static let pollSliceMilliseconds: Int32 = 100

    /// No SIGPIPE when vpcd has gone: the error comes back as EPIPE instead.
    #if os(Linux)
    static let sendFlags = Int32(MSG_NOSIGNAL)
    #else
    static let sendFlags: Int32 = 0  // Darwin: SO_NOSIGPIPE is set on the socket instead
    #endif

    let fd: Int32
    private let lowLatency: Bool
    private var header = [UInt8](repeating: 0, count: 2)
    private var outgoing: [UInt8] = []

    /// Connects to `endpoint`, with TCP_NODELAY set when `lowLatency`.
    init(endpoint: VPCDEndpoint, lowLatency: Bool = true) throws(VirtualReaderError) {
        self.lowLatency = lowLatency
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = endpoint.port.bigEndian
        guard inet_pton(AF_INET, endpoint.host, &address.sin_addr) == 1 else { throw .badAddress(endpoint.host) }
        #if os(Linux)
        let fd = try sys("socket") { socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0) }
        #else
        let fd = try sys("socket") { socket(AF_INET, SOCK_STREAM, 0) }
        #endif
        self.fd = fd
        #if !os(Linux)
        try Self.setOption(fd, SOL_SOCKET, SO_NOSIGPIPE, "SO_NOSIGPIPE")
        #endif
        if lowLatency { try Self.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, "TCP_NODELAY") }
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try sys("connect") {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
            }
        }
    }

    deinit { close(fd) }

    private static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ label: String) throws(VirtualReaderError) {
        var on: Int32 = 1
        try sys("setsockopt(\(label))") {
            setsockopt(fd, level, name, &on, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Ends the connection from any thread: a blocked receive returns end-of-stream.
    func shutdownBoth() { _ = shutdown(fd, Int32(SHUT_RDWR)) }

    /// Waits for the next message; `nil` when vpcd closed the connection or `shouldStop`
    /// said so between polls.
    func receive(shouldStop: () -> Bool) throws(VirtualReaderError) -> [UInt8]? {
        guard try waitReadable(shouldStop: shouldStop) else { return nil }
        guard try readExactly(into: &header, count: 2) else { return nil }
        let length = Int(header[0]) << 8 | Int(header[1])
        var payload = [UInt8](repeating: 0, count: length)
        guard try readExactly(into: &payload, count: length) else { return nil }
        return payload
    }

    /// Sends length and payload in one `send` (two writes would meet Nagle + delayed ACK).
    func sendMessage(_ payload: [UInt8]) throws(VirtualReaderError) {
        guard payload.count <= Self.messageBytesMax else { throw .messageTooLong(payload.count) }
        outgoing.removeAll(keepingCapacity: true)
        outgoing.append(UInt8(payload.count >> 8))
        outgoing.append(UInt8(payload.count & 0xFF))
        outgoing += payload
        var sent = 0
        while sent < outgoing.count {
            let n = try sys("send") {
                outgoing.withUnsafeBytes { raw -> Int in
                    guard let base = raw.baseAddress else { return 0 }
                    return send(fd, base + sent, raw.count - sent, Self.sendFlags)
                }
            }
            sent += n
        }
    }

    /// Re-arms TCP_QUICKACK (Linux clears it after each ACK) so vpcd's two-write messages
    /// are acknowledged at once, then polls in slices until readable.
    private func waitReadable(shouldStop: () -> Bool) throws(VirtualReaderError) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            if shouldStop() { return false }
            try armQuickACK()
            let ready = try sys("poll") { poll(&pfd, 1, Self.pollSliceMilliseconds) }
            if ready > 0 { return true }
        }
    }

    /// Linux turns quick ACKs off again after each ACK: re-arm before every receive.
    private func armQuickACK() throws(VirtualReaderError) {
        #if os(Linux)
        if lowLatency { try Self.setOption(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, "TCP_QUICKACK") }
        #endif
    }

    /// Reads exactly `count` bytes (short reads happen); `false` at end of stream.
    private func readExactly(into buffer: inout [UInt8], count: Int) throws(VirtualReaderError) -> Bool {
        var got = 0
        while got < count {
            try armQuickACK()
            let n = try sys("recv") {
                buffer.withUnsafeMutableBytes { raw -> Int in
                    guard let base = raw.baseAddress else { return 0 }
                    return recv(fd, base + got, count - got, 0)
                }
            }
            if n == 0 { return false }
            got += n
        }
        return true
    }
}
