//! The back-office console over real HTTP against a real server: sign-in, sessions,
//! roles, CSRF, scopes, the review that reaches the collector's device, exports.

use std::time::Duration;

use fieldsync_core::model::{Response, ResponseStatus};
use fieldsync_core::sample::{self, Rng};
use fieldsync_server::admin;
use fieldsync_server::console::ConsoleConfig;
use fieldsync_server::storage::console::Role;
use fieldsync_tests::harness::*;
use fieldsync_tests::http::{Http, input_value};

const PW: &str = "correct horse battery staple";

struct World {
    srv: TestServer,
    li: Device,
    form_id: fieldsync_core::DocId,
    responses: Vec<fieldsync_core::DocId>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = TestServer::start_with(dir, |cfg| {
        let mut cc = ConsoleConfig::new("127.0.0.1:0".parse().expect("addr"));
        cc.tenant = TENANT.into();
        cfg.console = Some(cc);
        cfg.public_host = Some("127.0.0.1".into());
    })
    .await;
    srv.user("li", &[("team:north", true, true)]);
    srv.user("rev", &[("team:north", true, true)]);
    srv.user("view", &[("team:north", true, false)]);
    srv.user("nobody", &[]);
    srv.user("admin", &[]);
    let st = &*srv.server.storage;
    for (name, user, role) in [
        ("admin", "admin", Role::Admin),
        ("rev", "rev", Role::Reviewer),
        ("view", "view", Role::Viewer),
        ("nobody", "nobody", Role::Reviewer),
    ] {
        admin::add_console_account(st, TENANT, name, user, role, PW).expect("console account");
    }
    let li = Device::enrolled(&srv, "phone-li", "li").await;
    let sc = scope("team:north");
    let form = sample::telecom_form(1);
    let form_id = li.store.create(&sc, &form).expect("form");
    let mut rng = Rng::new(7);
    let mut responses = Vec::new();
    for i in 0..6 {
        let region = sample::region(&mut rng);
        let r = sample::telecom_response(
            &mut rng,
            form_id,
            &form,
            &region,
            "li",
            1_764_000_000_000 + i * 60_000,
        );
        responses.push(li.store.create(&sc, &r).expect("response"));
    }
    li.sync().await.expect("sync");
    assert!(srv.server.wait_materialized(Duration::from_secs(20)).await);
    World {
        srv,
        li,
        form_id,
        responses,
    }
}

fn console(w: &World) -> Http {
    Http::new(
        w.srv
            .server
            .console
            .as_ref()
            .expect("console runs")
            .local_addr,
    )
}

/// Sign in; returns the session's CSRF token.
fn sign_in(h: &mut Http, user: &str, password: &str) -> Result<String, u16> {
    let form = h.get("/login");
    assert_eq!(form.status, 200);
    let token = input_value(&form.text(), "token").expect("login token");
    let r = h.post(
        "/login",
        &[
            ("username", user),
            ("password", password),
            ("token", &token),
        ],
    );
    if r.status != 303 || r.header("location") != Some("/") {
        return Err(r.status);
    }
    let home = h.get("/");
    assert_eq!(home.status, 200, "{}", home.text());
    Ok(input_value(&home.text(), "csrf").expect("csrf in the page"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_without_a_session() {
    let w = world().await;
    let mut h = console(&w);
    let id = w.responses[0].to_string();
    for path in [
        "/".to_string(),
        "/responses".into(),
        format!("/responses/{id}"),
        "/cases".into(),
        "/warnings".into(),
        "/accounts".into(),
        "/ops/devices".into(),
        "/ops/users".into(),
        "/export/responses.csv?form=telecom-sat".into(),
    ] {
        let r = tokio::task::block_in_place(|| h.get(&path));
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.header("location"), Some("/login"), "{path}");
    }
    for path in ["/api/v1/responses", "/api/v1/overview"] {
        let r = tokio::task::block_in_place(|| h.get(path));
        assert_eq!(r.status, 401, "{path}");
    }
    // A forged session cookie is no session.
    h.cookies.insert("fs_session".into(), "forged".into());
    let r = tokio::task::block_in_place(|| h.get("/"));
    assert_eq!(r.status, 303);
    let r = tokio::task::block_in_place(|| {
        h.post(
            &format!("/responses/{id}/review"),
            &[("decision", "approve"), ("csrf", "x")],
        )
    });
    assert_eq!(r.status, 401);
    // Every page carries the security headers.
    let r = tokio::task::block_in_place(|| h.get("/login"));
    assert!(
        r.header("content-security-policy")
            .is_some_and(|v| v.contains("default-src 'none'"))
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sessions_and_lockout() {
    let w = world().await;
    tokio::task::block_in_place(|| {
        let mut h = console(&w);
        assert_eq!(sign_in(&mut h, "view", "wrong password!"), Err(200));
        let csrf = sign_in(&mut h, "view", PW).expect("signed in");
        let cookie = h
            .cookies
            .get("fs_session")
            .cloned()
            .expect("session cookie");
        // Sign out ends the session for good.
        let r = h.post("/logout", &[("csrf", &csrf)]);
        assert_eq!(r.status, 303);
        let mut old = console(&w);
        old.cookies.insert("fs_session".into(), cookie);
        assert_eq!(old.get("/").status, 303);
        // Five failures lock the account, even for the right password.
        let mut h = console(&w);
        for _ in 0..5 {
            assert_eq!(sign_in(&mut h, "rev", "not the password"), Err(200));
        }
        let form = h.get("/login");
        let token = input_value(&form.text(), "token").expect("token");
        let r = h.post(
            "/login",
            &[("username", "rev"), ("password", PW), ("token", &token)],
        );
        assert_eq!(r.status, 200);
        assert!(
            r.text().contains("Too many failed attempts"),
            "{}",
            r.text()
        );
        // The sign-in form is bound to its cookie: a post without it is refused.
        let mut bare = console(&w);
        let r = bare.post(
            "/login",
            &[("username", "view"), ("password", PW), ("token", &token)],
        );
        assert_eq!(r.status, 403);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_csrf() {
    let w = world().await;
    let id = w.responses[0].to_string();
    tokio::task::block_in_place(|| {
        // A reviewer reaches no operations page.
        let mut rev = console(&w);
        let csrf = sign_in(&mut rev, "rev", PW).expect("reviewer signs in");
        for path in ["/ops/devices", "/ops/forms", "/ops/users"] {
            assert_eq!(rev.get(path).status, 403, "{path}");
        }
        assert_eq!(
            rev.post("/ops/users", &[("csrf", &csrf), ("id", "x"), ("name", "x")])
                .status,
            403
        );
        // A viewer cannot review.
        let mut view = console(&w);
        let vcsrf = sign_in(&mut view, "view", PW).expect("viewer signs in");
        let r = view.post(
            &format!("/responses/{id}/review"),
            &[("csrf", &vcsrf), ("decision", "approve")],
        );
        assert_eq!(r.status, 403);
        // Every form post needs the session's token: none, or another session's.
        let mut adm = console(&w);
        let acsrf = sign_in(&mut adm, "admin", PW).expect("admin signs in");
        for (path, fields) in [
            ("/ops/users", vec![("id", "eve"), ("name", "Eve")]),
            (
                "/ops/grants",
                vec![("user", "li"), ("scope", "team:north"), ("read", "on")],
            ),
            ("/ops/enrol", vec![("user", "li")]),
            (
                "/ops/console-users",
                vec![
                    ("username", "x"),
                    ("user", "li"),
                    ("role", "admin"),
                    ("password", PW),
                ],
            ),
            (
                "/ops/forms/publish",
                vec![("form", "{}"), ("scope", "team:north")],
            ),
            ("/logout", vec![]),
        ] {
            let r = adm.post(path, &fields);
            assert_eq!(r.status, 403, "{path} without a token");
            let mut with_other = fields.clone();
            with_other.push(("csrf", &vcsrf));
            let r = adm.post(path, &with_other);
            assert_eq!(r.status, 403, "{path} with another session's token");
        }
        let r = adm.post(
            &format!("/responses/{id}/review"),
            &[("decision", "approve"), ("csrf", "")],
        );
        assert_eq!(r.status, 403);
        let r = adm.post_file("/ops/forms", &[], ("file", "f.csv", b"survey,type,name\n"));
        assert_eq!(r.status, 403, "upload without a token");
        // With its token the admin's action works.
        let r = adm.post(
            "/ops/users",
            &[("csrf", &acsrf), ("id", "eve"), ("name", "Eve")],
        );
        assert_eq!(r.status, 303);
        assert!(
            w.srv
                .server
                .storage
                .list_users(TENANT)
                .expect("users")
                .iter()
                .any(|(u, _)| u == "eve")
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_the_scope_sees_none_of_its_data() {
    let w = world().await;
    let id = w.responses[0].to_string();
    tokio::task::block_in_place(|| {
        let mut view = console(&w);
        sign_in(&mut view, "view", PW).expect("viewer");
        let page = view.get("/responses");
        assert_eq!(
            page.text().matches("/responses/").count(),
            6,
            "the viewer sees the 6 responses"
        );
        let mut none = console(&w);
        let csrf = sign_in(&mut none, "nobody", PW).expect("nobody signs in");
        let home = none.get("/").text();
        assert!(
            home.contains(r#"id="overall-n">0<"#),
            "no figures from other scopes"
        );
        let list = none.get("/responses").text();
        assert!(!list.contains("/responses/"), "no rows");
        assert_eq!(none.get(&format!("/responses/{id}")).status, 404);
        let api = none.get("/api/v1/responses").text();
        assert!(api.contains(r#""items":[]"#), "{api}");
        let csv = none.get("/export/responses.csv?form=telecom-sat");
        assert_eq!(csv.status, 200);
        assert_eq!(csv.text().lines().count(), 1, "a header and no row");
        let r = none.post(
            &format!("/responses/{id}/review"),
            &[("csrf", &csrf), ("decision", "approve")],
        );
        assert_eq!(
            r.status, 404,
            "a review of an unseen response is refused as not found"
        );
        assert!(none.get("/accounts").status == 200);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_reaches_the_collectors_device() {
    let w = world().await;
    let id = w.responses[1];
    tokio::task::block_in_place(|| {
        let mut rev = console(&w);
        let csrf = sign_in(&mut rev, "rev", PW).expect("reviewer");
        let page = rev.get(&format!("/responses/{id}"));
        assert!(
            page.text().contains("id=\"review-form\""),
            "the reviewer gets the review form"
        );
        let r = rev.post(
            &format!("/responses/{id}/review"),
            &[
                ("csrf", &csrf),
                ("decision", "approve"),
                ("comment", "Checked by phone"),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.text());
        assert_eq!(
            r.header("location"),
            Some(format!("/responses/{id}?message=reviewed").as_str())
        );
    });
    w.li.sync().await.expect("device syncs");
    let r: Response = w.li.store.get(id).expect("response on the device");
    assert_eq!(r.status, ResponseStatus::Approved);
    let entry = r.review.last().expect("a review entry");
    assert_eq!(entry.by, "rev");
    assert_eq!(entry.comment.as_deref(), Some("Checked by phone"));
    // Field history names the reviewer and the console.
    let hist =
        w.li.store
            .field_history(
                id,
                &fieldsync_core::doc::FieldPath::parse("status").expect("path"),
            )
            .expect("history");
    let last = hist.last().expect("status history");
    assert_eq!(last.user_id.as_deref(), Some("rev"));
    assert_eq!(last.device_id.as_deref(), Some("console"));
    let _ = w.form_id;
    // The merged view shows it too.
    assert!(
        w.srv
            .server
            .wait_materialized(Duration::from_secs(20))
            .await
    );
    let merged = w.srv.server.merged.as_ref().expect("merged view");
    let m: Response = merged.get(id).expect("merged response");
    assert_eq!(m.status, ResponseStatus::Approved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_forms_enrolment_and_revocation() {
    let w = world().await;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let xlsx =
        std::fs::read(root.join("examples/forms/telecom-satisfaction.xlsx")).expect("example");
    let revoked = tokio::task::block_in_place(|| {
        let mut adm = console(&w);
        let csrf = sign_in(&mut adm, "admin", PW).expect("admin");
        // A broken spreadsheet: every error with its sheet, row and column.
        let bad = b"survey,type,name,label\n,integer,1age,Age\n,select_one nolist,q,Q\n";
        let r = adm.post_file("/ops/forms", &[("csrf", &csrf)], ("file", "bad.csv", bad));
        assert_eq!(r.status, 200);
        let page = r.text();
        assert!(page.contains("id=\"import-errors\""), "{page}");
        assert!(
            page.contains("survey!2 name"),
            "row and column named: {page}"
        );
        assert!(!page.contains("id=\"publish\""), "nothing to publish");
        // The example: a preview, then published as the next version of telecom-sat.
        let r = adm.post_file(
            "/ops/forms",
            &[("csrf", &csrf)],
            ("file", "telecom.xlsx", &xlsx),
        );
        let page = r.text();
        assert!(page.contains("id=\"publish\""), "{page}");
        let form_json = input_value(&page, "form").expect("the form to publish");
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&form_json) {
            let i = e.column().saturating_sub(40);
            panic!(
                "the page's form is not JSON: {e}: {}",
                &form_json[i..(i + 80).min(form_json.len())]
            );
        }
        let r = adm.post(
            "/ops/forms/publish",
            &[
                ("csrf", &csrf),
                ("form", &form_json),
                ("scope", "team:north"),
            ],
        );
        assert_eq!(r.status, 303);
        // The sample survey of the world is version 1 of telecom-sat: this is version 2.
        assert_eq!(
            r.header("location"),
            Some("/ops/forms?message=published_v2")
        );
        // An enrolment code with its QR image.
        let r = adm.post(
            "/ops/enrol",
            &[("csrf", &csrf), ("user", "li"), ("hours", "1")],
        );
        assert_eq!(r.status, 200);
        let page = r.text();
        assert!(page.contains("id=\"enrol-code\""));
        assert!(page.contains("<svg"), "a QR image");
        assert!(page.contains("fieldsync:"), "the enrolment link: {page}");
        // Revoke li's phone.
        let r = adm.post("/ops/devices/phone-li/revoke", &[("csrf", &csrf)]);
        assert_eq!(r.status, 303);
        r.status
    });
    assert_eq!(revoked, 303);
    // The device is refused from now on; a colleague's device receives the form.
    assert!(w.li.sync().await.is_err(), "a revoked device is refused");
    w.srv.user("wang", &[("team:north", true, true)]);
    let wang = Device::enrolled(&w.srv, "phone-wang", "wang").await;
    wang.sync().await.expect("sync");
    let forms = wang.store.list_forms(Some("telecom-sat")).expect("forms");
    assert_eq!(forms.len(), 2, "the published form reached the device");
    assert_eq!(forms[0].version, 2, "newest first");
    assert!(forms[0].published);
    let rows = wang
        .store
        .list_responses(&Default::default(), 50, None)
        .expect("responses");
    assert_eq!(rows.items.len(), 6);
}

/// The reader's choice of language is kept in the console account: another browser
/// (no cookie) starts in it after signing in. A choice made without a session stays in
/// that browser's cookie and changes no account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_choice_follows_the_account() {
    let w = world().await;
    let st = w.srv.server.storage.clone();
    let language = |who: &str| {
        st.console_account(TENANT, who)
            .expect("read the account")
            .expect("account exists")
            .language
    };
    assert_eq!(language("view"), None, "no choice yet");
    let mut a = console(&w);
    tokio::task::block_in_place(|| {
        sign_in(&mut a, "view", PW).expect("signed in");
        let r = a.get("/lang?to=zh-CN&back=/");
        assert_eq!(r.status, 303);
        assert_eq!(a.cookies.get("fs_lang").map(String::as_str), Some("zh-CN"));
    });
    assert_eq!(language("view").as_deref(), Some("zh-CN"));

    let mut b = console(&w);
    tokio::task::block_in_place(|| {
        let login = b.get("/login");
        assert!(
            login.text().contains("<html lang=\"en\">"),
            "a new browser starts in English"
        );
        sign_in(&mut b, "view", PW).expect("signed in");
        assert_eq!(b.cookies.get("fs_lang").map(String::as_str), Some("zh-CN"));
        let home = b.get("/");
        assert!(
            home.text().contains("<html lang=\"zh-CN\">"),
            "{}",
            home.text()
        );
        // Back to English from this browser: the account follows.
        assert_eq!(b.get("/lang?to=en&back=/").status, 303);
    });
    assert_eq!(language("view").as_deref(), Some("en"));

    let mut c = console(&w);
    tokio::task::block_in_place(|| {
        assert_eq!(c.get("/lang?to=zh-CN&back=/login").status, 303);
        assert_eq!(c.cookies.get("fs_lang").map(String::as_str), Some("zh-CN"));
    });
    assert_eq!(language("admin"), None, "no session, no account changed");
    assert_eq!(language("view").as_deref(), Some("en"));
}
