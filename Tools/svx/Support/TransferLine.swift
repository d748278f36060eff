import Foundation
import SVXClient
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Progress of a file transfer on stderr (stdout stays for results), like ``ProgressLine``: on a terminal one line
/// rewritten with bytes done and the percentage (at most five times a second), elsewhere the label when it starts
/// and the time taken when it ends. Small files (one block or less) show nothing.
final class TransferLine: Sendable {
    private struct State {
        var started: ContinuousClock.Instant?
        var lastDrawn: ContinuousClock.Instant?
    }

    private let label: String
    private let state = Mutex(State())
    private let isTerminal = isatty(STDERR_FILENO) == 1
    static let threshold = UInt64(VaultClient.attachmentBlockSize)

    init(_ label: String) { self.label = label }

    /// For the SDK's progress callback.
    var events: TransferProgress {
        { [self] done, total in update(done: done, total: total) }
    }

    func update(done: UInt64, total: UInt64) {
        guard total > Self.threshold else { return }
        let now = ContinuousClock.now
        let line: String? = state.withLock { state in
            if state.started == nil {
                state.started = now
                if !isTerminal { return "\(label) (\(VaultOutput.byteCount(total)))..." }
            }
            guard isTerminal else { return nil }
            if done < total, let last = state.lastDrawn, now - last < .milliseconds(200) { return nil }
            state.lastDrawn = now
            return "\r\(label): \(VaultOutput.byteCount(done)) of \(VaultOutput.byteCount(total)) (\(done * 100 / total)%)"
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// Ends the line, if one was started.
    func end(_ outcome: String = "done") {
        guard let started = state.withLock({ state in defer { state.started = nil }; return state.started }) else { return }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        FileHandle.standardError.write(Data(" \(outcome) (\(String(format: "%.1f", seconds)) s)\n".utf8))
    }
}
