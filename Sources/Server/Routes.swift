import API
import Core
import Foundation
import Hummingbird
import Pipeline

/// Builds the HTTP API and pages. `trusted` routers serve the daemon's unix socket, which only users
/// allowed by the socket's file mode can reach; the TCP router requires the bearer token for POSTs.
package enum Routes {
    package static let maxBodyBytes = 4 << 20

    package static func router(_ context: ServerContext, trusted: Bool) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let streamer = RunLogReader(home: context.home, store: context.store, hub: context.hub)
        // A listener beyond loopback shows runs, logs and repository paths only to token holders, unless
        // the runner config says `public: true`.
        if !trusted, !context.config.isPublic, !(ListenAddress(context.config.listen)?.isLoopback ?? true) {
            router.add(middleware: ReadAccess(token: context.token))
        }

        router.get("/healthz") { _, _ in "ok\n" }

        router.get("/api/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }

        router.get("/metrics") { _, _ in
            guard let metrics = context.metrics else { return failure(.notFound, "metrics are not enabled") }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics())))
        }

        router.get("/api/v1/status") { _, _ in
            let queued = (try? context.store.queue.queuedRuns().count) ?? 0
            let status = DaemonStatus(version: context.version, pid: getpid(), home: context.home.root.path,
                                      running: await context.scheduler.runningCount, queued: queued, url: context.config.url)
            return try json(status)
        }

        router.get("/api/v1/repos") { _, _ in
            try json(["repos": try context.store.repositories.repos()])
        }

        router.get("/api/v1/runs") { request, _ in
            let limit = request.uri.queryParameters.get("limit", as: Int.self).map { min(max($0, 1), 1000) } ?? 50
            var repoID: Int64?
            if let name = request.uri.queryParameters.get("repo") {
                guard let repo = try context.store.repositories.repo(named: name) else { return failure(.notFound, "no repository named \(name)") }
                repoID = repo.id
            }
            return try json(RunList(runs: try context.store.records.runs(limit: limit, repoID: repoID)))
        }

        router.get("/api/v1/flaky") { request, _ in
            var repoID: Int64?
            if let name = request.uri.queryParameters.get("repo") {
                guard let repo = try context.store.repositories.repo(named: name) else { return failure(.notFound, "no repository named \(name)") }
                repoID = repo.id
            }
            return try json(["flaky": try context.store.records.flakyTests(repoID: repoID)])
        }

        router.get("/api/v1/runs/:id") { _, ctx in
            guard let id = ctx.parameters.get("id", as: Int64.self) else { return failure(.badRequest, "run id must be a number") }
            guard let run = try context.store.records.run(id: id) else { return failure(.notFound, "no run \(id)") }
            return try json(run)
        }

        router.get("/api/v1/runs/:id/attempts") { _, ctx in
            guard let id = ctx.parameters.get("id", as: Int64.self) else { return failure(.badRequest, "run id must be a number") }
            guard try context.store.records.run(id: id) != nil else { return failure(.notFound, "no run \(id)") }
            return try json(AttemptList(attempts: try context.store.records.fixAttempts(runID: id)))
        }

        router.get("/api/v1/runs/:id/artifacts") { _, ctx in
            guard let id = ctx.parameters.get("id", as: Int64.self) else { return failure(.badRequest, "run id must be a number") }
            guard let run = try context.store.records.run(id: id) else { return failure(.notFound, "no run \(id)") }
            return try json(ArtifactList(run: run))
        }

        // One artifact: the path must be one the run recorded (nothing else under runs/<id>/ is reachable).
        router.get("/api/v1/runs/:id/artifacts/**") { _, ctx in
            guard let id = ctx.parameters.get("id", as: Int64.self) else { return failure(.badRequest, "run id must be a number") }
            guard let run = try context.store.records.run(id: id) else { return failure(.notFound, "no run \(id)") }
            let path = ctx.parameters.getCatchAll().map { String($0).removingPercentEncoding ?? String($0) }.joined(separator: "/")
            guard let artifact = run.artifacts.first(where: { $0.path == path }) else {
                return failure(.notFound, "run \(id) has no artifact \(path)")
            }
            guard run.artifactsRemovedAt == nil,
                  let handle = FileHandle(forReadingAtPath: context.home.run(id).artifacts.appendingPathComponent(artifact.path).path) else {
                return failure(.gone, "the artifacts of run \(id) were removed (artifacts_keep in the runner configuration)")
            }
            let name = artifact.path.split(separator: "/").last.map(String.init) ?? "artifact"
            let safeName = String(name.unicodeScalars.filter { $0.isASCII && $0 != "\"" && $0 != "\\" && $0.value >= 0x20 })
            return Response(status: .ok, headers: [.contentType: "application/octet-stream", .contentLength: String(artifact.size),
                                                   .contentDisposition: "attachment; filename=\"\(safeName)\""],
                            body: ResponseBody { writer in
                                defer { try? handle.close() }
                                while let chunk = try handle.read(upToCount: 256 << 10), !chunk.isEmpty {
                                    try await writer.write(ByteBuffer(bytes: chunk))
                                }
                                try await writer.finish(nil)
                            })
        }

        router.get("/api/v1/runs/:id/log") { request, ctx in
            guard let id = ctx.parameters.get("id", as: Int64.self) else { return failure(.badRequest, "run id must be a number") }
            guard try context.store.records.run(id: id) != nil else { return failure(.notFound, "no run \(id)") }
            let follow = request.uri.queryParameters.get("follow").map { $0 == "1" || $0 == "true" } ?? false
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache"],
                            body: ResponseBody { writer in
                                try await streamer.streamRun(runID: id, follow: follow) { data in
                                    try await writer.write(ByteBuffer(bytes: data))
                                }
                                try await writer.finish(nil)
                            })
        }

        router.get("/api/v1/runs/:id/logs/:step") { request, ctx in
            guard let id = ctx.parameters.get("id", as: Int64.self) else { return failure(.badRequest, "run id must be a number") }
            guard let step = ctx.parameters.get("step"), PipelineParser.isStepName(step) else {
                return failure(.badRequest, "not a step name")
            }
            guard let run = try context.store.records.run(id: id) else { return failure(.notFound, "no run \(id)") }
            guard run.logSections.contains(where: { $0.name == step }) else { return failure(.notFound, "run \(id) has no step \(step)") }
            let follow = request.uri.queryParameters.get("follow").map { $0 == "1" || $0 == "true" } ?? false
            let from = request.uri.queryParameters.get("from", as: UInt64.self) ?? 0
            if request.headers[.accept]?.contains("text/event-stream") == true {
                // Server-sent events for the dashboard: one event per line, then `end` with the step's state.
                let firstLine = request.uri.queryParameters.get("line", as: Int.self) ?? 1
                let store = context.store
                return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                                body: ResponseBody { writer in
                                    var encoder = LogEventEncoder(firstLine: firstLine)
                                    try await streamer.streamStep(runID: id, step: step, follow: follow, from: from) { data in
                                        let events = encoder.feed(data)
                                        if !events.isEmpty { try await writer.write(ByteBuffer(string: events)) }
                                    }
                                    let state = (try? store.records.run(id: id))?.logSections.first { $0.name == step }?.state.rawValue ?? "unknown"
                                    try await writer.write(ByteBuffer(string: encoder.finish(state: state)))
                                    try await writer.finish(nil)
                                })
            }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream", .cacheControl: "no-cache"],
                            body: ResponseBody { writer in
                                try await streamer.streamStep(runID: id, step: step, follow: follow, from: from) { data in
                                    try await writer.write(ByteBuffer(bytes: data))
                                }
                                try await writer.finish(nil)
                            })
        }

        router.post("/api/v1/runs/:id/cancel") { request, ctx in
            if let denied = authorize(request, context, trusted: trusted) { return denied }
            guard let id = ctx.parameters.get("id", as: Int64.self) else { return failure(.badRequest, "run id must be a number") }
            let outcome = try await context.scheduler.cancel(runID: id)
            switch outcome {
            case .notFound: return failure(.notFound, "no run \(id)")
            case .alreadyFinished: return failure(.conflict, "run \(id) has already finished")
            case .canceled: return try json(ActionResponse(runID: id, outcome: "canceled"))
            case .stopping: return try json(ActionResponse(runID: id, outcome: "stopping"))
            }
        }

        router.post("/api/v1/runs/:id/retry") { request, ctx in
            if let denied = authorize(request, context, trusted: trusted) { return denied }
            guard let id = ctx.parameters.get("id", as: Int64.self) else { return failure(.badRequest, "run id must be a number") }
            guard try context.store.records.run(id: id) != nil else { return failure(.notFound, "no run \(id)") }
            let run = try await context.scheduler.retry(runID: id)
            return try json(ActionResponse(runID: id, outcome: "queued", newRunID: run.id))
        }

        router.post("/api/v1/hooks/post-receive") { request, _ in
            // The runner's token, or the pushed repository's own hook token (`pushbox repo token NAME`).
            let hookRepo = bearer(request).flatMap { try? context.store.repositories.repo(hookToken: $0) }
            if hookRepo == nil, let denied = authorize(request, context, trusted: trusted) { return denied }
            let body = try await request.body.collect(upTo: maxBodyBytes)
            let payload: PostReceiveRequest
            do {
                payload = try APIJSON.decoder().decode(PostReceiveRequest.self, from: Data(body.readableBytesView))
            } catch {
                return failure(.badRequest, "body must be {\"repo_path\": …, \"updates\": [{\"old_sha\", \"new_sha\", \"ref\"}]}: \(error)")
            }
            if let hookRepo, !trusted {
                let pushed = URL(fileURLWithPath: payload.repoPath).standardizedFileURL.path
                guard pushed == hookRepo.path || payload.repoPath == hookRepo.path else {
                    return failure(.forbidden, "this hook token belongs to repository \(hookRepo.name), not to \(payload.repoPath)")
                }
            }
            guard payload.updates.count <= 10_000 else { return failure(.contentTooLarge, "at most 10000 ref updates per request") }
            do {
                let results = try await context.scheduler.submit(repoPath: payload.repoPath, updates: payload.updates, source: .hook)
                return try json(PostReceiveResponse(results: results))
            } catch let error as StoreError {
                return failure(.notFound, error.message)
            }
        }

        router.get("/") { _, _ in
            html(Pages.index(runs: (try? context.store.records.runs(limit: 100)) ?? [], repos: (try? context.store.repositories.repos()) ?? [],
                             flaky: (try? context.store.records.flakyTests()) ?? []))
        }

        router.get("/runs/:id") { _, ctx in
            guard let id = ctx.parameters.get("id", as: Int64.self), let run = try context.store.records.run(id: id) else {
                return Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "no such run\n")))
            }
            return html(Pages.run(run, home: context.home, attempts: (try? context.store.records.fixAttempts(runID: run.id)) ?? [],
                                  deliveries: (try? context.store.deliveries.deliveries(runID: run.id)) ?? []))
        }

        return router
    }

    private static func authorize(_ request: Request, _ context: ServerContext, trusted: Bool) -> Response? {
        if trusted { return nil }
        let expected = "Bearer \(context.token)"
        guard let header = request.headers[.authorization], constantTimeEquals(header, expected) else {
            return failure(.unauthorized, "this endpoint needs Authorization: Bearer <token> (see `pushbox token`)")
        }
        return nil
    }

    /// The token of `Authorization: Bearer <token>`, if any.
    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        let token = String(header.dropFirst(7))
        return token.isEmpty ? nil : token
    }

    /// GETs need the token (all but `/healthz`): a listener that is not loopback and not `public: true`.
    struct ReadAccess: RouterMiddleware {
        typealias Context = BasicRequestContext
        let token: String

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            if request.method == .get, request.uri.path != "/healthz",
               !(request.headers[.authorization].map { Routes.constantTimeEquals($0, "Bearer \(token)") } ?? false) {
                return Routes.failure(.unauthorized, "this listener is not loopback: reading needs Authorization: Bearer <token> (see `pushbox token`), or `public: true` in the runner configuration")
            }
            return try await next(request, context)
        }
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try APIJSON.encoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func failure(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let data = (try? APIJSON.encoder().encode(APIError(error: message))) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
