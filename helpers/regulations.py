"""The jurisdiction table as data: how health-data laws treat de-identification, research and breaches.

Every cell of the table carries its own source (one URL, or several for a statement that
combines them), the kind of source it rests on and the date it was checked, so a case study
can show where a statement comes from and how firm it is, an instructor can see what to
re-verify before a course, and the tests can check that no cell is unsourced.

Source kinds (``SOURCE_KINDS``), from strongest to weakest:

* ``"primary"``: the text of a statute, regulation, official journal or court judgment (or a
  faithful copy of it on an official site);
* ``"regulator"``: a regulator's or government department's own guidance, decision or FAQ;
* ``"secondary"``: a law firm's, journalist's or unofficial translator's summary. A cell
  that rests on any secondary source is marked ``"secondary"``, whatever else it cites.

A cell whose content could not be checked at all holds the word ``"unverified"`` instead of
a guess, and its kind is ``"unverified"`` too. ``checked`` is the date (ISO 8601) on which the cell was last compared with its
sources; ``cells_by_check_date()`` lists the cells oldest first, for re-verification.

The table is a teaching summary. It is NOT legal advice: laws change, and a summary leaves
out conditions that matter in a real case.

For display, ``compare`` (and ``jurisdiction_table(..., sources=True)``) ends every
statement with its kind and check date, e.g. ``[secondary source, checked 2026-12-01]``, so a
reader sees which cells rest only on a law firm's note or an unofficial translation.

Public API
----------
jurisdictions()            the table, one row per jurisdiction, one main source URL per row
jurisdiction_sources()     the same content, one row per cell, with its source, kind, date
cells_by_check_date()      every cell's check date, kind and source, oldest first
jurisdiction_table(...)    a subset of rows and columns, for a case study's comparison table
compare(case_facts)        the columns that bear on a case's facts, each cell marked with its
                           source kind and check date, for display
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

#: The word a cell holds when its content could not be verified against any source.
UNVERIFIED = "unverified"

#: The kinds of source a cell can rest on, strongest first.
SOURCE_KINDS = ("primary", "regulator", "secondary")

#: Columns of ``jurisdictions()``, in order. ``source_url`` is the row's main source: the text
#: of the law where the kit links one, else (China) the translation its cells rest on; every
#: cell's own source and kind are in ``jurisdiction_sources()``.
COLUMNS = (
    "jurisdiction",
    "law",
    "year",
    "health_data_class",
    "deidentification_standard",
    "research_use_basis",
    "cross_border_transfer",
    "breach_notice_regulator",
    "breach_notice_individuals",
    "maximum_penalty",
    "source_url",
)

#: The columns that hold statements about the law (each with its own source).
FACT_COLUMNS = COLUMNS[1:-1]

#: Human-readable headers, for notebooks that display the table.
HEADERS = {
    "jurisdiction": "Jurisdiction",
    "law": "Law",
    "year": "Year enacted",
    "health_data_class": "How health data is classed",
    "deidentification_standard": "De-identification / anonymisation standard",
    "research_use_basis": "Basis for research use",
    "cross_border_transfer": "Cross-border transfer rule",
    "breach_notice_regulator": "After a breach: notify the regulator",
    "breach_notice_individuals": "After a breach: notify the people affected",
    "maximum_penalty": "Maximum penalty",
    "source_url": "Main source of the row",
}

#: How a displayed cell names the kind of source it rests on (see ``compare``).
KIND_LABELS = {
    "primary": "primary text",
    "regulator": "regulator's guidance",
    "secondary": "secondary source",
    UNVERIFIED: "not verified",
}


@dataclass(frozen=True)
class Cell:
    """One statement of the table: its value, the URL(s) it was checked against (several
    joined by ``" ; "``), the kind of source it rests on and the date it was checked."""

    value: str | int
    source: str
    kind: str
    checked: str

    def __post_init__(self):
        if self.value == UNVERIFIED:
            if self.kind != UNVERIFIED:
                raise ValueError(f"an unverified cell has kind {UNVERIFIED!r}; got {self.kind!r}")
        elif self.kind not in SOURCE_KINDS:
            raise ValueError(f"kind must be one of {SOURCE_KINDS}; got {self.kind!r}")
        try:
            _dt.date.fromisoformat(self.checked)
        except (TypeError, ValueError):
            raise ValueError(
                f"checked must be an ISO date such as '2026-12-01'; got {self.checked!r}"
            ) from None


#: The fact-check of 28 November 2026 (issue 7): cells it checked that nothing since changed.
FACT_CHECK_2026_11 = "2026-11-28"
#: The fact-check of 1 December 2026 (issue 18): UK law after the Data (Use and Access) Act
#: 2025, the US transfer rule, the breach-notification columns and the source kinds.
FACT_CHECK_2026_12 = "2026-12-01"


def _cell(value, source: str, kind: str = "primary", checked: str = FACT_CHECK_2026_11) -> Cell:
    return Cell(value, source, kind, checked)


def _new(value, source: str, kind: str = "primary") -> Cell:
    """A cell written or re-checked in the fact-check of 1 December 2026."""
    return Cell(value, source, kind, FACT_CHECK_2026_12)


# --------------------------------------------------------------------------- sources
# Statutes, regulations and judgments first (primary), then regulators' pages, then the
# secondary summaries that some cells still rest on (their cells are marked "secondary").

_ECFR_164_514 = (
    "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-E/"
    "section-164.514"
)
_ECFR_160_103 = (
    "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-160/subpart-A/"
    "section-160.103"
)
_ECFR_164_512 = (
    "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-E/"
    "section-164.512"
)
# The Privacy, Security and Breach Notification Rules: 45 CFR Part 164 (the row's main text).
_ECFR_PART_164 = "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164"
# The Breach Notification Rule, 45 CFR 164.400-414.
_ECFR_164_D = "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-D"
_ECFR_102_3 = "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-A/part-102/section-102.3"
# The DOJ Data Security Program (under Executive Order 14117), in effect since 8 April 2025.
_ECFR_28_202 = "https://www.ecfr.gov/current/title-28/chapter-I/part-202"
# HHS annual civil monetary penalties inflation adjustment, 91 FR 3665 (28 January 2026).
_FR_2026_CMP = "https://www.govinfo.gov/content/pkg/FR-2026-01-28/html/2026-01688.htm"
_HIPAA_STATUTE = "https://www.govinfo.gov/content/pkg/PLAW-104publ191/html/PLAW-104publ191.htm"
_USC_1320D_6 = (
    "https://uscode.house.gov/view.xhtml?req=granuleid:USC-prelim-title42-section1320d-6"
    "&num=0&edition=prelim"
)
# HHS's guidance on encryption and destruction that render PHI "secured" (first issued at
# 74 FR 19006, 27 April 2009): the key must be kept apart from the data.
_HHS_BREACH_GUIDANCE = (
    "https://www.hhs.gov/hipaa/for-professionals/breach-notification/guidance/index.html"
)
_HHS_CLOUD = (
    "https://www.hhs.gov/hipaa/for-professionals/special-topics/health-information-technology/"
    "cloud-computing/index.html"
)

_CCPA = (
    "https://leginfo.legislature.ca.gov/faces/codes_displayText.xhtml?division=3.&part=4.&"
    "lawCode=CIV&title=1.81.5"
)
_CCPA_1798_146 = (
    "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?sectionNum=1798.146.&"
    "lawCode=CIV"
)
_CCPA_1798_148 = (
    "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?sectionNum=1798.148.&"
    "lawCode=CIV"
)
_CCPA_1798_199_55 = (
    "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?sectionNum=1798.199.55.&"
    "lawCode=CIV"
)
_CIV_1798_82 = (
    "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?sectionNum=1798.82.&"
    "lawCode=CIV"
)
# SB 446 (signed 3 October 2025), amending Civ. Code 1798.82 from 1 January 2026, as
# summarised by a law firm.
_SB_446 = "https://www.dataprotectionreport.com/2025/11/california-tightens-data-breach-notification-timelines-imposes-30-day-notice-requirement/"
# The California Privacy Protection Agency's CPI adjustment of the CCPA fines, effective
# 1 January 2025 (Civ. Code 1798.199.95(d)), as reported by Orrick (announced by the agency
# on 17 December 2024).
_CCPA_CPI_2025 = "https://www.jdsupra.com/legalnews/california-privacy-protection-agency-7046701/"
_CMIA_56_36 = (
    "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml?sectionNum=56.36.&"
    "lawCode=CIV"
)

_GDPR = "https://eur-lex.europa.eu/eli/reg/2016/679/oj"
# CJEU, EDPS v SRB, C-413/23 P, judgment of 4 September 2025, ECLI:EU:C:2025:645.
_CJEU_SRB = "https://curia.europa.eu/juris/document/document.jsf?docid=303863&doclang=EN"
# The case referred back (T-557/20 RENV) was withdrawn; the General Court accepted the
# withdrawal on 19 December 2025, as reported by the IAPP (the removal order on curia not read).
_SRB_WITHDRAWN = "https://iapp.org/news/a/srb-pseudonymization-case-withdrawn-from-eu-general-court"

_UK_GDPR = "https://www.legislation.gov.uk/eur/2016/679/contents"
_UK_GDPR_84A = "https://www.legislation.gov.uk/eur/2016/679/chapter/8A"
_UK_DPA = "https://www.legislation.gov.uk/ukpga/2018/12/contents"
_DUAA = "https://www.legislation.gov.uk/ukpga/2025/18/contents"
# The Data (Use and Access) Act 2025 (Commencement No. 6 and Transitional and Saving
# Provisions) Regulations 2026, SI 2026/82: ss. 67, 68, 85, 86, 87 and more from 5 Feb 2026.
_SI_2026_82 = "https://www.legislation.gov.uk/uksi/2026/82/made"
# Retained EU Law (Revocation and Reform) Act 2023, s. 5: "assimilated law" after 2023.
_REUL_S5 = "https://www.legislation.gov.uk/ukpga/2023/28/section/5"
_ICO_ANON = (
    "https://ico.org.uk/for-organisations/uk-gdpr-guidance-and-resources/data-sharing/"
    "anonymisation/"
)
_NHS_OPT_OUT = (
    "https://digital.nhs.uk/services/national-data-opt-out/understanding-the-national-data-opt-out"
)
_NHS_OPT_OUT_S251 = (
    "https://digital.nhs.uk/services/data-access-request-service-dars/"
    "how-the-national-data-opt-out-affects-data-released-by-nhs-digital/"
    "national-data-opt-out-guidance-for-researchers/"
    "4-section-251-and-the-application-of-national-data-opt-outs"
)
# The European Commission renewed its two UK adequacy decisions on 19 December 2025, until
# 27 December 2031 (review after four years): the Commission's daily news of that day, read
# in the Cyprus News Agency's verbatim reproduction (a secondary host).
_EU_UK_ADEQUACY_2025 = (
    "https://cna.org.cy/en/press_releases/article/9563124/press-release-european-commission"
)

_PIPEDA = "https://laws-lois.justice.gc.ca/eng/acts/P-8.6/"
_PIPEDA_BREACH_REGS = "https://laws-lois.justice.gc.ca/eng/regulations/SOR-2018-64/"
# PIPEDA Findings #2026-001 (Loblaw), 5 March 2026, on "made anonymous", as summarised by
# Dentons (30 March 2026) and Reed Smith; the findings on priv.gc.ca were not opened.
_PIPEDA_ANON = (
    "https://www.dentonsdata.com/anonymization-requirements-under-pipeda-clarified-mostly/"
)
_PIPEDA_ANON_2 = (
    "https://www.reedsmith.com/our-insights/blogs/viewpoints/102mn2s/"
    "loyalty-program-privacy-failures-opc-finds-pc-optimum-violated-pipeda"
)

_PHIPA = "https://www.ontario.ca/laws/statute/04p03"
_PHIPA_AMP = "https://www.ontario.ca/laws/regulation/R23343"
_IPC_BREACH_REGS = "https://ipc.on.ca/en/health-privacy/report-privacy-breach/regulations"
_IPC_DEID = "https://decisions.ipc.on.ca/ipc-cipvp/phipa/en/item/520967/index.do"
# Offence fines as raised by Bill 188 (Economic and Fiscal Update Act, 2020), summarised.
_PHIPA_OFFENCES = (
    "https://www.ehlaw.ca/bill-188-brings-significant-changes-to-ontarios-personal-health-"
    "information-protection-act/"
)

_LGPD = "https://www.planalto.gov.br/ccivil_03/_ato2015-2018/2018/lei/l13709.htm"
# ANPD Resolution CD/ANPD No. 15 of 24 April 2024 (security-incident communication), as
# summarised by a Brazilian law firm.
_ANPD_RES_15 = (
    "https://trenchrossi.com/alertas-legais/regulamento-de-comunicacao-de-incidente-de-"
    "seguranca-e-publicado-pela-autoridade-nacional-de-protecao-de-dados-anpd"
)

# Unofficial English translations of the PIPL (the authentic text is the Chinese one
# published by the National People's Congress): secondary.
_PIPL_ART13 = "https://personalinformationprotectionlaw.com/PIPL/article-13/"
_PIPL_ART4 = "https://www.21cloudbox.com/china-pipl.html"
_PIPL_ART28 = "https://personalinformationprotectionlaw.com/PIPL/article-28/"
_PIPL_ART66 = (
    "https://pipl.xllawconsulting.com/personal-information-protection-law-of-the-peoples-republic-"
    "of-china-pipl/chapter-vii-legal-liability/article-66/"
)

_DPDP = "https://www.meity.gov.in/static/uploads/2024/06/2bf1f0e9f04e6fb4f8fef35e82c42aa5.pdf"
# The notifications of 13 November 2025: commencement G.S.R. 843(E), the Data Protection
# Board G.S.R. 844(E) (establishment) and 845(E) (composition), and the Rules G.S.R. 846(E),
# as summarised (secondary; Gazette not read).
_DPDP_COMMENCEMENT = (
    "https://www.taxmann.com/post/blog/govt-notifies-commencement-dates-for-dpdp-act"
)
_DPDP_NOTIFICATIONS = (
    "https://www.voicendata.com/policy/dpdp-act-businesses-should-prepare-now-for-phased-"
    "obligations-10742513"
)
# A copy of the Act's definitions section (s. 2) (secondary).
_DPDP_S2 = "https://lawontips.com/bare-acts/dpdp-2023/dpdp-sec-2"
# Rule 7 of the Digital Personal Data Protection Rules, 2025, as summarised (secondary).
_DPDP_RULE_7 = "https://www.vratex.com/dpdp-act/breach-notification"
# MeitY's January 2026 proposal to shorten the 18-month transition, as reported
# (Business Standard, 22 January 2026; S.S. Rana, 13 February 2026, which gives the end dates
# 13 May 2027 as notified and 13 November 2026 as proposed).
_DPDP_2026_PROPOSAL = (
    "https://www.business-standard.com/amp/technology/tech-news/"
    "meity-may-cut-compliance-timeline-for-key-dpdp-rules-to-12-months-126012201293_1.html"
)
_DPDP_2026_PROPOSAL_DATES = "https://ssrana.in/?p=43288"
# The proposal's detail, s. 17(2) at once among it (Hammurabi & Solomon, on the 22 January
# 2026 meeting; a law firm's note).
_DPDP_2026_PROPOSAL_DETAIL = (
    "https://www.hammurabisolomon.in/post/meity-signals-a-sharper-turn-in-india-s-data-"
    "protection-rollout"
)
# A source on the transition updated 3 June 2026: it gives 14 May 2027.
_DPDP_STATUS_2026_06 = "https://www.getastra.com/blog/compliance/dpdp-compliance/"
# MeitY's Secretary on 9 March 2026: the ministry awaits industry inputs before deciding on
# the proposal (PTI, as republished; the latest official word on it found by 1 December 2026).
_DPDP_STATUS_2026_03 = (
    "https://www.newsdrum.in/business/meity-awaiting-industry-inputs-on-plans-to-slash-"
    "timeline-for-data-protection-compliance-krishnan-11189047"
)
# The latest (unofficial, automated) tracker found, of 7 November 2026, still gives May 2027.
_DPDP_STATUS_2026_11 = "https://github.com/mjmirza/app-store-compliance/discussions/2199"


# --------------------------------------------------------------------------- the table

_ROWS: tuple[dict[str, Cell], ...] = (
    {
        "jurisdiction": _cell("United States (federal)", _HIPAA_STATUTE),
        "law": _cell(
            "Health Insurance Portability and Accountability Act of 1996 (Pub. L. 104-191) and "
            "its Privacy Rule, 45 CFR Parts 160 and 164",
            _HIPAA_STATUTE,
        ),
        "year": _cell(1996, _HIPAA_STATUTE),
        "health_data_class": _cell(
            "Protected health information (PHI): individually identifiable health information "
            "held or transmitted by a covered entity or its business associate (45 CFR 160.103)",
            _ECFR_160_103,
        ),
        "deidentification_standard": _cell(
            "45 CFR 164.514(b): either Safe Harbor (remove 18 kinds of identifiers, e.g. keep at "
            "most the first 3 digits of a ZIP code, and only where that area holds more than "
            "20,000 people, and no date element but the year, with ages over 89 grouped as 90 or "
            "older; plus no actual knowledge that the rest could identify anyone) or Expert "
            "Determination (a qualified expert finds the risk of identification 'very small'). "
            "De-identified data are not PHI. A limited data set (164.514(e)) keeps dates and "
            "ZIP codes, remains PHI, and needs a data use agreement.",
            _ECFR_164_514,
        ),
        "research_use_basis": _new(
            "The individual's authorization; a waiver of authorization approved by an IRB or "
            "Privacy Board (45 CFR 164.512(i)(1)(i)); without either, reviews preparatory to "
            "research (no PHI removed from the covered entity, 164.512(i)(1)(ii)) and research "
            "on decedents' information (164.512(i)(1)(iii)), each on the researcher's stated "
            "representations; a limited data set under a data use agreement (164.514(e), for "
            "research, public health or health care operations); or de-identified data",
            f"{_ECFR_164_512} ; {_ECFR_164_514}",
        ),
        "cross_border_transfer": _new(
            "HIPAA has no transfer-specific rule: HHS guidance says PHI may be stored by a cloud "
            "provider outside the United States under a business associate agreement and the "
            "HIPAA Rules, with the location's risks in the Security Rule risk analysis. Since 8 "
            "April 2025, the Justice Department's Data Security Program (28 CFR Part 202, under "
            "Executive Order 14117) prohibits or restricts transactions giving countries of "
            "concern or covered persons access to bulk US sensitive personal data, e.g. personal "
            "health data on more than 10,000 US persons or human genomic data on more than 100 "
            "(202.205), 'regardless of whether the data is anonymized, pseudonymized, "
            "de-identified, or encrypted' (202.206); the compliance-programme and audit duties "
            "for restricted transactions apply from 6 October 2025 (202.1001-202.1002), as do "
            "the recordkeeping and reporting duties of Subpart K (202.1101-202.1104)",
            f"{_HHS_CLOUD} ; {_ECFR_28_202}",
            kind="regulator",
        ),
        "breach_notice_regulator": _new(
            "Breach of unsecured PHI affecting 500 or more people: notify the HHS Secretary at "
            "the same time as the individuals; fewer than 500: log them and report within 60 "
            "days after the end of the calendar year (45 CFR 164.408). A business associate "
            "tells the covered entity within 60 days of discovery (164.410). PHI encrypted as "
            "HHS's guidance specifies is not 'unsecured' (164.402), provided the key was not "
            "breached: the guidance asks that it be kept on a device or at a location separate "
            "from the data",
            f"{_ECFR_164_D} ; {_HHS_BREACH_GUIDANCE}",
            kind="regulator",
        ),
        "breach_notice_individuals": _new(
            "Without unreasonable delay and no later than 60 calendar days after discovery "
            "(164.404); prominent media outlets too when more than 500 residents of a State or "
            "jurisdiction are affected (164.406). An impermissible use or disclosure is presumed "
            "a breach unless a four-factor risk assessment shows a low probability that the PHI "
            "has been compromised (164.402)",
            _ECFR_164_D,
        ),
        # Checked on 28 November 2026; the statute's link moved since to the official US Code.
        "maximum_penalty": _cell(
            "Civil: calendar-year cap of $2,190,294 for violations of an identical provision "
            "(HHS inflation adjustment of 28 January 2026, 45 CFR 102.3; HHS applies lower caps "
            "to lower culpability tiers by enforcement discretion). Criminal: up to $250,000 and "
            "10 years' imprisonment for knowingly obtaining or disclosing individually "
            "identifiable health information with intent to sell, transfer or use it for "
            "commercial advantage, personal gain or malicious harm (42 U.S.C. 1320d-6)",
            f"{_ECFR_102_3} ; {_FR_2026_CMP} ; {_USC_1320D_6}",
        ),
        "source_url": _new(_ECFR_PART_164, _ECFR_PART_164),
    },
    {
        "jurisdiction": _cell("United States (California)", _CCPA),
        "law": _cell(
            "California Consumer Privacy Act of 2018 (CCPA, Civ. Code 1798.100 et seq., amended "
            "by the California Privacy Rights Act of 2020) and the Confidentiality of Medical "
            "Information Act (CMIA, Civ. Code 56 et seq.)",
            _CCPA,
        ),
        "year": _cell(2018, _CCPA),
        "health_data_class": _cell(
            "'Medical information' under the CMIA (Civ. Code 56.05); the CCPA does not apply to "
            "CMIA medical information or to HIPAA PHI held by covered entities and business "
            "associates (Civ. Code 1798.146)",
            _CCPA_1798_146,
        ),
        "deidentification_standard": _cell(
            "Patient information de-identified by the HIPAA standard (45 CFR 164.514) is outside "
            "the CCPA (1798.146(a)(4)); re-identifying it is prohibited except for listed "
            "purposes such as treatment, public health, Common Rule research or contracted "
            "testing of de-identification (1798.148)",
            _CCPA_1798_148,
        ),
        "research_use_basis": _cell(
            "The CCPA does not apply to information collected in human-subjects research under "
            "the Common Rule, ICH good clinical practice or FDA rules (1798.146); re-identifying "
            "HIPAA-de-identified data is allowed for Common Rule research (1798.148(a)(3))",
            _CCPA_1798_146,
        ),
        "cross_border_transfer": _cell(UNVERIFIED, _CCPA, kind=UNVERIFIED),
        "breach_notice_regulator": _new(
            "Where more than 500 California residents are notified of one breach, a sample copy "
            "of the notice goes to the Attorney General, within 15 calendar days of notifying "
            "them (Civ. Code 1798.82(f) as amended by SB 446 of 2025, from 1 January 2026)",
            f"{_CIV_1798_82} ; {_SB_446}",
            kind="secondary",
        ),
        "breach_notice_individuals": _new(
            "A business that owns or licenses computerised personal information (which includes "
            "medical and health insurance information) notifies affected California residents "
            "within 30 calendar days of discovering the breach, later only for law enforcement "
            "or to determine its scope (Civ. Code 1798.82(a) as amended by SB 446, from "
            "1 January 2026; before, 'in the most expedient time possible and without "
            "unreasonable delay')",
            f"{_CIV_1798_82} ; {_SB_446}",
            kind="secondary",
        ),
        "maximum_penalty": _cell(
            "CCPA: administrative fine up to $2,500 per violation or $7,500 per intentional "
            "violation or violation involving minors' personal information (1798.199.55(a)(2)), "
            "adjusted for inflation to $2,663 and $7,988 from 1 January 2025. CMIA: up to "
            "$25,000 per knowing and willful violation by a person other than a licensed health "
            "care professional (56.36(c)(2)(A)), and up to $250,000 per violation where medical "
            "information is obtained or used for financial gain (56.36(c)(3)(A))",
            f"{_CCPA_1798_199_55} ; {_CCPA_CPI_2025} ; {_CMIA_56_36}",
            kind="secondary",
        ),
        "source_url": _cell(_CCPA, _CCPA),
    },
    {
        "jurisdiction": _cell("European Union", _GDPR),
        "law": _cell("General Data Protection Regulation, Regulation (EU) 2016/679 (GDPR)", _GDPR),
        "year": _cell(2016, _GDPR),
        "health_data_class": _cell(
            "'Data concerning health' (Art. 4(15)) are a special category: processing is "
            "prohibited unless an exception in Art. 9(2) applies",
            _GDPR,
        ),
        "deidentification_standard": _new(
            "Pseudonymised data (Art. 4(5)) remain personal data for anyone who can attribute "
            "them to a person; anonymous information, where the person is not identifiable by "
            "any means reasonably likely to be used (cost, time, available technology), is "
            "outside the Regulation (Recital 26). The Court of Justice held in EDPS v SRB "
            "(C-413/23 P, 4 September 2025, on the identical definitions of Regulation "
            "2018/1725) that pseudonymised data are not necessarily personal data for a "
            "recipient who cannot re-identify the people by reasonable means, while they stay "
            "personal for the controller that holds the key; it set aside the General Court's "
            "judgment and referred the case back to it, without deciding whether the data were "
            "personal for the recipient. The referred case (T-557/20 RENV) was then withdrawn, "
            "the General Court accepting the withdrawal on 19 December 2025 (as reported by the "
            "IAPP; the removal order on curia not read), so no court ruled on the recipient's "
            "position. No technique is prescribed.",
            f"{_GDPR} ; {_CJEU_SRB} ; {_SRB_WITHDRAWN}",
            kind="secondary",
        ),
        "research_use_basis": _cell(
            "A lawful basis under Art. 6 plus an Art. 9(2) exception, e.g. explicit consent "
            "(9(2)(a)) or scientific research based on Union or Member State law (9(2)(j)), with "
            "the safeguards of Art. 89(1) such as pseudonymisation and data minimisation",
            _GDPR,
        ),
        "cross_border_transfer": _cell(
            "Chapter V (Arts. 44-49): an adequacy decision (Art. 45), appropriate safeguards such "
            "as standard contractual clauses or binding corporate rules (Arts. 46-47), or narrow "
            "derogations (Art. 49)",
            _GDPR,
        ),
        "breach_notice_regulator": _new(
            "To the supervisory authority without undue delay and, where feasible, within 72 "
            "hours of becoming aware, unless the breach is unlikely to result in a risk to "
            "people; a processor tells the controller without undue delay; every breach is "
            "documented (Art. 33)",
            _GDPR,
        ),
        "breach_notice_individuals": _new(
            "Without undue delay when the breach is likely to result in a high risk to people "
            "(Art. 34(1)); not needed if the data were made unintelligible to anyone not "
            "authorised, e.g. by encryption (34(3)(a)), or later measures remove the high risk "
            "(34(3)(b)); a public communication where individual notice would take "
            "disproportionate effort (34(3)(c))",
            _GDPR,
        ),
        "maximum_penalty": _cell(
            "Up to EUR 20 million or 4% of total worldwide annual turnover of the preceding "
            "financial year, whichever is higher (Art. 83(5))",
            _GDPR,
        ),
        "source_url": _cell(_GDPR, _GDPR),
    },
    {
        "jurisdiction": _cell("United Kingdom", _UK_GDPR),
        "law": _new(
            "UK GDPR (Regulation (EU) 2016/679 as it forms part of UK law: 'retained EU law', "
            "called 'assimilated law' since the end of 2023 under s. 5 of the Retained EU Law "
            "(Revocation and Reform) Act 2023) and the Data Protection Act 2018, both as amended "
            "by the Data (Use and Access) Act 2025, whose research, transfer and most other "
            "data-protection provisions are in force from 5 February 2026 (SI 2026/82); in "
            "England, the NHS national data opt-out",
            f"{_REUL_S5} ; {_DUAA} ; {_SI_2026_82} ; {_NHS_OPT_OUT}",
            kind="regulator",
        ),
        "year": _cell(2018, _UK_DPA),
        "health_data_class": _cell(
            "Special category data (Art. 9 UK GDPR); in England 'confidential patient "
            "information' also falls under the common-law duty of confidentiality and the "
            "national data opt-out",
            _NHS_OPT_OUT,
            kind="regulator",
        ),
        "deidentification_standard": _new(
            "Pseudonymised data are personal data; anonymous data are outside the UK GDPR "
            "(Recital 26). The ICO's guidance on anonymisation and pseudonymisation (28 March "
            "2025), which replaced its 2012 anonymisation code of practice, treats "
            "identifiability as relative: the same data can be personal in the hands of an "
            "organisation that can re-identify them and anonymous for one with no means "
            "reasonably likely to do so. NHS England's researcher guidance says national data "
            "opt-outs do not apply to data anonymised in line with the ICO's code of practice "
            "(it still names the superseded 2012 code)",
            f"{_ICO_ANON} ; {_NHS_OPT_OUT_S251}",
            kind="regulator",
        ),
        "research_use_basis": _new(
            "A lawful basis plus an Art. 9 condition, e.g. explicit consent, or research under "
            "Art. 9(2)(j) 'carried out in accordance with Article 84B': since 5 February 2026 "
            "Chapter 8A (Arts. 84A-84C) replaces Art. 89 and s. 19 DPA 2018 (DUAA ss. 86-87). "
            "Art. 84B allows processing for research only if it is the collection of the data, "
            "converts them into a form that does not identify anyone, or is needed because "
            "without it the research purposes cannot be fulfilled, and always with appropriate "
            "safeguards; Art. 84C says these are not met where the processing is likely to cause "
            "substantial damage or distress to a data subject, or serves measures or decisions "
            "about particular data subjects unless it is approved medical research. DUAA s. 67 "
            "defines scientific research (commercial included); s. 68 allows consent to an area "
            "of scientific research when its purposes cannot be fully identified, if seeking it "
            "is consistent with generally recognised ethical standards and, so far as they "
            "allow, the person can consent to only part of the research. "
            "In England, disclosing confidential patient information without consent needs "
            "support under section 251 of the NHS Act 2006 (Confidentiality Advisory Group), "
            "and national data opt-outs then apply",
            f"{_UK_GDPR_84A} ; {_DUAA} ; {_SI_2026_82} ; {_NHS_OPT_OUT_S251}",
            kind="regulator",
        ),
        "cross_border_transfer": _new(
            "UK GDPR Chapter V as rewritten by DUAA s. 85 and Schedules 7-9 (from 5 February "
            "2026): transfers approved by regulations (the Secretary of State applies a 'data "
            "protection test': protection not materially lower than in the UK), transfers "
            "subject to appropriate safeguards, or derogations. Into the UK, the European "
            "Commission renewed its adequacy decisions on 19 December 2025, until 27 December "
            "2031 (the Commission's announcement, read in a reproduction)",
            f"{_DUAA} ; {_SI_2026_82} ; {_EU_UK_ADEQUACY_2025}",
            kind="secondary",
        ),
        "breach_notice_regulator": _new(
            "As in the EU: to the Information Commissioner without undue delay and, where "
            "feasible, within 72 hours of becoming aware, unless unlikely to result in a risk "
            "(UK GDPR Art. 33); every breach documented",
            _UK_GDPR,
        ),
        "breach_notice_individuals": _new(
            "Without undue delay when likely to result in a high risk, unless e.g. the data "
            "were encrypted (UK GDPR Art. 34)",
            _UK_GDPR,
        ),
        "maximum_penalty": _cell(
            "Up to GBP 17.5 million or 4% of total worldwide annual turnover, whichever is "
            "higher (higher maximum amount)",
            _UK_DPA,
        ),
        "source_url": _cell(_UK_GDPR, _UK_GDPR),
    },
    {
        "jurisdiction": _cell("Canada (federal)", _PIPEDA),
        "law": _cell(
            "Personal Information Protection and Electronic Documents Act (PIPEDA), "
            "S.C. 2000, c. 5",
            _PIPEDA,
        ),
        "year": _cell(2000, _PIPEDA),
        "health_data_class": _cell(
            "'Personal health information' of a living or deceased individual is defined in "
            "s. 2(1); it is personal information under the Act's general principles",
            _PIPEDA,
        ),
        "deidentification_standard": _new(
            "No statutory standard: PIPEDA does not define de-identified or anonymised "
            "information. Information is personal if there is a 'serious possibility' of "
            "identifying someone from it alone or with other available information (the "
            "courts' and the Privacy Commissioner's test), which the Commissioner applied to "
            "'made anonymous' in PIPEDA Findings #2026-001 (Loblaw), 5 March 2026",
            f"{_PIPEDA_ANON} ; {_PIPEDA_ANON_2}",
            kind="secondary",
        ),
        "research_use_basis": _cell(
            "Use without knowledge or consent for statistical or scholarly study or research "
            "only if the purpose cannot be achieved without the information, confidentiality is "
            "ensured, consent is impracticable and the Privacy Commissioner is informed first "
            "(s. 7(2)(c))",
            _PIPEDA,
        ),
        "cross_border_transfer": _cell(
            "No adequacy regime: the transferring organisation stays accountable and must use "
            "contractual or other means to give a comparable level of protection (Sch. 1, "
            "principle 4.1.3)",
            _PIPEDA,
        ),
        "breach_notice_regulator": _new(
            "Report to the Privacy Commissioner as soon as feasible any breach of security "
            "safeguards that it is reasonable to believe creates a real risk of significant harm "
            "(s. 10.1(1)-(2)); keep a record of every breach (s. 10.3), for 24 months (Breach of "
            "Security Safeguards Regulations, SOR/2018-64, s. 6)",
            f"{_PIPEDA} ; {_PIPEDA_BREACH_REGS}",
        ),
        "breach_notice_individuals": _new(
            "Notify the individuals as soon as feasible where there is a real risk of "
            "significant harm (s. 10.1(3)-(6)), and any organisation or government institution "
            "that may be able to reduce the risk (s. 10.2)",
            _PIPEDA,
        ),
        "maximum_penalty": _cell(
            "Fine up to CAD 100,000 on indictment (CAD 10,000 on summary conviction) for the "
            "offences of s. 28, e.g. knowingly failing to report or record breaches or "
            "obstructing the Commissioner",
            _PIPEDA,
        ),
        "source_url": _cell(_PIPEDA, _PIPEDA),
    },
    {
        "jurisdiction": _cell("Canada (Ontario)", _PHIPA),
        "law": _cell(
            "Personal Health Information Protection Act, 2004 (PHIPA), S.O. 2004, c. 3, Sch. A",
            _PHIPA,
        ),
        "year": _cell(2004, _PHIPA),
        "health_data_class": _cell(
            "Personal health information in the custody of health information custodians and "
            "their agents",
            _PHIPA,
        ),
        "deidentification_standard": _cell(
            "The Act defines 'de-identify'; de-identifying personal health information is a "
            "'use' that a custodian may make without consent under s. 37(1)(f) (IPC decision)",
            _IPC_DEID,
            kind="regulator",
        ),
        "research_use_basis": _cell(
            "Disclosure to a researcher whose research plan a research ethics board has approved "
            "(s. 44); the board weighs, among other things, whether obtaining consent would be "
            "impractical",
            _PHIPA,
        ),
        "cross_border_transfer": _cell(UNVERIFIED, _PHIPA, kind=UNVERIFIED),
        "breach_notice_regulator": _new(
            "Notify the Information and Privacy Commissioner in the circumstances prescribed "
            "(s. 12(3); O. Reg. 329/04, s. 6.3), among them theft, unauthorised use or "
            "disclosure by someone who knew or ought to have known it was unauthorised, further "
            "disclosure, a pattern of similar breaches, and a significant breach",
            f"{_PHIPA} ; {_IPC_BREACH_REGS}",
            kind="regulator",
        ),
        "breach_notice_individuals": _new(
            "A custodian notifies the individual at the first reasonable opportunity if their "
            "personal health information is stolen, lost, or used or disclosed without "
            "authority, and says they may complain to the Commissioner (s. 12(2))",
            _PHIPA,
        ),
        "maximum_penalty": _cell(
            "Administrative penalty up to CAD 50,000 (natural person) or CAD 500,000 (others), "
            "which the Commissioner may increase by the economic benefit gained (O. Reg. 329/04 "
            "s. 35, added by O. Reg. 343/23). Offences: fine up to CAD 200,000 (natural person, "
            "who may also be imprisoned) or CAD 1,000,000 (others), as raised in 2020",
            f"{_PHIPA_AMP} ; {_PHIPA_OFFENCES}",
            kind="secondary",
        ),
        "source_url": _cell(_PHIPA, _PHIPA),
    },
    {
        "jurisdiction": _cell("Brazil", _LGPD),
        "law": _cell(
            "Lei Geral de Proteção de Dados Pessoais (LGPD), Lei nº 13.709 of 14 August 2018",
            _LGPD,
        ),
        "year": _cell(2018, _LGPD),
        "health_data_class": _cell(
            "Sensitive personal data ('dado pessoal sensível'), which includes data concerning "
            "health (Art. 5, II)",
            _LGPD,
        ),
        "deidentification_standard": _cell(
            "Anonymised data are not personal data unless the anonymisation can be reversed with "
            "the controller's own means or with reasonable efforts, judged by objective factors "
            "such as cost and time with available technology (Art. 12; Art. 5, III)",
            _LGPD,
        ),
        "research_use_basis": _cell(
            "Studies by a research body, with anonymisation of sensitive data whenever possible "
            "(Art. 11, II, c; Art. 7, IV), or consent",
            _LGPD,
        ),
        "cross_border_transfer": _cell(
            "Only in the cases of Art. 33: e.g. a country with an adequate level of protection, "
            "controller guarantees (specific or standard contractual clauses, global corporate "
            "rules, seals and certificates), authorisation by the national authority, or the "
            "data subject's specific and highlighted consent",
            _LGPD,
        ),
        "breach_notice_regulator": _new(
            "The controller communicates to the ANPD a security incident that may create "
            "relevant risk or damage to data subjects (Art. 48); under ANPD Resolution "
            "CD/ANPD No. 15 of 24 April 2024, within 3 working days of learning that it "
            "affected personal data",
            f"{_LGPD} ; {_ANPD_RES_15}",
            kind="secondary",
        ),
        "breach_notice_individuals": _new(
            "The same incidents are communicated to the data subjects (Art. 48), also within "
            "3 working days under Resolution CD/ANPD No. 15/2024",
            f"{_LGPD} ; {_ANPD_RES_15}",
            kind="secondary",
        ),
        "maximum_penalty": _cell(
            "Simple fine up to 2% of the revenue in Brazil of the private legal entity, group or "
            "conglomerate in its last fiscal year, net of taxes, limited to BRL 50 million per "
            "infraction (Art. 52, II)",
            _LGPD,
        ),
        "source_url": _cell(_LGPD, _LGPD),
    },
    {
        "jurisdiction": _cell("China", _PIPL_ART4, kind="secondary"),
        "law": _cell(
            "Personal Information Protection Law of the People's Republic of China (PIPL), "
            "adopted 20 August 2021",
            _PIPL_ART4,
            kind="secondary",
        ),
        "year": _cell(2021, _PIPL_ART4, kind="secondary"),
        "health_data_class": _cell(
            "Sensitive personal information, which includes medical health information; it may "
            "be processed only for a specific purpose with sufficient necessity and strict "
            "protective measures (Art. 28)",
            _PIPL_ART28,
            kind="secondary",
        ),
        "deidentification_standard": _cell(
            "Anonymised information is excluded from personal information (Art. 4). Art. 73 "
            "defines anonymisation (the information cannot identify a specific natural person "
            "and cannot be restored) apart from de-identification (it cannot identify a person "
            "without additional information); only anonymised information is excluded, so "
            "de-identified information remains personal information",
            _PIPL_ART4,
            kind="secondary",
        ),
        "research_use_basis": _cell(
            "No research-specific basis: consent or another basis of Art. 13 (e.g. a contract, "
            "statutory duties, public health emergencies, other laws and administrative "
            "regulations); sensitive personal information needs a specific purpose and "
            "sufficient necessity (Art. 28)",
            _PIPL_ART13,
            kind="secondary",
        ),
        "cross_border_transfer": _cell(
            "Before providing personal information abroad a processor must meet a condition of "
            "Art. 38, e.g. pass a security assessment by the national cyberspace authority, "
            "obtain certification, or conclude the standard contract",
            _PIPL_ART4,
            kind="secondary",
        ),
        "breach_notice_regulator": _new(
            "On a leak, tampering or loss, the processor immediately takes remedial measures and "
            "notifies the departments performing personal-information protection duties, "
            "stating the kinds of information, causes and possible harm, its remedies and a "
            "contact (Art. 57; no deadline in hours)",
            _PIPL_ART4,
            kind="secondary",
        ),
        "breach_notice_individuals": _new(
            "The individuals are notified too, unless the measures taken effectively avoid harm, "
            "in which case the authorities may still require it (Art. 57)",
            _PIPL_ART4,
            kind="secondary",
        ),
        "maximum_penalty": _cell(
            "In serious cases, a fine of up to RMB 50 million or up to 5% of the previous year's "
            "turnover, and fines on the responsible persons (Art. 66)",
            _PIPL_ART66,
            kind="secondary",
        ),
        "source_url": _cell(_PIPL_ART4, _PIPL_ART4, kind="secondary"),
    },
    {
        "jurisdiction": _cell("India", _DPDP),
        "law": _new(
            "Digital Personal Data Protection Act, 2023 (No. 22 of 2023). As notified in "
            "November 2025, its core provisions (ss. 3-17 among them: the research exemption, "
            "the transfer rule and the breach duties) and most of the Digital "
            "Personal Data Protection Rules, 2025 (G.S.R. 846(E)) come into force 18 months "
            "after the commencement notification of 13 November 2025 (reported as G.S.R. "
            "843(E)), in May 2027: on 13 or 14 May 2027, as sources differ (all secondary; "
            "Gazette text not read). In January 2026 MeitY proposed to compress parts of the "
            "transition: some provisions, the s. 17(2) exemptions among them, at once, and "
            "others at 12 months, which would have ended on 13 November 2026 (reported; "
            "Business Standard and PTI say the 12 months was for certain duties of Significant "
            "Data Fiduciaries, S.S. Rana that it was for compliance with the Act as a whole). "
            "On 9 March 2026 MeitY's Secretary told reporters the ministry was awaiting "
            "industry inputs before taking 'a final call' (PTI). No amending notification was "
            "found in any source up to early November 2026 (the latest unofficial); 13 November "
            "2026 has passed, but no source from after that date was found. The Gazette itself "
            "was not read: check egazette.gov.in before teaching",
            f"{_DPDP} ; {_DPDP_COMMENCEMENT} ; {_DPDP_NOTIFICATIONS} ; {_DPDP_2026_PROPOSAL} ; "
            f"{_DPDP_2026_PROPOSAL_DATES} ; {_DPDP_2026_PROPOSAL_DETAIL} ; "
            f"{_DPDP_STATUS_2026_03} ; {_DPDP_STATUS_2026_06} ; {_DPDP_STATUS_2026_11}",
            kind="secondary",
        ),
        "year": _cell(2023, _DPDP),
        "health_data_class": _cell(
            "No separate category: the Act applies in the same way to all digital personal data, "
            "health data included",
            _DPDP,
        ),
        "deidentification_standard": _cell(
            "No statutory de-identification or anonymisation standard: the Act covers "
            "'personal data', any data about an individual who is identifiable by or in "
            "relation to such data (s. 2(t))",
            f"{_DPDP} ; {_DPDP_S2}",
            kind="secondary",
        ),
        "research_use_basis": _new(
            "Once s. 17 is in force (see the row's law cell): the Act does not apply to "
            "processing necessary for research, archiving or statistical purposes if the data "
            "are not used to take any decision specific to a Data Principal and the processing "
            "follows prescribed standards (s. 17(2)(b))",
            _DPDP,
        ),
        "cross_border_transfer": _new(
            "Once s. 16 is in force (see the row's law cell): allowed except to countries or "
            "territories the Central Government restricts by notification (s. 16(1)); stricter "
            "sectoral laws still apply (s. 16(2))",
            _DPDP,
        ),
        "breach_notice_regulator": _new(
            "The Data Fiduciary intimates the breach to the Data Protection Board (s. 8(6)): "
            "under Rule 7 of the 2025 Rules, without delay and with a detailed report within 72 "
            "hours of becoming aware (once Rule 7 commences: in May 2027 as notified in November "
            "2025; no change found in sources up to early November 2026, see the row's law "
            "cell)",
            f"{_DPDP} ; {_DPDP_RULE_7}",
            kind="secondary",
        ),
        "breach_notice_individuals": _new(
            "Each affected Data Principal is told without delay, in plain language, what "
            "happened, its likely consequences, the mitigation and what they can do (s. 8(6); "
            "Rule 7, from May 2027 as notified in November 2025; no change found in sources up "
            "to early November 2026)",
            f"{_DPDP} ; {_DPDP_RULE_7}",
            kind="secondary",
        ),
        "maximum_penalty": _new(
            "Up to INR 250 crore for failing to take reasonable security safeguards to prevent a "
            "personal data breach (s. 33 and the Schedule), once s. 33 is in force: on 13 or 14 "
            "May 2027 as notified in November 2025 (see the row's law cell)",
            f"{_DPDP} ; {_DPDP_COMMENCEMENT}",
            kind="secondary",
        ),
        "source_url": _cell(_DPDP, _DPDP),
    },
)


# --------------------------------------------------------------------------- public API


def jurisdictions() -> pd.DataFrame:
    """The jurisdiction table: one row per jurisdiction, the columns of ``COLUMNS``.

    Cells that could not be verified against any source hold ``"unverified"``;
    ``year`` is an int. ``source_url`` is the row's main source (see ``COLUMNS``); every
    cell's own source and kind are in ``jurisdiction_sources()``.
    """
    return pd.DataFrame(
        [{column: row[column].value for column in COLUMNS} for row in _ROWS], columns=COLUMNS
    )


def jurisdiction_sources() -> pd.DataFrame:
    """Every cell of the table with its own source: columns jurisdiction, column, value,
    source (one URL, or several separated by ``" ; "``), kind (one of ``SOURCE_KINDS``, or
    ``"unverified"``),
    checked (ISO date) and verified (False where the value is ``"unverified"``)."""
    records = []
    for row in _ROWS:
        for column in FACT_COLUMNS:
            cell = row[column]
            records.append(
                {
                    "jurisdiction": row["jurisdiction"].value,
                    "column": column,
                    "value": cell.value,
                    "source": cell.source,
                    "kind": cell.kind,
                    "checked": cell.checked,
                    "verified": cell.value != UNVERIFIED,
                }
            )
    return pd.DataFrame.from_records(
        records,
        columns=["jurisdiction", "column", "value", "source", "kind", "checked", "verified"],
    )


def cells_by_check_date() -> pd.DataFrame:
    """The cells an instructor should re-verify first: every cell's jurisdiction, column
    (its readable header), check date, source kind and source, oldest check first, then
    weakest kind first (unverified, secondary, regulator, primary)."""
    cells = jurisdiction_sources()
    cells["column"] = cells["column"].map(HEADERS)
    strength = {kind: rank for rank, kind in enumerate((*SOURCE_KINDS, UNVERIFIED))}
    cells["_weakness"] = -cells["kind"].map(strength)
    cells = cells.sort_values(["checked", "_weakness", "jurisdiction", "column"], kind="stable")
    return cells[["checked", "kind", "jurisdiction", "column", "verified", "source"]].reset_index(
        drop=True
    )


def _check_names(requested, known: Iterable[str], name: str) -> list[str]:
    known = list(known)
    if isinstance(requested, str):
        requested = [requested]
    try:
        requested = list(requested)
    except TypeError:
        raise TypeError(
            f"{name} must be a list of strings; got {type(requested).__name__}"
        ) from None
    if not requested:
        raise ValueError(f"{name} must name at least one of {known}")
    unknown = [r for r in requested if r not in known]
    if unknown:
        raise ValueError(f"{name} has unknown entries {unknown}; choose from {known}")
    return requested


def source_mark(kind: str, checked: str) -> str:
    """The note a displayed cell ends with: its kind of source and check date, e.g.
    ``"[secondary source, checked 2026-12-01]"``."""
    if kind not in KIND_LABELS:
        raise ValueError(f"kind must be one of {tuple(KIND_LABELS)}; got {kind!r}")
    return f"[{KIND_LABELS[kind]}, checked {checked}]"


def jurisdiction_table(
    columns: Iterable[str] | None = None,
    which: Iterable[str] | None = None,
    readable: bool = False,
    sources: bool = False,
) -> pd.DataFrame:
    """A subset of the table for a case study, indexed by jurisdiction.

    Parameters
    ----------
    columns : column names from ``COLUMNS`` (other than ``jurisdiction``); None = all.
    which : jurisdiction names as in the ``jurisdiction`` column; None = all.
    readable : if True, use the human-readable ``HEADERS`` as column labels.
    sources : if True, every statement ends with its source kind and check date
        (``source_mark``), as text for display; ``source_url`` stays a bare URL (so it
        renders as a link), and with ``readable`` its header names the shown rows whose
        main source is not the primary text, with their kind (China's is a translation).
    """
    for name, flag in (("readable", readable), ("sources", sources)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False; got {flag!r}")
    table = jurisdictions().set_index("jurisdiction")
    if columns is not None:
        table = table[_check_names(columns, table.columns, "columns")]
    if which is not None:
        table = table.loc[_check_names(which, table.index, "which")]
    if sources:
        rows = {row["jurisdiction"].value: row for row in _ROWS}
        table = table.astype(object)
        for column in table.columns.intersection(FACT_COLUMNS):
            cells = [rows[jurisdiction][column] for jurisdiction in table.index]
            table[column] = [f"{c.value} {source_mark(c.kind, c.checked)}" for c in cells]
    if readable:
        headers = dict(HEADERS)
        if sources and "source_url" in table.columns:
            headers["source_url"] = _main_source_header(table.index)
        table = table.rename(columns=headers)
        table.index.name = HEADERS["jurisdiction"]
    return table


def _main_source_header(shown: Iterable[str]) -> str:
    """The readable header of ``source_url``, marking the shown rows whose main source is
    weaker than the primary text, e.g. "Main source of the row [China: secondary source]"."""
    main = {row["jurisdiction"].value: row["source_url"] for row in _ROWS}
    weaker = [
        f"{name}: {KIND_LABELS[main[name].kind]}" for name in shown if main[name].kind != "primary"
    ]
    return f"{HEADERS['source_url']} [{'; '.join(weaker)}]" if weaker else HEADERS["source_url"]


#: Which facts of a case make which columns relevant (see ``compare``).
CASE_FACTS = {
    "health_data": ("health_data_class",),
    "deidentified_release": ("deidentification_standard",),
    "research": ("research_use_basis",),
    "cross_border": ("cross_border_transfer",),
    "breach": ("breach_notice_regulator", "breach_notice_individuals", "maximum_penalty"),
}


def compare(
    case_facts: Mapping[str, bool],
    which: Iterable[str] | None = None,
    readable: bool = True,
    sources: bool = True,
) -> pd.DataFrame:
    """The same case under every jurisdiction: the columns that bear on the case's facts.

    Parameters
    ----------
    case_facts : mapping from the keys of ``CASE_FACTS`` (health_data, deidentified_release,
        research, cross_border, breach) to bool; each True fact adds its columns. The law
        and the row's main source URL are always shown.
    which : restrict to these jurisdictions (names as in ``jurisdictions()``); None = all.
    readable : human-readable column labels (default True, for display in notebooks).
    sources : end every statement with its source kind and check date (default True, so a
        displayed table shows which cells rest only on secondary summaries).
    """
    if not isinstance(case_facts, Mapping):
        raise TypeError(
            f"case_facts must be a mapping of fact -> bool; got {type(case_facts).__name__}"
        )
    _check_names(list(case_facts), CASE_FACTS, "case_facts")
    for key, value in case_facts.items():
        if not isinstance(value, bool):
            raise TypeError(f"case_facts[{key!r}] must be True or False; got {value!r}")
    columns = ["law"]
    for fact, relevant in case_facts.items():
        if relevant:
            columns += [c for c in CASE_FACTS[fact] if c not in columns]
    if len(columns) == 1:
        raise ValueError(f"case_facts must set at least one fact to True; keys: {list(CASE_FACTS)}")
    columns.append("source_url")
    return jurisdiction_table(columns, which, readable=readable, sources=sources)
