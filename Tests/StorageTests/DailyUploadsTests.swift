import City
import Clearing
import ClearingIngest
import Foundation
import OneCardCore
import OneCardTestSupport
import Storage
import Testing
import UploadBatch
import StoreTestSupport

@Suite("days uploaded and received one by one (loadgen --uploads daily)", .serialized)
struct DailyUploadsTests {
    @Test("each day's folder holds batches stamped that day; received day by day, clearing accepts what the ground truth expects")
    func dayByDay() throws {
        guard let binary = onecardBinary() else { return }
        try withTempDir { dir in
            let keys = dir + "/keys.json"
            try runOnecard(binary, ["keys", "new", "--out", keys])
            let common = ["loadgen", "--city", TestPaths.city, "--keys", keys, "--cards", "400", "--taps", "3000", "--days", "3",
                          "--seed", "5", "--batch-records-max", "200", "--duplicates", "0.01"]
            try runOnecard(binary, common + ["--out", dir + "/daily", "--uploads", "daily"])
            try runOnecard(binary, common + ["--out", dir + "/end"])
            let truth = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/daily/ground-truth.json"))) as? [String: Any]
            #expect(truth?["uploads"] as? String == "daily")
            let days = ["2026-03-02", "2026-03-03", "2026-03-04"]
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/daily/batches").sorted() == days)

            let city = try City.parse(data: Data(contentsOf: URL(fileURLWithPath: TestPaths.city)), source: TestPaths.city)
            let clearingKeys = try ClearingKeys(paths: [keys])
            let store = try TestBackend.open(dir + "/c.sqlite")
            try registerCity(store, city)
            var accepted = 0, amount: Int64 = 0, refused: [String: Int] = [:]
            for day in days {
                let folder = dir + "/daily/batches/" + day
                let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { folder + "/" + $0 }
                #expect(!files.isEmpty)
                for f in files {
                    let header = try BatchFile.peekHeader(Array(try Data(contentsOf: URL(fileURLWithPath: f))), file: f)
                    // Packed BCD YYYYMMDDhhmmss reads as its digits in hex.
                    #expect(String(header.createdBCD, radix: 16) == day.replacingOccurrences(of: "-", with: "") + "235959", "\(f)")
                }
                // Received on its own day, at 23:59:59: the header is not ahead of the clock.
                let r = try Ingestor(store: store, city: city, keys: clearingKeys)
                    .ingest(files, received: BCDDateTime(iso: day + "T23:59:59")!)
                #expect(r.rejected.isEmpty, "\(day): \(r.rejected.map(\.reason))")
                accepted += r.summary.accepted
                amount += r.summary.acceptedAmountFen
                for (code, n) in r.summary.refused { refused[code, default: 0] += n }
            }
            #expect(accepted == truth?["accepted"] as? Int)
            #expect(amount == (truth?["acceptedAmountFen"] as? NSNumber)?.int64Value)
            #expect(refused["05", default: 0] == 0, "no day is out of the upload window")
            #expect(refused["03", default: 0] > 0, "the duplicates are refused")
            // The same simulation uploaded at the end: the same records accepted.
            let endTruth = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/end/ground-truth.json"))) as? [String: Any]
            #expect(endTruth?["accepted"] as? Int == accepted)
            #expect(endTruth?["uploads"] as? String == "end")
        }
    }
}
