import ArgumentParser
import Foundation
import SVXClient

extension ItemsCommand {
    struct AttachFile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "attach-file", abstract: "Encrypt a file and put it in an attachment slot of an item.",
            discussion: """
                The file (1 byte to 256 MiB) is encrypted here with a key of its own, in 1 MiB blocks; its name, size \
                and type are encrypted too. Without --slot or --label the file goes to a new slot `attachment` \
                (`attachment_2`, ...); an attachment slot named by --slot is replaced, a slot of another type is \
                refused. Slot labels are not encrypted: do not put secrets in --label.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The item's id.") var id: String
        @Argument(help: "The file to attach.") var path: String
        @Option(help: "The slot's name (default: derived from --label, else a new `attachment` slot).") var slot: String?
        @Option(help: "The slot's label (stored in clear; default: \"Attachment\", or the replaced slot's).") var label: String?

        func run() async throws {
            let file = URL(fileURLWithPath: path)
            let unlocked = try await UnlockedVault.open(options: options, unlock: unlock)
            let progress = TransferLine("Uploading \(file.lastPathComponent)")
            let attached = try await clientFlow {
                do {
                    let attached = try await unlocked.vault.attachFile(
                        session: unlocked.session, keys: unlocked.keys, itemID: id, slotName: slot, slotLabel: label,
                        fileURL: file, progress: progress.events)
                    progress.end()
                    return attached
                } catch {
                    progress.end("failed")
                    throw error
                }
            }
            let item = attached.item
            if options.json {
                try printJSON([
                    "item_id": item.id, "version": item.version, "slot": attached.slot.name,
                    "attachment_id": attached.slot.attachmentID ?? "", "file_name": file.lastPathComponent,
                ])
            } else {
                Terminal.printLine(
                    "Attached \(file.lastPathComponent) to slot \(attached.slot.name) of item \(item.id) (version \(item.version)).")
            }
        }
    }

    struct GetAttachment: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get-attachment", abstract: "Download and decrypt the file in an attachment slot.",
            discussion: """
                The file is written with mode 0600. An existing file is never replaced unless --force. Nothing is \
                written unless the file's size, name and SHA-256 (kept encrypted with it) match what the Vault returned.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The item's id.") var id: String
        @Argument(help: "The attachment slot's name.") var slot: String
        @Option(help: "Where to write the file (default: its own name, in the current directory).") var output: String?
        @Flag(help: "Replace the output file if it exists.") var force = false

        func run() async throws {
            let unlocked = try await UnlockedVault.open(options: options, unlock: unlock)
            let destination: URL
            if let output {
                destination = URL(fileURLWithPath: output)
            } else {
                // The file's own name, as the slot's (decrypted) value holds it; never a path.
                let item = try await clientFlow { try await unlocked.vault.item(session: unlocked.session, keys: unlocked.keys, id: id) }
                let name = (item.slot(named: slot)?.value).map { URL(fileURLWithPath: $0).lastPathComponent } ?? ""
                guard !name.isEmpty, name != ".", name != "..", !name.hasPrefix("-") else {
                    throw CLIError("slot \(slot) gives no usable file name: give --output")
                }
                destination = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(name)
            }
            let progress = TransferLine("Downloading to \(destination.lastPathComponent)")
            let metadata = try await clientFlow {
                do {
                    let metadata = try await unlocked.vault.downloadAttachment(
                        session: unlocked.session, keys: unlocked.keys, itemID: id, slotName: slot, to: destination,
                        overwrite: force, progress: progress.events)
                    progress.end()
                    return metadata
                } catch {
                    progress.end("failed")
                    throw error
                }
            }
            if metadata.sha256 == nil {
                Terminal.printError(
                    "warning: this file was attached before svx recorded a digest of it: its size was checked, the order of its blocks was not (attach it again to protect it)")
            }
            if options.json {
                try printJSON([
                    "path": destination.path, "file_name": metadata.fileName, "size": metadata.size,
                    "media_type": metadata.mediaType, "sha256": metadata.sha256.map { $0 as Any } ?? NSNull(),
                ])
            } else {
                Terminal.printLine("Wrote \(destination.path) (\(metadata.fileName), \(VaultOutput.byteCount(metadata.size)), \(metadata.mediaType)).")
            }
        }
    }
}
