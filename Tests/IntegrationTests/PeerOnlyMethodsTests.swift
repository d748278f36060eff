import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// The methods meant only for one service's peer calls (issue #20, service identity): over CURVE, a user's client is
/// refused with PERMISSION_DENIED whatever session it carries, and so is another service's key; the intended peer's key
/// gets past the check (to the session and the method's own validation).
@Suite struct PeerOnlyMethodsTests {
    @Test func onlyTheIntendedServiceMayCallAPeerMethod() async throws {
        try #require(TestTransport.security.mode == .curve, "the suite runs in plaintext: no caller is identified")
        let stack = try await TestStack.start([.auth, .keystore, .vault, .sharing, .classification])
        defer { stack.stop() }
        let alice = try await stack.newUser()

        /// What `method` answers a caller: the user's own client (nil), or a service's key.
        func codes<Request, Response>(
            _ method: RPCMethod<Request, Response>, _ request: Request, intended: TestService, other: TestService
        ) async -> (user: RPCStatus.Code?, other: RPCStatus.Code?, intended: RPCStatus.Code?, anonymousPeer: RPCStatus.Code?) {
            (
                await alice.failure(method, request)?.code,
                await alice.failure(method, request, as: other)?.code,
                await alice.failure(method, request, as: intended)?.code,
                await stack.anonymous(method, request, as: intended)?.code
            )
        }
        let checked = [
            ("Auth/VerifyCredentials", await codes(AuthRPC.verifyCredentials, .init(), intended: .keystore, other: .vault)),
            ("Vault/CheckEntities", await codes(VaultRPC.checkEntities, .init(), intended: .classification, other: .sharing)),
            ("Vault/GetItemOutlines", await codes(VaultRPC.getItemOutlines, .init(), intended: .sharing, other: .classification)),
            ("Vault/GetSharedAttachmentBlock", await codes(VaultRPC.getSharedAttachmentBlock, .init(), intended: .sharing, other: .classification)),
            ("Sharing/ForgetSharedEntities", await codes(SharingRPC.forgetSharedEntities, .init(), intended: .vault, other: .keystore)),
            ("Classification/ForgetEntities", await codes(ClassificationRPC.forgetEntities, .init(), intended: .vault, other: .sharing)),
        ]
        for (method, answers) in checked {
            #expect(answers.user == .permissionDenied, "\(method): a user's client")
            #expect(answers.other == .permissionDenied, "\(method): another service's key")
            #expect(answers.intended != .permissionDenied && answers.intended != .unauthenticated, "\(method): its peer, \(String(describing: answers.intended))")
            // The peer's key does not stand for a session.
            #expect(answers.anonymousPeer == .unauthenticated, "\(method): its peer without a session")
        }
        // Nothing a user calls is refused for being a user.
        #expect(try await alice.call(VaultRPC.listItems, .init()).items.isEmpty)
    }
}
