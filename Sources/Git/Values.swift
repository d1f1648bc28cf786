import Foundation

/// Who made a commit or a note, and when.
package struct Signature: Sendable, Equatable {
    package var name: String
    package var email: String
    package var date: Date
    /// The time zone recorded beside `date` (git stores an offset from UTC).
    package var timeZone: TimeZone

    package init(name: String, email: String, date: Date = Date(), timeZone: TimeZone = .current) {
        self.name = name
        self.email = email
        self.date = date
        self.timeZone = timeZone
    }

    /// Pushbox itself, as the author of its notes and of the unreferenced candidate commits autofix
    /// verifies; dated now.
    package static var pushbox: Signature { Signature(name: "Pushbox", email: "pushbox@pushbox.invalid") }
}

/// What a commit says about itself.
package struct CommitInfo: Sendable, Equatable {
    package var id: ObjectID
    /// The first paragraph of the message, joined into one line (`git log --format=%s`).
    package var subject: String
    /// The whole message.
    package var message: String
    package var authorName: String
    package var authorEmail: String
    /// The author's date (`git log` shows this one).
    package var time: Date
    package var committerName: String
    package var committerEmail: String
    package var commitTime: Date
    package var tree: ObjectID
    /// First parent first; empty for a root commit.
    package var parents: [ObjectID]

    package init(
        id: ObjectID, subject: String, message: String, authorName: String, authorEmail: String, time: Date,
        committerName: String, committerEmail: String, commitTime: Date, tree: ObjectID, parents: [ObjectID]
    ) {
        self.id = id
        self.subject = subject
        self.message = message
        self.authorName = authorName
        self.authorEmail = authorEmail
        self.time = time
        self.committerName = committerName
        self.committerEmail = committerEmail
        self.commitTime = commitTime
        self.tree = tree
        self.parents = parents
    }
}

/// What ``Repository/export(_:to:)`` wrote, and what it refused.
package struct ExportReport: Sendable, Equatable {
    /// Regular files written.
    package var files: Int = 0
    /// Symbolic links written (safe and unsafe).
    package var symlinks: Int = 0
    /// Paths (relative to the export directory) of symlinks written as-is whose target leaves the directory:
    /// absolute targets, `..` climbing above the root, or a chain through other exported links that does.
    package var unsafeSymlinks: [String] = []
    /// Paths of submodules (gitlinks). Their content is not fetched; each is an empty directory.
    package var submodules: [String] = []
    /// Entries not written because writing them could leave the directory or clobber another entry.
    package var refused: [RefusedEntry] = []

    package init() {}
}

/// A tree entry the exporter did not write, and why.
package struct RefusedEntry: Sendable, Equatable, CustomStringConvertible {
    package var path: String
    package var reason: String

    package init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    package var description: String { "\(path): \(reason)" }
}
