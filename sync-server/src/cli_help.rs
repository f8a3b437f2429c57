//! `fieldsync --help` in the operator's language.
//!
//! clap renders help from the doc comments of `main.rs`, in English. Before parsing,
//! [`localize`] walks the command tree and replaces every command's `about` and every
//! argument's help with the catalogue's text in the chosen language (English too, so
//! both languages come from one place), and sets the headings clap would print in
//! English ("Usage:", "Commands:", "Options:", "Arguments:", "[default: …]",
//! "[env: …]"). [`HELP`] names the key of each command and argument by its path; a unit
//! test in `main.rs` fails when a command or argument has none. clap's own parse errors
//! ("unexpected argument …") stay in English.

use clap::Command;
use fieldsync_i18n::{Lang, k, t, tr};

/// Path (`""` for the root, `serve`, `admin grant`, an argument as `serve --listen` or
/// `admin grant <user>`) → catalogue key of its help text.
pub const HELP: &[(&str, &str)] = &[
    ("", k!("help-about")),
    ("--data", k!("help-data")),
    ("--tenant", k!("help-tenant")),
    ("--database", k!("help-database")),
    ("--lang", k!("help-lang")),
    ("--help", k!("help-help")),
    ("--version", k!("help-version")),
    ("help", k!("help-help-command")),
    ("help <command>", k!("help-help-command-arg")),
    ("demo", k!("help-demo")),
    ("demo --dir", k!("help-demo-dir")),
    ("init", k!("help-init")),
    ("serve", k!("help-serve")),
    ("serve --listen", k!("help-serve-listen")),
    ("serve --public-host", k!("help-serve-public-host")),
    ("serve --tls-name", k!("help-serve-tls-name")),
    ("serve --console", k!("help-serve-console")),
    ("serve --no-console", k!("help-serve-no-console")),
    ("serve --secure-cookies", k!("help-serve-secure-cookies")),
    (
        "serve --quota-exchanges-per-minute",
        k!("help-serve-quota-exchanges"),
    ),
    ("serve --quota-push-kib-per-s", k!("help-serve-quota-push")),
    ("serve --s3-endpoint", k!("help-serve-s3-endpoint")),
    ("serve --s3-bucket", k!("help-serve-s3-bucket")),
    ("serve --s3-region", k!("help-serve-s3-region")),
    (
        "serve --s3-access-key-id",
        k!("help-serve-s3-access-key-id"),
    ),
    ("export", k!("help-export")),
    ("export --form", k!("help-export-form")),
    ("export --format", k!("help-export-format")),
    ("export --labels", k!("help-export-labels")),
    ("export --region", k!("help-export-region")),
    ("export --out", k!("help-export-out")),
    ("admin", k!("help-admin")),
    ("admin user-add", k!("help-admin-user-add")),
    ("admin user-add <id>", k!("help-admin-user-add-id")),
    ("admin user-add --name", k!("help-admin-user-add-name")),
    ("admin users", k!("help-admin-users")),
    ("admin scope-add", k!("help-admin-scope-add")),
    ("admin scope-add <scope>", k!("help-admin-scope-add-scope")),
    ("admin scopes", k!("help-admin-scopes")),
    ("admin grant", k!("help-admin-grant")),
    ("admin grant <user>", k!("help-arg-user")),
    ("admin grant <scope>", k!("help-admin-grant-scope")),
    ("admin grant --read", k!("help-admin-grant-read")),
    ("admin grant --write", k!("help-admin-grant-write")),
    ("admin grants", k!("help-admin-grants")),
    ("admin grants <user>", k!("help-arg-user")),
    ("admin enrol-code", k!("help-admin-enrol-code")),
    ("admin enrol-code <user>", k!("help-arg-user")),
    ("admin enrol-code --host", k!("help-admin-enrol-code-host")),
    ("admin enrol-code --port", k!("help-admin-enrol-code-port")),
    (
        "admin enrol-code --ttl-hours",
        k!("help-admin-enrol-code-ttl"),
    ),
    ("admin devices", k!("help-admin-devices")),
    ("admin revoke", k!("help-admin-revoke")),
    ("admin revoke <device>", k!("help-admin-revoke-device")),
    ("admin epoch-bump", k!("help-admin-epoch-bump")),
    ("admin status", k!("help-admin-status")),
    ("admin console-user-add", k!("help-admin-console-user-add")),
    (
        "admin console-user-add <username>",
        k!("help-admin-console-user-add-username"),
    ),
    (
        "admin console-user-add --user",
        k!("help-admin-console-user-add-user"),
    ),
    (
        "admin console-user-add --role",
        k!("help-admin-console-user-add-role"),
    ),
    (
        "admin console-user-add --password-stdin",
        k!("help-admin-console-user-add-password"),
    ),
    ("admin console-users", k!("help-admin-console-users")),
    ("form", k!("help-form")),
    ("form import", k!("help-form-import")),
    ("form import <file>", k!("help-form-import-file")),
    ("form import --json", k!("help-form-import-json")),
];

fn key(path: &str) -> Option<&'static str> {
    HELP.iter().find(|(p, _)| *p == path).map(|(_, k)| *k)
}

/// The path of argument `arg` of the command at `cmd_path`, as [`HELP`] writes it.
pub fn arg_path(cmd_path: &str, arg: &clap::Arg) -> String {
    let name = match arg.get_long() {
        Some(l) => format!("--{l}"),
        None => format!("<{}>", arg.get_id()),
    };
    if cmd_path.is_empty() {
        name
    } else {
        format!("{cmd_path} {name}")
    }
}

/// The language `--lang` names on the command line, before clap parses it (the help
/// it prints depends on it), else the environment's.
pub fn lang_from_args(args: &[std::ffi::OsString]) -> Lang {
    let mut it = args.iter().filter_map(|a| a.to_str());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let value = if a == "--lang" {
            it.next()
        } else {
            a.strip_prefix("--lang=")
        };
        if let Some(l) = value.and_then(Lang::parse) {
            return l;
        }
    }
    Lang::from_env()
}

/// `cmd` (the root) with help text and headings in `lang`.
pub fn localize(cmd: Command, lang: Lang) -> Command {
    walk(cmd, lang, "")
}

fn walk(mut cmd: Command, lang: Lang, path: &str) -> Command {
    if let Some(k) = key(path) {
        cmd = cmd.about(tr(lang, k));
    }
    // Our own `--help` (global, translated) and `help` command replace clap's.
    cmd = cmd
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .help_template(format!(
            "{{about-with-newline}}\n{}{{usage}}\n\n{{all-args}}{{after-help}}",
            t!(lang, "help-usage")
        ))
        .subcommand_help_heading(t!(lang, "help-commands"))
        .subcommand_value_name(t!(lang, "help-command-value"));
    let args: Vec<(clap::Id, String)> = cmd
        .get_arguments()
        .map(|a| (a.get_id().clone(), arg_path(path, a)))
        .collect();
    // Declaration order (headings would otherwise reorder them); the root's global
    // arguments come after a command's own.
    let order_base = if path.is_empty() { 1000 } else { 0 };
    let (default_label, env_label) = (t!(lang, "help-default"), t!(lang, "help-env"));
    let (options, arguments) = (t!(lang, "help-options"), t!(lang, "help-arguments"));
    for (i, (id, apath)) in args.into_iter().enumerate() {
        let Some(k) = key(&apath) else { continue };
        let text = tr(lang, k);
        let (dl, el, oh, ah) = (
            default_label.clone(),
            env_label.clone(),
            options.clone(),
            arguments.clone(),
        );
        cmd = cmd.mut_arg(id, move |a| {
            let mut help = text;
            let defaults: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let flag = !a.get_action().takes_values();
            if !defaults.is_empty() && !flag && !a.is_hide_default_value_set() {
                help.push_str(&format!(" [{dl}: {}]", defaults.join(", ")));
            }
            let env = a.get_env().map(|e| e.to_string_lossy().into_owned());
            if let Some(env) = &env {
                help.push_str(&format!(" [{el}: {env}]"));
            }
            let heading = if a.is_positional() { ah } else { oh };
            let mut a = a
                .help(help)
                .help_heading(heading)
                .display_order(order_base + i);
            // clap refuses these settings on arguments they do not apply to.
            if !flag {
                a = a.hide_default_value(true);
            }
            if env.is_some() {
                a = a.hide_env(true);
            }
            a
        });
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subs {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(name, |s| walk(s, lang, &sub_path));
    }
    cmd
}
