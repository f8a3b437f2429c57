//! Every error code, each with its sheet, row and column.

use super::*;

#[test]
fn structure_errors() {
    error_at(
        "choices,list_name,name,label\n,a,b,c,\n",
        "missing_sheet",
        "survey",
        None,
        None,
    );
    error_at(
        "survey,kind,name,label\n,text,a,A\n",
        "missing_column",
        "survey",
        Some(1),
        Some("type"),
    );
    error_at(
        "survey,type,label,x\n,text,A,\n",
        "missing_column",
        "survey",
        Some(1),
        Some("name"),
    );
    error_at(
        &survey(",text,a,A\n,,b,B\n"),
        "missing_type",
        "survey",
        Some(3),
        Some("type"),
    );
    error_at(
        &survey(",text,,A\n"),
        "missing_name",
        "survey",
        Some(2),
        Some("name"),
    );
    error_at(
        &survey(",text,9lives,A\n"),
        "invalid_name",
        "survey",
        Some(2),
        Some("name"),
    );
    error_at(
        &survey(",text,ünï,A\n"),
        "invalid_name",
        "survey",
        Some(2),
        Some("name"),
    );
    error_at(
        &survey(",text,meta,A\n"),
        "reserved_name",
        "survey",
        Some(2),
        Some("name"),
    );
    error_at(
        &survey(",begin repeat,data,D\n,text,a,A\n,end repeat,,\n"),
        "reserved_name",
        "survey",
        Some(2),
        Some("name"),
    );
    error_at(
        &survey(",begin group,g,G\n,text,a,A\n"),
        "unmatched_begin",
        "survey",
        Some(2),
        Some("type"),
    );
    error_at(
        &survey(",text,a,A\n,end repeat,,\n"),
        "unmatched_end",
        "survey",
        Some(3),
        Some("type"),
    );
    error_at(
        &survey(",begin group,g,G\n,text,a,A\n,end repeat,,\n,end group,,\n"),
        "unmatched_end",
        "survey",
        Some(4),
        Some("type"),
    );
}

#[test]
fn names_are_unique_in_the_whole_form() {
    // pyxform allows the same name in two groups; the model does not.
    let src = survey(
        ",begin group,a,A\n,text,x,X\n,end group,,\n,begin group,b,B\n,text,x,X\n,end group,,\n",
    );
    error_at(&src, "duplicate_name", "survey", Some(6), Some("name"));
    // or_other's generated name collides too.
    let src = format!(
        "{}{YES_NO}",
        survey(",text,q_other,T\n,select_one yes_no or_other,q,Q\n")
    );
    error_at(&src, "duplicate_name", "survey", Some(3), Some("type"));
}

#[test]
fn choice_list_errors() {
    error_at(
        &survey(",select_one nope,q,Q\n"),
        "unknown_choice_list",
        "survey",
        Some(2),
        Some("type"),
    );
    error_at(
        &format!("{}{YES_NO}", survey(",select_one nope,q,Q\n")),
        "unknown_choice_list",
        "survey",
        Some(2),
        Some("type"),
    );
    let empty =
        "survey,type,name,label\n,select_one l,q,Q\nchoices,list_name,name,label\n,l,,Nameless\n";
    error_at(empty, "empty_choice_list", "survey", Some(2), Some("type"));
    error_at(
        empty,
        "missing_choice_name",
        "choices",
        Some(2),
        Some("name"),
    );
    let dup = "survey,type,name,label\n,select_one l,q,Q\nchoices,list_name,name,label\n,l,a,A\n,l,a,A2\n";
    error_at(dup, "duplicate_choice", "choices", Some(3), Some("name"));
    let spaced =
        "survey,type,name,label\n,select_multiple l,q,Q\nchoices,list_name,name,label\n,l,a b,A\n";
    error_at(
        spaced,
        "invalid_choice_name",
        "choices",
        Some(2),
        Some("name"),
    );
    error_at(
        "survey,type,name,label\n,select_one l,q,Q\nchoices,list_name,label\n,l,A\n",
        "missing_column",
        "choices",
        Some(1),
        Some("name"),
    );
    error_at(
        &survey(",select_one_from_file a.txt,q,Q\n"),
        "invalid_file",
        "survey",
        Some(2),
        Some("type"),
    );
}

#[test]
fn duplicate_choices_are_allowed_in_filtered_lists() {
    let src = "survey,type,name,label,choice_filter\n,select_one r,r,R,\n,select_one t,t,T,r=${r}\n\
               choices,list_name,name,label,r\n,r,n,N,\n,t,c,C,n\n,t,c,C,s\n";
    let f = form(&src.replace("r=${r}", "true()"));
    assert_eq!(f.choice_lists["t"].len(), 2);
    // Used unfiltered anywhere: refused.
    let src = "survey,type,name,label,choice_filter\n,select_one t,a,A,true()\n,select_one t,b,B,\n\
               choices,list_name,name,label\n,t,c,C\n,t,c,C\n";
    error_at(src, "duplicate_choice", "choices", Some(3), Some("name"));
}

#[test]
fn label_and_calculation_errors() {
    error_at(
        &survey(",integer,n,\n"),
        "missing_label",
        "survey",
        Some(2),
        Some("label"),
    );
    // A hint, media or a calculation is enough, and metadata needs nothing.
    form(
        "survey,type,name,label,hint,image,calculation\n,integer,a,,h,,\n,image,b,,,b.png,\n,integer,c,,,,1\n,start,s,,,,\n,hidden,h,,,,\n",
    );
    error_at(
        "survey,type,name,label,calculation\n,calculate,c,,\n",
        "missing_calculation",
        "survey",
        Some(2),
        Some("calculation"),
    );
    error_at(
        "survey,type,name,label,required\n,note,n,Note,yes\n",
        "invalid_required",
        "survey",
        Some(2),
        Some("required"),
    );
}

#[test]
fn parameter_errors() {
    let p =
        |t: &str, params: &str| format!("survey,type,name,label,parameters\n,{t},q,Q,{params}\n");
    error_at(
        &p("range", "start=1 end"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &p("range", "step=0"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &p("range", "start=a"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &p("range", "start=1 end=3 step=5"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &p("range", "tick_interval=3 step=2"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &p("range", "tick_labelset=nope"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &p("range", "colour=red"),
        "unknown_parameter",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &p("text", "rows=many"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &p("audio", "quality=best"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &p("geotrace", "incremental=no"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    let sel = |params: &str| format!("{}{YES_NO}", p("select_one yes_no", params));
    error_at(
        &sel("randomize=maybe"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    error_at(
        &sel("seed=4"),
        "invalid_parameters",
        "survey",
        Some(2),
        Some("parameters"),
    );
    form(&format!(
        "survey,type,name,label,parameters\n,integer,x,X,\n\
         ,select_one yes_no,q,Q,randomize=true seed=${{x}}\n{YES_NO}"
    ));
    // Decimal ranges are exact: 0.3 is a multiple of 0.1.
    form(&p("range", "start=0 end=0.9 step=0.1 tick_interval=0.3"));
}

#[test]
fn score_errors() {
    let s = |t: &str, dim: &str, scale: &str| {
        format!(
            "survey,type,name,label,dimension,scale\n,{t},q,Q,{dim},{scale}\nchoices,list_name,name,label\n,l,a,A\n,n,1,1\n,n,5,5\n"
        )
    };
    error_at(
        &s("integer", "happiness", ""),
        "invalid_dimension",
        "survey",
        Some(2),
        Some("dimension"),
    );
    error_at(
        &s("integer", "", "ten"),
        "invalid_scale",
        "survey",
        Some(2),
        Some("scale"),
    );
    error_at(
        &s("integer", "", "10-1"),
        "invalid_scale",
        "survey",
        Some(2),
        Some("scale"),
    );
    error_at(
        &s("integer", "", "0-1000"),
        "invalid_scale",
        "survey",
        Some(2),
        Some("scale"),
    );
    error_at(
        &s("text", "service", ""),
        "invalid_score_type",
        "survey",
        Some(2),
        Some("dimension"),
    );
    error_at(
        &s("select_one l", "service", ""),
        "invalid_scale",
        "survey",
        Some(2),
        Some("dimension"),
    );
    form(&s("select_one n", "service", ""));
}

#[test]
fn or_other_and_table_list_errors() {
    let src = format!(
        "survey,type,name,label,choice_filter,appearance\n,select_one yes_no or_other,q,Q,true(),\n{YES_NO}"
    );
    error_at(
        &src,
        "or_other_filter",
        "survey",
        Some(2),
        Some("choice_filter"),
    );
    let table = |second: &str, filter: &str| {
        format!(
            "survey,type,name,label,choice_filter,appearance\n,begin group,t,T,,table-list\n\
             ,select_one yes_no,a,A,{filter},\n,{second},b,B,,\n,end group,,,,\n{YES_NO},ab,x,X\n"
        )
    };
    error_at(
        &table("select_one ab", ""),
        "table_list_mismatch",
        "survey",
        Some(4),
        Some("type"),
    );
    error_at(
        &table("select_one yes_no", "true()"),
        "table_list_filter",
        "survey",
        Some(3),
        Some("choice_filter"),
    );
    form(&table("select_one yes_no", ""));
}

#[test]
fn reference_errors() {
    let src =
        "survey,type,name,label,relevant,hint\n,text,a,A,${nobody} = 1,\n,text,b,See ${ghost},,\n";
    let errs = errors(src);
    let at: Vec<(Option<usize>, Option<&str>, &str)> = errs
        .iter()
        .map(|e| (e.row, e.column.as_deref(), e.code))
        .collect();
    assert!(
        at.contains(&(Some(2), Some("relevant"), "unknown_reference")),
        "{at:?}"
    );
    assert!(
        at.contains(&(Some(3), Some("label"), "unknown_reference")),
        "{at:?}"
    );
    error_at(
        "survey,type,name,label,relevant\n,text,a,A,\n,text,b,B,${a\n",
        "invalid_reference",
        "survey",
        Some(3),
        Some("relevant"),
    );
    error_at(
        "survey,type,name,label\n,text,a,A\nsettings,form_id,instance_name\n,f,${nope}\n",
        "unknown_reference",
        "settings",
        Some(2),
        Some("instance_name"),
    );
    error_at(
        "survey,type,name,label\n,select_one l,q,Q\nchoices,list_name,name,label\n,l,a,About ${nope}\n",
        "unknown_reference",
        "choices",
        Some(2),
        Some("label"),
    );
    error_at(
        "survey,type,name,label,trigger,calculation\n,begin group,g,G,,\n,text,a,A,,\n,end group,,,,\n,calculate,c,,${g},now()\n",
        "unknown_reference",
        "survey",
        Some(5),
        Some("trigger"),
    );
    error_at(
        "survey,type,name,label,trigger,calculation\n,text,a,A,,\n,calculate,c,,a,now()\n",
        "invalid_trigger",
        "survey",
        Some(3),
        Some("trigger"),
    );
    error_at(
        "survey,type,name,label\n,text,a,A\nsettings,form_id\n,has space\n",
        "invalid_setting",
        "settings",
        Some(2),
        Some("form_id"),
    );
}

/// These depend on the expression parser (`crate::forms::expr`): syntax errors and
/// unknown functions come back under its codes, naming our column.
#[test]
fn expression_errors_name_the_column() {
    error_at(
        "survey,type,name,label,relevant\n,integer,a,A,\n,text,b,B,${a} = = 1\n",
        "syntax",
        "survey",
        Some(3),
        Some("relevant"),
    );
    error_at(
        "survey,type,name,label,calculation\n,text,a,A,\n,calculate,c,,\"pulldata('x', 'y', 'z', ${a})\"\n",
        "unknown_function",
        "survey",
        Some(3),
        Some("calculation"),
    );
    error_at(
        "survey,type,name,label,constraint\n,integer,a,A,. >\n",
        "syntax",
        "survey",
        Some(2),
        Some("constraint"),
    );
}

#[test]
fn many_errors_are_collected_in_sheet_order() {
    let src = "survey,type,name,label\n,intger,a,A\n,text,,B\n,text,c,\n,select_one nope,d,D\n\
               choices,list_name,name,label\n,l,,X\n";
    let errs = errors(src);
    let codes: Vec<(&str, Option<usize>, &str)> = errs
        .iter()
        .map(|e| (e.sheet.as_str(), e.row, e.code))
        .collect();
    assert_eq!(
        codes,
        [
            ("survey", Some(2), "unknown_type"),
            ("survey", Some(3), "missing_name"),
            ("survey", Some(4), "missing_label"),
            ("survey", Some(5), "unknown_choice_list"),
            ("choices", Some(2), "missing_choice_name"),
        ]
    );
    // `sheet!row column: message (code)`.
    assert_eq!(
        errs[0].to_string(),
        "survey!2 type: unknown type `intger`; did you mean `integer`? (unknown_type)"
    );
}

#[test]
fn errors_do_not_echo_survey_text() {
    let secret = "SECRET-LABEL-TEXT";
    let src = format!(
        "survey,type,name,label,relevant,constraint,hint\n,intger,a,{secret},,,{secret}\n\
         ,text,b,{secret},${{nope}} = '{secret}',. = '{secret}' and,\n,integer,c,,,,\n"
    );
    for e in errors(&src) {
        assert!(!e.to_string().contains(secret), "{e}");
    }
}
