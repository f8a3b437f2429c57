## The `fieldsync` binary. Lines other programs read (the server address, the
## enrolment link) keep their English words in every language: scripts match them.

cli-error = fieldsync: { $error }
cli-init-ready = data folder { $path } ready (tenant { $tenant })
cli-init-ready-new = data folder { $path } ready (tenant { $tenant }, new)
cli-tls-pin = TLS key pin { $pin }
cli-console-on = back-office console on http://{ $addr }
cli-console-first-admin = console sign-in: { $user } / { $password } (shown once; change it)
cli-server-on = fieldsync server on udp://{ $addr } (data { $path })
cli-first-start = first start: user field-1 may read and write scope team:default
cli-enrol-code-first = enrolment code for field-1: { $code }
cli-enrol-link = enrolment link (QR): { $link }
cli-press-ctrl-c = press Ctrl-C to stop
cli-unknown-export-format = unknown export format { $format } (csv or xlsx)
cli-exported = { $n ->
    [one] { $n } response exported
   *[other] { $n } responses exported
    }
cli-user-added = user { $id } added
cli-scope-added = scope { $scope } added
cli-grant-set = { $user } on { $scope }: read={ $read } write={ $write }
cli-enrol-code = enrolment code for { $user }: { $code } (valid { $hours } h, one use)
cli-device-revoked-state = revoked
cli-device-active-state = active
cli-never = never
cli-device-line = { $id }	{ $user }	{ $name }	{ $state }	last seen { $seen }
cli-device-revoked = device { $device } revoked; its next connection is refused
cli-epoch-bumped = tenant { $tenant } has a new log epoch { $epoch }; devices will repair on their next sync
cli-bad-role = roles are viewer, reviewer and admin
cli-console-user-added = console user { $username } ({ $role }) acting as { $user } added
cli-password-once = password: { $password } (shown once)
cli-disabled = disabled
cli-status = tenant { $tenant }: { $docs } documents, { $changes } changes, watermark { $watermark }

## fieldsync form import

cli-form-warning = warning: { $warning }
cli-form-errors = { $path }: { $n ->
    [one] { $n } error
   *[other] { $n } errors
    }
cli-form-key = form_key: { $key }
cli-form-version-setting = version setting: { $version }
cli-form-default-language = { $language } (default)
cli-form-languages = languages: { $languages }
cli-form-choice-lists = choice lists: { $lists }
cli-form-elements = elements: { $n } ({ $answers } take an answer)

## Errors (sync-server/src/cli_errors.rs): what the operator caused, and categories for the rest.

cli-entity-console-user = console user
cli-entity-enrolment-code = enrolment code
cli-entity-tenant = tenant
cli-entity-device = device
cli-entity-scope = scope
cli-entity-user = user
cli-err-not-found = { $kind } { $id } not found
cli-err-exists = { $kind } { $id } already exists
cli-err-closed = the storage is shutting down
cli-err-database = { $detail }
cli-err-files = { $detail }
cli-err-tls = { $detail }
cli-err-invalid = { $detail }
cli-s3-secret-missing = --s3-endpoint needs the secret key in the { $env } environment variable
