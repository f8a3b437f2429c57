//! Operations pages (admins): devices (last sync, revoke), enrolment codes with a QR
//! image, forms (upload an XLSForm, see its import errors, publish a version), users,
//! grants and console accounts.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_core::forms::xlsform;
use fieldsync_core::model::Form as SurveyForm;
use serde::Deserialize;

use super::ConsoleState;
use super::auth::{Refusal, Signed};
use super::i18n::{Notice, lang};
use super::pages::{MessageQuery, author_of, blocking};
use super::view::{self, Frame, page};
use super::writer;
use crate::storage::console::{ConsoleAccount, Role};
use fieldsync_i18n::t;

struct DeviceLine {
    id: String,
    name: String,
    user: String,
    enrolled: String,
    last_seen: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    frame: Frame,
    rows: Vec<DeviceLine>,
    users: Vec<String>,
    enrolled_code: Option<String>,
    enrolled_link: Option<String>,
    qr_svg: Option<String>,
    message: Option<Notice>,
}

async fn devices_page(
    st: &ConsoleState,
    signed: &Signed,
    code: Option<(String, String)>,
    message: Option<String>,
) -> Response {
    let storage = st.inner.storage.clone();
    let tenant = signed.account.tenant.clone();
    let got = blocking(move || {
        let devices = storage.list_devices(&tenant).map_err(|e| e.to_string())?;
        let users = storage.list_users(&tenant).map_err(|e| e.to_string())?;
        Ok((devices, users))
    })
    .await;
    let (devices, users) = match got {
        Ok(v) => v,
        Err(r) => return r,
    };
    let qr_svg = code.as_ref().and_then(|(_, link)| {
        qrcode::QrCode::new(link.as_bytes()).ok().map(|q| {
            q.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(220, 220)
                .build()
        })
    });
    page(&DevicesPage {
        frame: Frame::new(signed, "devices", t!(lang(), "console-devices-title")),
        rows: devices
            .into_iter()
            .map(|d| DeviceLine {
                id: d.id,
                name: d.name,
                user: d.user_id,
                enrolled: view::when(Some(d.enrolled_at)),
                last_seen: view::when(d.last_seen_at),
                revoked: d.revoked_at.is_some(),
            })
            .collect(),
        users: users.into_iter().map(|(id, _)| id).collect(),
        enrolled_code: code.as_ref().map(|(c, _)| c.clone()),
        enrolled_link: code.map(|(_, l)| l),
        qr_svg,
        message: Notice::of(message),
    })
}

/// Enrolled devices, and the form for a new enrolment code.
pub async fn devices(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(m): Query<MessageQuery>,
) -> Result<Response, Refusal> {
    signed.require(Role::Admin)?;
    Ok(devices_page(&st, &signed, None, m.message).await)
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Revoke a device: its next connection is refused.
pub async fn revoke(
    State(st): State<ConsoleState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, Refusal> {
    signed.check_csrf(&f.csrf)?;
    signed.require(Role::Admin)?;
    let storage = st.inner.storage.clone();
    let tenant = signed.account.tenant.clone();
    let done = blocking(
        move || match storage.device(&id).map_err(|e| e.to_string())? {
            Some(d) if d.tenant == tenant => {
                storage
                    .revoke_device(&id, fieldsync_core::now_ms())
                    .map_err(|e| e.to_string())?;
                Ok(true)
            }
            _ => Ok(false),
        },
    )
    .await;
    Ok(match done {
        Ok(true) => Redirect::to("/ops/devices?message=revoked").into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, t!(lang(), "console-no-device")).into_response(),
        Err(r) => r,
    })
}

/// New enrolment code fields.
#[derive(Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    csrf: String,
    user: String,
    #[serde(default)]
    hours: Option<i64>,
}

/// Create a one-time enrolment code for a user and show it with its QR image.
pub async fn enrol(
    State(st): State<ConsoleState>,
    signed: Signed,
    Form(f): Form<EnrolForm>,
) -> Result<Response, Refusal> {
    signed.check_csrf(&f.csrf)?;
    signed.require(Role::Admin)?;
    let Some(link) = st.inner.link.clone() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            t!(lang(), "console-no-public-address"),
        )
            .into_response());
    };
    let storage = st.inner.storage.clone();
    let tenant = signed.account.tenant.clone();
    let hours = f.hours.unwrap_or(72).clamp(1, 24 * 14);
    let user = f.user.clone();
    let got = blocking(move || {
        if !storage
            .list_users(&tenant)
            .map_err(|e| e.to_string())?
            .iter()
            .any(|(u, _)| *u == user)
        {
            return Ok(None);
        }
        let l = crate::admin::enrolment_link(
            &*storage, &tenant, &user, &link.host, link.port, link.pin, hours,
        )
        .map_err(|e| e.to_string())?;
        Ok(Some((l.code.clone(), l.to_uri())))
    })
    .await;
    Ok(match got {
        Ok(Some(code)) => devices_page(&st, &signed, Some(code), None).await,
        Ok(None) => Redirect::to("/ops/devices?message=unknown_user").into_response(),
        Err(r) => r,
    })
}

// ----- forms -----------------------------------------------------------------------

struct FormLine {
    id: String,
    key: String,
    version: i64,
    title: String,
    published: bool,
}

struct IssueLine {
    place: String,
    message: String,
    code: String,
}

#[derive(Template)]
#[template(path = "forms.html")]
struct FormsPage {
    frame: Frame,
    rows: Vec<FormLine>,
    scopes: Vec<String>,
    errors: Vec<IssueLine>,
    warnings: Vec<IssueLine>,
    preview: Option<(String, String, usize, String)>,
    summary: String,
    upload_json: String,
    message: Option<Notice>,
}

async fn forms_page(
    st: &ConsoleState,
    signed: &Signed,
    imported: Option<Result<xlsform::Import, xlsform::ImportErrors>>,
    message: Option<String>,
) -> Response {
    let merged = st.inner.merged.clone();
    let storage = st.inner.storage.clone();
    let tenant = signed.account.tenant.clone();
    let got = blocking(move || {
        let forms = merged.list_forms(None).map_err(|e| e.to_string())?;
        let scopes = storage.list_scopes(&tenant).map_err(|e| e.to_string())?;
        Ok((forms, scopes))
    })
    .await;
    let (forms, scopes) = match got {
        Ok(v) => v,
        Err(r) => return r,
    };
    let issue = |i: &xlsform::ImportIssue| IssueLine {
        place: format!(
            "{}{}{}",
            i.sheet,
            i.row.map(|r| format!("!{r}")).unwrap_or_default(),
            i.column
                .as_ref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default()
        ),
        message: match super::i18n::lang() {
            fieldsync_i18n::Lang::En => i.message.clone(),
            l => fieldsync_i18n::labels::form_issue(l, i.code).unwrap_or_else(|| i.message.clone()),
        },
        code: i.code.to_string(),
    };
    let (errors, warnings, preview, upload_json) = match &imported {
        None => (Vec::new(), Vec::new(), None, String::new()),
        Some(Err(e)) => (
            e.errors.iter().map(issue).collect(),
            e.warnings.iter().map(issue).collect(),
            None,
            String::new(),
        ),
        Some(Ok(i)) => (
            Vec::new(),
            i.warnings.iter().map(issue).collect(),
            Some((
                i.form.title.clone(),
                i.form.form_key.clone(),
                i.form.questions.len(),
                i.form.languages.join(", "),
            )),
            serde_json::to_string(&i.form).unwrap_or_default(),
        ),
    };
    let summary = preview
        .as_ref()
        .map_or_else(String::new, |(_, key, n, langs)| {
            t!(
                lang(),
                "console-form-summary",
                key = key,
                n = fieldsync_i18n::format::integer(lang(), i64::try_from(*n).unwrap_or(i64::MAX)),
                languages = langs
            )
        });
    page(&FormsPage {
        frame: Frame::new(signed, "forms", t!(lang(), "console-forms-title")),
        rows: forms
            .into_iter()
            .map(|f| FormLine {
                id: f.id.to_string(),
                key: f.form_key,
                version: f.version,
                title: f.title,
                published: f.published,
            })
            .collect(),
        scopes,
        errors,
        warnings,
        preview,
        summary,
        upload_json,
        message: Notice::of(message),
    })
}

/// Form versions, and the XLSForm upload.
pub async fn forms(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(m): Query<MessageQuery>,
) -> Result<Response, Refusal> {
    signed.require(Role::Admin)?;
    Ok(forms_page(&st, &signed, None, m.message).await)
}

/// Upload an XLSForm: import it and show its errors, or a preview to publish.
pub async fn upload_form(
    State(st): State<ConsoleState>,
    signed: Signed,
    mut multipart: Multipart,
) -> Result<Response, Refusal> {
    signed.require(Role::Admin)?;
    let (mut csrf, mut file) = (None::<String>, None::<(String, Vec<u8>)>);
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("csrf") => csrf = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or("form.xlsx").to_string();
                match field.bytes().await {
                    Ok(b) if b.len() <= xlsform::MAX_FILE_BYTES => file = Some((name, b.to_vec())),
                    _ => {
                        return Ok((
                            StatusCode::PAYLOAD_TOO_LARGE,
                            t!(lang(), "console-file-too-large"),
                        )
                            .into_response());
                    }
                }
            }
            _ => {}
        }
    }
    signed.check_csrf(csrf.as_deref().unwrap_or(""))?;
    let Some((name, bytes)) = file else {
        return Ok(Redirect::to("/ops/forms?message=no_file").into_response());
    };
    let Some(format) = xlsform::Format::from_path(std::path::Path::new(&name)) else {
        return Ok(Redirect::to("/ops/forms?message=not_xlsform").into_response());
    };
    let imported = tokio::task::spawn_blocking(move || xlsform::import_bytes(&bytes, format))
        .await
        .map_err(|_| Refusal::Unavailable)?;
    Ok(forms_page(&st, &signed, Some(imported), None).await)
}

/// Publish fields: the imported form (as the preview showed it) and the scope.
#[derive(Deserialize)]
pub struct PublishForm {
    #[serde(default)]
    csrf: String,
    form: String,
    scope: String,
}

/// Publish an imported form as the next version of its key, in a scope: a new form
/// document pushed into the log; devices that read the scope receive it.
pub async fn publish_form(
    State(st): State<ConsoleState>,
    signed: Signed,
    Form(f): Form<PublishForm>,
) -> Result<Response, Refusal> {
    signed.check_csrf(&f.csrf)?;
    signed.require(Role::Admin)?;
    let Ok(mut form) = serde_json::from_str::<SurveyForm>(&f.form) else {
        return Ok(Redirect::to("/ops/forms?message=bad_form").into_response());
    };
    let st2 = st.clone();
    let signed2 = signed.clone();
    let scope = f.scope.clone();
    let got = blocking(move || {
        let author = author_of(&st2, &signed2)?;
        if !author.writable.contains(&scope) {
            return Ok(Err("unknown_scope".to_string()));
        }
        let next = st2
            .inner
            .merged
            .list_forms(Some(&form.form_key))
            .map_err(|e| e.to_string())?
            .iter()
            .map(|r| r.version)
            .max()
            .unwrap_or(0)
            + 1;
        form.version = next;
        form.published = true;
        form.published_at = Some(fieldsync_core::now_ms());
        match writer::create_record(
            &*st2.inner.storage,
            &st2.inner.merged,
            &author,
            &scope,
            &form,
        ) {
            Ok(_) => {
                st2.inner.committed(&author.tenant, vec![scope]);
                Ok(Ok(next))
            }
            Err(writer::WriteError::Rule(fieldsync_core::Error::Validation(v))) => {
                Ok(Err(format!("invalid_{}", v.code)))
            }
            Err(writer::WriteError::Refused(r)) => Ok(Err(format!("refused_{r}"))),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    Ok(match got {
        Ok(Ok(v)) => Redirect::to(&format!("/ops/forms?message=published_v{v}")).into_response(),
        Ok(Err(m)) => Redirect::to(&format!("/ops/forms?message={m}")).into_response(),
        Err(r) => r,
    })
}

// ----- users and grants ------------------------------------------------------------

struct UserLine {
    id: String,
    name: String,
    grants: String,
}

struct ConsoleLine {
    username: String,
    user: String,
    role: &'static str,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    frame: Frame,
    users: Vec<UserLine>,
    scopes: Vec<String>,
    console: Vec<ConsoleLine>,
    message: Option<Notice>,
}

/// Users, their grants, and console accounts.
pub async fn users(
    State(st): State<ConsoleState>,
    signed: Signed,
    Query(m): Query<MessageQuery>,
) -> Result<Response, Refusal> {
    signed.require(Role::Admin)?;
    let storage = st.inner.storage.clone();
    let tenant = signed.account.tenant.clone();
    let got = blocking(move || {
        let users = storage.list_users(&tenant).map_err(|e| e.to_string())?;
        let mut lines = Vec::new();
        for (id, name) in users {
            let grants = storage
                .grants(&tenant, &id)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|g| {
                    format!(
                        "{} ({}{})",
                        g.scope,
                        if g.read { "r" } else { "" },
                        if g.write { "w" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            lines.push(UserLine { id, name, grants });
        }
        let scopes = storage.list_scopes(&tenant).map_err(|e| e.to_string())?;
        let console = storage
            .list_console_accounts(&tenant)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|a| ConsoleLine {
                username: a.username,
                user: a.user_id,
                role: a.role.as_str(),
                disabled: a.disabled_at.is_some(),
            })
            .collect();
        Ok((lines, scopes, console))
    })
    .await;
    Ok(match got {
        Ok((users, scopes, console)) => page(&UsersPage {
            frame: Frame::new(&signed, "users", t!(lang(), "console-users-title")),
            users,
            scopes,
            console,
            message: Notice::of(m.message),
        }),
        Err(r) => r,
    })
}

/// New user fields.
#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    id: String,
    name: String,
}

/// Add a user.
pub async fn add_user(
    State(st): State<ConsoleState>,
    signed: Signed,
    Form(f): Form<UserForm>,
) -> Result<Response, Refusal> {
    signed.check_csrf(&f.csrf)?;
    signed.require(Role::Admin)?;
    let storage = st.inner.storage.clone();
    let tenant = signed.account.tenant.clone();
    let got = blocking(move || {
        Ok(
            match storage.create_user(&tenant, f.id.trim(), f.name.trim()) {
                Ok(()) => "user_added",
                Err(_) => "user_not_added",
            },
        )
    })
    .await;
    Ok(match got {
        Ok(m) => Redirect::to(&format!("/ops/users?message={m}")).into_response(),
        Err(r) => r,
    })
}

/// Grant fields.
#[derive(Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    csrf: String,
    user: String,
    scope: String,
    #[serde(default)]
    read: Option<String>,
    #[serde(default)]
    write: Option<String>,
    #[serde(default)]
    new_scope: Option<String>,
}

/// Set a user's rights on a scope (creating the scope when asked).
pub async fn grant(
    State(st): State<ConsoleState>,
    signed: Signed,
    Form(f): Form<GrantForm>,
) -> Result<Response, Refusal> {
    signed.check_csrf(&f.csrf)?;
    signed.require(Role::Admin)?;
    let storage = st.inner.storage.clone();
    let tenant = signed.account.tenant.clone();
    let got = blocking(move || {
        let scope = f
            .new_scope
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(f.scope.trim())
            .to_string();
        if !storage
            .list_scopes(&tenant)
            .map_err(|e| e.to_string())?
            .contains(&scope)
            && storage.create_scope(&tenant, &scope).is_err()
        {
            return Ok("scope_not_added");
        }
        Ok(
            match storage.set_grant(
                &tenant,
                f.user.trim(),
                &scope,
                f.read.is_some(),
                f.write.is_some(),
            ) {
                Ok(()) => "grant_set",
                Err(_) => "grant_not_set",
            },
        )
    })
    .await;
    Ok(match got {
        Ok(m) => Redirect::to(&format!("/ops/users?message={m}")).into_response(),
        Err(r) => r,
    })
}

/// New console account fields.
#[derive(Deserialize)]
pub struct ConsoleUserForm {
    #[serde(default)]
    csrf: String,
    username: String,
    user: String,
    role: String,
    password: String,
}

/// Add a console account.
pub async fn add_console_user(
    State(st): State<ConsoleState>,
    signed: Signed,
    Form(f): Form<ConsoleUserForm>,
) -> Result<Response, Refusal> {
    signed.check_csrf(&f.csrf)?;
    signed.require(Role::Admin)?;
    let Some(role) = Role::parse(&f.role) else {
        return Ok(Redirect::to("/ops/users?message=bad_role").into_response());
    };
    let storage = st.inner.storage.clone();
    let tenant = signed.account.tenant.clone();
    let got = blocking(move || {
        let Ok(hash) = super::password::hash(&f.password) else {
            return Ok("weak_password");
        };
        Ok(
            match storage.create_console_account(&ConsoleAccount {
                tenant,
                username: f.username.trim().to_string(),
                user_id: f.user.trim().to_string(),
                role,
                password_hash: hash,
                language: None,
                created_at: fieldsync_core::now_ms(),
                disabled_at: None,
                failed_logins: 0,
                locked_until: None,
            }) {
                Ok(()) => "console_user_added",
                Err(_) => "console_user_not_added",
            },
        )
    })
    .await;
    Ok(match got {
        Ok(m) => Redirect::to(&format!("/ops/users?message={m}")).into_response(),
        Err(r) => r,
    })
}
