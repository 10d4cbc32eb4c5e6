public import Storage

/// A `postgresql://` URL as the clearing commands take it with `--db`:
/// `postgresql://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DATABASE[?connect_timeout=S]`.
///
/// Several hosts name a primary and its standbys: the store connects to the first that
/// answers and is not in recovery (a primary), and does so again after a failover. The
/// password may also come from `PGPASSWORD`; it never appears in ``location``, nor where the
/// URL is printed.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var user: String
    public var password: String?
    public var hosts: [(host: String, port: Int)]
    public var database: String
    /// How long to keep trying the hosts for a primary before giving up (seconds).
    public var connectTimeout: Int

    /// Whether `text` asks for PostgreSQL (`postgresql://` or `postgres://`).
    public static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    /// Parses `text`; throws a message naming what is wrong (never echoing the password).
    public init(_ text: String, environment: [String: String] = [:]) throws(StorageError) {
        func bad(_ why: String) -> StorageError {
            .invalidLocation(option: "--db", reason: "not a PostgreSQL URL: \(why); write postgresql://USER@HOST:PORT/DATABASE")
        }
        guard let schemeEnd = text.range(of: "://"), Self.isPostgres(text) else { throw bad("it must begin with postgresql://") }
        var rest = Substring(text[schemeEnd.upperBound...])
        var query = ""
        if let q = rest.firstIndex(of: "?") { query = String(rest[rest.index(after: q)...]); rest = rest[..<q] }
        guard let slash = rest.firstIndex(of: "/") else { throw bad("no /DATABASE") }
        let authority = rest[..<slash]
        database = try Self.decode(String(rest[rest.index(after: slash)...])) ?? ""
        guard !database.isEmpty, !database.contains("/") else { throw bad("no database name after the hosts") }
        var hostList = Substring(authority)
        user = "postgres"
        password = environment["PGPASSWORD"]
        if let at = authority.lastIndex(of: "@") {
            let info = authority[..<at]
            hostList = authority[authority.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                user = try Self.decode(String(info[..<colon])) ?? ""
                password = try Self.decode(String(info[info.index(after: colon)...]))
            } else {
                user = try Self.decode(String(info)) ?? ""
            }
        }
        guard !user.isEmpty else { throw bad("an empty user name") }
        hosts = []
        for part in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            var host = String(part), port = 5432
            if let colon = part.lastIndex(of: ":") {
                host = String(part[..<colon])
                guard let p = Int(part[part.index(after: colon)...]), (1...65_535).contains(p) else { throw bad("port of \(host) is not 1 to 65535") }
                port = p
            }
            guard !host.isEmpty else { throw bad("an empty host") }
            hosts.append((host, port))
        }
        guard !hosts.isEmpty, hosts.count <= 16 else { throw bad("1 to 16 hosts") }
        connectTimeout = 10
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw bad("parameter \(kv[0]) without a value") }
            switch kv[0] {
            case "connect_timeout":
                guard let s = Int(kv[1]), (1...3600).contains(s) else { throw bad("connect_timeout must be 1 to 3600 seconds") }
                connectTimeout = s
            case "sslmode":
                guard kv[1] == "disable" else { throw bad("only sslmode=disable is supported (keep the server on a private network)") }
            case "target_session_attrs":
                guard kv[1] == "read-write" || kv[1] == "primary" else { throw bad("the clearing store always needs target_session_attrs=read-write") }
            default:
                throw bad("unknown parameter \(kv[0]) (connect_timeout, sslmode, target_session_attrs)")
            }
        }
    }

    public var description: String { location }
    public var debugDescription: String { location }

    /// The URL without its password, for messages and logs.
    public var location: String {
        "postgresql://\(user)@" + hosts.map { "\($0.host):\($0.port)" }.joined(separator: ",") + "/\(database)"
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.user == b.user && a.password == b.password && a.database == b.database && a.connectTimeout == b.connectTimeout
            && a.hosts.map(\.host) == b.hosts.map(\.host) && a.hosts.map(\.port) == b.hosts.map(\.port)
    }

    /// Percent-decoding; nil for nil.
    static func decode(_ s: String) throws(StorageError) -> String? {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else {
                    throw .invalidLocation(option: "--db", reason: "not a PostgreSQL URL: a bad %-escape; write postgresql://USER@HOST:PORT/DATABASE")
                }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
