import ClearingIngest
import Dispatch
import Prometheus

/// The front-end's Prometheus metrics (`GET /metrics`, text format 0.0.4; docs/frontend.md).
final class FrontEndMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let uploadBytes: Counter
    private let runs: Counter
    private let accepted: Counter
    private let lag: Gauge
    private let waiting: Gauge

    init() {
        uploadBytes = registry.makeCounter(name: "onecard_upload_bytes_total", help: "Bytes of upload bodies received.")
        runs = registry.makeCounter(name: "onecard_clearing_runs_total", help: "Clearing runs committed by the front-end.")
        accepted = registry.makeCounter(name: "onecard_records_accepted_total", help: "Records accepted in uploads cleared now (replays not counted).")
        lag = registry.makeGauge(
            name: "onecard_clearing_lag_seconds", help: "The longest an upload of the last run waited between arrival and the commit of its run.")
        waiting = registry.makeGauge(name: "onecard_clearing_waiting_uploads", help: "Uploads waiting for the next clearing run.")
    }

    /// One answered upload, by HTTP status.
    func answered(status: Int, bytes: Int) {
        registry.makeCounter(name: "onecard_uploads_total", labels: [("status", String(status))], help: "Uploads answered, by HTTP status.").increment()
        uploadBytes.increment(by: Int64(bytes))
    }

    /// A committed run: the fresh outcomes' records, and how long its oldest upload waited.
    func run(_ results: [Ingestor.UploadResult], oldestWaitNanoseconds: UInt64) {
        runs.increment()
        lag.set(Double(oldestWaitNanoseconds) / 1e9)
        for r in results {
            guard case .cleared(let outcome, replayed: false) = r else { continue }
            accepted.increment(by: Int64(outcome.accepted))
            for (code, n) in outcome.refused where n > 0 {
                registry.makeCounter(name: "onecard_records_refused_total", labels: [("code", code)], help: "Records refused in uploads cleared now, by refusal code.")
                    .increment(by: Int64(n))
            }
        }
    }

    /// One answered parameter download, by kind and HTTP status.
    func parameterRequest(kind: String, status: Int) {
        registry.makeCounter(
            name: "onecard_parameter_requests_total", labels: [("kind", kind), ("status", String(status))],
            help: "Parameter downloads answered, by kind (index, city, hotlist) and HTTP status."
        ).increment()
    }

    func setWaiting(_ n: Int) { waiting.set(Int64(n)) }

    /// The text exposition.
    func text() -> [UInt8] { registry.emitToBuffer() }
}
