import Core
import Foundation
import Pipeline

/// What the HTTP handlers work with; built once by the composition root.
package struct ServerContext: Sendable {
    package var home: RunnerHome
    package var config: RunnerConfig
    package var store: RunStore
    package var scheduler: Scheduler
    package var hub: LogHub
    /// Bearer token for POST endpoints reached over TCP (`$PUSHBOX_HOME/token`).
    package var token: String
    package var version: String
    /// The Prometheus text exposition of `/metrics` (nil: the route answers 404).
    package var metrics: (@Sendable () -> String)?

    package init(home: RunnerHome, config: RunnerConfig, store: RunStore, scheduler: Scheduler, hub: LogHub,
                 token: String, version: String, metrics: (@Sendable () -> String)? = nil) {
        self.home = home
        self.config = config
        self.store = store
        self.scheduler = scheduler
        self.hub = hub
        self.token = token
        self.version = version
        self.metrics = metrics
    }
}
