//! The example telecom survey in both languages through its XLSForm `::language`
//! columns: a device asking for `zh-CN` gets the `中文 (zh)` labels, hints and constraint
//! messages; `en-US` the English ones; a language the form lacks gets the form's
//! default texts.

use std::path::PathBuf;

use fieldsync_core::forms::xlsform;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/forms/telecom-satisfaction.csv")
}

#[test]
fn the_example_survey_speaks_both_languages() -> Result<(), Box<dyn std::error::Error>> {
    let import = xlsform::import_path(&example()).map_err(|e| format!("{:?}", e.errors))?;
    let f = import.form;
    assert_eq!(f.languages, ["English (en)", "中文 (zh)"]);
    // zh-CN → zh; en-US → en; fr → none (the default texts, English here).
    assert_eq!(f.language("zh-CN"), Some("中文 (zh)"));
    assert_eq!(f.language("zh"), Some("中文 (zh)"));
    assert_eq!(f.language("en-US"), Some("English (en)"));
    assert_eq!(f.language("fr"), None);
    let q = f.question("contact_phone").ok_or("contact_phone")?;
    let zh = q.translations.get("中文 (zh)").ok_or("zh texts")?;
    let en = q.translations.get("English (en)").ok_or("en texts")?;
    assert_eq!(zh.constraint_message.as_deref(), Some("请至少输入7位数字"));
    assert_eq!(
        en.constraint_message.as_deref(),
        Some("Enter at least 7 digits")
    );
    let seg = f.question("segment").ok_or("segment")?;
    assert_eq!(seg.label_in(f.language("zh-CN")), "客户类型");
    assert_eq!(seg.label_in(f.language("en-GB")), "Customer segment");
    assert_eq!(
        seg.label_in(f.language("fr")),
        seg.label_in(f.language("en"))
    );
    // Every labelled element has both texts.
    for q in f.questions.iter().filter(|q| !q.label.is_empty()) {
        for l in &f.languages {
            assert!(
                q.translations
                    .get(l)
                    .and_then(|t| t.label.as_deref())
                    .is_some(),
                "{} has a {l} label",
                q.id
            );
        }
    }
    Ok(())
}
