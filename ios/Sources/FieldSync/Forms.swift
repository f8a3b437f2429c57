// The forms engine from Swift: import an XLSForm, start a response, evaluate it after each
// answer (what is shown, required, wrong), set answers (also inside repeats), complete.
// A thin adapter over the generated `FieldStore` calls: every rule lives in the Rust core.
// Instance paths are `[Int]` here (`[UInt32]` in the generated API): the 0-based index in
// each enclosing repeat, outermost first; empty outside repeats.
import Foundation
#if canImport(FieldSyncFFI)
import FieldSyncFFI
#endif

/// XLSForm spreadsheets (`.xlsx`, `.csv` or `.json`) into forms.
///
/// Problems in the spreadsheet are not thrown: they are the result's `errors` (each names
/// its sheet, row and column), and its `form` is then nil.
public enum XlsForm {
    /// Import the spreadsheet at `url`; its extension picks the format. Throws if the file
    /// cannot be read, and `FieldsyncError.InvalidArgument` for another extension.
    public static func `import`(contentsOf url: URL) throws -> FormImport {
        try `import`(Data(contentsOf: url), fileName: url.lastPathComponent)
    }

    /// Import the spreadsheet in `data`; `fileName`'s extension picks the format.
    /// Throws `FieldsyncError.InvalidArgument` for another extension.
    public static func `import`(_ data: Data, fileName: String) throws -> FormImport {
        try importXlsform(bytes: data, fileName: fileName)
    }
}

extension FormLocale {
    /// The device's current offset from UTC in minutes (480 in China), daylight saving
    /// included: the default `utcOffsetMinutes` of the form calls on `FieldSyncStore`.
    public static var deviceUtcOffsetMinutes: Int { TimeZone.current.secondsFromGMT() / 60 }

    init(_ language: String?, _ utcOffsetMinutes: Int) {
        self.init(language: language, utcOffsetMinutes: Int32(clamping: utcOffsetMinutes))
    }
}

extension FormNode {
    /// The instance path as `Int`s (as `addRepeatInstance` returns it).
    public var path: [Int] { instance.map { Int($0) } }

    init(_ question: String, path: [Int]) throws {
        self.init(question: question, instance: try uint32Path(path, "instance"))
    }
}

extension FormEvaluation {
    /// The state of `question` in repeat instance `instance`, or nil if there is no such node.
    public func node(_ question: String, instance: [Int] = []) -> NodeState? {
        nodes.first { $0.node.question == question && $0.node.path == instance }
    }
}

/// `path` as the generated API takes it; a negative index is an `InvalidArgument`.
func uint32Path(_ path: [Int], _ name: String) throws -> [UInt32] {
    try path.map { i in
        guard let u = UInt32(exactly: i) else {
            throw FieldsyncError.InvalidArgument(message: "\(name) index \(i) is out of range")
        }
        return u
    }
}

// `language` is `en`, `zh-CN` or one of the form's language names (`English (en)`); nil means
// the form's default texts. `utcOffsetMinutes` is the device's offset from UTC, for `today()`,
// `now()` and the start and end times.
extension FieldSyncStore {
    /// Start a draft response to form version `formId` (published, e.g. imported with
    /// `XlsForm`) in `scope`: the form's defaults and metadata (start time, day, device,
    /// user) are filled in. Returns the response id.
    public func startResponse(form formId: String, in scope: String, region: String, language: String? = nil,
                              utcOffsetMinutes: Int = FormLocale.deviceUtcOffsetMinutes) throws -> String {
        try ffi.startResponse(scopeName: scope, formId: formId, region: region,
                              localeInfo: FormLocale(language, utcOffsetMinutes))
    }

    /// Evaluate a response against its form: which questions are shown, required and
    /// read-only, their values (calculations included), labels in `language`, and every
    /// problem that stops completion. Call it after each answer to refresh the screen;
    /// find a question with `node(_:instance:)`.
    public func evaluate(response id: String, language: String? = nil,
                         utcOffsetMinutes: Int = FormLocale.deviceUtcOffsetMinutes) throws -> FormEvaluation {
        try ffi.evaluateResponse(id: id, localeInfo: FormLocale(language, utcOffsetMinutes))
    }

    /// The choices select question `question` (in `instance`) offers now, its choice filter
    /// applied, labelled in `language`.
    public func offeredChoices(for question: String, instance: [Int] = [], in response: String,
                               language: String? = nil,
                               utcOffsetMinutes: Int = FormLocale.deviceUtcOffsetMinutes) throws -> [Choice] {
        try ffi.offeredChoices(id: response, node: FormNode(question, path: instance),
                               localeInfo: FormLocale(language, utcOffsetMinutes))
    }

    /// Set the answer to `question` in repeat instance `instance` (top level when empty),
    /// checked against the question's type, choices and scale (`FieldsyncError.Validation`
    /// `score_out_of_range`, `unknown_choice`, or `unknown_node` for a question or instance
    /// the response does not have). Returns whether anything changed.
    @discardableResult
    public func setAnswer(_ answer: Answer, for question: String, instance: [Int] = [], in response: String) throws -> Bool {
        try ffi.setFormAnswer(id: response, node: FormNode(question, path: instance), answer: answer)
    }

    /// Remove the answer to `question` (in `instance`); returns whether there was one.
    @discardableResult
    public func clearAnswer(for question: String, instance: [Int] = [], in response: String) throws -> Bool {
        try ffi.setFormAnswer(id: response, node: FormNode(question, path: instance), answer: nil)
    }

    /// Add an instance to repeat `repeatId` (inside the instances `parent` of its enclosing
    /// repeats; empty for a top-level repeat). Returns the new instance's path.
    public func addRepeatInstance(to repeatId: String, parent: [Int] = [], in response: String) throws -> [Int] {
        try ffi.addRepeatInstance(id: response, repeatId: repeatId, parent: uint32Path(parent, "parent")).map { Int($0) }
    }

    /// Mark a response complete: calculations and the end time are written after every
    /// required answer and constraint is checked. The first problem is thrown as
    /// `FieldsyncError.Validation` (e.g. `answers.segment`, `required`) and nothing is
    /// written; `evaluate` lists them all. Returns false if it was already complete.
    @discardableResult
    public func completeResponse(_ id: String, language: String? = nil,
                                 utcOffsetMinutes: Int = FormLocale.deviceUtcOffsetMinutes) throws -> Bool {
        try ffi.completeResponse(id: id, localeInfo: FormLocale(language, utcOffsetMinutes))
    }
}
