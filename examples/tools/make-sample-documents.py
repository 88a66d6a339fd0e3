#!/usr/bin/env python3
"""Regenerate the binary sample documents in examples/documents/.

SAMPLE DATA ONLY: the Riverbend Documentation Centre, its cases, districts and staff are
fictional, invented for the isnad examples. No real people, places or cases.

Uses the Python standard library only, and writes byte-identical output on every run
(fixed timestamps, fixed ordering), so regenerating does not change the committed files:

    python3 examples/tools/make-sample-documents.py

Writes:
    documents/case-register.xlsx          a one-sheet OOXML workbook (~20 fictional cases)
    documents/consent-form-template.pdf   a one-page PDF 1.4, Helvetica, uncompressed
    documents/methodology-note.pdf        a one-page PDF 1.4, Helvetica, uncompressed
"""

import datetime
import os
import sys
import textwrap
import zipfile
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "documents")

ORG = "Riverbend Documentation Centre (fictional)"
BANNER = "SAMPLE DATA - fictional organisation and cases, invented for the isnad examples."

# The fictional case register. Kept in step with examples/dump-database.sh and the figures in
# examples/site/reports/ (14 cases opened in 2025, 6 in the first quarter of 2026).
CASES = [
    ("RDC-2025-001", "2025-01-14", "Upper Ashford", "closed"),
    ("RDC-2025-002", "2025-02-03", "Millbrook", "closed"),
    ("RDC-2025-003", "2025-02-21", "Stonegate", "open"),
    ("RDC-2025-004", "2025-03-10", "Upper Ashford", "referred"),
    ("RDC-2025-005", "2025-04-02", "Lower Fenwick", "closed"),
    ("RDC-2025-006", "2025-04-28", "Millbrook", "referred"),
    ("RDC-2025-007", "2025-05-19", "Upper Ashford", "open"),
    ("RDC-2025-008", "2025-06-11", "Stonegate", "closed"),
    ("RDC-2025-009", "2025-07-07", "Millbrook", "closed"),
    ("RDC-2025-010", "2025-08-25", "Lower Fenwick", "referred"),
    ("RDC-2025-011", "2025-09-16", "Upper Ashford", "closed"),
    ("RDC-2025-012", "2025-10-30", "Stonegate", "open"),
    ("RDC-2025-013", "2025-11-18", "Millbrook", "open"),
    ("RDC-2025-014", "2025-12-09", "Upper Ashford", "open"),
    ("RDC-2026-001", "2026-01-12", "Millbrook", "open"),
    ("RDC-2026-002", "2026-01-29", "Stonegate", "open"),
    ("RDC-2026-003", "2026-02-10", "Lower Fenwick", "open"),
    ("RDC-2026-004", "2026-02-24", "Upper Ashford", "pending review"),
    ("RDC-2026-005", "2026-03-05", "Millbrook", "open"),
    ("RDC-2026-006", "2026-03-23", "Stonegate", "pending review"),
]

FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
FIXED_PDF_TIME = "D:20260101000000Z"


# --------------------------------------------------------------------------------------------
# XLSX (Office Open XML spreadsheet), minimal but complete
# --------------------------------------------------------------------------------------------

def col_letter(index):
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index]


def excel_serial(iso_date):
    d = datetime.date.fromisoformat(iso_date)
    return (d - datetime.date(1899, 12, 30)).days


def inline_cell(ref, text, style=0):
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def make_xlsx(path):
    header = ["Case ID", "Date opened", "Region", "Status"]
    rows = []
    rows.append('<row r="1">' + "".join(
        inline_cell(f"{col_letter(i)}1", h, style=1) for i, h in enumerate(header)) + "</row>")
    for n, (case_id, date, region, status) in enumerate(CASES, start=2):
        rows.append(
            f'<row r="{n}">'
            + inline_cell(f"A{n}", case_id)
            + f'<c r="B{n}" s="2"><v>{excel_serial(date)}</v></c>'
            + inline_cell(f"C{n}", region)
            + inline_cell(f"D{n}", status)
            + "</row>")
    note_row = len(CASES) + 3
    rows.append(f'<row r="{note_row}">' + inline_cell(f"A{note_row}", BANNER, style=3) + "</row>")
    last = f"D{note_row}"

    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<dimension ref="A1:{last}"/>'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '</sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        '<cols>'
        '<col min="1" max="1" width="16" customWidth="1"/>'
        '<col min="2" max="2" width="14" customWidth="1"/>'
        '<col min="3" max="3" width="18" customWidth="1"/>'
        '<col min="4" max="4" width="16" customWidth="1"/>'
        '</cols>'
        '<sheetData>' + "".join(rows) + '</sheetData>'
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        '</worksheet>')

    styles = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/></numFmts>'
        '<fonts count="3">'
        '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
        '<font><i/><sz val="11"/><color rgb="FF7F6000"/><name val="Calibri"/><family val="2"/></font>'
        '</fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="4">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '</cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        '</styleSheet>')

    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<bookViews><workbookView/></bookViews>'
        '<sheets><sheet name="Cases (sample)" sheetId="1" r:id="rId1"/></sheets>'
        '</workbook>')

    workbook_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
        'Target="styles.xml"/>'
        '</Relationships>')

    root_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" '
        'Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" '
        'Target="docProps/core.xml"/>'
        '</Relationships>')

    core = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties '
        'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<dc:title>Case register (SAMPLE DATA)</dc:title>'
        f'<dc:creator>{escape(ORG)}</dc:creator>'
        f'<dc:description>{escape(BANNER)}</dc:description>'
        '<dcterms:created xsi:type="dcterms:W3CDTF">2026-01-01T00:00:00Z</dcterms:created>'
        '<dcterms:modified xsi:type="dcterms:W3CDTF">2026-01-01T00:00:00Z</dcterms:modified>'
        '</cp:coreProperties>')

    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '</Types>')

    parts = [
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", root_rels),
        ("docProps/core.xml", core),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        ("xl/styles.xml", styles),
        ("xl/worksheets/sheet1.xml", sheet),
    ]
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, text in parts:
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, text.encode("utf-8"))
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# PDF 1.4, one page, hand-written objects with an exact cross-reference table
# --------------------------------------------------------------------------------------------

def pdf_string(text):
    text.encode("ascii")  # keep to ASCII: Helvetica with WinAnsiEncoding, no font embedding
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


class Page:
    """A tiny layout helper: top-down lines of Helvetica text on an A4 page."""

    WIDTH, HEIGHT = 595, 842
    LEFT = 56

    def __init__(self):
        self.ops = []
        self.y = self.HEIGHT - 64

    def text(self, s, size=10.5, bold=False, x=None, leading=None):
        font = "F2" if bold else "F1"
        x = self.LEFT if x is None else x
        self.ops.append(f"BT /{font} {size} Tf {x} {self.y:.1f} Td {pdf_string(s)} Tj ET")
        self.y -= leading if leading is not None else size * 1.45

    def para(self, s, size=10.5, width=92):
        for line in textwrap.wrap(s, width=width):
            self.text(line, size=size)
        self.y -= size * 0.6

    def heading(self, s):
        self.y -= 4
        self.text(s, size=12, bold=True)
        self.y -= 2

    def rule(self, gap=8):
        y = self.y + gap
        self.ops.append(f"0.6 w {self.LEFT} {y:.1f} m {self.WIDTH - self.LEFT} {y:.1f} l S")

    def checkbox(self, s, size=10.5):
        self.ops.append(f"0.8 w {self.LEFT} {self.y - 1.5:.1f} 9 9 re S")
        self.text(s, size=size, x=self.LEFT + 16)
        self.y -= 3

    def banner(self, s):
        top = self.y + 12
        self.ops.append(f"0.98 0.94 0.84 rg {self.LEFT - 6} {top - 20:.1f} "
                        f"{self.WIDTH - 2 * self.LEFT + 12} 20 re f 0 g")
        self.text(s, size=9.5, bold=True, leading=24)

    def footer(self, s):
        self.ops.append(f"BT /F1 8 Tf {self.LEFT} 36 Td {pdf_string(s)} Tj ET")

    def content(self):
        return ("\n".join(self.ops) + "\n").encode("ascii")


def write_pdf(path, page, title, subject):
    content = page.content()
    info = (f"<< /Title {pdf_string(title)} /Subject {pdf_string(subject)} "
            f"/Author {pdf_string(ORG)} /Creator (examples/tools/make-sample-documents.py) "
            f"/Producer (isnad sample generator) /CreationDate ({FIXED_PDF_TIME}) "
            f"/ModDate ({FIXED_PDF_TIME}) >>").encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {Page.WIDTH} {Page.HEIGHT}] "
         "/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>").encode("ascii"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(content)).encode("ascii") + b" >>\nstream\n"
        + content + b"endstream",
        info,
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode("ascii")
    out += b"0000000000 65535 f \n"
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode("ascii")
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
            f"startxref\n{xref_at}\n%%EOF\n").encode("ascii")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(out)
    os.replace(tmp, path)


def make_consent_form(path):
    p = Page()
    p.banner(BANNER)
    p.text("Riverbend Documentation Centre", size=11, bold=True)
    p.text("Statement consent form - template, version 3 (March 2026)", size=16, bold=True,
           leading=26)
    p.para("Please read this form with the person giving the statement, in a language they "
           "understand. They may ask questions at any time, and may stop the interview at any "
           "time without giving a reason.")
    p.heading("1. How the statement will be used")
    p.para("The statement is used to document events, to support legal assistance for the person "
           "concerned if they ask for it, and, only with separate permission below, to publish "
           "extracts in reports with names and identifying details removed.")
    p.heading("2. How the statement will be kept")
    p.para("Recordings, notes and this form are stored encrypted. Backups are encrypted, signed "
           "and checked regularly so that any loss or alteration is detected. Only named staff "
           "of the Centre can read them. They are kept for 25 years unless consent is withdrawn.")
    p.heading("3. Withdrawing consent")
    p.para("Consent can be withdrawn at any time by contacting the Centre and quoting the case ID. "
           "Material not yet published will then be removed from future reports.")
    p.heading("4. Consent (tick each box that applies)")
    p.checkbox("I agree that my statement may be recorded (audio or written notes).")
    p.checkbox("I agree that anonymised extracts may be published in the Centre's reports.")
    p.checkbox("I agree that my statement may be shared with a legal-aid partner, if I ask for help.")
    p.checkbox("I would like to be told before any report using my statement is published.")
    p.y -= 8
    p.heading("5. Details")
    for label in ("Case ID:  RDC-______-______",
                  "Name or pseudonym:  ______________________________________________",
                  "Preferred language:  ____________________   Interpreter:  ____________________",
                  "Signature or mark:  ___________________________   Date:  ______________",
                  "Interviewer:  ___________________________   Signature:  ___________________"):
        p.text(label, size=10.5, leading=24)
    p.footer("Template of a fictional organisation. Sample data for the isnad examples; "
             "not for real use.")
    write_pdf(path, p, "Statement consent form - template (SAMPLE DATA)", BANNER)


def make_methodology_note(path):
    p = Page()
    p.banner(BANNER)
    p.text("Riverbend Documentation Centre", size=11, bold=True)
    p.text("Methodology note: documenting and preserving statements", size=16, bold=True,
           leading=26)
    p.heading("Scope")
    p.para("This note describes how the Centre records, verifies and preserves statements "
           "about land disputes and detention in the Northern Valley Province (all fictional). "
           "It applies to every case opened from January 2025 onwards.")
    p.heading("Taking statements")
    p.para("Each statement is taken by two staff members, after the consent form has been read "
           "and signed. Interviews follow an open-question guide; interviewers record what was "
           "said, not their conclusions. Each statement receives a case ID (RDC-year-number).")
    p.heading("Corroboration")
    p.para("A finding is reported only when it rests on at least two independent sources, for "
           "example two statements, or a statement and a document or photograph whose origin "
           "is known. Unverified claims are kept in the case file but marked as such.")
    p.heading("Chain of custody")
    p.para("Files are hashed when they are received. Nightly backups are encrypted to keys held "
           "off site, signed, and linked to the previous backup, so that any change, deletion or "
           "insertion can be detected. Before each external audit, every backup is verified.")
    p.heading("Publication")
    p.para("Names, exact places and dates that could identify a person are removed or "
           "generalised before publication. Case counts in reports are taken from the case "
           "register on the last day of the reporting period.")
    p.heading("Limitations")
    p.para("Statements reflect the cases that reached the Centre, which is not a random sample. "
           "Figures should not be read as the total number of incidents in the province.")
    p.footer("Fictional organisation. Sample data for the isnad examples; not a real methodology.")
    write_pdf(path, p, "Methodology note (SAMPLE DATA)", BANNER)


def main():
    os.makedirs(OUT, exist_ok=True)
    outputs = [
        ("case-register.xlsx", make_xlsx),
        ("consent-form-template.pdf", make_consent_form),
        ("methodology-note.pdf", make_methodology_note),
    ]
    for name, build in outputs:
        path = os.path.join(OUT, name)
        build(path)
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
