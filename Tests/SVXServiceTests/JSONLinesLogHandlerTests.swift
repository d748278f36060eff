@testable import SVXService
import Testing

@Suite struct JSONLinesLogHandlerTests {
    @Test func quotesControlCharactersAndQuotes() {
        #expect(JSONLinesLogHandler.quote("a\"b\\c\nd\u{01}") == "\"a\\\"b\\\\c\\nd\\u0001\"")
        #expect(JSONLinesLogHandler.quote("é✓") == "\"é✓\"")
    }
}
