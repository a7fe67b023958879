<?xml version="1.0" encoding="utf-8"?>
<!--
  Filter title: Index Drug Dictionary (written for cdr-dagster)

  Input: one exported Term (pdqCG.dtd, the XML in pub_proc_cg) of semantic type Drug/agent.
  Output: <nodes> with one DrugTerm <node> for the drug (id "702758") and one DrugAlias <node>
  per OtherName (ids "702758-1", "702758-2", ... in document order); nothing at all when the
  Term has no Definition/DefinitionText. cdr_dagster.cdr.dictionaries.nodes turns each node
  into a drugv1 document (conventions in index-glossary-dictionary.xsl).

  term_id is written as text, as the legacy filter did: Elasticsearch stores the string in
  the long field. The URL name is made from the NCI Thesaurus name when there is one,
  otherwise from the preferred name, and every alias carries the drug's URL name.
-->
<xsl:transform xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">

  <xsl:output method="xml" encoding="utf-8"/>

  <xsl:variable name="upper" select="'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"/>
  <xsl:variable name="lower" select="'abcdefghijklmnopqrstuvwxyz'"/>
  <!-- "|schema value=name type|..." for the OtherNameType values of the CDR schema, one
       literal: a concat() here would be evaluated for every document. -->
  <xsl:variable name="name-types" select="'|US brand name=USBrandName|Foreign brand name=ForeignBrandName|Code name=CodeName|IND code=INDCode|NSC number=NSCNumber|CAS Registry name=CASRegistryName|Chemical structure name=ChemicalStructureName|Lexical variant=LexicalVariant|Common usage=CommonUsage|Related string=RelatedString|Obsolete name=ObsoleteName|Acronym=Acronym|Abbreviation=Abbreviation|Synonym=Synonym|Broader=Broader|Subtype=Subtype|Spanish=Spanish|'"/>

  <xsl:template match="/">
    <nodes>
      <xsl:for-each select="Term[Definition/DefinitionText]">
        <!-- CDR0000702758 -> 702758 -->
        <xsl:variable name="id" select="string(number(substring(@id, 4)))"/>
        <xsl:variable name="preferred-name" select="normalize-space(PreferredName)"/>
        <xsl:variable name="ncit-name" select="normalize-space(CGovInfo/NCITName)"/>
        <!-- the NCI Thesaurus name if there is one, else the preferred name
             (substring(s, 1 div false()) is empty: string variables, no result fragments) -->
        <xsl:variable name="url-source"
                      select="concat($ncit-name, substring($preferred-name, 1 div ($ncit-name = '')))"/>
        <xsl:variable name="dis-url" select="normalize-space(CGovInfo/DISUrl)"/>
        <xsl:variable name="dis-title" select="normalize-space(CGovInfo/DISTitle)"/>
        <xsl:variable name="concept-id" select="normalize-space(@NCIThesaurusConceptID)"/>

        <node doc_type="terms" id="{$id}">
          <term_id><xsl:value-of select="$id"/></term_id>
          <name><xsl:value-of select="$preferred-name"/></name>
          <first_letter processor="lowercase_first_letter">
            <xsl:value-of select="$preferred-name"/>
          </first_letter>
          <type>DrugTerm</type>
          <term_name_type>PreferredName</term_name_type>
          <pretty_url_name processor="clean_pretty_url">
            <xsl:value-of select="$url-source"/>
          </pretty_url_name>
          <xsl:for-each select="OtherName">
            <aliases type="array-member">
              <type><xsl:call-template name="name-type"/></type>
              <name><xsl:value-of select="normalize-space(OtherTermName)"/></name>
            </aliases>
          </xsl:for-each>
          <!-- A drug has one definition; with several, the last one wins. -->
          <xsl:for-each select="Definition/DefinitionText">
            <definition>
              <text><xsl:apply-templates mode="text"/></text>
              <html><xsl:apply-templates mode="html"/></html>
            </definition>
          </xsl:for-each>
          <xsl:if test="$dis-url != '' and $dis-title != ''">
            <drug_info_summary_link>
              <url><xsl:value-of select="$dis-url"/></url>
              <text><xsl:value-of select="$dis-title"/></text>
            </drug_info_summary_link>
          </xsl:if>
          <xsl:if test="$concept-id != ''">
            <nci_concept_id><xsl:value-of select="$concept-id"/></nci_concept_id>
          </xsl:if>
          <xsl:if test="$ncit-name != ''">
            <nci_concept_name><xsl:value-of select="$ncit-name"/></nci_concept_name>
          </xsl:if>
        </node>

        <xsl:for-each select="OtherName">
          <xsl:variable name="other-name" select="normalize-space(OtherTermName)"/>
          <node doc_type="terms" id="{$id}-{position()}">
            <term_id><xsl:value-of select="$id"/></term_id>
            <name><xsl:value-of select="$other-name"/></name>
            <first_letter processor="lowercase_first_letter">
              <xsl:value-of select="$other-name"/>
            </first_letter>
            <type>DrugAlias</type>
            <term_name_type><xsl:call-template name="name-type"/></term_name_type>
            <pretty_url_name processor="clean_pretty_url">
              <xsl:value-of select="$url-source"/>
            </pretty_url_name>
            <preferred_name><xsl:value-of select="$preferred-name"/></preferred_name>
          </node>
        </xsl:for-each>
      </xsl:for-each>
    </nodes>
  </xsl:template>

  <!-- The first OtherNameType of the context OtherName with the first letter of each word
       upper-cased and the spaces taken out: "US brand name" -> USBrandName. The schema's
       values are looked up in $name-types (what capitalize-words gives for them: the word by
       word recursion costs libxslt several microseconds a name); any other value, or one
       holding "=" (which could match across entries), goes through capitalize-words. -->
  <xsl:template name="name-type">
    <xsl:variable name="words" select="normalize-space(OtherNameType)"/>
    <xsl:variable name="key" select="concat('|', $words, '=')"/>
    <xsl:choose>
      <xsl:when test="contains($name-types, $key) and not(contains($words, '='))">
        <xsl:value-of select="substring-before(substring-after($name-types, $key), '|')"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="capitalize-words">
          <xsl:with-param name="words" select="$words"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="capitalize-words">
    <xsl:param name="words"/>
    <!-- the first word: its first letter upper-cased, then the rest of it -->
    <xsl:value-of select="concat(translate(substring($words, 1, 1), $lower, $upper),
                                 substring-before(concat(substring($words, 2), ' '), ' '))"/>
    <xsl:if test="contains($words, ' ')">
      <xsl:call-template name="capitalize-words">
        <xsl:with-param name="words" select="substring-after($words, ' ')"/>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>

  <!-- The links added to some definitions for the web site (OCECDR-4892) are left out. -->
  <xsl:template match="ExtraDefinitionLinks" mode="text"/>
  <xsl:template match="ExtraDefinitionLinks" mode="html"/>

  <!-- The html form marks up links only. -->
  <xsl:template match="ExternalRef" mode="html">
    <xsl:value-of select="concat('&lt;a href=&quot;', @xref, '&quot;&gt;', text(), '&lt;/a&gt;')"/>
  </xsl:template>

</xsl:transform>
