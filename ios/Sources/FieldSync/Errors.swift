// Errors in the user's language. Every `FieldsyncError` has a stable `errorCode`
// (`not_found`, `validation`, …) and `errorParams` (ids, field paths, rule codes — never
// survey content), so an app can render it in its own words; `message(in:)` gives the
// engine's default English or Chinese text, from the same catalogue the server's console
// and CLI use.
import Foundation
#if canImport(FieldSyncFFI)
import FieldSyncFFI
#endif

/// The languages of the default error texts.
public enum ErrorLanguage: String {
    /// English.
    case english = "en"
    /// Simplified Chinese.
    case chinese = "zh-CN"
}

extension FieldsyncError {
    /// The stable code of this error, the same in every language and release.
    public var errorCode: String {
        switch self {
        case .NotFound: return "not_found"
        case .Validation: return "validation"
        case .Immutable: return "immutable"
        case .WrongKey: return "wrong_key"
        case .Corrupt: return "corrupt"
        case .StoreMovedAside: return "store_moved_aside"
        case .StorageFull: return "storage_full"
        case .ReadOnly: return "read_only"
        case .Storage: return "storage"
        case .Unauthorized: return "unauthorized"
        case .Network: return "network"
        case .Conflict: return "conflict"
        case .InvalidArgument: return "invalid_argument"
        case .Closed: return "closed"
        case .Internal: return "internal"
        }
    }

    /// The parameters of this error by name (a validation error's rule code is `rule`).
    public var errorParams: [String: String] {
        switch self {
        case .NotFound(let id), .Immutable(let id): return ["id": id]
        case .Validation(let field, let code, let message):
            return ["field": field, "rule": code, "message": message]
        case .Corrupt(let id, let detail): return ["id": id, "detail": detail]
        case .StoreMovedAside(let movedTo): return ["moved_to": movedTo]
        case .Storage(let message), .Unauthorized(let message), .Network(let message),
             .Conflict(let message), .InvalidArgument(let message), .Internal(let message):
            return ["message": message]
        case .WrongKey, .StorageFull, .ReadOnly, .Closed: return [:]
        }
    }

    /// The default text of this error in `language`.
    public func message(in language: ErrorLanguage) -> String {
        message(inLanguage: language.rawValue)
    }

    /// The default text of this error for a language tag (`zh`, `en-GB`, …; any other
    /// gets English).
    public func message(inLanguage tag: String) -> String {
        let params = errorParams.sorted { $0.key < $1.key }.map { ErrorParam(name: $0.key, value: $0.value) }
        return errorMessage(code: errorCode, params: params, language: tag)
    }
}
