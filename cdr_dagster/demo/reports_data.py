"""Extra demo summaries for the GovDelivery and PCIB statistics reports.

The demo bundles already give both reports content (last week's publishing window and last
month's statistics); these documents fill what they lack: Spanish health professional
summaries (one revised, one new, each showing the board of the English summary it translates,
with a Section(s) cell), a new English patient summary in last week's window, and a Spanish
patient summary first published last month. They are in the bundle format of
``data/documents-glossary.xml``, with dates relative to the seeding day.

``seed.py`` adds them to the bundles' documents before planning the publishing history, so
they get versions, index rows and Cancer.gov pushes like every other demo document::

    documents = sorted(load_documents(files) + report_documents(files), key=lambda d: d.id)
"""

# ruff: noqa: E501 - the documents are XML data; their text cannot be wrapped without changing it

from __future__ import annotations

from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster.demo.datafiles import DataFiles
from cdr_dagster.demo.documents import DemoDocument, _document
from cdr_dagster.demo.templates import expand

BUNDLE = "reports_data.py"

REPORT_DOCUMENTS = """\
<DemoDocuments xmlns:cdr="cips.nci.nih.gov/cdr">

  <!-- Spanish HP translation of 62901, revised last week: board from the English original -->
  <Document id="62951" type="Summary" created="{{datetime:-6y}}" first_pub="{{datetime:-6y+30d}}">
    <Version num="1" dt="{{datetime:-6y+20d}}" publishable="Y"/>
    <Version num="2" dt="{{datetime:fri-3d@10:00}}" publishable="Y" comment="Traducción de los cambios de estadio IV"/>
    <Summary>
      <SummaryMetaData>
        <SummaryType>Tratamiento</SummaryType>
        <SummaryAudience>Health professionals</SummaryAudience>
        <SummaryLanguage>Spanish</SummaryLanguage>
        <SummaryURL cdr:xref="https://www.cancer.gov/espanol/tipos/pulmon/pro/tratamiento-pulmon-celulas-no-pequenas-pdq">Tratamiento del cáncer de pulmón de células no pequeñas</SummaryURL>
      </SummaryMetaData>
      <SummaryTitle>Tratamiento del cáncer de pulmón de células no pequeñas (PDQ®)–Versión para profesionales de salud</SummaryTitle>
      <TranslationOf cdr:ref="CDR0000062901">Non-Small Cell Lung Cancer Treatment</TranslationOf>
      <SummarySection cdr:id="_1">
        <SectMetaData><SectionType>Introductory Text</SectionType></SectMetaData>
        <Title>Información general sobre el cáncer de pulmón de células no pequeñas</Title>
        <Para cdr:id="_2">Esta sección de demostración reemplaza el texto completo del resumen.</Para>
      </SummarySection>
      <SummarySection cdr:id="_90">
        <SectMetaData><SectionType>Changes to summary</SectionType></SectMetaData>
        <Title>Actualizaciones más recientes a este resumen ({{date:fri-3d}})</Title>
        <Para cdr:id="_91">Los resúmenes del PDQ se revisan con regularidad y se actualizan a medida que se obtiene nueva información.</Para>
        <Para cdr:id="_92"><Strong>Tratamiento del cáncer de pulmón de células no pequeñas en estadio IV</Strong></Para>
        <Para cdr:id="_93">Se revisó la lista de opciones de terapia dirigida.</Para>
      </SummarySection>
      <DateLastModified>{{date:fri-3d}}</DateLastModified>
    </Summary>
  </Document>

  <!-- Spanish HP translation of 62904, first published last week -->
  <Document id="62952" type="Summary" created="{{datetime:fri-20d}}" first_pub="{{datetime:fri-2d@18:00}}">
    <Version num="1" dt="{{datetime:fri-5d@11:00}}" publishable="Y"/>
    <Summary>
      <SummaryMetaData>
        <SummaryType>Genética</SummaryType>
        <SummaryAudience>Health professionals</SummaryAudience>
        <SummaryLanguage>Spanish</SummaryLanguage>
        <SummaryURL cdr:xref="https://www.cancer.gov/espanol/tipos/pancreas/pro/genetica-pancreas-pdq">Aspectos genéticos del cáncer de páncreas</SummaryURL>
      </SummaryMetaData>
      <SummaryTitle>Aspectos genéticos del cáncer de páncreas (PDQ®)–Versión para profesionales de salud</SummaryTitle>
      <TranslationOf cdr:ref="CDR0000062904">Genetics of Pancreatic Cancer</TranslationOf>
      <SummarySection cdr:id="_1">
        <SectMetaData><SectionType>Introductory Text</SectionType></SectMetaData>
        <Title>Introducción</Title>
        <Para cdr:id="_2">Resumen nuevo de demostración.</Para>
      </SummarySection>
      <SummarySection cdr:id="_90">
        <SectMetaData><SectionType>Changes to summary</SectionType></SectMetaData>
        <Title>Actualizaciones más recientes a este resumen</Title>
        <Para cdr:id="_91">Este resumen es nuevo.</Para>
      </SummarySection>
      <DateLastModified>{{date:fri-5d}}</DateLastModified>
    </Summary>
  </Document>

  <!-- English patient summary, first published last week -->
  <Document id="62953" type="Summary" created="{{datetime:fri-30d}}" first_pub="{{datetime:fri-3d@18:30}}">
    <Version num="1" dt="{{datetime:fri-6d@09:15}}" publishable="Y"/>
    <Summary>
      <SummaryMetaData>
        <SummaryType>Genetics</SummaryType>
        <SummaryAudience>Patients</SummaryAudience>
        <SummaryLanguage>English</SummaryLanguage>
        <SummaryURL cdr:xref="https://www.cancer.gov/types/pancreatic/patient/pancreatic-genetics-pdq">Genetics of Pancreatic Cancer</SummaryURL>
        <PDQBoard><Board cdr:ref="CDR0000032676">PDQ Cancer Genetics Editorial Board</Board></PDQBoard>
      </SummaryMetaData>
      <SummaryTitle>Genetics of Pancreatic Cancer (PDQ®)–Patient Version</SummaryTitle>
      <SummarySection cdr:id="_1">
        <SectMetaData><SectionType>Introductory Text</SectionType></SectMetaData>
        <Title>What is pancreatic cancer?</Title>
        <Para cdr:id="_2">A new patient summary written for the demo.</Para>
      </SummarySection>
    </Summary>
  </Document>

  <!-- Spanish patient translation of 62906, first published last month (PCIB Pat. ES) -->
  <Document id="62954" type="Summary" created="{{datetime:lm-10d}}" first_pub="{{datetime:lm+20d@19:00}}">
    <Version num="1" dt="{{datetime:lm+18d@14:00}}" publishable="Y"/>
    <Summary>
      <SummaryMetaData>
        <SummaryType>Tratamiento</SummaryType>
        <SummaryAudience>Patients</SummaryAudience>
        <SummaryLanguage>Spanish</SummaryLanguage>
        <SummaryURL cdr:xref="https://www.cancer.gov/espanol/tipos/anal/paciente/tratamiento-anal-pdq">Tratamiento del cáncer de ano</SummaryURL>
      </SummaryMetaData>
      <SummaryTitle>Tratamiento del cáncer de ano (PDQ®)–Versión para pacientes</SummaryTitle>
      <TranslationOf cdr:ref="CDR0000062906">Anal Cancer Treatment</TranslationOf>
      <SummarySection cdr:id="_1">
        <SectMetaData><SectionType>Introductory Text</SectionType></SectMetaData>
        <Title>Información general</Title>
        <Para cdr:id="_2">Resumen de demostración.</Para>
      </SummarySection>
      <DateLastModified>{{date:lm+18d}}</DateLastModified>
    </Summary>
  </Document>
</DemoDocuments>
"""


def report_documents(files: DataFiles) -> list[DemoDocument]:
    """The extra report documents, dates resolved for the seeding moment of ``files``."""
    bundle = parse_xml(expand(REPORT_DOCUMENTS, files.now, files.folders), BUNDLE)
    return [_document(element, BUNDLE) for element in bundle.findall("Document")]
