import Foundation
import Git
import Testing

@Suite struct ObjectIDTests {
    let sample = "0123456789abcdef0123456789abcdef01234567"

    @Test func acceptsFortyHexDigitsAndLowercasesThem() throws {
        let id = try #require(ObjectID(hex: sample.uppercased()))
        #expect(id.hex == sample)
        #expect(id == ObjectID(hex: sample))
        #expect(id.description == sample)
    }

    @Test(arguments: ["", "0123", String(repeating: "a", count: 39), String(repeating: "a", count: 41),
                      "g123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef0123456 "])
    func rejectsAnythingElse(_ text: String) {
        #expect(ObjectID(hex: text) == nil)
    }

    @Test func shortFormsAndZero() throws {
        let id = try #require(ObjectID(hex: sample))
        #expect(id.short == "0123456")
        #expect(id.sha8 == "01234567")
        #expect(!id.isZero)
        #expect(ObjectID.zero.isZero)
        #expect(ObjectID.zero.hex == String(repeating: "0", count: 40))
        #expect(ObjectID(hex: String(repeating: "0", count: 40))?.isZero == true)
    }

    @Test func codableAsAPlainString() throws {
        let id = try #require(ObjectID(hex: sample))
        let json = try JSONEncoder().encode(["id": id])
        #expect(String(decoding: json, as: UTF8.self) == "{\"id\":\"\(sample)\"}")
        let decoded = try JSONDecoder().decode([String: ObjectID].self, from: json)
        #expect(decoded["id"] == id)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([String: ObjectID].self, from: Data("{\"id\":\"xyz\"}".utf8))
        }
    }
}
