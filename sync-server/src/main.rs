//! The `fieldsync` operator binary: parses the command line, sets up logging, and calls
//! into the library.

mod cli_errors;
mod cli_help;
mod form_cli;
mod s3_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};
use fieldsync_i18n::{Lang, t};
use fieldsync_server::admin::{self, DEFAULT_TENANT};
use fieldsync_server::server::{ServerConfig, start, tls_identity};
use fieldsync_server::storage::{Backend, StorageConfig};

// Help texts: doc comments here are the developer's description; what `--help` prints
// comes from the catalogues (cli_help.rs), in the operator's language.
#[derive(Parser)]
#[command(
    name = "fieldsync",
    version,
    about = "fieldsync: offline-first surveys and field visits",
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true
)]
struct Cli {
    /// Print help.
    #[arg(short, long, global = true, action = ArgAction::Help)]
    help: Option<bool>,
    /// Print the version.
    #[arg(short = 'V', long, action = ArgAction::Version)]
    version: Option<bool>,
    /// Server data folder (server.db, merged.db, TLS identity).
    #[arg(long, global = true, default_value = "fieldsync-data")]
    data: PathBuf,
    /// Tenant to act on.
    #[arg(long, global = true, default_value = DEFAULT_TENANT)]
    tenant: String,
    /// The server database: a PostgreSQL URL (`postgres://user@host/db` or
    /// `host=/run/postgresql dbname=fieldsync`) shared by every node, or a SQLite file.
    /// Default: server.db in the data folder.
    #[arg(
        long,
        global = true,
        env = "FIELDSYNC_DATABASE",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Language of messages: en or zh-CN (default: from LC_ALL, LC_MESSAGES, LANG).
    /// `export --labels` also takes its labels' language from it.
    #[arg(long, global = true)]
    lang: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the demo: the sync server on its embedded SQLite store and simulated devices
    /// (a survey team of two, an account manager, the back office) syncing over QUIC.
    Demo {
        /// Folder for the demo's files (reused on the next run).
        #[arg(long, default_value = "fieldsync-demo")]
        dir: PathBuf,
    },
    /// Create the data folder, the TLS identity and the tenant (serve does this too).
    Init,
    /// Run the sync server.
    Serve {
        /// UDP address to listen on.
        #[arg(long, default_value = "0.0.0.0:4433")]
        listen: SocketAddr,
        /// Host name or address devices use to reach this server (for enrolment links).
        #[arg(long, default_value = "127.0.0.1")]
        public_host: String,
        /// Extra names/IPs for the self-signed certificate.
        #[arg(long = "tls-name")]
        tls_names: Vec<String>,
        /// TCP address of the back-office console (web pages, JSON API, exports).
        #[arg(long, default_value = "127.0.0.1:8080")]
        console: SocketAddr,
        /// Do not serve the console.
        #[arg(long)]
        no_console: bool,
        /// The console is reached over TLS (a reverse proxy): mark cookies Secure.
        #[arg(long)]
        secure_cookies: bool,
        /// Per-device quota: exchanges a minute (0: no limit). See docs/protocol.md.
        #[arg(long, default_value_t = 120)]
        quota_exchanges_per_minute: u32,
        /// Per-device quota: pushed change bytes a second, in KiB (0: no limit).
        #[arg(long, default_value_t = 1024)]
        quota_push_kib_per_s: u64,
        /// Attachment bytes in an S3-compatible object store (default: files in the
        /// data folder).
        #[command(flatten)]
        s3: s3_cli::S3Args,
    },
    /// Export responses from the server's data (CSV or XLSX), like the console's
    /// export. Safe while the server runs: reads the change log.
    Export {
        /// The form key (all its versions are exported together).
        #[arg(long)]
        form: String,
        /// csv or xlsx.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Choice labels (and question labels in headers) instead of codes, in the
        /// `--lang` language when given (a form language or code, e.g. zh).
        #[arg(long)]
        labels: bool,
        /// Only this region and below.
        #[arg(long)]
        region: Option<String>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Operator commands on the server's data (safe while the server runs).
    #[command(subcommand)]
    Admin(Admin),
    /// Survey definitions: check and inspect XLSForms.
    #[command(subcommand)]
    Form(form_cli::FormCmd),
    /// Print the help of fieldsync or of a command (`fieldsync help admin grant`).
    Help {
        /// The command (and subcommands).
        command: Vec<String>,
    },
}

#[derive(Subcommand)]
enum Admin {
    /// Add a user.
    UserAdd {
        id: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List users.
    Users,
    /// Add a scope (team:north, account:acme, region:county-7 ...).
    ScopeAdd { scope: String },
    /// List scopes.
    Scopes,
    /// Give a user rights on a scope (no flags: remove the grant).
    Grant {
        user: String,
        scope: String,
        #[arg(long)]
        read: bool,
        #[arg(long)]
        write: bool,
    },
    /// Show a user's grants.
    Grants { user: String },
    /// Create a one-time enrolment code (and link) for a user's new device.
    EnrolCode {
        user: String,
        /// Host devices reach the server at.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// UDP port.
        #[arg(long, default_value_t = 4433)]
        port: u16,
        /// Hours the code stays valid.
        #[arg(long, default_value_t = 72)]
        ttl_hours: i64,
    },
    /// List devices.
    Devices,
    /// Revoke a device: its next connection is refused.
    Revoke { device: String },
    /// After restoring server.db from a backup: new log epoch, every device repairs.
    EpochBump,
    /// Counts of documents and changes.
    Status,
    /// Add a back-office console account (prints a generated password unless
    /// --password-stdin is given).
    ConsoleUserAdd {
        /// Sign-in name.
        username: String,
        /// The tenant user it acts as (its grants decide the scopes it sees).
        #[arg(long)]
        user: String,
        /// viewer, reviewer or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List console accounts.
    ConsoleUsers,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let help_lang = cli_help::lang_from_args(&args);
    let matches = cli_help::localize(Cli::command(), help_lang).get_matches_from(&args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Cmd::Help { command } = &cli.cmd {
        // `fieldsync help a b` is `fieldsync a b --help`: clap prints it and exits.
        let mut again: Vec<std::ffi::OsString> = args.iter().take(1).cloned().collect();
        again.extend(command.iter().map(Into::into));
        again.push("--help".into());
        cli_help::localize(Cli::command(), help_lang).get_matches_from(again);
        return;
    }
    let ui = cli
        .lang
        .as_deref()
        .and_then(Lang::parse)
        .unwrap_or_else(Lang::from_env);
    if let Err(e) = real_main(cli, ui) {
        eprintln!(
            "{}",
            t!(ui, "cli-error", error = cli_errors::render(ui, &*e))
        );
        std::process::exit(1);
    }
}

type AnyError = Box<dyn std::error::Error>;

fn runtime() -> Result<tokio::runtime::Runtime, AnyError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn storage_config(cli_db: Option<&str>, data: &std::path::Path) -> StorageConfig {
    match cli_db {
        Some(db) => StorageConfig::parse(db),
        None => StorageConfig::Sqlite(data.join("server.db")),
    }
}

fn open_storage(
    cli_db: Option<&str>,
    data: &std::path::Path,
) -> Result<Arc<dyn Backend>, AnyError> {
    std::fs::create_dir_all(data)?;
    Ok(fieldsync_server::storage::open(&storage_config(
        cli_db, data,
    ))?)
}

fn real_main(cli: Cli, ui: Lang) -> Result<(), AnyError> {
    let tenant = cli.tenant.as_str();
    match cli.cmd {
        // Handled in main (it prints clap's help and exits).
        Cmd::Help { .. } => {}
        Cmd::Demo { dir } => {
            let rt = runtime()?;
            rt.block_on(fieldsync_server::demo::run(
                &dir,
                ui,
                &mut std::io::stdout(),
            ))?;
        }
        Cmd::Init => {
            let st = open_storage(cli.database.as_deref(), &cli.data)?;
            let id = tls_identity(&cli.data, &["localhost".into(), "127.0.0.1".into()])?;
            let fresh = admin::first_start(&*st, tenant)?;
            let path = cli.data.display().to_string();
            if fresh {
                println!(
                    "{}",
                    t!(ui, "cli-init-ready-new", path = path, tenant = tenant)
                );
            } else {
                println!("{}", t!(ui, "cli-init-ready", path = path, tenant = tenant));
            }
            println!("{}", t!(ui, "cli-tls-pin", pin = hex::encode(id.pin)));
        }
        Cmd::Serve {
            listen,
            public_host,
            tls_names,
            console,
            no_console,
            secure_cookies,
            quota_exchanges_per_minute,
            quota_push_kib_per_s,
            s3,
        } => {
            let rt = runtime()?;
            rt.block_on(async move {
                let mut cfg = ServerConfig::new(&cli.data, listen);
                cfg.storage = Some(storage_config(cli.database.as_deref(), &cli.data));
                cfg.blobs = s3
                    .blob_store()
                    .map_err(|_| t!(ui, "cli-s3-secret-missing", env = s3_cli::SECRET_ENV))?;
                cfg.tls_names.extend(tls_names);
                if !cfg.tls_names.contains(&public_host) {
                    cfg.tls_names.push(public_host.clone());
                }
                cfg.public_host = Some(public_host.clone());
                cfg.quotas.exchanges_per_minute =
                    Some(quota_exchanges_per_minute).filter(|n| *n > 0);
                cfg.quotas.push_bytes_per_s = Some(quota_push_kib_per_s << 10).filter(|n| *n > 0);
                if !no_console {
                    let mut cc = fieldsync_server::console::ConsoleConfig::new(console);
                    cc.tenant = tenant.to_string();
                    cc.secure_cookies = secure_cookies;
                    cfg.console = Some(cc);
                }
                let server = start(cfg).await?;
                let fresh = admin::first_start(&*server.storage, tenant)?;
                if let Some(c) = &server.console {
                    println!(
                        "{}",
                        t!(ui, "cli-console-on", addr = c.local_addr.to_string())
                    );
                    if let Some((user, password)) =
                        admin::first_console_admin(&*server.storage, tenant)?
                    {
                        println!(
                            "{}",
                            t!(
                                ui,
                                "cli-console-first-admin",
                                user = user,
                                password = password
                            )
                        );
                    }
                }
                println!(
                    "{}",
                    t!(
                        ui,
                        "cli-server-on",
                        addr = server.local_addr.to_string(),
                        path = cli.data.display().to_string()
                    )
                );
                println!(
                    "{}",
                    t!(ui, "cli-tls-pin", pin = hex::encode(server.identity.pin))
                );
                if fresh {
                    let link = admin::enrolment_link(
                        &*server.storage,
                        tenant,
                        "field-1",
                        &public_host,
                        server.local_addr.port(),
                        server.identity.pin,
                        72,
                    )?;
                    println!("{}", t!(ui, "cli-first-start"));
                    println!("{}", t!(ui, "cli-enrol-code-first", code = &link.code));
                    println!("{}", t!(ui, "cli-enrol-link", link = link.to_uri()));
                }
                println!("{}", t!(ui, "cli-press-ctrl-c"));
                tokio::signal::ctrl_c().await?;
                server.shutdown().await;
                Ok::<(), AnyError>(())
            })?;
        }
        Cmd::Admin(a) => {
            let st = open_storage(cli.database.as_deref(), &cli.data)?;
            st.ensure_tenant(tenant)?;
            admin_cmd(&*st, tenant, &cli.data, a, ui)?;
        }
        Cmd::Export {
            form,
            format,
            labels,
            region,
            out,
        } => {
            let format = match format.as_str() {
                "csv" => fieldsync_server::console::ExportFormat::Csv,
                "xlsx" => fieldsync_server::console::ExportFormat::Xlsx,
                other => {
                    return Err(t!(
                        ui,
                        "cli-unknown-export-format",
                        format = format!("{other:?}")
                    )
                    .into());
                }
            };
            let st = open_storage(cli.database.as_deref(), &cli.data)?;
            let opts = fieldsync_server::console::ExportOptions {
                form_key: form,
                region,
                labels,
                language: cli.lang.clone(),
                ..Default::default()
            };
            let n = match out {
                Some(path) => {
                    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
                    let n = fieldsync_server::console::export_from_log(
                        &*st, tenant, &opts, format, &mut f,
                    )?;
                    std::io::Write::flush(&mut f)?;
                    n
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = stdout.lock();
                    fieldsync_server::console::export_from_log(
                        &*st, tenant, &opts, format, &mut lock,
                    )?
                }
            };
            eprintln!("{}", t!(ui, "cli-exported", n = n));
        }
        Cmd::Form(f) => {
            let status = form_cli::run(f, ui)?;
            if status != 0 {
                std::process::exit(status);
            }
        }
    }
    Ok(())
}

fn admin_cmd(
    st: &dyn Backend,
    tenant: &str,
    data: &std::path::Path,
    a: Admin,
    ui: Lang,
) -> Result<(), AnyError> {
    match a {
        Admin::UserAdd { id, name } => {
            st.create_user(tenant, &id, if name.is_empty() { &id } else { &name })?;
            println!("{}", t!(ui, "cli-user-added", id = &id));
        }
        Admin::Users => {
            for (id, name) in st.list_users(tenant)? {
                println!("{id}\t{name}");
            }
        }
        Admin::ScopeAdd { scope } => {
            st.create_scope(tenant, &scope)?;
            println!("{}", t!(ui, "cli-scope-added", scope = &scope));
        }
        Admin::Scopes => {
            for s in st.list_scopes(tenant)? {
                println!("{s}");
            }
        }
        Admin::Grant {
            user,
            scope,
            read,
            write,
        } => {
            st.set_grant(tenant, &user, &scope, read, write)?;
            println!(
                "{}",
                t!(
                    ui,
                    "cli-grant-set",
                    user = &user,
                    scope = &scope,
                    read = read.to_string(),
                    write = write.to_string()
                )
            );
        }
        Admin::Grants { user } => {
            for g in st.grants(tenant, &user)? {
                println!(
                    "{}\t{}{}",
                    g.scope,
                    if g.read { "r" } else { "-" },
                    if g.write { "w" } else { "-" }
                );
            }
        }
        Admin::EnrolCode {
            user,
            host,
            port,
            ttl_hours,
        } => {
            let id = tls_identity(data, &["localhost".into(), "127.0.0.1".into()])?;
            let link = admin::enrolment_link(st, tenant, &user, &host, port, id.pin, ttl_hours)?;
            println!(
                "{}",
                t!(
                    ui,
                    "cli-enrol-code",
                    user = &user,
                    code = &link.code,
                    hours = ttl_hours.to_string()
                )
            );
            println!("{}", t!(ui, "cli-enrol-link", link = link.to_uri()));
        }
        Admin::Devices => {
            for d in st.list_devices(tenant)? {
                let state = if d.revoked_at.is_some() {
                    t!(ui, "cli-device-revoked-state")
                } else {
                    t!(ui, "cli-device-active-state")
                };
                let seen = d.last_seen_at.map_or_else(
                    || t!(ui, "cli-never"),
                    |t| fieldsync_i18n::format::datetime(ui, t),
                );
                println!(
                    "{}",
                    t!(
                        ui,
                        "cli-device-line",
                        id = &d.id,
                        user = &d.user_id,
                        name = &d.name,
                        state = state,
                        seen = seen
                    )
                );
            }
        }
        Admin::Revoke { device } => {
            st.revoke_device(&device, fieldsync_core::now_ms())?;
            println!("{}", t!(ui, "cli-device-revoked", device = &device));
        }
        Admin::EpochBump => {
            let e = st.new_epoch(tenant)?;
            println!(
                "{}",
                t!(
                    ui,
                    "cli-epoch-bumped",
                    tenant = tenant,
                    epoch = hex::encode(e)
                )
            );
        }
        Admin::ConsoleUserAdd {
            username,
            user,
            role,
            password_stdin,
        } => {
            let role = fieldsync_server::storage::console::Role::parse(&role)
                .ok_or_else(|| t!(ui, "cli-bad-role"))?;
            let (password, shown) = if password_stdin {
                let mut p = String::new();
                std::io::stdin().read_line(&mut p)?;
                (p.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (fieldsync_server::console::password::random_token(15)?, true)
            };
            admin::add_console_account(st, tenant, &username, &user, role, &password)?;
            println!(
                "{}",
                t!(
                    ui,
                    "cli-console-user-added",
                    username = &username,
                    role = role.as_str(),
                    user = &user
                )
            );
            if shown {
                println!("{}", t!(ui, "cli-password-once", password = &password));
            }
        }
        Admin::ConsoleUsers => {
            for a in st.list_console_accounts(tenant)? {
                println!(
                    "{}\t{}\t{}{}",
                    a.username,
                    a.role.as_str(),
                    a.user_id,
                    if a.disabled_at.is_some() {
                        format!("\t{}", t!(ui, "cli-disabled"))
                    } else {
                        String::new()
                    }
                );
            }
        }
        Admin::Status => {
            let (docs, changes) = st.counts(tenant)?;
            println!(
                "{}",
                t!(
                    ui,
                    "cli-status",
                    tenant = tenant,
                    docs = fieldsync_i18n::format::integer(
                        ui,
                        i64::try_from(docs).unwrap_or(i64::MAX)
                    ),
                    changes = fieldsync_i18n::format::integer(
                        ui,
                        i64::try_from(changes).unwrap_or(i64::MAX)
                    ),
                    watermark = st.watermark(tenant)?.to_string()
                )
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and argument has its help text in the catalogues, and every entry
    /// of the table names a real command or argument.
    #[test]
    fn every_command_and_argument_has_a_translated_help() {
        fn paths(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
            out.push(path.to_string());
            for a in cmd.get_arguments() {
                out.push(cli_help::arg_path(path, a));
            }
            for s in cmd.get_subcommands() {
                let p = if path.is_empty() {
                    s.get_name().to_string()
                } else {
                    format!("{path} {}", s.get_name())
                };
                paths(s, &p, out);
            }
        }
        let mut all = Vec::new();
        paths(&Cli::command(), "", &mut all);
        assert!(all.len() > 50, "the walk found the tree: {all:?}");
        let table: Vec<&str> = cli_help::HELP.iter().map(|(p, _)| *p).collect();
        let missing: Vec<&String> = all
            .iter()
            .filter(|p| !table.contains(&p.as_str()))
            .collect();
        assert!(missing.is_empty(), "no help key for {missing:?}");
        let stale: Vec<&&str> = table
            .iter()
            .filter(|p| !all.iter().any(|a| a == *p))
            .collect();
        assert!(stale.is_empty(), "help keys for nothing: {stale:?}");
        for lang in Lang::ALL {
            // Renders, with the catalogue's text and no English left in the headings.
            let mut c = cli_help::localize(Cli::command(), lang);
            let help = c.render_long_help().to_string();
            let about = fieldsync_i18n::tr(lang, "help-serve");
            assert!(help.contains(&about), "{lang}: {help}");
            if lang == Lang::ZhCn {
                for english in ["Usage:", "Commands:", "Options:", "Print help"] {
                    assert!(!help.contains(english), "{english} in {help}");
                }
            }
        }
    }

    #[test]
    fn lang_is_found_before_parsing() {
        let args = |v: &[&str]| {
            v.iter()
                .map(Into::into)
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert_eq!(
            cli_help::lang_from_args(&args(&["fieldsync", "--lang", "zh-CN", "serve"])),
            Lang::ZhCn
        );
        assert_eq!(
            cli_help::lang_from_args(&args(&["fieldsync", "serve", "--lang=zh"])),
            Lang::ZhCn
        );
        assert_eq!(
            cli_help::lang_from_args(&args(&["fieldsync", "--lang", "en", "--help"])),
            Lang::En
        );
    }
}
