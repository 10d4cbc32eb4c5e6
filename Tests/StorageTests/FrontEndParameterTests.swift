import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OneCardCore
import OneCardCrypto
import OneCardTestSupport
import Storage
import Terminal
import Testing
import StoreTestSupport

extension FrontEndTests {
    /// A request with headers; status, response headers (lower-cased names) and body bytes.
    func exchange(_ port: Int, _ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8]? = nil) throws -> (Int, [String: String], [UInt8]) {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        req.httpMethod = method
        if let body { req.httpBody = Data(body) }
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, [String: String], [UInt8]) = (0, [:], [])
        URLSession.shared.dataTask(with: req) { data, response, error in
            let http = response as? HTTPURLResponse
            var h: [String: String] = [:]
            for (k, v) in http?.allHeaderFields ?? [:] { if let k = k as? String, let v = v as? String { h[k.lowercased()] = v } }
            // No answer: the error's text as the body, for the test's message.
            result = (http?.statusCode ?? 0, h, data.map(Array.init) ?? Array("\(error.map { "\($0)" } ?? "")".utf8))
            done.signal()
        }.resume()
        done.wait()
        return result
    }

    /// Checks a parameter response as a terminal written from docs/frontend.md would: the
    /// `OneCard-Parameter` header, then the Ed25519 signature over
    /// `onecard-parameters/1 KIND VERSION SHA256HEX`.
    static func verifies(_ headers: [String: String], _ body: [UInt8], kind: String, version: UInt64, key: Ed25519.PublicKey) -> Bool {
        guard headers["onecard-parameter"] == "\(kind) \(version)", let sig = headers["onecard-signature"] else { return false }
        let fields = Dictionary(uniqueKeysWithValues: sig.split(separator: ";").compactMap { part -> (String, String)? in
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
        })
        guard fields["keyid"] == key.keyID, let s = fields["ed25519"].flatMap(Hex.decode) else { return false }
        let message = "onecard-parameters/1 \(kind) \(version) \(Hex.encode(SHA256Digest.hash(body)))"
        return key.verify(s, over: Array(message.utf8))
    }

    /// An Ed25519 key pair written by openssl: (private PEM path, public key).
    func parameterKey(in dir: String) throws -> (String, Ed25519.PublicKey) {
        let openssl = "/usr/bin/openssl"
        #expect(try run(openssl, ["genpkey", "-algorithm", "ed25519", "-out", dir + "/param.pem"]).0 == 0, "openssl genpkey (scripts/install-deps.sh installs openssl)")
        #expect(try run(openssl, ["pkey", "-in", dir + "/param.pem", "-pubout", "-out", dir + "/param.pub"]).0 == 0)
        let pub = try Ed25519.PublicKey(pem: Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/param.pub"))), source: "param.pub")
        return (dir + "/param.pem", pub)
    }

    @Test("parameters: a signed index of versions, every city version, the hotlist as a full list and as deltas that bring a store to the newest; ETags answer 304; bad requests 4xx; no key 503")
    func parameters() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let keys = dir + "/keys.json"
            try runOnecard(binary, ["keys", "new", "--out", keys])
            let db = try TestBackend.location(for: dir + "/c.sqlite")
            let cityBytes = try Data(contentsOf: URL(fileURLWithPath: TestPaths.city))
            try runOnecard(binary, ["clearing", "terminals", "add", "--db", db, "--city", TestPaths.city, "--from-city"])
            let store = try TestBackend.open(db)
            // A second city version in force from tomorrow: today's is still version 1.
            let tomorrow = BCDDate(daysSinceEpoch: LocalClock.now().date.daysSinceEpoch + 2)
            var second = cityBytes
            second.append(contentsOf: Array("\n".utf8))
            #expect(try store.addCity(second, effective: tomorrow) == 2)
            let serials = (1...500).map { CardSerial(rawValue: 0x3100_0000_0000_0000 &+ UInt64($0) &* 0x9E37_79B9) }
            try store.hotlistAdd(serials.map { ($0, 1_000) }, reason: "lost")
            let (pem, pub) = try parameterKey(in: dir)
            let server = try Server(binary, db: db, keys: keys, extra: ["--parameter-key", pem])
            defer { server.kill9() }

            // The index.
            let (status, headers, body) = try exchange(server.port, "GET", "/v1/parameters")
            #expect(status == 200)
            #expect(Self.verifies(headers, body, kind: "index", version: 0, key: pub), "\(headers)")
            let index = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            let city = try #require(index["city"] as? [String: Any])
            #expect(city["inForce"] as? Int == 1)
            #expect((city["versions"] as? [[String: Any]])?.map { $0["effective"] as? String } == [nil, tomorrow.description])
            let hotlistVersion = try #require((index["hotlist"] as? [String: Any])?["version"] as? Int)
            #expect(hotlistVersion == 501 && (index["hotlist"] as? [String: Any])?["cards"] as? Int == 500)
            #expect(index["signingKey"] as? String == pub.keyID)
            let etag = try #require(headers["etag"])
            #expect(try exchange(server.port, "GET", "/v1/parameters", headers: ["If-None-Match": etag]).0 == 304)

            // City versions: each signed as itself; a body moved under another version's header fails.
            let (s1, h1, c1) = try exchange(server.port, "GET", "/v1/parameters/city/1")
            let (s2, h2, c2) = try exchange(server.port, "GET", "/v1/parameters/city/2")
            #expect(s1 == 200 && s2 == 200 && c1 == Array(cityBytes) && c2 == Array(second))
            #expect(Self.verifies(h1, c1, kind: "city", version: 1, key: pub) && Self.verifies(h2, c2, kind: "city", version: 2, key: pub))
            #expect(!Self.verifies(h1, c2, kind: "city", version: 1, key: pub), "a signature binds the body")
            var relabelled = h2
            relabelled["onecard-parameter"] = "city 1"
            #expect(!Self.verifies(relabelled, c2, kind: "city", version: 1, key: pub), "a signature binds the version")
            #expect(try exchange(server.port, "GET", "/v1/parameters/city/1", headers: ["If-None-Match": h1["etag"] ?? "-"]).0 == 304)
            #expect(try exchange(server.port, "GET", "/v1/parameters/city/99").0 == 404)
            #expect(try exchange(server.port, "GET", "/v1/parameters/city/0").0 == 400)
            #expect(try exchange(server.port, "GET", "/v1/parameters/city/x1").0 == 400)

            // The full hotlist, as a store.
            let (fs, fh, full) = try exchange(server.port, "GET", "/v1/parameters/hotlist")
            #expect(fs == 200 && Self.verifies(fh, full, kind: "hotlist", version: UInt64(hotlistVersion), key: pub))
            let path = dir + "/hotlist.ochl"
            try HotlistStore.writeAtomically(full, to: path)
            let local = try HotlistStore(path: path)
            #expect(local.version == UInt64(hotlistVersion) && local.serials == serials.map(\.rawValue).sorted())
            #expect(try exchange(server.port, "GET", "/v1/parameters/hotlist?since=\(hotlistVersion)").0 == 304)

            // Changes at the centre; the delta brings the store to the same list.
            try store.hotlistRemove(serials[7])
            try store.hotlistAdd(CardSerial(rawValue: 0xF000_0000_0000_0001), since: 1, reason: "stolen")
            try store.hotlistAdd(serials[8], since: 2, reason: "a new reason changes no version")
            let (ds, dh, delta) = try exchange(server.port, "GET", "/v1/parameters/hotlist?since=\(hotlistVersion)")
            #expect(ds == 200 && Self.verifies(dh, delta, kind: "hotlist", version: UInt64(hotlistVersion + 2), key: pub))
            #expect(delta.count == 64 + 16, "one card added, one removed")
            try HotlistStore.writeAtomically(delta, to: dir + "/d.ochl")
            try local.apply(deltaAt: dir + "/d.ochl")
            #expect(local.version == UInt64(hotlistVersion + 2))
            #expect(local.serials == (try store.hotlistSerials()).serials)
            #expect(local.contains(CardSerial(rawValue: 0xF000_0000_0000_0001)) && !local.contains(serials[7]))
            #expect(try exchange(server.port, "GET", "/v1/parameters/hotlist?since=\(hotlistVersion + 3)").0 == 409)
            #expect(try exchange(server.port, "GET", "/v1/parameters/hotlist?since=-1").0 == 400)
            #expect(try exchange(server.port, "GET", "/v1/parameters/hotlist?since=99999999999999999999").0 == 400)

            // Without a key, nothing is served unsigned.
            let unsigned = try Server(binary, db: db, keys: keys)
            defer { unsigned.kill9() }
            #expect(try exchange(unsigned.port, "GET", "/v1/parameters").0 == 503)
            #expect(try exchange(unsigned.port, "GET", "/v1/parameters/hotlist").0 == 503)
        }
    }
}
