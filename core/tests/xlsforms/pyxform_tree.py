#!/usr/bin/env python3
"""pyxform's side of the XLSForm agreement test (core/tests/xlsform_pyxform.rs).

Commands:

  to-xlsx SRC.csv OUT.xlsx
      Convert an XLSForm in pyxform's CSV layout (the first column names the sheet)
      to .xlsx with openpyxl. Cells that are canonical numbers (`7`, `2.5`) are
      written as numbers and `TRUE`/`FALSE` as booleans, so the .xlsx reader's
      rendering of typed cells is exercised; rows without content are dropped (as
      pyxform's CSV reader drops them), so row numbers agree.

  tree FILE
      Run pyxform on FILE (full conversion, so every pyxform error is raised) and
      print {"tree": CANONICAL} or {"error": MESSAGE} as JSON.

  batch OUTDIR SRC...
      Both for many files in one process: each .csv is converted to OUTDIR/<stem>.xlsx
      and pyxform runs on that; prints {SRC: {"xlsx": PATH, "tree"|"error": ...}}.

  typed-cells OUT.xlsx
      Write a small form whose cells are dates, times, datetimes, floats, ints and
      booleans, to check that our .xlsx reader renders them as openpyxl + pyxform do.

The canonical tree is the shape `fieldsync_core::forms::xlsform::canonical_tree`
produces: for each element in order its name, its type in XLSForm spelling, its
children, label/hint/constraint_message/required_message (a string, or
{language: text} in a translated form), relevant, constraint, required (true or an
expression), calculation, choice_filter, appearance, parameters, repeat_count,
default, read_only, list_name and choices (name, label, extra columns), file,
dimension and custom columns. What pyxform generates for the XForm is undone here:
the automatic meta/instanceID (and instanceName), the table-list header note and
header select (and the appearances it rewrites), the `<repeat>_count` calculate of a
repeat_count expression. `../name` in the generated or_other relevant is written
`${name}`.
"""

import csv
import datetime
import json
import os
import re
import sys

import openpyxl
from pyxform import aliases, xls2xform
from pyxform.parsing.parameters import parse as parameters_parse
from pyxform.parsing.sheet_headers import dealias_and_group_headers
from pyxform.question import MultipleChoiceQuestion, Option
from pyxform.question_type_dictionary import QUESTION_TYPE_DICT
from pyxform.section import RepeatingSection
from pyxform.survey import Survey
from pyxform.xls2json import parse_file_to_json
from pyxform.xls2json_backends import get_xlsform

# ---------------------------------------------------------------------------------
# CSV -> XLSX


def read_csv_sheets(path):
    """[(sheet name, [rows])] from pyxform's CSV layout; the first row is the header."""
    sheets = []
    current = None
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.reader(f):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            name = row[0].strip()
            content = [c.strip() for c in row[1:]]
            if name:
                current = (name, [])
                sheets.append(current)
            if current is not None and any(content):
                current[1].append(content)
    return sheets


def typed(value):
    if value == "":
        return None
    if re.fullmatch(r"-?(0|[1-9][0-9]{0,14})", value):
        return int(value)
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", value):
        f = float(value)
        if repr(f) == value and not f.is_integer():
            return f
    if value in ("TRUE", "FALSE"):
        return value == "TRUE"
    return value


def to_xlsx(src, out):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in read_csv_sheets(src):
        ws = wb.create_sheet(title=name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                v = typed(value)
                if v is None:
                    continue
                cell = ws.cell(row=r, column=c, value=v)
                if isinstance(v, str) and v.startswith("="):
                    cell.data_type = "s"
    wb.save(out)


def typed_cells(out):
    """A form whose cells hold typed values (see the module docstring)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "survey"
    ws.append(["type", "name", "label", "default", "hint"])
    rows = [
        ("date", "d1", "Date", datetime.datetime(2024, 1, 15), None),
        ("dateTime", "d2", "DateTime", datetime.datetime(2024, 3, 1, 10, 30, 15), None),
        ("time", "d3", "Time", datetime.time(7, 5, 0), None),
        ("decimal", "d4", "Float", 2.5, 0.0001),
        ("decimal", "d5", "Small", 0.00001, 1e-7),
        ("integer", "d6", "Whole float", 7.0, 1234567890123.0),
        ("integer", "d7", 12345, -3, True),
        ("text", "d8", "Bool", False, "  padded  "),
        ("decimal", "d9", "Big", 12345678901234567890.0, 0.1 + 0.2),
    ]
    for r in rows:
        ws.append(list(r))
    s = wb.create_sheet("settings")
    s.append(["form_id", "version"])
    s.append(["typed", 20240115])
    wb.save(out)


# ---------------------------------------------------------------------------------
# pyxform -> canonical tree

CANON_TYPES = [
    "text",
    "integer",
    "decimal",
    "range",
    "note",
    "date",
    "time",
    "dateTime",
    "geopoint",
    "geotrace",
    "geoshape",
    "image",
    "audio",
    "video",
    "file",
    "barcode",
    "acknowledge",
    "calculate",
    "hidden",
    "start",
    "end",
    "today",
    "deviceid",
    "username",
]
FILE_EXTS = (".csv", ".xml", ".geojson")
SLOTS = (
    set(MultipleChoiceQuestion.get_slot_names())
    | set(RepeatingSection.get_slot_names())
    | {"type", "name", "children", "flat"}
)
OPTION_KNOWN = {"name", "label", "media", "__row", "sms_option"}


def canon_plain_type(t):
    if t == "photo":
        return "image"
    if t in CANON_TYPES:
        return t
    if t.startswith("uri:"):
        # ODK's URI forms of the same metadata (`uri:deviceid`, `uri:username`).
        return canon_plain_type(t[len("uri:") :])
    d = QUESTION_TYPE_DICT.get(t)
    if d is None:
        return {"trigger": "acknowledge"}.get(t, t)
    matches = [
        c for c in CANON_TYPES if QUESTION_TYPE_DICT.get("photo" if c == "image" else c) == d
    ]
    if len(matches) > 1:
        named = [c for c in matches if c.lower() in t.lower()]
        matches = named or matches
    return matches[0] if matches else {"trigger": "acknowledge"}.get(t, t)


def is_file(itemset):
    return isinstance(itemset, str) and os.path.splitext(itemset)[1] in FILE_EXTS


class Context:
    def __init__(self, path, d):
        wb = get_xlsform(path)
        self.d = d
        survey = dealias_and_group_headers(
            sheet_name="survey",
            sheet_data=wb.survey or [],
            sheet_header=wb.survey_header,
            header_aliases=aliases.survey_header,
            header_columns=set(MultipleChoiceQuestion.get_slot_names()),
        )
        choices = dealias_and_group_headers(
            sheet_name="choices",
            sheet_data=wb.choices or [],
            sheet_header=wb.choices_header,
            header_aliases=aliases.list_header,
            header_columns=set(Option.get_slot_names()),
        )
        settings = dealias_and_group_headers(
            sheet_name="settings",
            sheet_data=wb.settings or [],
            sheet_header=wb.settings_header,
            header_aliases=aliases.settings_header,
            header_columns=set(Survey.get_slot_names()),
        )
        self.raw = {}
        for row in survey.data:
            if "name" in row:
                self.raw.setdefault(str(row["name"]), row)
        # Languages, in column order, and where bare texts go.
        seq = []
        for h in survey.headers:
            if h[0] in ("label", "hint", "guidance_hint") and len(h) <= 2:
                seq.append(h[1] if len(h) == 2 else None)
            elif h[:2] in (("bind", "jr:constraintMsg"), ("bind", "jr:requiredMsg")):
                seq.append(h[2] if len(h) == 3 else None)
            elif h[0] == "media" and len(h) >= 2:
                seq.append(h[2] if len(h) == 3 else None)
        for h in choices.headers:
            if h[0] == "label" and len(h) <= 2:
                seq.append(h[1] if len(h) == 2 else None)
            elif h[0] == "media" and len(h) >= 2:
                seq.append(h[2] if len(h) == 3 else None)
        self.translated = any(s is not None for s in seq)
        setting = None
        self.settings_keys = []
        for h in settings.headers:
            if len(h) == 1:
                self.settings_keys.append(h[0])
            if h == ("default_language",):
                setting = (settings.data[0] if settings.data else {}).get("default_language")
        langs = [s for s in seq if s is not None]
        has_bare = any(s is None for s in seq)
        if setting:
            self.default = setting
        elif self.translated and has_bare:
            self.default = "default"
        else:
            self.default = langs[0] if langs else None

    def text(self, v):
        if v is None or v == "" or v == {}:
            return None
        if self.translated and isinstance(v, str):
            return {self.default: v}
        return v


def put(m, k, v):
    if v is not None and v != "" and v != {}:
        m[k] = v


def norm_required(v):
    if v is None:
        return None
    yn = aliases.yes_no.get(v) if isinstance(v, str) else None
    if yn is True:
        return True
    if yn is False:
        return None
    return v


def norm_readonly(v):
    if v is None:
        return None
    v = aliases.BINDING_CONVERSIONS.get(v, v)
    return None if v == "false()" else v


def choices_of(ctx, list_name):
    out = []
    for c in ctx.d.get("choices", {}).get(list_name, []):
        m = {"name": c["name"]}
        put(m, "label", ctx.text(c.get("label")))
        extra = {
            k: v for k, v in c.items() if k not in OPTION_KNOWN and isinstance(v, str)
        }
        put(m, "extra", extra)
        out.append(m)
    return out


def element(ctx, e, in_table_list):
    t = e["type"]
    itemset = e.get("itemset")
    bind = e.get("bind") or {}
    control = e.get("control") or {}
    m = {"name": e["name"]}
    if t in ("group", "repeat"):
        ty = t
    elif t in ("select one", "select all that apply"):
        one = t == "select one"
        if is_file(itemset):
            ty = "select_one_from_file" if one else "select_multiple_from_file"
        else:
            ty = "select_one" if one else "select_multiple"
    elif t == "rank":
        ty = "rank"
    else:
        ty = canon_plain_type(t)
    m["type"] = ty
    put(m, "label", ctx.text(e.get("label")))
    put(m, "hint", ctx.text(e.get("hint")))
    relevant = bind.get("relevant")
    if isinstance(relevant, str) and e["name"] not in ctx.raw:
        # The or_other text question pyxform generates.
        relevant = re.sub(r"\.\./([A-Za-z_][\w.-]*)", r"${\1}", relevant)
    put(m, "relevant", relevant)
    put(m, "constraint", bind.get("constraint"))
    put(m, "constraint_message", ctx.text(bind.get("jr:constraintMsg")))
    put(m, "required", norm_required(bind.get("required")))
    put(m, "required_message", ctx.text(bind.get("jr:requiredMsg")))
    put(m, "calculation", bind.get("calculate"))
    put(m, "choice_filter", e.get("choice_filter"))
    appearance = control.get("appearance")
    if in_table_list and e["name"] in ctx.raw:
        appearance = (ctx.raw[e["name"]].get("control") or {}).get("appearance")
    put(m, "appearance", appearance)
    params = e.get("parameters")
    if isinstance(params, str):
        params = parameters_parse(params, 0)
    params = dict(params or {})
    if ty == "range":
        if "odk:tick-interval" in params:
            params["tick_interval"] = params.pop("odk:tick-interval")
        if "odk:placeholder" in params:
            params["placeholder"] = params.pop("odk:placeholder")
        if itemset:
            params["tick_labelset"] = itemset
    put(m, "parameters", params)
    put(m, "repeat_count", control.get("jr:count"))
    default = e.get("default")
    if ty == "image" and isinstance(default, str) and default.startswith("jr://images/"):
        default = default[len("jr://images/") :]
    put(m, "default", default)
    put(m, "read_only", norm_readonly(bind.get("readonly")))
    if ty in ("select_one", "select_multiple", "rank"):
        m["list_name"] = itemset
        m["choices"] = choices_of(ctx, itemset)
    if ty.endswith("_from_file"):
        m["file"] = itemset
    for k, v in e.items():
        if k.lower() == "dimension" and isinstance(v, str):
            m["dimension"] = v.strip().lower()
    extra = {
        k: v
        for k, v in e.items()
        if k not in SLOTS and isinstance(v, str) and k.lower() not in ("dimension", "scale")
    }
    put(m, "extra", extra)
    if t in ("group", "repeat"):
        m["children"] = elements(ctx, e.get("children", []), in_table_list)
    return m


GENERATED_TABLE_LIST = re.compile(
    r"generated_table_list_label_\d+|reserved_name_for_field_list_labels_\d+"
)


def elements(ctx, children, in_table_list=False):
    out = []
    for i, e in enumerate(children):
        name = e["name"]
        generated = name not in ctx.raw
        if generated and name in ("instanceID", "instanceName"):
            continue
        if generated and name == "meta" and e["type"] == "group":
            kept = elements(ctx, e.get("children", []))
            if not kept:
                continue
        if generated and GENERATED_TABLE_LIST.fullmatch(name):
            continue
        if generated and e["type"] == "calculate" and name.endswith("_count"):
            owner = name[: -len("_count")]
            if any(
                s["name"] == owner
                and (s.get("control") or {}).get("jr:count") == "${%s}" % name
                for s in children[i + 1 :]
            ):
                continue
        e = dict(e)
        table_list = False
        if e["type"] in ("group", "repeat"):
            raw = ctx.raw.get(name, {})
            raw_app = (raw.get("control") or {}).get("appearance")
            if raw_app and "table-list" in raw_app.split():
                table_list = True
                e["control"] = dict(e.get("control") or {}, appearance=raw_app)
                kids = e.get("children", [])
                if kids and re.fullmatch(r"generated_table_list_label_\d+", kids[0]["name"]):
                    for k in ("label", "hint"):
                        if k in kids[0]:
                            e[k] = kids[0][k]
            # Undo the generated `<name>_count` calculate.
            count = (e.get("control") or {}).get("jr:count")
            gen = "%s_count" % name
            if count == "${%s}" % gen and gen not in ctx.raw:
                for s in children[:i]:
                    if s["name"] == gen:
                        e["control"] = dict(e["control"], **{"jr:count": s["bind"]["calculate"]})
        out.append(element(ctx, e, in_table_list or table_list))
    return out


def tree(path):
    warnings = []
    try:
        xls2xform.convert(xlsform=path, warnings=warnings)
    except Exception as err:  # pyxform raises PyXFormError and, for some input, others.
        return {"error": "%s: %s" % (type(err).__name__, err)}
    d = parse_file_to_json(path, warnings=[])
    ctx = Context(path, d)
    settings = {}
    for k in ctx.settings_keys:
        v = d.get(k)
        if isinstance(v, str) and k not in (
            "title",
            "id_string",
            "default_language",
            "add_none_option",
            "client_editable",
        ):
            settings[k] = v
    return {
        "tree": {
            "form_key": d.get("id_string"),
            "title": d.get("title"),
            "settings": settings,
            "children": elements(ctx, d.get("children", [])),
        },
        "warnings": warnings,
    }


def main(argv):
    if len(argv) >= 3 and argv[0] == "to-xlsx":
        to_xlsx(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "tree":
        print(json.dumps(tree(argv[1]), ensure_ascii=False, indent=1, sort_keys=True))
    elif len(argv) == 2 and argv[0] == "typed-cells":
        typed_cells(argv[1])
    elif len(argv) >= 2 and argv[0] == "batch":
        outdir = argv[1]
        os.makedirs(outdir, exist_ok=True)
        result = {}
        for src in argv[2:]:
            target = src
            if src.endswith(".csv"):
                stem = os.path.splitext(os.path.basename(src))[0]
                target = os.path.join(outdir, stem + ".xlsx")
                to_xlsx(src, target)
            r = tree(target)
            r["xlsx"] = target
            result[src] = r
        print(json.dumps(result, ensure_ascii=False, sort_keys=True))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
