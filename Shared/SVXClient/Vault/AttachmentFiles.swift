import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file read one block at a time: an attachment is never held in memory whole.
final class BlockFileReader {
    let path: String
    let size: UInt64
    private let descriptor: Int32

    init(url: URL) throws {
        path = url.path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SVXClientError(.invalidInput, "cannot open \(path): \(errorText())") }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let error = SVXClientError(.invalidInput, "cannot read \(path): \(errorText())")
            close(descriptor)
            throw error
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw SVXClientError(.invalidInput, "\(path) is not a regular file")
        }
        size = UInt64(info.st_size)
    }

    deinit { close(descriptor) }

    /// Exactly `count` bytes at `offset`; a file that got shorter since it was opened is an error, not a short
    /// attachment.
    func read(offset: UInt64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress.map { $0 + done }, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw SVXClientError(
                    .invalidInput, n == 0 ? "\(path) changed while it was being read" : "cannot read \(path): \(errorText())")
            }
            done += n
        }
        return bytes
    }
}

/// The file a download writes: a temporary file (mode 0600, created exclusively) next to the destination, put in
/// place only once every block is written and checked, so that a failed download never leaves a partial file
/// under the destination's name, nor replaces a file that was there.
final class DownloadFile {
    let destination: String
    private let temporary: String
    private var descriptor: Int32
    private var committed = false
    private(set) var written: UInt64 = 0

    init(destination url: URL, overwrite: Bool) throws {
        destination = url.path
        if !overwrite && access(destination, F_OK) == 0 {
            throw SVXClientError(.invalidInput, "\(destination) exists (ask to overwrite it)")
        }
        let directory = url.deletingLastPathComponent().path
        temporary = "\(directory)/.\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: .min ... .max)).part"
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SVXClientError(.invalidInput, "cannot write in \(directory): \(errorText())") }
        fchmod(descriptor, 0o600)  // whatever the umask
    }

    deinit { abandon() }

    func write(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                posixWrite(descriptor, buffer.baseAddress.map { $0 + done }, bytes.count - done)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SVXClientError(.invalidInput, "cannot write \(temporary): \(errorText())") }
            done += n
        }
        written += UInt64(bytes.count)
    }

    /// Flushes the file to disk and gives it the destination's name: `overwrite` replaces a file there, otherwise
    /// one that appeared meanwhile is kept and this is an error.
    func commit(overwrite: Bool) throws {
        guard fsync(descriptor) == 0 else { throw SVXClientError(.invalidInput, "cannot write \(temporary): \(errorText())") }
        close(descriptor)
        descriptor = -1
        if overwrite {
            guard rename(temporary, destination) == 0 else {
                throw SVXClientError(.invalidInput, "cannot write \(destination): \(errorText())")
            }
        } else {
            // link(2) fails with EEXIST instead of replacing: no window in which another file is overwritten.
            guard link(temporary, destination) == 0 else {
                let reason = errno == EEXIST ? "it exists" : errorText()
                throw SVXClientError(.invalidInput, "cannot write \(destination): \(reason)")
            }
            unlink(temporary)
        }
        committed = true
    }

    /// Removes the temporary file (nothing once committed).
    func abandon() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        if !committed { unlink(temporary) }
    }
}

private func posixWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

private func errorText() -> String { String(cString: strerror(errno)) }
