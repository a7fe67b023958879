<?xml version="1.0" encoding="utf-8"?>
<!--
  Filter title: Index Glossary Dictionary (written for cdr-dagster)

  Input: one exported GlossaryTerm (pdqCG.dtd, the XML in pub_proc_cg).
  Output: <nodes> with one <node> per definition, audience and dictionary: each
  TermDefinition (language en) and SpanishTermDefinition (language es), for each of its
  Audience elements, once per Dictionary element, or once with dictionary "NotSet" when it has
  none. cdr_dagster.cdr.dictionaries.nodes turns each node into a glossaryv1 document:

    type="int"              the value is an integer
    type="array-member"     the value is appended to a list under the element's name
    processor="..."         the value is that Python rule applied to the text
    an empty leaf           null

  Parameter: tier (DEV, QA, STAGE, PROD), for the media host: nci-media-{tier}.cancer.gov,
  nci-media.cancer.gov on PROD.

  Text is written as text: the html values hold markup such as <a href="..."> as characters,
  not escaped for HTML (docs/behaviour-notes.md#dictionary-documents).
-->
<xsl:transform xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">

  <xsl:output method="xml" encoding="utf-8"/>

  <xsl:param name="tier"/>

  <xsl:variable name="upper" select="'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"/>
  <xsl:variable name="lower" select="'abcdefghijklmnopqrstuvwxyz'"/>

  <!-- https://nci-media-dev.cancer.gov/pdq/media/ ("-tier" left out on PROD).
       Values are computed in select expressions rather than in variable bodies, which would
       build a result tree fragment each time; substring(s, 1 div false()) is "". -->
  <xsl:variable name="media-url"
                select="concat('https://nci-media',
                               substring(concat('-', translate($tier, $upper, $lower)),
                                         1 div ($tier != 'PROD')),
                               '.cancer.gov/pdq/media/')"/>

  <xsl:template match="/">
    <nodes>
      <xsl:for-each select="GlossaryTerm">
        <!-- CDR0000044058 -> 44058 -->
        <xsl:variable name="id" select="number(substring(@id, 4))"/>
        <xsl:for-each select="TermDefinition">
          <xsl:call-template name="definition">
            <xsl:with-param name="id" select="$id"/>
            <xsl:with-param name="lang" select="'en'"/>
            <xsl:with-param name="term-name" select="normalize-space(../TermName)"/>
            <xsl:with-param name="other-lang" select="'es'"/>
            <xsl:with-param name="other-name" select="normalize-space(../SpanishTermName)"/>
            <xsl:with-param name="other-definitions" select="../SpanishTermDefinition"/>
          </xsl:call-template>
        </xsl:for-each>
        <xsl:for-each select="SpanishTermDefinition">
          <xsl:call-template name="definition">
            <xsl:with-param name="id" select="$id"/>
            <xsl:with-param name="lang" select="'es'"/>
            <xsl:with-param name="term-name" select="normalize-space(../SpanishTermName)"/>
            <xsl:with-param name="other-lang" select="'en'"/>
            <xsl:with-param name="other-name" select="normalize-space(../TermName)"/>
            <xsl:with-param name="other-definitions" select="../TermDefinition"/>
          </xsl:call-template>
        </xsl:for-each>
      </xsl:for-each>
    </nodes>
  </xsl:template>

  <!-- One definition (the context node): a node per audience and dictionary. -->
  <xsl:template name="definition">
    <xsl:param name="id"/>
    <xsl:param name="lang"/>
    <xsl:param name="term-name"/>
    <xsl:param name="other-lang"/>
    <xsl:param name="other-name"/>
    <xsl:param name="other-definitions"/>
    <xsl:variable name="definition" select="."/>
    <xsl:for-each select="Audience">
      <xsl:variable name="audience" select="normalize-space()"/>
      <xsl:for-each select="../Dictionary">
        <xsl:call-template name="node">
          <xsl:with-param name="id" select="$id"/>
          <xsl:with-param name="lang" select="$lang"/>
          <xsl:with-param name="term-name" select="$term-name"/>
          <xsl:with-param name="audience" select="$audience"/>
          <xsl:with-param name="dictionary" select="normalize-space()"/>
          <xsl:with-param name="definition" select="$definition"/>
          <xsl:with-param name="other-lang" select="$other-lang"/>
          <xsl:with-param name="other-name" select="$other-name"/>
          <xsl:with-param name="other-definitions" select="$other-definitions"/>
        </xsl:call-template>
      </xsl:for-each>
      <xsl:if test="not(../Dictionary)">
        <xsl:call-template name="node">
          <xsl:with-param name="id" select="$id"/>
          <xsl:with-param name="lang" select="$lang"/>
          <xsl:with-param name="term-name" select="$term-name"/>
          <xsl:with-param name="audience" select="$audience"/>
          <xsl:with-param name="dictionary" select="'NotSet'"/>
          <xsl:with-param name="definition" select="$definition"/>
          <xsl:with-param name="other-lang" select="$other-lang"/>
          <xsl:with-param name="other-name" select="$other-name"/>
          <xsl:with-param name="other-definitions" select="$other-definitions"/>
        </xsl:call-template>
      </xsl:if>
    </xsl:for-each>
  </xsl:template>

  <!-- One glossaryv1 document. -->
  <xsl:template name="node">
    <xsl:param name="id"/>
    <xsl:param name="lang"/>
    <xsl:param name="term-name"/>
    <xsl:param name="audience"/>
    <xsl:param name="dictionary"/>
    <xsl:param name="definition"/>
    <xsl:param name="other-lang"/>
    <xsl:param name="other-name"/>
    <xsl:param name="other-definitions"/>
    <xsl:variable name="term" select="$definition/.."/>
    <!-- "Health professional" -> HealthProfessional, "Patient" -> Patient, else empty -->
    <xsl:variable name="mapped"
                  select="concat(substring('HealthProfessional',
                                           1 div starts-with($audience, 'Health')),
                                 substring('Patient', 1 div starts-with($audience, 'Patient')))"/>
    <!-- _id: 44058_cancer.gov_en_patient (spaces removed, ASCII lower case) -->
    <node doc_type="terms"
          id="{translate(concat($id, '_', $dictionary, '_', $lang, '_', $audience),
                         concat($upper, ' '), $lower)}">
      <term_id type="int"><xsl:value-of select="$id"/></term_id>
      <language><xsl:value-of select="$lang"/></language>
      <dictionary><xsl:value-of select="$dictionary"/></dictionary>
      <audience><xsl:value-of select="$mapped"/></audience>
      <term_name><xsl:value-of select="$term-name"/></term_name>
      <first_letter processor="lowercase_first_letter">
        <xsl:value-of select="$term-name"/>
      </first_letter>
      <pretty_url_name processor="clean_pretty_url">
        <xsl:value-of select="$term-name"/>
      </pretty_url_name>

      <!-- Pronunciation: key (English only) and the audio file(s) in this language; several
           audio files concatenate their URLs, as the legacy filter did. -->
      <xsl:variable name="key" select="substring($term/TermPronunciation, 1 div ($lang = 'en'))"/>
      <xsl:variable name="audio"
                    select="$term/MediaLink[@type = 'audio/mpeg'][@language = $lang]
                                           [number(substring(@ref, 4)) &gt;= 0]"/>
      <pronunciation>
        <xsl:if test="$key != '' or $audio">
          <key><xsl:value-of select="$key"/></key>
          <audio>
            <xsl:for-each select="$audio">
              <xsl:value-of select="concat($media-url, 'audio/', number(substring(@ref, 4)),
                                           '.mp3')"/>
            </xsl:for-each>
          </audio>
        </xsl:if>
      </pronunciation>

      <definition>
        <text>
          <xsl:for-each select="$definition/DefinitionText">
            <xsl:value-of select="."/>
          </xsl:for-each>
        </text>
        <html>
          <xsl:apply-templates select="$definition/DefinitionText" mode="html"/>
        </html>
      </definition>

      <!-- Related resources for this language. -->
      <xsl:for-each select="$term/RelatedInformation/*[@UseWith = $lang]">
        <related_resources type="array-member">
          <type>
            <xsl:choose>
              <xsl:when test="self::RelatedSummaryRef">Summary</xsl:when>
              <xsl:when test="self::RelatedDrugSummaryRef">DrugSummary</xsl:when>
              <xsl:when test="self::RelatedExternalRef">External</xsl:when>
              <xsl:when test="self::RelatedGlossaryTermRef">GlossaryTerm</xsl:when>
            </xsl:choose>
          </type>
          <text><xsl:value-of select="normalize-space()"/></text>
          <xsl:choose>
            <xsl:when test="self::RelatedGlossaryTermRef">
              <term_id type="int"><xsl:value-of select="number(substring(@href, 4))"/></term_id>
              <audience>
                <xsl:choose>
                  <xsl:when test="starts-with(@audience, 'Health')">HealthProfessional</xsl:when>
                  <xsl:when test="starts-with(@audience, 'Patient')">Patient</xsl:when>
                </xsl:choose>
              </audience>
              <!-- the raw text, not normalized: a leading space makes a leading hyphen -->
              <pretty_url_name processor="clean_pretty_url">
                <xsl:value-of select="text()"/>
              </pretty_url_name>
            </xsl:when>
            <xsl:otherwise>
              <url>
                <xsl:choose>
                  <xsl:when test="self::RelatedSummaryRef or self::RelatedDrugSummaryRef">
                    <xsl:value-of select="concat('https://www.cancer.gov', @url)"/>
                  </xsl:when>
                  <xsl:when test="self::RelatedExternalRef">
                    <xsl:value-of select="@xref"/>
                  </xsl:when>
                </xsl:choose>
              </url>
            </xsl:otherwise>
          </xsl:choose>
        </related_resources>
      </xsl:for-each>

      <!-- Images and videos for this language and audience, in document order. A missing
           language attribute never matches; an empty one means every language. A missing or
           unknown audience means every audience. -->
      <xsl:for-each select="$term/MediaLink[@type = 'image/jpeg'] | $term/EmbeddedVideo">
        <xsl:if test="(@language = $lang or @language = '')
                      and ((starts-with(@audience, 'Health')
                            and $mapped = 'HealthProfessional')
                           or (starts-with(@audience, 'Patient') and $mapped = 'Patient')
                           or not(starts-with(@audience, 'Health')
                                  or starts-with(@audience, 'Patient')))">
          <xsl:choose>
            <xsl:when test="self::MediaLink">
              <xsl:variable name="n" select="number(substring(@ref, 4))"/>
              <xsl:variable name="image" select="concat($media-url, 'images/', $n)"/>
              <media type="array-member">
                <type>Image</type>
                <ref><xsl:value-of select="@ref"/></ref>
                <image_sources type="array-member">
                  <size>original</size>
                  <src><xsl:value-of select="concat($image, '.jpg')"/></src>
                </image_sources>
                <image_sources type="array-member">
                  <size>571</size>
                  <src><xsl:value-of select="concat($image, '-571.jpg')"/></src>
                </image_sources>
                <image_sources type="array-member">
                  <size>750</size>
                  <src><xsl:value-of select="concat($image, '-750.jpg')"/></src>
                </image_sources>
                <alt><xsl:value-of select="@alt"/></alt>
                <xsl:for-each select="Caption[@language = $lang or @language = '']">
                  <caption><xsl:value-of select="."/></caption>
                </xsl:for-each>
                <template><xsl:value-of select="@placement"/></template>
              </media>
            </xsl:when>
            <xsl:otherwise>
              <media type="array-member">
                <type>Video</type>
                <ref><xsl:value-of select="@ref"/></ref>
                <hosting><xsl:value-of select="@hosting"/></hosting>
                <unique_id><xsl:value-of select="@unique_id"/></unique_id>
                <template><xsl:value-of select="@template"/></template>
                <xsl:for-each select="VideoTitle">
                  <title><xsl:value-of select="normalize-space()"/></title>
                </xsl:for-each>
                <xsl:for-each select="Caption[@language = $lang or @language = '']">
                  <caption><xsl:value-of select="."/></caption>
                </xsl:for-each>
              </media>
            </xsl:otherwise>
          </xsl:choose>
        </xsl:if>
      </xsl:for-each>

      <!-- The other language, when it has a definition for the same audience text and the
           same dictionary. A node without a Dictionary ("NotSet") never qualifies: the
           legacy filter looked for the value "NotFound" there, and so does this one. -->
      <xsl:if test="$other-definitions[Audience = $audience]
                      [Dictionary = $dictionary
                       or (not(Dictionary) and $dictionary = 'NotFound')]">
        <other_languages type="array-member">
          <language><xsl:value-of select="$other-lang"/></language>
          <term_name><xsl:value-of select="$other-name"/></term_name>
          <pretty_url_name processor="clean_pretty_url">
            <xsl:value-of select="$other-name"/>
          </pretty_url_name>
        </other_languages>
      </xsl:if>
    </node>
  </xsl:template>

  <!-- The html form of a definition: links and emphasis as HTML tags written as text. -->
  <xsl:template match="ExternalRef" mode="html">
    <xsl:value-of select="concat('&lt;a href=&quot;', @xref, '&quot;&gt;', text(), '&lt;/a&gt;')"/>
  </xsl:template>

  <xsl:template match="SummaryRef" mode="html">
    <xsl:value-of select="concat('&lt;a href=&quot;https://www.cancer.gov', @url, '&quot;&gt;',
                                 text(), '&lt;/a&gt;')"/>
  </xsl:template>

  <xsl:template match="GeneName" mode="html">
    <xsl:value-of select="concat('&lt;em class=&quot;gene-name&quot;&gt;',
                                 normalize-space(text()), '&lt;/em&gt;')"/>
  </xsl:template>

  <xsl:template match="ScientificName" mode="html">
    <xsl:value-of select="concat('&lt;em class=&quot;scientific-name&quot;&gt;',
                                 normalize-space(text()), '&lt;/em&gt;')"/>
  </xsl:template>

  <xsl:template match="Emphasis" mode="html">
    <xsl:value-of select="concat('&lt;em&gt;', normalize-space(text()), '&lt;/em&gt;')"/>
  </xsl:template>

  <xsl:template match="Strong" mode="html">
    <xsl:value-of select="concat('&lt;strong&gt;', text(), '&lt;/strong&gt;')"/>
  </xsl:template>

</xsl:transform>
