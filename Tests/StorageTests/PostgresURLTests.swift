import PostgresStorage
import Storage
import Testing

@Suite("--db postgresql://… as the clearing commands read it")
struct PostgresURLTests {
    @Test("user, password, hosts and database are read; the password never appears in the location")
    func parsed() throws {
        let u = try PostgresURL("postgresql://clearing:s%40cret@10.0.0.1:5433,10.0.0.2/onecard?connect_timeout=3")
        #expect(u.user == "clearing")
        #expect(u.password == "s@cret")
        #expect(u.hosts.map(\.host) == ["10.0.0.1", "10.0.0.2"])
        #expect(u.hosts.map(\.port) == [5433, 5432])
        #expect(u.database == "onecard")
        #expect(u.connectTimeout == 3)
        #expect(u.location == "postgresql://clearing@10.0.0.1:5433,10.0.0.2:5432/onecard")
        #expect(!u.location.contains("cret"))
        #expect(!"\(u)".contains("cret") && !String(reflecting: u).contains("cret"))
        let env = try PostgresURL("postgres://ops@db/clearing", environment: ["PGPASSWORD": "x"])
        #expect(env.password == "x" && env.hosts.map(\.port) == [5432])
    }

    @Test("a malformed URL is refused with a message that names the fault and never echoes the password", arguments: [
        "postgresql://u:hunter2@host", "postgresql://u:hunter2@host:99999/db", "postgresql://u:hunter2@/db",
        "postgresql://u:hunter2@h:5432/db?sslmode=require", "postgresql://u:hunter2@h/db?connect_timeout=0",
        "postgresql://u:hunter2@h/db?bogus=1", "postgresql://u:hunter2@h/db?target_session_attrs=any",
        "postgresql://:hunter2@h/db", "postgresql://u:hunter2@h,/db", "postgresql://u:%zz@h/db", "mysql://u@h/db",
    ])
    func refused(_ text: String) {
        do {
            _ = try PostgresURL(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(!error.description.contains("hunter2"), "\(error)")
            #expect(error.description.contains("--db") && error.description.contains("postgresql://"), "\(error)")
        }
    }

    @Test("a server that does not answer fails within the URL's connect_timeout with a message saying what to do")
    func unreachable() throws {
        // Port 1 on loopback: nothing listens there.
        let started = ContinuousClock.now
        do {
            _ = try ClearingDatabase.open("postgresql://postgres@127.0.0.1:1/onecard?connect_timeout=1")
            Issue.record("opened a database on port 1")
        } catch {
            #expect(error.description.contains("cannot be reached"), "\(error)")
            #expect(error.description.contains("fail over"), "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
