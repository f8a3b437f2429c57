//! The demo: one field device's day, written to a real store file and read back.

use std::io::Write;
use std::path::Path;

use autosurgeon::Text;
use fieldsync_core::model::{
    Answer, Case, CaseCategory, CaseStage, CheckPoint, Form, GeoPoint, Response, Severity, Visit,
};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{CommitmentFilter, ResponseFilter, Store, StoreOptions, VisitFilter};
use fieldsync_core::{Error, Scope, now_ms};

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The engine failed.
    #[error(transparent)]
    Core(#[from] Error),
    /// Files or terminal.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Load the device key from `path`, creating a random one on first use. On a phone the
/// key lives in the Android Keystore or iOS Keychain instead.
pub fn device_key(path: &Path) -> Result<[u8; 32], DemoError> {
    if let Ok(hex_key) = std::fs::read_to_string(path) {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| Error::WrongKey)?;
        return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| Error::WrongKey.into());
    }
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| Error::Crypto("random"))?;
    std::fs::write(path, hex::encode(key))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

/// Run the single-device demo in `data`, printing to `out`.
pub fn run(data: &Path, out: &mut dyn Write) -> Result<(), DemoError> {
    std::fs::create_dir_all(data)?;
    let key = device_key(&data.join("device.key"))?;
    let store = Store::open(
        data.join("device.db"),
        &key,
        StoreOptions::new("phone-1", "li.wei"),
    )?;
    let team = Scope::new("team:north")?;
    let acct_scope = Scope::new("account:acme")?;
    let now = now_ms();
    let h = 3_600_000;

    writeln!(
        out,
        "fieldsync demo — store at {}",
        data.join("device.db").display()
    )?;

    // A form, as the back office would publish it.
    let form = sample::telecom_form(1);
    let form_id = store.create(&team, &form)?;

    // An account and a visit with notes, scores and a commitment.
    let account_id = store.create(
        &acct_scope,
        &sample::account("Acme Logistics", "li.wei", "north/county-3"),
    )?;
    let mut visit = sample::visit(account_id, "li.wei", now, "quarterly service review");
    visit.check_in = Some(CheckPoint {
        at: now,
        location: Some(GeoPoint {
            lat: 30.59,
            lon: 114.30,
            altitude_m: None,
            accuracy_m: Some(6.0),
        }),
    });
    visit.notes = Text::with_value("CFO and IT lead attended. Dropped calls in warehouse B.");
    visit.scores.service = Some(7);
    visit.scores.network = Some(4);
    visit.scores.overall = Some(6);
    visit.commitments.push(sample::commitment(
        "c1",
        "li.wei",
        now + 72 * h,
        "Site survey of warehouse B coverage",
    ));
    let visit_id = store.create(&acct_scope, &visit)?;
    store.update::<Visit>(visit_id, |v| {
        let end = v.notes.as_str().len();
        v.notes.splice(end, 0, " Agreed a follow-up in two weeks.");
        v.check_out = Some(CheckPoint {
            at: now + h,
            location: None,
        });
        Ok(())
    })?;

    // A complaint taken on site, moved through the first stages.
    let mut case = Case::received(
        "C0042",
        CaseCategory::Network,
        Severity::High,
        "li.wei",
        now,
        "Dropped calls in warehouse B",
    );
    case.account_id = Some(account_id.to_string());
    let case_id = store.create(&acct_scope, &case)?;
    store.update::<Case>(case_id, |c| {
        c.advance(CaseStage::Classified, "li.wei", now + 60_000);
        Ok(())
    })?;

    // A survey response.
    let mut rng = Rng::new(now.unsigned_abs());
    let mut resp = sample::telecom_response(
        &mut rng,
        form_id,
        &form,
        "north/county-3/district-2",
        "li.wei",
        now,
    );
    // A low overall score: the kind of answer that triggers a repair follow-up.
    let overall = form
        .question("overall")
        .ok_or_else(|| Error::Malformed("sample form lacks overall".into()))?;
    resp.answers
        .insert("overall".into(), Answer::Score(overall.score(3)));
    let response_id = store.create(&team, &resp)?;

    // Read everything back: from documents and from the projections.
    let v: Visit = store.get(visit_id)?;
    writeln!(out, "\nvisit {visit_id}")?;
    writeln!(out, "  purpose   {}", v.purpose)?;
    writeln!(out, "  notes     {}", v.notes.as_str())?;
    let scores: Vec<String> = v.scores.given().map(|(d, s)| format!("{d}={s}")).collect();
    writeln!(out, "  scores    {}", scores.join(" "))?;
    for c in &v.commitments {
        writeln!(
            out,
            "  commitment {} — {} (owner {}, due in {} h)",
            c.id,
            c.description,
            c.owner,
            (c.due_at - now) / h
        )?;
    }
    let c: Case = store.get(case_id)?;
    writeln!(
        out,
        "\ncase {case_id}: {} / {} / stage {}, first-contact owner {}",
        c.category.as_str(),
        c.severity.as_str(),
        c.stage.as_str(),
        c.first_contact_owner
    )?;
    let r: Response = store.get(response_id)?;
    writeln!(
        out,
        "\nresponse {response_id}: {} answers, overall {:.1} ({}), core customer: {}",
        r.answers.len(),
        r.overall().unwrap_or(0.0),
        r.band().map_or("-", |b| b.as_str()),
        r.respondent.segment.core
    )?;

    writeln!(out, "\nlists (from projections, no document loaded):")?;
    let low = store.list_responses(
        &ResponseFilter {
            region: Some("north".into()),
            band: Some(fieldsync_core::model::Band::Low),
            ..Default::default()
        },
        10,
        None,
    )?;
    writeln!(out, "  low-band responses in north: {}", low.items.len())?;
    let visits = store.list_visits(
        &VisitFilter {
            account_id: Some(account_id),
            ..Default::default()
        },
        10,
        None,
    )?;
    writeln!(out, "  visits to Acme: {}", visits.items.len())?;
    let open = store.open_commitments(
        &CommitmentFilter {
            owner: Some("li.wei".into()),
            ..Default::default()
        },
        10,
        None,
    )?;
    for c in &open.items {
        writeln!(
            out,
            "  open commitment: {} (due in {} h)",
            c.description,
            (c.due_at - now) / h
        )?;
    }
    let forms = store.list_forms(None)?;
    writeln!(
        out,
        "  forms: {}",
        forms
            .iter()
            .map(|f| format!("{} v{}", f.title, f.version))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    let hist = store.history(visit_id)?;
    writeln!(out, "\nvisit history:")?;
    for e in hist {
        // Top-level fields only; the full paths are in `e.fields`.
        let mut fields: Vec<String> = e
            .fields
            .iter()
            .filter(|f| f.0.len() == 1)
            .map(|f| f.to_string())
            .collect();
        fields.dedup();
        let when = (e.time - now) / 1000;
        writeln!(
            out,
            "  {} by {} on {} at now{:+}s: {}",
            &e.change[..8],
            e.user_id.unwrap_or_default(),
            e.device_id.unwrap_or_default(),
            when,
            fields.join(", ")
        )?;
    }
    writeln!(
        out,
        "\nchanges waiting for sync: {}",
        store.unacked_count()?
    )?;
    let _: Form = store.get(form_id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_runs_and_prints_everything() -> Result<(), DemoError> {
        let dir = tempfile::tempdir()?;
        let mut out = Vec::new();
        run(dir.path(), &mut out)?;
        let text = String::from_utf8_lossy(&out);
        for want in [
            "quarterly service review",
            "Agreed a follow-up",
            "overall=6",
            "stage classified",
            "24 answers",
            "low-band responses in north: 1",
            "Site survey",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        // A second run reuses the same store and key.
        let mut out2 = Vec::new();
        run(dir.path(), &mut out2)?;
        assert!(String::from_utf8_lossy(&out2).contains("low-band responses in north: 2"));
        Ok(())
    }
}
