//! The golden store: a store file made by Rust (schema 2), committed with a manifest of
//! what it holds. Kotlin, Swift and Python tests open a copy of it through their bindings
//! and check the same values. This test checks the file from Rust, and regenerates it
//! when FIELDSYNC_REGENERATE_GOLDEN=1 (only for a deliberate change of its content).

use std::path::PathBuf;

use fieldsync_ffi::records::*;
use fieldsync_ffi::store::FieldStore;

const KEY: [u8; 32] = [0x5a; 32];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn generate() {
    let _ = std::fs::remove_file(dir().join("golden.db"));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("golden.db");
    let s = FieldStore::open(
        path.display().to_string(),
        KEY.to_vec(),
        "golden-dev".into(),
        "golden-user".into(),
    )
    .unwrap();
    let account = s
        .create_account(
            "account:golden".into(),
            Account {
                name: "Golden Account".into(),
                segment: SegmentKind::Enterprise,
                industry: Some("ports".into()),
                size: None,
                region: "north/county-1".into(),
                value_tier: Some(ValueTier::High),
                core: true,
                contacts: vec![],
                owner: "golden-user".into(),
                co_owners: vec![],
            },
        )
        .unwrap();
    let visit = s
        .create_visit(
            "account:golden".into(),
            Visit {
                account_id: account.clone(),
                owner: "golden-user".into(),
                purpose: "golden review".into(),
                planned_at: 1_700_000_000_000,
                attendees: vec!["golden-user".into()],
                check_in: None,
                check_out: None,
                notes: "Golden notes.".into(),
                scores: DimensionScores {
                    overall: Some(8),
                    service: Some(7),
                    ..Default::default()
                },
                issues: vec![],
                commitments: vec![Commitment {
                    id: "c1".into(),
                    description: "Golden promise".into(),
                    owner: "golden-user".into(),
                    due_at: 1_700_100_000_000,
                    done_at: None,
                    refund: false,
                }],
                cancelled: false,
                attachments: vec![],
            },
        )
        .unwrap();
    s.close();
    // Checkpoint the WAL into the main file so one file is the whole store.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(c);
    std::fs::copy(&path, dir().join("golden.db")).unwrap();
    let manifest = serde_json::json!({
        "key_hex": KEY.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "device_id": "golden-dev", "user_id": "golden-user",
        "account_id": account, "account_name": "Golden Account",
        "visit_id": visit, "visit_notes": "Golden notes.", "visit_overall": 8,
        "commitment": "Golden promise",
    });
    std::fs::write(
        dir().join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap() + "\n",
    )
    .unwrap();
}

#[test]
fn golden_store_opens_from_rust() {
    if std::env::var("FIELDSYNC_REGENERATE_GOLDEN").is_ok() {
        generate();
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("g.db");
    std::fs::copy(dir().join("golden.db"), &copy).unwrap();
    let s = FieldStore::open(
        copy.display().to_string(),
        KEY.to_vec(),
        "reader".into(),
        "reader".into(),
    )
    .unwrap();
    let a = s
        .get_account(manifest["account_id"].as_str().unwrap().into())
        .unwrap();
    assert_eq!(a.name, manifest["account_name"].as_str().unwrap());
    let v = s
        .get_visit(manifest["visit_id"].as_str().unwrap().into())
        .unwrap();
    assert_eq!(v.notes, manifest["visit_notes"].as_str().unwrap());
    assert_eq!(v.scores.overall, manifest["visit_overall"].as_i64());
    let open = s.open_commitments(None, None, 10).unwrap();
    assert_eq!(
        open[0].description,
        manifest["commitment"].as_str().unwrap()
    );
    assert!(matches!(
        FieldStore::open(
            copy.display().to_string(),
            vec![1; 32],
            "r".into(),
            "r".into()
        ),
        Err(fieldsync_ffi::FieldsyncError::WrongKey)
    ));
}
