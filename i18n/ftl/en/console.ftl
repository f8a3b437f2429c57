## Frame and sign-in

console-brand-title = fieldsync back office
console-sign-in-title = Sign in
console-username = User name
console-password = Password
console-sign-in = Sign in
console-sign-out = Sign out
console-language = Language
console-login-locked = Too many failed attempts. Try again in a few minutes.
console-login-refused = Wrong user name or password.

console-nav-overview = Overview
console-nav-responses = Responses
console-nav-accounts = Accounts
console-nav-commitments = Commitments
console-nav-cases = Cases
console-nav-warnings = Early warning
console-nav-devices = Devices
console-nav-forms = Forms
console-nav-users = Users

## Refusals and failures

console-request-failed = The request failed.
console-not-found = No such record (or not in your scopes).
console-forbidden = Your role does not allow this page or action.
console-csrf = This form has expired or did not come from the console. Reload the page and try again.
console-unavailable = Storage is unavailable.
console-render-failed = The page could not be rendered.
console-unknown-decision = Unknown decision.
console-comment-too-long = Comments are at most 2,000 characters.
console-review-failed = The review could not be saved.
console-no-device = No such device.
console-no-public-address = This server has no public address configured.
console-file-too-large = The file is too large.

## Overview

console-overview-title = Overview
console-filter-from = From
console-filter-to = To
console-filter-region = Region
console-filter-form = Form
console-filter-segment = Segment
console-filter-customers = Customers
console-filter-depth = Region depth
console-filter-period = Period
console-filter-band = Band
console-filter-status = Status
console-filter-enumerator = Enumerator
console-filter-sort = Sort
console-all = all
console-core = core
console-ordinary = ordinary
console-period-month = month
console-period-quarter = quarter
console-apply = Apply
console-filter = Filter
console-card-responses = Responses
console-card-high = High (8–10)
console-card-middle = Middle (5–7)
console-card-low = Low (1–4)
console-card-mean = Mean
console-all-responses = All responses
console-core-customers = Core customers
console-ordinary-customers = Ordinary customers
console-table-by-dimension = By dimension
console-table-by-segment = By segment
console-table-by-core = Core and ordinary customers
console-table-by-tier = By value tier
console-table-by-region = By region
console-table-by-period = By period
console-col-group = Group
console-col-n = n
console-col-high = High
console-col-middle = Middle
console-col-low = Low
console-col-mean = Mean
console-chart-by-dimension = Satisfaction by dimension
console-chart-by-segment = Satisfaction by segment
console-chart-by-region = Satisfaction by region
console-chart-by-period = Satisfaction by period
console-exports = Export responses of the form above:
console-export-csv = CSV
console-export-csv-labels = CSV with labels
console-export-xlsx = XLSX
console-export-xlsx-labels = XLSX with labels

## Responses

console-responses-title = Responses
console-sort-newest = newest first
console-sort-oldest = oldest first
console-sort-lowest = lowest score first
console-sort-highest = highest score first
console-col-started = Started
console-col-status = Status
console-col-region = Region
console-col-segment = Segment
console-col-overall = Overall
console-col-band = Band
console-col-enumerator = Enumerator
console-core-flag = core
console-conflicts-count = { $n ->
    [one] { $n } conflict
   *[other] { $n } conflicts
    }
console-no-responses = No responses match.
console-next-page = Next page

## One response

console-response-title = Response
console-fact-status = Status
console-fact-scope = Scope
console-fact-region = Region
console-fact-segment = Segment
console-fact-enumerator = Enumerator
console-fact-started = Started
console-fact-completed = Completed
console-core-customer = core customer
console-comment = Comment
console-approve = Approve
console-needs-follow-up = Needs follow-up
console-reject = Reject
console-comment-only = Comment only
console-answers = Answers
console-col-question = Question
console-col-answer = Answer
console-col-history = History
console-history-entry = { $time } by { $user } on { $device }
console-unknown-user = unknown
console-unknown-device = unknown device
console-repeat-instances = { $n ->
    [one] Repeat { $name }: { $n } instance.
   *[other] Repeat { $name }: { $n } instances.
    }
console-conflicts = Conflicts
console-col-field = Field
console-col-winner = Shown everywhere
console-col-others = Other concurrent values
console-review = Review
console-no-review = No review yet.
console-points = { $n } points
console-bytes = { $n } bytes
console-message-reviewed = Review saved; it reaches the collector's device on its next sync.
console-message-empty-comment = Write a comment, or choose a decision.
console-message-refused = The change was refused ({ $reason }).

## Accounts, visits, commitments

console-accounts-title = Accounts
console-account-title = Account
console-col-account = Account
console-col-owner = Owner
console-no-accounts = No accounts in your scopes.
console-visits = Visits
console-col-planned = Planned
console-col-purpose = Purpose
console-col-checked-in = Checked in
console-col-open-commitments = Open commitments
console-open-commitments = Open commitments
console-commitments-title = Open commitments
console-col-due = Due
console-col-commitment = Commitment
console-past-due = past due
console-refund = refund/credit
console-no-commitments = No open commitments.

## Cases

console-cases-title = Cases
console-card-cases = Cases
console-card-open = Open
console-card-overdue = Overdue
console-card-closed = Closed
console-card-fcr = First-contact resolution
console-time-first-response = Time to first response
console-time-close = Time to close
console-after-resolution = Satisfaction after resolution
console-after-resolution-figures = { $mean } (n={ $n }; high { $high }, middle { $middle }, low { $low })
console-hours = median { $median } h, mean { $mean } h (n={ $n })
console-by-stage = By stage
console-repeat-complaints = Repeat complaints
console-col-customer = Customer
console-col-cases = Cases
console-overdue = Overdue
console-col-received = Received
console-col-category = Category
console-col-stage = Stage
console-col-deadline = Deadline

## Early warning

console-warnings-title = Early warning
console-nothing-to-act-on = Nothing to act on.
console-col-warning = Warning
console-col-when = When
console-col-figure = Figure
console-act = Act

## Devices

console-devices-title = Devices
console-enrolment-code = Enrolment code
console-enrolment-one-use = One use; the device scans the code and enrols for that user.
console-col-user = User
console-valid-hours = Valid for (hours)
console-new-enrolment-code = New enrolment code
console-col-device = Device
console-col-name = Name
console-col-enrolled = Enrolled
console-col-last-sync = Last sync
console-revoked = revoked
console-revoke = Revoke
console-message-revoked = The device is revoked; it is refused from its next connection.
console-message-unknown-user = No such user.

## Forms

console-forms-title = Forms
console-xlsform-file = XLSForm (.xlsx, .csv, .json)
console-check = Check
console-import-errors = Import errors
console-col-where = Where
console-col-problem = Problem
console-col-code = Code
console-warnings = Warnings
console-form-summary = Form key { $key }, { $n } elements, languages: { $languages }.
console-publish-to-scope = Publish to scope
console-publish = Publish as the next version
console-versions = Versions
console-col-form = Form
console-col-version = Version
console-col-title = Title
console-col-published = Published
console-yes = yes
console-draft = draft
console-message-published = Published as version { $version }.
console-message-no-file = Choose a file to upload.
console-message-not-xlsform = The file is not an XLSForm (.xlsx, .csv or .json).
console-message-bad-form = The form could not be read; check it again.

## Users

console-users-title = Users and grants
console-users-and-grants = Users and grants
console-col-grants = Grants
console-user-id = User id
console-add-user = Add user
console-scope = Scope
console-new-scope = or new scope
console-read = read
console-write = write
console-set-grant = Set grant
console-console-accounts = Console accounts
console-col-sign-in-name = Sign-in name
console-col-acts-as = Acts as
console-col-role = Role
console-disabled = disabled
console-add-console-account = Add console account
console-message-user-added = User added.
console-message-user-not-added = The user could not be added (the id may exist already).
console-message-scope-not-added = The scope could not be added.
console-message-unknown-scope = No such scope.
console-message-grant-set = Grant set.
console-message-grant-not-set = The grant could not be set.
console-message-bad-role = Unknown role.
console-message-weak-password = Passwords are at least 10 characters.
console-message-console-user-added = Console account added.
console-message-console-user-not-added = The console account could not be added (the name may exist already).
console-message-other = Done ({ $code }).

## Export column headers (labels mode; names mode keeps `_id`, `_status`, ...)

export-col-id = Response id
export-col-form-key = Form
export-col-form-version = Form version
export-col-status = Status
export-col-region = Region
export-col-segment = Segment (code)
export-col-value-tier = Value tier (code)
export-col-core = Core customer (1/0)
export-col-customer-id = Customer id
export-col-enumerator = Enumerator
export-col-started-at = Started (UTC)
export-col-completed-at = Completed (UTC)
export-col-overall = Overall score
export-col-band = Band
export-col-instance = Instance
export-col-instance-id = Instance id
