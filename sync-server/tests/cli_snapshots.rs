//! CLI snapshot tests in both languages: the real `fieldsync` binary runs a fixed script
//! of commands (data folder set-up, users, scopes, grants, status, a bad role, an
//! unknown export format, form import of the example survey and of a broken form,
//! `--help` of the binary and of two commands) and
//! its output is compared with `tests/snapshots/cli.en.txt` and `cli.zh-CN.txt`.
//! Variable parts (the temporary folder, the TLS key pin) are replaced by `<DATA>` and
//! `<PIN>`.
//!
//! The language comes from the environment (`LANG`, `LC_MESSAGES`, `LC_ALL`) or
//! `--lang`; both ways are exercised. After a deliberate change of wording, rewrite the
//! snapshots and review the diff:
//!
//! ```sh
//! UPDATE_SNAPSHOTS=1 cargo test -p fieldsync-server --test cli_snapshots
//! git diff sync-server/tests/snapshots/
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sync-server/ is inside the workspace")
        .to_path_buf()
}

/// How a run picks its language.
#[derive(Clone, Copy)]
enum Pick {
    /// `LANG` only (nothing else set).
    Lang(&'static str),
    /// `LC_MESSAGES` over a `LANG` of another language.
    Messages(&'static str, &'static str),
    /// `--lang` over an environment of another language.
    Flag(&'static str, &'static str),
}

fn run(data: &Path, pick: Pick, args: &[&str]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fieldsync"));
    c.env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("LANG")
        .env_remove("FIELDSYNC_DATABASE")
        .env("RUST_LOG", "off")
        .arg("--data")
        .arg(data);
    match pick {
        Pick::Lang(l) => {
            c.env("LANG", l);
        }
        Pick::Messages(m, l) => {
            c.env("LC_MESSAGES", m).env("LANG", l);
        }
        Pick::Flag(flag, l) => {
            c.env("LANG", l).arg("--lang").arg(flag);
        }
    }
    let out = c.args(args).output().expect("run the fieldsync binary");
    let root = workspace();
    let clean = |b: &[u8]| {
        let mut s = String::from_utf8_lossy(b)
            .replace(&data.display().to_string(), "<DATA>")
            .replace(&root.display().to_string(), "<ROOT>");
        // The TLS key pin: 64 hex digits after "TLS key pin " / "TLS 密钥指纹 ".
        for marker in ["TLS key pin ", "TLS 密钥指纹 "] {
            if let Some(i) = s.find(marker) {
                let start = i + marker.len();
                let end = s[start..]
                    .find(|c: char| !c.is_ascii_hexdigit())
                    .map_or(s.len(), |e| start + e);
                s.replace_range(start..end, "<PIN>");
            }
        }
        s
    };
    format!(
        "$ fieldsync {}\n{}{}[exit {}]\n",
        clean(args.join(" ").as_bytes()),
        clean(&out.stdout),
        {
            let e = clean(&out.stderr);
            if e.is_empty() {
                String::new()
            } else {
                format!("[stderr]\n{e}")
            }
        },
        out.status.code().unwrap_or(-1)
    )
}

fn script(pick: Pick) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let example = workspace().join("examples/forms/telecom-satisfaction.csv");
    let broken = workspace().join("core/tests/xlsforms/errors/01-unknown-type.csv");
    let (example, broken) = (example.display().to_string(), broken.display().to_string());
    let steps: Vec<Vec<&str>> = vec![
        vec!["init"],
        vec!["admin", "user-add", "li.wei", "--name", "Li Wei"],
        vec!["admin", "scope-add", "account:acme"],
        vec![
            "admin",
            "grant",
            "li.wei",
            "account:acme",
            "--read",
            "--write",
        ],
        vec!["admin", "grants", "li.wei"],
        vec!["admin", "status"],
        vec![
            "admin",
            "console-user-add",
            "wang",
            "--user",
            "li.wei",
            "--role",
            "boss",
        ],
        vec!["admin", "revoke", "no-such-device"],
        vec!["export", "--form", "telecom-sat", "--format", "pdf"],
        vec!["form", "import", &example],
        vec!["form", "import", &broken],
        // Help in the same language: headings, every command, defaults, env.
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["help", "admin", "grant"],
    ];
    steps.iter().map(|a| run(&data, pick, a)).collect()
}

fn check(name: &str, got: &str) {
    let path = workspace().join("sync-server/tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, got).expect("write the snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{name} differs from the output at line {} (UPDATE_SNAPSHOTS=1 rewrites it):\n--- want\n{}\n--- got\n{}",
            first + 1,
            want.lines().nth(first).unwrap_or("<end>"),
            got.lines().nth(first).unwrap_or("<end>")
        );
    }
}

#[test]
fn cli_in_english() {
    let got = script(Pick::Lang("en_US.UTF-8"));
    check("cli.en.txt", &got);
    // `C` (CI machines) and another language both fall back to English.
    assert_eq!(script(Pick::Lang("C.UTF-8")), got, "LANG=C is English");
    // The flag wins over the environment.
    assert_eq!(script(Pick::Flag("en", "zh_CN.UTF-8")), got, "--lang en");
}

#[test]
fn cli_in_chinese() {
    let got = script(Pick::Lang("zh_CN.UTF-8"));
    check("cli.zh-CN.txt", &got);
    assert!(got.contains("已添加用户 li.wei"), "{got}");
    assert_eq!(
        script(Pick::Messages("zh_CN.UTF-8", "en_US.UTF-8")),
        got,
        "LC_MESSAGES over LANG"
    );
    assert_eq!(
        script(Pick::Flag("zh-CN", "en_US.UTF-8")),
        got,
        "--lang zh-CN"
    );
}
