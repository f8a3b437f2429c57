//! The `fieldsync` operator binary: parses the command line, sets up logging, and calls
//! into the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fieldsync",
    version,
    about = "fieldsync: offline-first surveys and field visits"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the demo: a device store with an account, a visit with notes, scores and
    /// commitments, a survey response and a complaint, printed back.
    Demo {
        /// Folder for the demo's files (created; reused on the next run).
        #[arg(long, default_value = "fieldsync-demo")]
        data: PathBuf,
    },
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
    let result = match cli.cmd {
        Cmd::Demo { data } => fieldsync_server::demo::run(&data, &mut std::io::stdout()),
    };
    if let Err(e) = result {
        eprintln!("fieldsync: {e}");
        std::process::exit(1);
    }
}
