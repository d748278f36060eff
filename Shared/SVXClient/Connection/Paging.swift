/// The one page loop of the SDK: every listing the services page with a token (keyset paging, an empty token on the
/// last page) is read to its end through ``collect(_:maximumPages:page:)``.
enum Paging {
    /// Every element of a paged listing: `page` is called with "" first, then with each `next` token it returns,
    /// until one is empty. At most `maximumPages` pages (a bound against a service that never ends its pages, not a
    /// limit anyone should meet): past it, ``SVXClientError/Code/malformedResponse`` saying that the listing of
    /// `what` did not end.
    static func collect<Element>(
        _ what: String, maximumPages: Int = 1_000,
        page: (_ token: String) async throws -> (elements: [Element], next: String)
    ) async throws -> [Element] {
        var elements: [Element] = []
        var token = ""
        for _ in 0..<max(maximumPages, 1) {
            let (more, next) = try await page(token)
            elements += more
            guard !next.isEmpty else { return elements }
            guard next != token else {
                throw SVXClientError(.malformedResponse, "the listing of \(what) handed back the same page token twice")
            }
            token = next
        }
        throw SVXClientError(.malformedResponse, "the listing of \(what) did not end after \(maximumPages) pages")
    }
}
