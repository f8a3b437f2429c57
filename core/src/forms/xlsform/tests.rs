//! Unit tests of the XLSForm importer on small workbooks built in code: per type and
//! per column here, per error code in `errors`, and the formats, limits and a
//! no-panic sweep over damaged input in `reading` (with `.xlsx` archives assembled
//! there).

mod errors;
mod reading;

use super::*;
use crate::model::{Dimension, QuestionKind as K, Scale};

type R = Result<(), Box<dyn std::error::Error>>;

fn csv(src: &str) -> Result<Import, ImportErrors> {
    import_bytes(src.as_bytes(), Format::Csv)
}

/// A form from CSV text; panics with every error listed when the import fails.
fn form(src: &str) -> Form {
    match csv(src) {
        Ok(i) => i.form,
        Err(e) => panic!("import failed:\n{e}"),
    }
}

fn errors(src: &str) -> Vec<ImportIssue> {
    match csv(src) {
        Ok(i) => panic!(
            "expected errors, got a form with {} elements",
            i.form.questions.len()
        ),
        Err(e) => e.errors,
    }
}

/// The one error with `code`, asserting where it is.
#[track_caller]
fn error_at(src: &str, code: &str, sheet: &str, row: Option<usize>, column: Option<&str>) {
    let errs = errors(src);
    let Some(e) = errs.iter().find(|e| e.code == code) else {
        panic!("no `{code}` error among:\n{}", list(&errs));
    };
    assert_eq!(
        (e.sheet.as_str(), e.row, e.column.as_deref()),
        (sheet, row, column),
        "{e}"
    );
}

fn list(issues: &[ImportIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn survey(rows: &str) -> String {
    format!("survey,type,name,label\n{rows}")
}

const YES_NO: &str = "choices,list_name,name,label\n,yes_no,yes,Yes\n,yes_no,no,No\n";

// -------------------------------------------------------------------------------------
// Types.

#[test]
fn every_type_maps_to_its_kind() {
    let cases = [
        ("text", K::Text),
        ("integer", K::Integer),
        ("decimal", K::Decimal),
        ("range", K::Range),
        ("note", K::Note),
        ("date", K::Date),
        ("time", K::Time),
        ("dateTime", K::DateTime),
        ("geopoint", K::GeoPoint),
        ("geotrace", K::GeoTrace),
        ("geoshape", K::GeoShape),
        ("image", K::Image),
        ("audio", K::Audio),
        ("video", K::Video),
        ("file", K::File),
        ("barcode", K::Barcode),
        ("acknowledge", K::Acknowledge),
        ("hidden", K::Hidden),
        ("start", K::Start),
        ("end", K::End),
        ("today", K::Today),
        ("deviceid", K::DeviceId),
        ("username", K::Username),
        ("select_one yes_no", K::SelectOne),
        ("select_multiple yes_no", K::SelectMultiple),
        ("rank yes_no", K::Rank),
        ("select_one_from_file places.csv", K::SelectOne),
        ("select_multiple_from_file places.xml", K::SelectMultiple),
    ];
    for (t, kind) in cases {
        let f = form(&format!("{}{YES_NO}", survey(&format!(",{t},q,Q\n"))));
        let q = f.question("q").expect("the question");
        assert_eq!(q.kind, kind, "{t}");
        assert_eq!(q.xls_type.as_deref(), Some(t));
    }
    let f = form("survey,type,name,label,calculation\n,calculate,c,,1+1\n");
    assert_eq!(f.question("c").map(|q| q.kind), Some(K::Calculate));
}

#[test]
fn pyxform_aliases_are_accepted() {
    let cases = [
        ("int", K::Integer),
        ("q int", K::Integer),
        ("string", K::Text),
        ("location", K::GeoPoint),
        ("gps", K::GeoPoint),
        ("photo", K::Image),
        ("q picture", K::Image),
        ("add image prompt", K::Image),
        ("datetime", K::DateTime),
        ("imei", K::DeviceId),
        ("get today", K::Today),
        ("start time", K::Start),
        ("trigger", K::Acknowledge),
        ("select one yes_no", K::SelectOne),
        ("select1 yes_no", K::SelectOne),
        ("select all that apply yes_no", K::SelectMultiple),
        ("select one from file a.csv", K::SelectOne),
    ];
    for (t, kind) in cases {
        let f = form(&format!("{}{YES_NO}", survey(&format!(",{t},q,Q\n"))));
        assert_eq!(f.question("q").map(|q| q.kind), Some(kind), "{t}");
    }
    let f = form(&survey(
        ",begin_group,g,G\n,text,a,A\n,end_group,,\n,begin lgroup,r,R\n,text,b,B\n,end lgroup,,\n",
    ));
    assert_eq!(f.question("g").map(|q| q.kind), Some(K::Group));
    assert_eq!(f.question("r").map(|q| q.kind), Some(K::Repeat));
    assert_eq!(f.question("b").and_then(|q| q.group.as_deref()), Some("r"));
}

#[test]
fn unsupported_types_are_named() {
    for t in [
        "phonenumber",
        "email",
        "audit",
        "osm",
        "select_one_external cities",
        "select_one ${earlier}",
        "background-audio",
        "xml-external",
    ] {
        let src = survey(&format!(",text,earlier,E\n,{t},q,Q\n"));
        error_at(&src, "unsupported_type", "survey", Some(3), Some("type"));
    }
    // A loop is refused, but keeps the nesting: only one error.
    let errs = errors(&survey(
        ",begin loop over yes_no,l,L\n,text,a,A\n,end loop,,\n",
    ));
    assert!(
        errs.iter().all(|e| e.code == "unsupported_type"),
        "{}",
        list(&errs)
    );
}

#[test]
fn unknown_types_get_a_suggestion() {
    let errs = errors(&survey(
        ",Integer,a,A\n,select_on yes_no,b,B\n,begin grop,g,G\n,wibble,w,W\n",
    ));
    let msgs: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
    assert!(msgs[0].contains("did you mean `integer`"), "{msgs:?}");
    assert!(
        msgs[1].contains("did you mean `select_one yes_no`"),
        "{msgs:?}"
    );
    assert!(msgs[2].contains("did you mean `begin group`"), "{msgs:?}");
    assert!(!msgs[3].contains("did you mean"), "{msgs:?}");
    assert!(
        errs.iter()
            .all(|e| e.code == "unknown_type" && e.column.as_deref() == Some("type"))
    );
    assert_eq!(
        errs.iter().map(|e| e.row).collect::<Vec<_>>(),
        [Some(2), Some(3), Some(4), Some(5)]
    );
}

#[test]
fn select_without_a_list() {
    error_at(
        &survey(",select_one,q,Q\n"),
        "missing_list_name",
        "survey",
        Some(2),
        Some("type"),
    );
    error_at(
        &survey(",rank,q,Q\n"),
        "missing_list_name",
        "survey",
        Some(2),
        Some("type"),
    );
}

// -------------------------------------------------------------------------------------
// Columns.

#[test]
fn untranslated_texts() {
    let f = form(
        "survey,type,name,label,hint,constraint,constraint_message,required,required_message,guidance_hint\n\
         ,integer,age,Age,In years,. > 0,Positive,yes,Needed,Ask politely\n",
    );
    let q = f.question("age").expect("age");
    assert_eq!(q.label, "Age");
    assert_eq!(q.hint.as_deref(), Some("In years"));
    assert_eq!(q.constraint.as_deref(), Some(". > 0"));
    assert_eq!(q.constraint_message.as_deref(), Some("Positive"));
    assert_eq!(q.required_message.as_deref(), Some("Needed"));
    assert!(q.required);
    assert!(q.translations.is_empty());
    assert_eq!(
        q.extra.get("guidance_hint").map(String::as_str),
        Some("Ask politely")
    );
    assert!(f.languages.is_empty());
    assert_eq!(f.default_language, None);
}

#[test]
fn translated_texts_and_languages() {
    let f = form(
        "survey,type,name,label::English (en),label::中文 (zh),hint::中文 (zh),constraint_message::English (en),image::English (en)\n\
         ,integer,age,Age,年龄,岁,Positive,age.png\n\
         settings,form_id,default_language\n,langs,中文 (zh)\n",
    );
    assert_eq!(f.languages, ["English (en)", "中文 (zh)"]);
    assert_eq!(f.default_language.as_deref(), Some("中文 (zh)"));
    let q = f.question("age").expect("age");
    assert_eq!(q.label, "年龄", "the default language's label");
    assert_eq!(q.hint.as_deref(), Some("岁"));
    assert_eq!(
        q.constraint_message.as_deref(),
        Some("Positive"),
        "falls back to another language"
    );
    let en = &q.translations["English (en)"];
    assert_eq!(en.label.as_deref(), Some("Age"));
    assert_eq!(en.media.get("image").map(String::as_str), Some("age.png"));
    assert_eq!(q.label_in(Some("English (en)")), "Age");
    assert_eq!(f.language("zh"), Some("中文 (zh)"));
}

#[test]
fn default_language_rules() {
    // No setting, no bare column: the first language.
    let f = form("survey,type,name,label::French (fr),label::English (en)\n,text,a,Un,One\n");
    assert_eq!(f.default_language.as_deref(), Some("French (fr)"));
    assert_eq!(f.question("a").map(|q| q.label.as_str()), Some("Un"));
    // A bare label next to translated ones is language `default` (as pyxform), warned.
    let i =
        csv("survey,type,name,label,label::English (en)\n,text,a,Bare,One\n,text,b,Only bare,\n")
            .expect("import");
    assert_eq!(i.form.languages, ["default", "English (en)"]);
    assert_eq!(i.form.default_language.as_deref(), Some("default"));
    let b = i.form.question("b").expect("b");
    assert_eq!(
        b.translations["default"].label.as_deref(),
        Some("Only bare")
    );
    assert!(
        i.warnings
            .iter()
            .any(|w| w.code == "bare_translatable_column")
    );
    // With the setting, bare texts are in that language, a translated cell wins.
    let f = form(
        "survey,type,name,label,label::English (en)\n,text,a,Bare,One\n,text,b,Only bare,\n\
         settings,form_id,default_language\n,x,English (en)\n",
    );
    assert_eq!(f.languages, ["English (en)"]);
    assert_eq!(f.question("a").map(|q| q.label.as_str()), Some("One"));
    assert_eq!(f.question("b").map(|q| q.label.as_str()), Some("Only bare"));
}

#[test]
fn required_values() {
    let f = form(
        "survey,type,name,label,required\n,text,a,A,yes\n,text,b,B,TRUE\n,text,c,C,true()\n\
         ,text,d,D,no\n,text,e,E,false()\n,text,f,F,${a} != ''\n,text,g,G,\n",
    );
    let req = |n: &str| f.question(n).map(|q| (q.required, q.required_if.clone()));
    assert_eq!(req("a"), Some((true, None)));
    assert_eq!(req("b"), Some((true, None)));
    assert_eq!(req("c"), Some((true, None)));
    assert_eq!(req("d"), Some((false, None)));
    assert_eq!(req("e"), Some((false, None)));
    assert_eq!(req("f"), Some((false, Some("${a} != ''".into()))));
    assert_eq!(req("g"), Some((false, None)));
}

#[test]
fn read_only_values() {
    let f = form(
        "survey,type,name,label,read_only\n,text,a,A,yes\n,text,b,B,no\n,text,c,C,${a} = 'x'\n,text,d,D,true\n",
    );
    let ro = |n: &str| f.question(n).and_then(|q| q.read_only.clone());
    assert_eq!(ro("a").as_deref(), Some("true()"));
    assert_eq!(ro("b"), None);
    assert_eq!(ro("c").as_deref(), Some("${a} = 'x'"));
    assert_eq!(ro("d").as_deref(), Some("true()"));
}

#[test]
fn expression_and_layout_columns() {
    let f = form(&(
        "survey,type,name,label,relevant,calculation,default,appearance,choice_filter,repeat_count\n\
         ,integer,n,N,,,2,thousands-sep,,\n\
         ,integer,twice,Twice,${n} > 0,${n} * 2,,,,\n\
         ,begin repeat,r,R,,,,,,${n}\n\
         ,select_one yes_no,pick,Pick,,,yes,minimal,${n} > 0,\n\
         ,end repeat,,,,,,,,\n"
            .to_string()
            + YES_NO),
    );
    let twice = f.question("twice").expect("twice");
    assert_eq!(twice.relevant.as_deref(), Some("${n} > 0"));
    assert_eq!(twice.calculation.as_deref(), Some("${n} * 2"));
    let n = f.question("n").expect("n");
    assert_eq!(n.default.as_deref(), Some("2"));
    assert_eq!(n.appearance.as_deref(), Some("thousands-sep"));
    assert_eq!(
        f.question("r").and_then(|q| q.repeat_count.as_deref()),
        Some("${n}")
    );
    let pick = f.question("pick").expect("pick");
    assert_eq!(pick.group.as_deref(), Some("r"));
    assert_eq!(pick.choice_filter.as_deref(), Some("${n} > 0"));
    assert_eq!(pick.list_name.as_deref(), Some("yes_no"));
    assert_eq!(f.choices(pick).len(), 2);
}

#[test]
fn parameters_are_split() {
    let f = form(
        "survey,type,name,label,parameters\n,range,a,A,start=0 end=4 step=2\n,range,b,B,start=1;end=3\n\
         ,integer,c,C,\"rows=3, Extra=Keep\"\n,select_one_from_file x.csv,d,D,value=Code label=Title\n",
    );
    let p = |n: &str| {
        f.question(n)
            .map(|q| q.parameters.clone())
            .unwrap_or_default()
    };
    assert_eq!(p("a").get("end").map(String::as_str), Some("4"));
    assert_eq!(p("b").get("end").map(String::as_str), Some("3"));
    assert_eq!(
        p("d").get("value").map(String::as_str),
        Some("Code"),
        "value keeps its case"
    );
    assert_eq!(p("d").get("label").map(String::as_str), Some("Title"));
    let errs = errors("survey,type,name,label,parameters\n,text,c,C,rows=3 Extra=Keep\n");
    assert_eq!(errs[0].code, "unknown_parameter", "text accepts only rows");
    assert!(
        errs[0].message.contains("extra"),
        "keys are lower-cased: {}",
        errs[0]
    );
}

#[test]
fn extra_columns_are_kept_as_written() {
    let f = form(
        "survey,type,name,label,owner,bind::odk:length,body::accept,trigger,calculation,audio\n\
         ,text,a,A,sales,1 20,,,,a.mp3\n,calculate,b,,,,,${a},now(),\n",
    );
    let a = f.question("a").expect("a");
    assert_eq!(a.extra.get("owner").map(String::as_str), Some("sales"));
    assert_eq!(
        a.extra.get("bind::odk:length").map(String::as_str),
        Some("1 20")
    );
    assert_eq!(
        a.extra.get("audio").map(String::as_str),
        Some("a.mp3"),
        "untranslated media"
    );
    let b = f.question("b").expect("b");
    assert_eq!(b.extra.get("trigger").map(String::as_str), Some("${a}"));
}

#[test]
fn header_aliases() {
    let f = form(
        "survey,Type,Name,Caption,Relevance,readonly,count,Constraint Message\n\
         ,integer,n,N,,,,\n,begin repeat,r,R,${n} > 0,,${n},\n,text,t,T,,yes,,Bad\n,end repeat,,,,,,\n\
         choices,list name,value,caption\n,l,x,X\n",
    );
    let t = f.question("t").expect("t");
    assert_eq!(t.read_only.as_deref(), Some("true()"));
    assert_eq!(t.constraint_message.as_deref(), Some("Bad"));
    let r = f.question("r").expect("r");
    assert_eq!(r.relevant.as_deref(), Some("${n} > 0"));
    assert_eq!(r.repeat_count.as_deref(), Some("${n}"));
    assert_eq!(f.choice_lists["l"][0].label, "X");
}

#[test]
fn choices_translations_and_extra_columns() {
    let i = csv(
        "survey,type,name,label::English (en),label::中文 (zh)\n,select_one c,q,Q,问\n\
         choices,list_name,name,label::English (en),label::中文 (zh),county,my col\n\
         ,c,a,A,甲,north,dropped\n,c,b,B,,south,\n,c,n,,,,\n",
    )
    .expect("import");
    let c = &i.form.choice_lists["c"];
    assert_eq!(c[0].translations["中文 (zh)"], "甲");
    assert_eq!(c[0].extra.get("county").map(String::as_str), Some("north"));
    assert!(
        !c[0].extra.contains_key("my col"),
        "headers with spaces are dropped, as pyxform"
    );
    assert_eq!(c[1].label, "B");
    let codes: Vec<&str> = i.warnings.iter().map(|w| w.code).collect();
    assert!(codes.contains(&"dropped_column"), "{codes:?}");
    assert!(codes.contains(&"missing_choice_label"), "{codes:?}");
}

#[test]
fn or_other_adds_a_choice_and_a_question() {
    let f = form(&format!(
        "{}{YES_NO}",
        survey(
            ",begin group,g,G\n,select_one yes_no or_other,q,Q\n,end group,,\n,select_multiple yes_no or_other,m,M\n"
        )
    ));
    let names: Vec<&str> = f.questions.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(names, ["g", "q", "q_other", "m", "m_other"]);
    let other = f.question("q_other").expect("q_other");
    assert_eq!(other.kind, K::Text);
    assert_eq!(other.label, "Specify other.");
    assert_eq!(other.relevant.as_deref(), Some("selected(${q}, 'other')"));
    assert_eq!(other.group.as_deref(), Some("g"));
    assert!(f.question("q").is_some_and(|q| q.or_other));
    let values: Vec<&str> = f.choice_lists["yes_no"]
        .iter()
        .map(|c| c.value.as_str())
        .collect();
    assert_eq!(
        values,
        ["yes", "no", "other"],
        "one `other`, shared by the list"
    );
    // Translated lists get `Other` in each of their languages.
    let f = form(
        "survey,type,name,label::en,label::fr\n,select_one l or_other,q,Q,Q\n\
         choices,list_name,name,label::en,label::fr\n,l,a,A,A\n",
    );
    let other = f.choice_lists["l"]
        .iter()
        .find(|c| c.value == "other")
        .expect("other");
    assert_eq!(other.translations.len(), 2);
}

#[test]
fn select_from_file_keeps_the_file() {
    let f = form(&survey(
        ",select_one_from_file counties.csv,c,County\n,select_one towns.xml,t,Town\n",
    ));
    let c = f.question("c").expect("c");
    assert_eq!(
        (c.file.as_deref(), c.list_name.as_deref()),
        (Some("counties.csv"), None)
    );
    assert_eq!(
        f.question("t").and_then(|q| q.file.as_deref()),
        Some("towns.xml")
    );
    assert_eq!(type_name(c), "select_one_from_file");
}

#[test]
fn groups_repeats_and_the_tree() {
    let f = form(&survey(
        ",begin group,a,A\n,begin group,b,B\n,text,x,X\n,end group,,\n,begin repeat,r,R\n\
         ,begin repeat,rr,RR\n,text,y,Y\n,end repeat,,\n,end repeat,,\n,end group,,\n,text,z,Z\n",
    ));
    let parent = |n: &str| f.question(n).and_then(|q| q.group.clone());
    assert_eq!(parent("a"), None);
    assert_eq!(parent("b").as_deref(), Some("a"));
    assert_eq!(parent("x").as_deref(), Some("b"));
    assert_eq!(parent("r").as_deref(), Some("a"));
    assert_eq!(parent("y").as_deref(), Some("rr"));
    assert_eq!(parent("z"), None);
    let t = canonical_tree(&f);
    assert_eq!(
        t["children"][0]["children"][1]["children"][0]["children"][0]["name"],
        "y"
    );
    assert_eq!(t["children"][1]["name"], "z");
}

#[test]
fn notes_without_names_comments_and_disabled_rows() {
    let i = csv(
        "survey,type,name,label,hint,disabled\n,note,,Hello,,\n,,,,just a comment,\n,text,a,A,,no\n,text,b,B,,yes\n",
    )
    .expect("import");
    let names: Vec<&str> = i.form.questions.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(names, ["generated_note_name_2", "a"]);
    let codes: Vec<&str> = i.warnings.iter().map(|w| w.code).collect();
    assert!(
        codes.contains(&"skipped_row") && codes.contains(&"disabled_column"),
        "{codes:?}"
    );
}

#[test]
fn settings() {
    let f = form(
        "survey,type,name,label\n,text,a,A\n\
         settings,form_title,form_id,version,instance_name,Style\n,Title,my-form,2025-06,${a},pages\n",
    );
    assert_eq!(
        (f.title.as_str(), f.form_key.as_str()),
        ("Title", "my-form")
    );
    assert_eq!(
        f.settings.get("version").map(String::as_str),
        Some("2025-06")
    );
    assert_eq!(
        f.settings.get("instance_name").map(String::as_str),
        Some("${a}")
    );
    assert_eq!(
        f.settings.get("style").map(String::as_str),
        Some("pages"),
        "known keys in snake case"
    );
    assert_eq!((f.version, f.published), (1, false));
    // No settings: the file name or `data`; the title falls back to the key.
    let i = import_bytes(b"survey,type,name,label\n,text,a,A\n", Format::Csv).expect("import");
    assert_eq!(
        (i.form.form_key.as_str(), i.form.title.as_str()),
        ("data", "data")
    );
    assert!(i.warnings.iter().any(|w| w.code == "default_form_id"));
    // Settings rows on the survey sheet (pyxform allows them).
    let f = form(
        "survey,type,name,label\n,form_id,from-survey,\n,form_title,Survey title,\n,text,a,A\n",
    );
    assert_eq!(
        (f.form_key.as_str(), f.title.as_str()),
        ("from-survey", "Survey title")
    );
}

#[test]
fn scores_from_dimension_and_scale() {
    let f = form(
        "survey,type,name,label,dimension,scale,parameters\n\
         ,select_one s10,svc,Service,Service,,\n,integer,nps,NPS,,0-10,\n,range,prod,Product,product,,start=1 end=5\n\
         ,integer,plain,Plain,care,,\n,select_one s5,five,Five,overall,,\n\
         choices,list_name,name,label\n,s10,1,1\n,s10,10,10\n,s5,1,Bad\n,s5,5,Good\n",
    );
    let s = |n: &str| {
        f.question(n)
            .map(|q| (q.kind, q.dimension, q.scale))
            .expect(n)
    };
    assert_eq!(
        s("svc"),
        (
            K::Score,
            Some(Dimension::Service),
            Some(Scale { min: 1, max: 10 })
        )
    );
    assert_eq!(s("nps"), (K::Score, None, Some(Scale { min: 0, max: 10 })));
    assert_eq!(
        s("prod"),
        (
            K::Score,
            Some(Dimension::Product),
            Some(Scale { min: 1, max: 5 })
        )
    );
    assert_eq!(
        s("plain"),
        (
            K::Score,
            Some(Dimension::Care),
            Some(Scale { min: 1, max: 10 })
        )
    );
    assert_eq!(
        s("five"),
        (
            K::Score,
            Some(Dimension::Overall),
            Some(Scale { min: 1, max: 5 })
        )
    );
    let svc = f.question("svc").expect("svc");
    assert_eq!(svc.xls_type.as_deref(), Some("select_one s10"));
    assert_eq!(type_name(svc), "select_one");
    assert!(!svc.extra.contains_key("dimension"));
}

#[test]
fn whitespace_and_smart_quotes_are_cleaned_as_pyxform() {
    let f = form(&(
        "survey,type,name,label,relevant\n,select_one   yes_no,a,Two  spaces,\n,text,b,B,${a} = \u{2018}yes\u{2019}\n"
            .to_string()
            + YES_NO),
    );
    assert_eq!(
        f.question("a").map(|q| q.label.as_str()),
        Some("Two spaces")
    );
    assert_eq!(
        f.question("b").and_then(|q| q.relevant.as_deref()),
        Some("${a} = 'yes'")
    );
}

#[test]
fn imported_forms_validate() -> R {
    struct NoCtx;
    impl crate::model::RecordContext for NoCtx {
        fn form(&self, id: &crate::ids::DocId) -> Result<Form, crate::Error> {
            Err(crate::Error::NotFound { id: *id })
        }
        fn now(&self) -> crate::ids::Timestamp {
            0
        }
    }
    let f = form(&format!(
        "{}{YES_NO}",
        survey(
            ",begin group,g,G\n,select_one yes_no or_other,q,Q\n,integer,n,N\n,end group,,\n,note,,Bye\n"
        )
    ));
    crate::model::Record::validate(&f, None, &NoCtx)?;
    Ok(())
}
