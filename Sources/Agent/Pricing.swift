import Foundation

/// What one model costs, in US dollars per million tokens.
package struct ModelPrice: Codable, Sendable, Equatable {
    package var input: Double
    package var output: Double
    /// Writing the prompt cache (5-minute entries).
    package var cacheWrite: Double
    /// Reading the prompt cache.
    package var cacheRead: Double

    package init(input: Double, output: Double, cacheWrite: Double, cacheRead: Double) {
        self.input = input
        self.output = output
        self.cacheWrite = cacheWrite
        self.cacheRead = cacheRead
    }

    /// The usual ratios: cache writes 1.25 × input, cache reads 0.1 × input (notes §10).
    package init(input: Double, output: Double) {
        self.init(input: input, output: output, cacheWrite: input * 1.25, cacheRead: input * 0.1)
    }

    enum CodingKeys: String, CodingKey {
        case input, output
        case cacheWrite = "cache_write"
        case cacheRead = "cache_read"
    }

    /// The cost of `usage` in US dollars.
    package func cost(of usage: Usage) -> Double {
        (Double(usage.inputTokens) * input + Double(usage.outputTokens) * output
            + Double(usage.cacheCreationInputTokens) * cacheWrite + Double(usage.cacheReadInputTokens) * cacheRead) / 1_000_000
    }
}

/// Prices by model id, from the runner configuration. A model matches its exact id, else the longest id
/// that is a prefix of it followed by `-` (so `claude-sonnet-5-5` prices `claude-sonnet-5-5-20261001`),
/// else `fallback`.
package struct PriceTable: Codable, Sendable, Equatable {
    package var models: [String: ModelPrice]
    package var fallback: ModelPrice?

    package init(models: [String: ModelPrice], fallback: ModelPrice? = nil) {
        self.models = models
        self.fallback = fallback
    }

    package func price(for model: String) -> ModelPrice? {
        if let exact = models[model] { return exact }
        let prefix = models.keys.filter { model.hasPrefix($0 + "-") }.max { $0.count < $1.count }
        return prefix.flatMap { models[$0] } ?? fallback
    }
}
