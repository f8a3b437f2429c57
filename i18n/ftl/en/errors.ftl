## Default renderings of the errors apps receive through the FFI, by stable code.
## Parameters are ids, field paths and rule codes, never survey content.

error-not-found = No record { $id } (it may have been deleted).
error-validation = { $field }: { $message }
error-immutable = Record { $id } cannot change (a published form version is fixed).
error-wrong-key = The key does not open this store.
error-corrupt = Record { $id } is damaged and was set aside; the rest of the store works.
error-store-moved-aside = The store file was damaged and was moved to { $moved_to }; nothing was deleted.
error-storage-full = The storage is full. Nothing was lost; free some space and try again.
error-read-only = The storage is read-only.
error-storage = The storage failed ({ $message }).
error-unauthorized = The server refused this device ({ $message }).
error-network = The network failed; the change is kept and will be sent later ({ $message }).
error-conflict = Conflicting record ({ $message }).
error-invalid-argument = Invalid value ({ $message }).
error-closed = The store is closed.
error-internal = Internal error in the engine ({ $message }). The app keeps running.

## Validation rules (the `rule` parameter of `validation`)

rule-required = this field is required
rule-score-out-of-range = the score is outside the scale
rule-out-of-range = the value is out of range
rule-too-long = the text is too long
rule-invalid-date = not a valid date
rule-invalid-time = not a valid time
rule-invalid-location = the coordinates are out of range
rule-illegal-transition = this status change is not allowed
rule-immutable = this field cannot change
rule-duplicate = this value is already used
rule-unknown-question = no such question in the form
rule-wrong-type = the answer has the wrong type
rule-no-answer = this element takes no answer
rule-unpublished-form = the form version is not published
