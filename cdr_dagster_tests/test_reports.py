"""Tests of the report builder: reports shaped like the legacy reports, parsed back.

The HTML is parsed with lxml and checked for what the legacy e-mails showed: title and
heading, captions, header cells, the exact style strings of the old helpers, link targets
(with fragments), and escaping of CDR data. The Markdown preview is checked as exact text.
"""

from __future__ import annotations

from datetime import date

import pytest
from lxml import html as lxml_html

from cdr_dagster.reports import (
    ERROR_STYLE,
    INFO_STYLE,
    NOWRAP,
    BulletList,
    Cell,
    Column,
    Paragraph,
    Report,
    Table,
    TrustedHtml,
    cell_paragraphs,
    css,
    merge_styles,
    note,
    render_html,
    render_html_fragment,
    render_markdown,
    render_text,
    report_date,
    table_style,
)

TODAY = date(2024, 5, 13)

# The exact strings the legacy `Job.th()` / `Job.td()` / `Job.TSTYLE` produced.
LEGACY_TH = "font-family:Arial;border:1px solid #999;margin:auto;padding:2px"
LEGACY_TD = "font-family:Arial;border:1px solid #999;vertical-align:top;padding:2px;margin:auto"
LEGACY_TABLE = "width: 95%; border: 1px solid #999; border-collapse: collapse; margin-top: 30px"
LEGACY_CAPTION = "font-weight: bold; font-size: 1.2em; font-family: Arial; text-align: left;"


def parse(document: str) -> lxml_html.HtmlElement:
    """Parse a rendered report back, checking the doctype comes first."""
    assert document.startswith("<!DOCTYPE html>\n<html>")
    return lxml_html.document_fromstring(document)


def texts(elements: list[lxml_html.HtmlElement]) -> list[str]:
    """The text content of each element."""
    return [e.text_content() for e in elements]


# --- GovDelivery weekly report (docs/behaviour-notes.md#govdelivery-reports) ----------------------


def govdelivery_report() -> Report:
    url = "https://www.cancer.gov/types/breast/hp/breast-treatment-pdq"
    new_hp = Table(
        columns=["CDR ID", "Title", "Board"],
        rows=[
            [
                Cell(62787, url=url),
                Cell('Breast Cancer <Treatment> & "Care"', url=f"{url}#_1234"),
                "Adult Treatment",
            ],
            [
                Cell(62955, url="https://www.cancer.gov/types/lung"),
                Cell("Lung Cancer", url="https://www.cancer.gov/types/lung#"),
                "",
            ],
        ],
        caption="New Health Professional Summaries (2)",
        style=table_style("80%"),
    )
    revised_hp = Table(
        columns=["CDR ID", "Title", "Board", "Section(s)"],
        rows=[
            [
                Cell(62800, url="https://www.cancer.gov/x"),
                Cell("Colon Cancer", url="https://www.cancer.gov/x#_99"),
                "Adult Treatment",
                cell_paragraphs(["Treatment Option Overview", "Stage I & II <Colon>"]),
            ]
        ],
        caption="Revised Health Professional Summaries (1, excluding editorial changes)",
        style=table_style("80%"),
    )
    new_patient = Table(
        columns=["CDR ID", "Title"],
        caption="New Patient Summaries",
        style=table_style("80%"),
        empty_text="None",
        header_when_empty=False,
    )
    title = "GovDelivery New/Changed English Summaries Report (2024-05-03 to 2024-05-10)"
    return Report(
        title=title,
        blocks=[
            note("Adjusted date range: Date/Time: (2024-05-03 16:00:02 to 2024-05-10 16:00:05)"),
            report_date(TODAY),
            new_hp,
            revised_hp,
            new_patient,
        ],
    )


def test_govdelivery_html_looks_like_the_legacy_report() -> None:
    document = render_html(govdelivery_report())
    root = parse(document)
    title = "GovDelivery New/Changed English Summaries Report (2024-05-03 to 2024-05-10)"
    assert root.findtext("head/title") == title
    assert root.find("head/meta").get("charset") == "utf-8"
    h3 = root.find("body/h3")
    assert h3.text == title
    assert h3.get("style") == "color: navy; font-family: Arial;"
    notes = root.findall("body/p")
    assert texts(notes) == [
        "Adjusted date range: Date/Time: (2024-05-03 16:00:02 to 2024-05-10 16:00:05)",
        "Report date: 2024-05-13",
    ]
    assert {p.get("style") for p in notes} == {
        "font-size: .9em; font-style: italic; font-family: Arial"
    }

    tables = root.findall("body/table")
    assert [t.findtext("caption") for t in tables] == [
        "New Health Professional Summaries (2)",
        "Revised Health Professional Summaries (1, excluding editorial changes)",
        "New Patient Summaries",
    ]
    for table in tables:
        assert table.get("style") == (
            "width: 80%; border: 1px solid #999; border-collapse: collapse; margin-top: 30px"
        )
        assert table.find("caption").get("style") == LEGACY_CAPTION

    new_hp, revised_hp, new_patient = tables
    assert texts(new_hp.findall("tr/th")) == ["CDR ID", "Title", "Board"]
    assert {th.get("style") for th in new_hp.iter("th")} == {LEGACY_TH}
    assert {td.get("style") for td in new_hp.iter("td")} == {LEGACY_TD}
    first = new_hp.findall("tr")[1].findall("td")
    assert first[0].find("a").get("href") == (
        "https://www.cancer.gov/types/breast/hp/breast-treatment-pdq"
    )
    assert first[0].find("a").text == "62787"
    assert first[1].find("a").get("href").endswith("breast-treatment-pdq#_1234")
    assert first[1].find("a").text == 'Breast Cancer <Treatment> & "Care"'
    assert first[2].text == "Adult Treatment"
    second = new_hp.findall("tr")[2].findall("td")
    assert second[1].find("a").get("href") == "https://www.cancer.gov/types/lung#"
    assert second[2].text is None and len(second[2]) == 0

    assert texts(revised_hp.findall("tr/th")) == ["CDR ID", "Title", "Board", "Section(s)"]
    sections = revised_hp.findall("tr")[1].findall("td")[3].findall("p")
    assert texts(sections) == ["Treatment Option Overview", "Stage I & II <Colon>"]
    assert {p.get("style") for p in sections} == {"margin: 0 3px 1rem;"}

    # An empty table: one "None" cell and no header row.
    assert new_patient.findall("tr/th") == []
    (empty_row,) = new_patient.findall("tr")
    assert texts(empty_row.findall("td")) == ["None"]
    assert empty_row.find("td").get("style") == LEGACY_TD


def test_data_is_escaped_in_the_markup_never_parsed() -> None:
    document = render_html(govdelivery_report())
    assert 'Breast Cancer &lt;Treatment&gt; &amp; "Care"' in document
    assert "Stage I &amp; II &lt;Colon&gt;" in document
    assert "<Treatment>" not in document and "<Colon>" not in document

    hostile = Report(
        title="</title><script>alert(1)</script>",
        blocks=[
            Paragraph('<img src=x onerror="alert(1)"> & co'),
            Table(
                columns=['<b>"Quoted"</b>'],
                rows=[[Cell("click", url='https://x.gov/?a=1&b="2"><script>')]],
                caption="<i>caption</i> & more",
            ),
        ],
    )
    document = render_html(hostile)
    root = parse(document)
    assert root.findtext("head/title") == "</title><script>alert(1)</script>"
    assert root.findall(".//script") == [] and root.findall(".//img") == []
    assert root.findall(".//b") == [] and root.findall(".//i") == []
    assert root.find("body/p").text == '<img src=x onerror="alert(1)"> & co'
    assert root.findtext(".//caption") == "<i>caption</i> & more"
    assert root.findtext(".//th") == '<b>"Quoted"</b>'
    assert root.find(".//td/a").get("href") == 'https://x.gov/?a=1&b="2"><script>'


def test_only_safe_urls_become_links_and_bad_characters_are_replaced() -> None:
    report = Report(
        title="Links",
        blocks=[
            Table(
                columns=["URL"],
                rows=[
                    [Cell("js", url="javascript:alert(1)")],
                    [Cell("js2", url=" JavaScript:alert(1)")],
                    [Cell("data", url="data:text/html,<b>x</b>")],
                    [Cell("mail", url="mailto:ops@example.gov")],
                    [Cell("relative", url="#_12")],
                    [Cell("ctl\x00\x0bchar")],
                ],
            )
        ],
    )
    root = parse(render_html(report))
    cells = root.findall(".//td")
    assert [c.find("a") is None for c in cells] == [True, True, True, False, False, True]
    assert cells[0].text == "js"
    assert cells[3].find("a").get("href") == "mailto:ops@example.gov"
    assert cells[4].find("a").get("href") == "#_12"
    assert cells[5].text == "ctl\ufffd\ufffdchar"
    assert "javascript:" not in render_markdown(report).lower()


# --- PCIB statistics report (docs/behaviour-notes.md#pcib-statistics) -----------------------------

PCIB_CELL = {
    "font-family": "Arial",
    "border": "1px solid #999",
    "vertical-align": "top",
    "padding": "1px 5px",
    "margin": "0",
}
PCIB_TABLE = (
    "min-width: 350px; border: 1px solid #999; border-collapse: collapse; "
    "margin-top: 30px; background-color: white"
)
PCIB_CAPTION = css(
    {
        "font-weight": "bold",
        "font-size": "1.2em",
        "font-family": "Arial",
        "text-align": "left",
        "background-color": "white",
    }
)


def pcib_report() -> Report:
    def table(columns: list[str], rows: list[list[object]], caption: str | None) -> Table:
        return Table(
            columns=columns,
            rows=rows,  # type: ignore[arg-type]
            caption=caption,
            style=PCIB_TABLE,
            caption_style=PCIB_CAPTION,
            header_styles=PCIB_CELL,
            cell_styles=PCIB_CELL,
        )

    counts = table(
        ["Documents", "From 2024-05-01 to 2024-05-31"],
        [
            ["Total Summaries - New", 2],
            [" - HP Summaries (EN)", 1],
            [" - Pat. Summaries (ES)", 1],
            ["\xa0", ""],
            ["Drug Information Summaries", None],
            [" - New", 1],
            [" - Revised", 0],
            ["\xa0", ""],
        ],
        None,
    )
    summaries = table(
        ["CDR ID", "Title", "Language", "Audience"],
        [
            ["CDR0000062787", "Breast Cancer Treatment", "English", "Health professionals"],
            ["CDR0000256762", "Cáncer de seno", "Spanish", "Patients"],
        ],
        "2 New Summaries",
    )
    dis = table(
        ["CDR ID", "Title", "First Pub", "Date Modified"],
        [["CDR0000487488", "Atezolizumab", "2024-05-02 10:00:00", ""]],
        "1 Drug Information Summaries",
    )
    nothing = Paragraph(
        "No new Genetics Professionals found during this time",
        "font-family: Arial; margin-top: 30px; font-style: italic;",
    )
    title = "Monthly PCIB Statistics Report for May 2024"
    return Report(
        title=title,
        blocks=[report_date(TODAY), counts, summaries, nothing, dis],
        heading_style="font-family: Arial;",
        body_style="font-size: .9em",
    )


def test_pcib_report_counts_and_detail_tables() -> None:
    root = parse(render_html(pcib_report()))
    assert root.findtext("head/title") == "Monthly PCIB Statistics Report for May 2024"
    assert root.find("body").get("style") == "font-size: .9em"
    assert root.find("body/h3").get("style") == "font-family: Arial;"

    counts, summaries, dis = root.findall("body/table")
    assert counts.find("caption") is None
    assert counts.get("style") == PCIB_TABLE
    assert texts(counts.findall("tr/th")) == ["Documents", "From 2024-05-01 to 2024-05-31"]
    rows = [texts(tr.findall("td")) for tr in counts.findall("tr")[1:]]
    assert rows[:4] == [
        ["Total Summaries - New", "2"],
        [" - HP Summaries (EN)", "1"],
        [" - Pat. Summaries (ES)", "1"],
        ["\xa0", ""],
    ]
    assert rows[4] == ["Drug Information Summaries", ""]
    pcib_cell = (
        "font-family:Arial;border:1px solid #999;vertical-align:top;padding:1px 5px;margin:0"
    )
    assert {c.get("style") for c in counts.iter("th", "td")} == {pcib_cell}

    assert summaries.findtext("caption") == "2 New Summaries"
    assert summaries.find("caption").get("style") == (
        "font-weight:bold;font-size:1.2em;font-family:Arial;text-align:left;background-color:white"
    )
    assert texts(summaries.findall("tr/th")) == ["CDR ID", "Title", "Language", "Audience"]
    assert summaries.findall("tr")[2].findall("td")[1].text == "Cáncer de seno"
    assert texts(dis.findall("tr/th"))[2:] == ["First Pub", "Date Modified"]

    nothing = root.findall("body/p")[1]
    assert nothing.text == "No new Genetics Professionals found during this time"
    assert "font-style: italic" in nothing.get("style")
    # Blocks stay in the order given: the paragraph sits between the two detail tables.
    body = [e.tag for e in root.find("body")]
    assert body == ["h3", "p", "table", "table", "p", "table"]


# --- Media check and translation queue reports (docs/behaviour-notes.md) -------------------


def test_media_report_errors_status_and_changes_table() -> None:
    report = Report(
        title="Media Files Check",
        blocks=[
            report_date(TODAY),
            Paragraph("The media directory is already locked", ERROR_STYLE),
            Paragraph("Ran rsync from /cdr/akamai/media-20240513 to Akamai.", INFO_STYLE),
            Table(
                columns=["Path", "Action"],
                rows=[["images/100-750.jpg", "added"], ["audio/555.mp3", "dropped"]],
                caption="Changes in Media Files",
            ),
        ],
    )
    root = parse(render_html(report))
    error, info = root.findall("body/p")[1:]
    assert error.get("style") == "font-weight: bold; color: red; font-family: Arial"
    assert info.get("style") == "font-weight: bold; color: blue; font-family: Arial"
    (table,) = root.findall("body/table")
    assert table.get("style") == LEGACY_TABLE
    assert table.findtext("caption") == "Changes in Media Files"
    assert [texts(tr.findall("*")) for tr in table.findall("tr")] == [
        ["Path", "Action"],
        ["images/100-750.jpg", "added"],
        ["audio/555.mp3", "dropped"],
    ]
    assert render_markdown(report) == (
        "### Media Files Check\n"
        "\n"
        "*Report date: 2024-05-13*\n"
        "\n"
        "**The media directory is already locked**\n"
        "\n"
        "**Ran rsync from /cdr/akamai/media-20240513 to Akamai.**\n"
        "\n"
        "**Changes in Media Files**\n"
        "\n"
        "| Path | Action |\n"
        "| --- | --- |\n"
        "| images/100-750.jpg | added |\n"
        "| audio/555.mp3 | dropped |\n"
    )


def test_translation_nightly_report_one_table_per_state_with_nowrap_dates() -> None:
    def state_table(state: str, jobs: list[tuple[str, int, str]]) -> Table:
        return Table(
            columns=[Column("Date", cell_styles=NOWRAP), "CDR ID", "Title"],
            rows=[list(job) for job in jobs],
            caption=state,
        )

    report = Report(
        title="Summary Translation Jobs for Ana Ruiz",
        blocks=[
            report_date(TODAY),
            Paragraph("*** TEST MESSAGE *** LIVE MODE WOULD HAVE GONE TO ana@example.gov"),
            state_table(
                "Ready for Translation",
                [("2024-05-01", 62787, "Breast Cancer"), ("2024-05-02", 62955, "Lung Cancer")],
            ),
            state_table("Translation Pending", [("2024-04-30", 62800, "Colon Cancer")]),
        ],
    )
    root = parse(render_html(report))
    assert root.findtext("body/h3") == "Summary Translation Jobs for Ana Ruiz"
    assert root.findall("body/p")[1].text.startswith("*** TEST MESSAGE ***")
    tables = root.findall("body/table")
    assert [t.findtext("caption") for t in tables] == [
        "Ready for Translation",
        "Translation Pending",
    ]
    first_row = tables[0].findall("tr")[1].findall("td")
    assert first_row[0].get("style") == LEGACY_TD + ";white-space:nowrap"
    assert first_row[1].get("style") == LEGACY_TD
    assert texts(first_row) == ["2024-05-01", "62787", "Breast Cancer"]
    # The nowrap override applies to the data cells only, not the header.
    assert tables[0].find("tr/th").get("style") == LEGACY_TH


# --- Licensee list, expiring links, data-partner table (docs/behaviour-notes.md) -------


def test_licensee_list_in_ascii_uses_character_references() -> None:
    report = Report(
        title="List of PDQ Content Distribution Partners",
        heading_style="font-family: Arial",
        charset="ascii",
        blocks=[
            report_date(TODAY),
            Table(
                columns=["CDR ID", "Partner Name", "Status", "Test Started"],
                rows=[[12345, "Société X", "Production", Cell("2023-01-05", styles=NOWRAP)]],
                caption="Active Partners: 1 - Test Partners: 0",
                caption_style="font-size: 1.3em; font-weight: bold;",
                style=table_style("80%"),
            ),
        ],
    )
    document = render_html(report)
    assert document.isascii()
    assert "Soci&#233;t&#233; X" in document
    root = parse(document)
    assert root.find("head/meta").get("charset") == "ascii"
    assert root.findall(".//td")[1].text == "Société X"
    assert root.find(".//caption").get("style") == "font-size: 1.3em; font-weight: bold;"
    assert root.findall(".//td")[3].get("style").endswith(";white-space:nowrap")


def test_expiring_links_report_without_heading_and_empty_row_spanning_columns() -> None:
    cell = {"border": "1px solid #999", "padding": ".2em", "margin": "auto"}
    report = Report(
        title="Expiring Links",
        show_heading=False,
        blocks=[
            Table(
                columns=["Expires", "CDR ID", "URL"],
                caption="Expiring Links Report - 2024-05-13",
                caption_style="font-size: 1.5em; font-weight: bold;",
                style="font-family: Arial; " + table_style("80%"),
                header_styles=cell,
                cell_styles=cell,
                empty_text="No links are scheduled to expire.",
            )
        ],
    )
    root = parse(render_html(report))
    assert root.find("body/h3") is None
    table = root.find("body/table")
    assert table.get("style").startswith("font-family: Arial; width: 80%;")
    assert texts(table.findall("tr/th")) == ["Expires", "CDR ID", "URL"]
    (empty,) = table.findall("tr")[1].findall("td")
    assert empty.get("colspan") == "3"
    assert empty.text == "No links are scheduled to expire."
    assert empty.get("style") == "border:1px solid #999;padding:.2em;margin:auto"


def test_data_partner_change_table_as_fragment() -> None:
    right = {"text-align": "right"}
    table = Table(
        columns=["Document Type", "Added", "Modified", "Removed"],
        rows=[["Media", 1, 0, 0], ["Summary", 2, 5, 1]],
        caption="Changed Documents for Week 10, 2025",
        caption_style="border-bottom: solid 1px;",
        style="width: 400px;",
        header_styles=right,
        cell_styles=right,
    )
    fragment = render_html_fragment(table)
    assert not fragment.startswith("<!DOCTYPE")
    element = lxml_html.fragment_fromstring(fragment)
    assert element.tag == "table" and element.get("style") == "width: 400px;"
    assert element.find("caption").get("style") == "border-bottom: solid 1px;"
    assert {c.get("style") for c in element.iter("th", "td")} == {"text-align:right"}
    assert [texts(tr.findall("td")) for tr in element.findall("tr")[1:]] == [
        ["Media", "1", "0", "0"],
        ["Summary", "2", "5", "1"],
    ]
    assert render_markdown(Report("Changes", [table], show_heading=False)) == (
        "**Changed Documents for Week 10, 2025**\n"
        "\n"
        "| Document Type | Added | Modified | Removed |\n"
        "| ---: | ---: | ---: | ---: |\n"
        "| Media | 1 | 0 | 0 |\n"
        "| Summary | 2 | 5 | 1 |\n"
    )


def test_partner_memo_blocks_trusted_template_and_escaped_list() -> None:
    memo = "text-align: center; background: #365f91; color: white"
    report = Report(
        title="Summary Report on Notification",
        show_heading=False,
        blocks=[
            TrustedHtml("<p>New PDQ data is <b>available</b>.</p>"),
            BulletList(["Active Vendor: Jane Roe at Acme Health <jroe@acme.example>"]),
            Paragraph(" Vendor Memo ", memo),
        ],
    )
    root = parse(render_html(report))
    assert root.find("body/p/b").text == "available"
    assert root.findtext("body/ul/li") == (
        "Active Vendor: Jane Roe at Acme Health <jroe@acme.example>"
    )
    assert "&lt;jroe@acme.example&gt;" in render_html(report)
    assert render_markdown(report) == (
        "New PDQ data is available.\n"
        "\n"
        "- Active Vendor: Jane Roe at Acme Health \\<jroe@acme.example\\>\n"
        "\n"
        "Vendor Memo\n"
    )


# --- Markdown and text ------------------------------------------------------------------------


def small_report() -> Report:
    return Report(
        title="Expiring Links",
        blocks=[
            report_date(TODAY),
            Table(
                columns=["Expires", "CDR ID", "URL"],
                rows=[
                    ["2021-06-10", "CDR62000", Cell("FDA label", url="https://fda.gov/a b(1)")],
                    ["2019-01-01", "CDR62000", "a|b\nc * d_e"],
                ],
                caption="Expiring Links Report - 2024-05-13",
            ),
        ],
    )


def test_markdown_of_a_small_report_is_exact() -> None:
    assert render_markdown(small_report()) == (
        "### Expiring Links\n"
        "\n"
        "*Report date: 2024-05-13*\n"
        "\n"
        "**Expiring Links Report - 2024-05-13**\n"
        "\n"
        "| Expires | CDR ID | URL |\n"
        "| --- | --- | --- |\n"
        "| 2021-06-10 | CDR62000 | [FDA label](https://fda.gov/a%20b%281%29) |\n"
        "| 2019-01-01 | CDR62000 | a\\|b c \\* d\\_e |\n"
    )


def test_markdown_escapes_pipes_and_keeps_tables_intact() -> None:
    table = Table(
        columns=["a|b", "c"],
        rows=[[Cell("x|y", url="https://e.gov/?q=a|b"), "1 | 2\n3"], [Cell("wide", colspan=2)]],
        caption="pipes | here",
    )
    text = render_markdown(Report("P|Q", [table]))
    assert text.splitlines() == [
        "### P\\|Q",
        "",
        "**pipes \\| here**",
        "",
        "| a\\|b | c |",
        "| --- | --- |",
        "| [x\\|y](https://e.gov/?q=a%7Cb) | 1 \\| 2 3 |",
        "| wide |  |",
    ]
    # Every table line has exactly the column count of unescaped pipes.
    for line in text.splitlines()[4:]:
        assert line.replace("\\|", "").count("|") == 3


def test_markdown_empty_tables_and_row_limit() -> None:
    empty_no_header = Table(
        ["CDR ID", "Title"],
        caption="New Patient Summaries",
        empty_text="None",
        header_when_empty=False,
    )
    empty_with_header = Table(["Expires", "CDR ID"], empty_text="No links.")
    many = Table(["n"], rows=[[i] for i in range(5)], caption="Many")
    text = render_markdown(
        Report("E", [empty_no_header, empty_with_header, many], show_heading=False), max_rows=2
    )
    assert text == (
        "**New Patient Summaries**\n"
        "\n"
        "None\n"
        "\n"
        "| Expires | CDR ID |\n"
        "| --- | --- |\n"
        "| No links. |  |\n"
        "\n"
        "**Many**\n"
        "\n"
        "| n |\n"
        "| --- |\n"
        "| 0 |\n"
        "| 1 |\n"
        "\n"
        "*(showing first 2 of 5 rows)*\n"
    )


def test_plain_text_rendering() -> None:
    assert render_text(small_report()) == (
        "Expiring Links\n"
        "==============\n"
        "\n"
        "Report date: 2024-05-13\n"
        "\n"
        "Expiring Links Report - 2024-05-13\n"
        "Expires     CDR ID    URL\n"
        "----------  --------  ----------------------------------\n"
        "2021-06-10  CDR62000  FDA label <https://fda.gov/a b(1)>\n"
        "2019-01-01  CDR62000  a|b c * d_e\n"
    )


def test_plain_text_spanning_cells_do_not_widen_columns() -> None:
    table = Table(
        ["Documents", "Count"],
        [["New", 1], [Cell("a separator row that is longer", colspan=2)], ["Revised", 22]],
    )
    assert render_text(Report("Counts", [table], show_heading=False)) == (
        "Documents  Count\n"
        "---------  -----\n"
        "New        1\n"
        "a separator row that is longer\n"
        "Revised    22\n"
    )


# --- Model rules ------------------------------------------------------------------------------


def test_style_overrides_merge_with_underscores() -> None:
    merged = merge_styles(
        {"font-family": "Arial", "padding": "2px"},
        {"white_space": "nowrap"},
        {"padding": "1px 5px"},
    )
    assert css(merged) == "font-family:Arial;padding:1px 5px;white-space:nowrap"
    cell = Cell("x", styles={"font_weight": "bold"})
    table = Table(["h"], [[cell]])
    assert css(table.cell_style(cell, table.columns[0])) == LEGACY_TD + ";font-weight:bold"
    assert table_style() == LEGACY_TABLE


def test_rows_must_span_the_columns() -> None:
    with pytest.raises(ValueError, match="row 2 spans 1 columns, the table has 2"):
        Table(["a", "b"], [["1", "2"], ["3"]], caption="Bad")
    Table(["a", "b"], [[Cell("wide", colspan=2)]])
    with pytest.raises(ValueError, match="colspan"):
        Cell("x", colspan=0)
    with pytest.raises(TypeError, match="Paragraph"):
        Cell(["not", "paragraphs"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown charset"):
        Report("x", charset="no-such-charset")
