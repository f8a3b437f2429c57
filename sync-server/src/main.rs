//! The `fieldsync` operator binary: parses the command line, sets up logging, and calls
//! into the library.

mod form_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use fieldsync_server::admin::{self, DEFAULT_TENANT};
use fieldsync_server::server::{ServerConfig, start, tls_identity};
use fieldsync_server::storage::{Backend, StorageConfig};

#[derive(Parser)]
#[command(
    name = "fieldsync",
    version,
    about = "fieldsync: offline-first surveys and field visits"
)]
struct Cli {
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
        /// Choice labels (and question labels in headers) instead of codes.
        #[arg(long)]
        labels: bool,
        /// Language of the labels (a form language or code, e.g. zh).
        #[arg(long)]
        lang: Option<String>,
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
    let cli = Cli::parse();
    if let Err(e) = real_main(cli) {
        eprintln!("fieldsync: {e}");
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

fn real_main(cli: Cli) -> Result<(), AnyError> {
    let tenant = cli.tenant.as_str();
    match cli.cmd {
        Cmd::Demo { dir } => {
            let rt = runtime()?;
            rt.block_on(fieldsync_server::demo::run(&dir, &mut std::io::stdout()))?;
        }
        Cmd::Init => {
            let st = open_storage(cli.database.as_deref(), &cli.data)?;
            let id = tls_identity(&cli.data, &["localhost".into(), "127.0.0.1".into()])?;
            let fresh = admin::first_start(&*st, tenant)?;
            println!(
                "data folder {} ready (tenant {tenant}{})",
                cli.data.display(),
                if fresh { ", new" } else { "" }
            );
            println!("TLS key pin {}", hex::encode(id.pin));
        }
        Cmd::Serve {
            listen,
            public_host,
            tls_names,
            console,
            no_console,
            secure_cookies,
        } => {
            let rt = runtime()?;
            rt.block_on(async move {
                let mut cfg = ServerConfig::new(&cli.data, listen);
                cfg.storage = Some(storage_config(cli.database.as_deref(), &cli.data));
                cfg.tls_names.extend(tls_names);
                if !cfg.tls_names.contains(&public_host) {
                    cfg.tls_names.push(public_host.clone());
                }
                cfg.public_host = Some(public_host.clone());
                if !no_console {
                    let mut cc = fieldsync_server::console::ConsoleConfig::new(console);
                    cc.tenant = tenant.to_string();
                    cc.secure_cookies = secure_cookies;
                    cfg.console = Some(cc);
                }
                let server = start(cfg).await?;
                let fresh = admin::first_start(&*server.storage, tenant)?;
                if let Some(c) = &server.console {
                    println!("back-office console on http://{}", c.local_addr);
                    if let Some((user, password)) =
                        admin::first_console_admin(&*server.storage, tenant)?
                    {
                        println!("console sign-in: {user} / {password} (shown once; change it)");
                    }
                }
                println!(
                    "fieldsync server on udp://{} (data {})",
                    server.local_addr,
                    cli.data.display()
                );
                println!("TLS key pin {}", hex::encode(server.identity.pin));
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
                    println!("first start: user field-1 may read and write scope team:default");
                    println!("enrolment code for field-1: {}", link.code);
                    println!("enrolment link (QR): {}", link.to_uri());
                }
                println!("press Ctrl-C to stop");
                tokio::signal::ctrl_c().await?;
                server.shutdown().await;
                Ok::<(), AnyError>(())
            })?;
        }
        Cmd::Admin(a) => {
            let st = open_storage(cli.database.as_deref(), &cli.data)?;
            st.ensure_tenant(tenant)?;
            admin_cmd(&*st, tenant, &cli.data, a)?;
        }
        Cmd::Export {
            form,
            format,
            labels,
            lang,
            region,
            out,
        } => {
            let format = match format.as_str() {
                "csv" => fieldsync_server::console::ExportFormat::Csv,
                "xlsx" => fieldsync_server::console::ExportFormat::Xlsx,
                other => {
                    return Err(format!("unknown export format {other:?} (csv or xlsx)").into());
                }
            };
            let st = open_storage(cli.database.as_deref(), &cli.data)?;
            let opts = fieldsync_server::console::ExportOptions {
                form_key: form,
                region,
                labels,
                language: lang,
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
            eprintln!("{n} responses exported");
        }
        Cmd::Form(f) => {
            let status = form_cli::run(f)?;
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
) -> Result<(), AnyError> {
    match a {
        Admin::UserAdd { id, name } => {
            st.create_user(tenant, &id, if name.is_empty() { &id } else { &name })?;
            println!("user {id} added");
        }
        Admin::Users => {
            for (id, name) in st.list_users(tenant)? {
                println!("{id}\t{name}");
            }
        }
        Admin::ScopeAdd { scope } => {
            st.create_scope(tenant, &scope)?;
            println!("scope {scope} added");
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
            println!("{user} on {scope}: read={read} write={write}");
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
                "enrolment code for {user}: {} (valid {ttl_hours} h, one use)",
                link.code
            );
            println!("enrolment link (QR): {}", link.to_uri());
        }
        Admin::Devices => {
            for d in st.list_devices(tenant)? {
                let state = if d.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let seen = d
                    .last_seen_at
                    .map_or_else(|| "never".to_string(), |t| format!("{t}"));
                println!(
                    "{}\t{}\t{}\t{state}\tlast seen {seen}",
                    d.id, d.user_id, d.name
                );
            }
        }
        Admin::Revoke { device } => {
            st.revoke_device(&device, fieldsync_core::now_ms())?;
            println!("device {device} revoked; its next connection is refused");
        }
        Admin::EpochBump => {
            let e = st.new_epoch(tenant)?;
            println!(
                "tenant {tenant} has a new log epoch {}; devices will repair on their next sync",
                hex::encode(e)
            );
        }
        Admin::ConsoleUserAdd {
            username,
            user,
            role,
            password_stdin,
        } => {
            let role = fieldsync_server::storage::console::Role::parse(&role)
                .ok_or("roles are viewer, reviewer and admin")?;
            let (password, shown) = if password_stdin {
                let mut p = String::new();
                std::io::stdin().read_line(&mut p)?;
                (p.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (fieldsync_server::console::password::random_token(15)?, true)
            };
            admin::add_console_account(st, tenant, &username, &user, role, &password)?;
            println!(
                "console user {username} ({}) acting as {user} added",
                role.as_str()
            );
            if shown {
                println!("password: {password} (shown once)");
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
                        "\tdisabled"
                    } else {
                        ""
                    }
                );
            }
        }
        Admin::Status => {
            let (docs, changes) = st.counts(tenant)?;
            println!(
                "tenant {tenant}: {docs} documents, {changes} changes, watermark {}",
                st.watermark(tenant)?
            );
        }
    }
    Ok(())
}
