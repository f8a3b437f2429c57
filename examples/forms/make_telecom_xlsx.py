#!/usr/bin/env python3
"""Make telecom-satisfaction.xlsx from telecom-satisfaction.csv (the source of truth).

    python3 examples/forms/make_telecom_xlsx.py

The CSV uses pyxform's layout: the first column names the sheet, the first row with
content after it holds the headers. Cells that are canonical numbers are written as
numbers and TRUE/FALSE as booleans (as a spreadsheet user would type them); headers
are bold, the header row is frozen, columns are sized to their content. The output
is byte-for-byte reproducible (fixed document dates and zip timestamps), so the
committed file only changes when the CSV does. Needs openpyxl (3.1).

core/tests/xlsform_pyxform.rs checks that both files import to the same form and
that pyxform reads the survey as we do.
"""

import csv
import datetime
import io
import os
import re
import sys
import zipfile

import openpyxl
from openpyxl.styles import Font

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "telecom-satisfaction.csv")
OUT = os.path.join(HERE, "telecom-satisfaction.xlsx")
FIXED = datetime.datetime(2025, 6, 1, 0, 0, 0)


def sheets(path):
    out, current = [], None
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.reader(f):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            name, content = row[0].strip(), [c.strip() for c in row[1:]]
            if name:
                current = (name, [])
                out.append(current)
            if current is not None and any(content):
                current[1].append(content)
    return out


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


def build():
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "fieldsync"
    wb.properties.created = FIXED
    wb.properties.modified = FIXED
    for name, rows in sheets(SRC):
        ws = wb.create_sheet(title=name)
        widths = {}
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                v = typed(value)
                if v is None:
                    continue
                cell = ws.cell(row=r, column=c, value=v)
                if isinstance(v, str) and v.startswith("="):
                    cell.data_type = "s"
                if r == 1:
                    cell.font = Font(bold=True)
                widths[c] = max(widths.get(c, 8), min(60, len(str(v)) + 2))
        for c, w in widths.items():
            ws.column_dimensions[openpyxl.utils.get_column_letter(c)].width = w
        ws.freeze_panes = "A2"
    raw = io.BytesIO()
    wb.save(raw)
    # Rewrite the archive with fixed timestamps, in a stable order.
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"<dcterms:(created|modified)([^>]*)>[^<]*<",
                    lambda m: b"<dcterms:%s%s>2025-06-01T00:00:00Z<" % (m.group(1), m.group(2)),
                    data,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, data)
    return out.getvalue()


def main():
    data = build()
    with open(OUT, "wb") as f:
        f.write(data)
    print("wrote %s (%d bytes)" % (os.path.relpath(OUT), len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
