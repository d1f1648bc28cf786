import Foundation
import TestSupport

/// GET with Python's urllib (an HTTP client that shares nothing with Pushbox), any status.
enum HTTPGet {
    struct Answer {
        var status: Int
        var body: String
    }

    static func fetch(_ url: String) throws -> Answer {
        let script = """
            import sys, urllib.request, urllib.error
            try:
                answer = urllib.request.urlopen(sys.argv[1], timeout=10)
                status, body = answer.status, answer.read()
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read()
            sys.stdout.write(str(status) + "\\n")
            sys.stdout.buffer.write(body)
            """
        let result = try Command.run(["python3", "-c", script, url], mergeErrors: false)
        let text = result.output
        guard result.status == 0, let newline = text.firstIndex(of: "\n"), let status = Int(text[..<newline]) else {
            throw FixtureError("GET \(url) failed (python3 exited \(result.status))")
        }
        return Answer(status: status, body: String(text[text.index(after: newline)...]))
    }
}
