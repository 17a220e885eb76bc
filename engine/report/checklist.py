"""Reporting checklists by official item id: what this report answers, and where.

Guidelines (cite them with the checklist):

- ACCORD: Gattrell WT, Logullo P, van Zuuren EJ, et al. ACCORD (ACcurate COnsensus
  Reporting Document): a reporting guideline for consensus methods in biomedicine
  developed via a modified Delphi. PLoS Med 2024;21(1):e1004326,
  doi:10.1371/journal.pmed.1004326. 35 items: T1, I1-I3, M1-M21, R1-R5, D1-D2, O1-O3.
- CREDES: Jünger S, Payne SA, Brine J, Radbruch L, Brearley SG. Guidance on Conducting
  and REporting DElphi Studies (CREDES) in palliative care: recommendations based on a
  methodological systematic review. Palliat Med 2017;31(8):684-706,
  doi:10.1177/0269216317690685. 16 items.
- DELPHISTAR: Niederberger M, Schifano J, Deckert S, et al. Delphi studies in social and
  health sciences: recommendations for an interdisciplinary standardized reporting
  (DELPHISTAR). Results of a Delphi study. PLoS One 2024;19(8):e0304651,
  doi:10.1371/journal.pone.0304651. 38 items: title and abstract (1-3), context (4-10),
  method (11-30), results (31-34), discussion (35-38).

Item content is PARAPHRASED briefly, never quoted. What each id's topic was checked against
(``VERIFIED`` says the same in the report, under each guideline's table):

- ACCORD, all 35 ids: checked against the official editable checklist (Word file from the
  ACCORD site, ismpp.org/accord, linked from the EQUATOR record), read through its
  item-by-item text as tabulated in the reportilo R package (choxos/reportilo,
  inst/extdata/checklist_items.json: id, section and each item's guidance sentence).
  Section names and counts agree with the PLoS Med abstract (1/3/21/5/2/3).
- DELPHISTAR, all 38 ids: checked against the official English checklist (Word file
  RG_DELPHISTAR_engl on equator-network.org, same source and package as above), whose
  parsed column is the worked EXAMPLE for each item, not the item's own wording; each
  topic below is what that example illustrates, and the German checklist gives the same
  order. Where an example leaves the item's scope open (2, 12, 22, 30, 37) the topic is
  the narrowest reading of the example.
- CREDES: NOT verified. No copy of the CREDES recommendations table could be read here.
  Searched without finding the item wording: the Palliat Med full text and the EQUATOR
  record (no item list), reportilo's checklist_items.json (has ACCORD and DELPHISTAR, not
  CREDES; CREDES only in its EQUATOR index), the peer-review manuscript PMJ-16-0191.R1 on
  dokumen.tips and Jünger's EAPC blog post (only their opening pages are stored), the
  Spranger 2022 review of Delphi reporting guidelines (ZEFQ, abstract only), and public
  code that names CREDES (no item table). The 16 topics are the previous paraphrase
  (rationale; planning and design; study conduct; reporting) and the authors must check
  them against the paper.

``status``: ``answered`` (the report answers it; ``where`` links the section),
``partly`` (the report gives part; ``note`` says what is missing) or ``authors`` (for the
authors to complete; ``note`` may say what the report offers towards it).
"""

from __future__ import annotations

from dataclasses import dataclass

ANSWERED, PARTLY, AUTHORS = "answered", "partly", "authors"
CITATIONS = {
    "ACCORD": "Gattrell WT et al. ACCORD (ACcurate COnsensus Reporting Document). "
              "PLoS Med 2024;21(1):e1004326. doi:10.1371/journal.pmed.1004326",
    "CREDES": "Jünger S et al. Guidance on Conducting and REporting DElphi Studies "
              "(CREDES) in palliative care. Palliat Med 2017;31(8):684-706. "
              "doi:10.1177/0269216317690685",
    "DELPHISTAR": "Niederberger M et al. Delphi studies in social and health sciences "
                  "(DELPHISTAR). PLoS One 2024;19(8):e0304651. "
                  "doi:10.1371/journal.pone.0304651",
}
VERIFIED = {
    "ACCORD": "Item ids and topics checked against the official ACCORD checklist (Word "
              "file, ismpp.org/accord).",
    "CREDES": "Not verified: the CREDES item table could not be consulted, so these 16 "
              "topics are unchecked paraphrases; check each id against the paper before "
              "you submit.",
    "DELPHISTAR": "Item ids checked against the official DELPHISTAR checklist (Word file, "
                  "equator-network.org); topics are paraphrased from its worked examples, "
                  "so read the item wording in the checklist itself.",
}


@dataclass(frozen=True)
class Item:
    guideline: str
    id: str
    topic: str  # paraphrased
    status: str  # answered / partly / authors
    where: str | None  # anchor of the report section
    note: str = ""


Row = tuple[str, str, str, str | None, str]


def _items(guideline: str, rows: list[Row]) -> list[Item]:
    return [Item(guideline, *row) for row in rows]


ACCORD = _items("ACCORD", [
    ("T1", "Title says it reports a consensus exercise and names the method (e.g. Delphi)",
     AUTHORS, None, ""),
    ("I1", "Why a consensus exercise rather than another approach", AUTHORS, None, ""),
    ("I2", "Aim of the exercise, its intended audience and geographical scope", PARTLY,
     "summary", "the study description shown to experts is reproduced; state the "
     "audience and scope"),
    ("I3", "If it updates an earlier document: why, with the citation of the original",
     AUTHORS, None, ""),
    ("M1", "Registration: registry, registration number (and date)", AUTHORS, None,
     "the frozen protocol and its SHA-256 hash can be deposited with the registration"),
    ("M2", "Who led the exercise (chair, co-chairs, steering committee), how they were "
     "chosen, any subgroups", PARTLY, "actions",
     "every coordinator action is logged; name who led the study and how they were chosen"),
    ("M3", "Panellist eligibility criteria, rationale for the panel size, who selected the "
     "panellists", PARTLY, "protocol",
     "screening questions with the eligible answers; justify the size, say who selected"),
    ("M4", "How panellists were recruited: channels, invitations sent, whether members "
     "could suggest others", PARTLY, "table-1",
     "invitations, joins and consents are counted; describe the channels"),
    ("M5", "Role of members of the public, patients or carers in each step", AUTHORS, None,
     "Table 1 counts the panel per stakeholder group"),
    ("M6", "Preparatory research before the exercise (literature review, interviews, "
     "surveys)", AUTHORS, None, ""),
    ("M7", "Details of any systematic literature search (as PRISMA / PRISMA-S ask)",
     AUTHORS, None, ""),
    ("M8", "How existing evidence was summarised and whether panellists received it",
     AUTHORS, None, ""),
    ("M9", "The consensus method used and any modification of it, with reasons", PARTLY,
     "methods", "online, anonymous, chat-based rating rounds are described; name the "
     "variant and justify any modification"),
    ("M10", "How the statements or questions were developed (questionnaire as a "
     "supplement)", PARTLY, "appendix",
     "every statement is listed in full; describe how they were drafted"),
    ("M11", "Number and kind of consensus steps planned (rounds, meetings)", ANSWERED,
     "protocol", "maximum number of rounds and the stopping rule; rounds held are in the "
     "flow"),
    ("M12", "Definition of consensus and the rationale for it", PARTLY, "protocol",
     "the pre-registered rule is given; explain why it was chosen"),
    ("M13", "Whether items that reached consensus were put to later rounds again",
     ANSWERED, "protocol", "stopping rule"),
    ("M14", "How responses were collected in each step, individually or in a group",
     ANSWERED, "methods", ""),
    ("M15", "Analysis: quantitative methods and any analysis of free-text answers",
     PARTLY, "methods",
     "the statistics are fully described; describe any analysis of the comments"),
    ("M16", "Piloting of the study materials (who, what changed), or that there was none",
     AUTHORS, None, ""),
    ("M17", "Feedback between steps: quantitative and/or qualitative, anonymised or not",
     ANSWERED, "methods", "an example card as sent is under 'How the study ran'"),
    ("M18", "Anonymity: whether planned, for whom, and how it was ensured", ANSWERED,
     "methods", ""),
    ("M19", "Whether those running the exercise (e.g. steering committee) also voted",
     AUTHORS, None, ""),
    ("M20", "Steps to encourage participation (reminders, reimbursement)", PARTLY,
     "conduct", "reminders per round, their schedule and deadline extensions; add any "
     "reimbursement or incentive"),
    ("M21", "Inclusivity: languages used, translations, plain-language summaries",
     AUTHORS, None, ""),
    ("R1", "When the exercise ran: start date, duration of each step, extensions or delays",
     ANSWERED, "flow", "opening and closing of every round; extensions under 'How the "
     "study ran'"),
    ("R2", "Departures from the plan (panel members added, number of steps, stopping) and "
     "in which step", ANSWERED, "protocol",
     "logged protocol changes; experts who joined after round 1 under 'How the study ran'"),
    ("R3", "Panellists in each step: numbers, response rate, characteristics", ANSWERED,
     "flow", "characteristics in Table 1"),
    ("R4", "Final outcome of the process, quantitative and/or qualitative", ANSWERED,
     "table-2", ""),
    ("R5", "Items modified or removed during the process, with why and when", ANSWERED,
     "changes", "revisions and drops with their round and the reason given"),
    ("D1", "Limitations: what may have influenced the decisions (response, panel "
     "representativeness, feedback, non-anonymous contact)", PARTLY, "methods",
     "response, attrition-bias and careless-responding checks are reported (and the "
     "sensitivity analysis); discuss them"),
    ("D2", "Whether the results agree with existing literature, and why not if not",
     AUTHORS, None, ""),
    ("O1", "Endorsing organisations and their role", AUTHORS, None, ""),
    ("O2", "Conflicts of interest of organisers and panellists, and how they were managed",
     PARTLY, "table-1", "panel declarations from screening are counted; add the "
     "organisers' and how conflicts were handled"),
    ("O3", "Funding and the funder's role in the study", AUTHORS, None, ""),
])

CREDES = _items("CREDES", [
    ("1", "Rationale for choosing the Delphi technique", AUTHORS, None, ""),
    ("2", "Planning and design of the process, including any modification", ANSWERED,
     "protocol", ""),
    ("3", "Definition of consensus stated in advance", ANSWERED, "protocol", ""),
    ("4", "Information given to the experts", PARTLY, "conduct",
     "between-round feedback is shown; add any background material"),
    ("5", "Prevention of bias (anonymity, influence of the organisers)", PARTLY, "actions",
     "anonymous feedback and the coordinator's actions are logged"),
    ("6", "How consensus and non-consensus were handled between rounds", ANSWERED,
     "changes", ""),
    ("7", "External validation of the results", AUTHORS, None, ""),
    ("8", "Purpose and rationale of the study", AUTHORS, None, ""),
    ("9", "Expert panel: criteria, recruitment and characteristics", ANSWERED, "table-1",
     ""),
    ("10", "Description of the methods (survey, rounds, scale, analysis)", ANSWERED,
     "methods", ""),
    ("11", "Procedure shown in a flow chart", ANSWERED, "flow", ""),
    ("12", "Definition and attainment of consensus", ANSWERED, "table-2",
     "round in which each statement reached its verdict"),
    ("13", "Results of each round and the final result", ANSWERED, "table-2", ""),
    ("14", "Discussion of limitations", PARTLY, "sensitivity",
     "the sensitivity table shows definition-dependent results; discuss the rest"),
    ("15", "Adequacy of the conclusions", AUTHORS, None, ""),
    ("16", "Publication and dissemination plan", AUTHORS, None, ""),
])

DELPHISTAR = _items("DELPHISTAR", [
    ("1", "Title identifies the work as a Delphi study", AUTHORS, None, ""),
    ("2", "Abstract says a Delphi study was used to answer the research question",
     AUTHORS, None, ""),
    ("3", "Abstract structured (background, method, results, discussion)", AUTHORS, None,
     "the summary gives the counts"),
    ("4", "Funding of the study", AUTHORS, None, ""),
    ("5", "Who conducted the study (team and disciplines)", AUTHORS, None, ""),
    ("6", "Whether methodological advice was sought", AUTHORS, None, ""),
    ("7", "Whether the Delphi was part of a larger (e.g. mixed-methods) study", AUTHORS,
     None, ""),
    ("8", "Where the study protocol can be read", PARTLY, "protocol",
     "the frozen protocol and its hash are reproduced; say where it is deposited"),
    ("9", "Why the Delphi technique suits the research question", AUTHORS, None, ""),
    ("10", "Aim of the Delphi study", PARTLY, "summary",
     "the study description is reproduced; state the aim"),
    ("11", "Which expert groups took part, and why", PARTLY, "table-1",
     "the panel is counted per stakeholder group; justify the choice"),
    ("12", "How a lack of some intended expertise was handled and made known", AUTHORS,
     None, ""),
    ("13", "Who counted as an expert (definition of expertise)", PARTLY, "protocol",
     "screening questions with the eligible answers; state the definition"),
    ("14", "Delphi variant used, with a reference", PARTLY, "methods",
     "online, anonymous rating rounds are described; name the variant"),
    ("15", "Criteria set in advance for stopping or not holding further rounds", ANSWERED,
     "protocol", "stopping rule and maximum number of rounds"),
    ("16", "Who was invited to each round", ANSWERED, "flow",
     "eligible experts per round and the rule"),
    ("17", "How the experts were identified", AUTHORS, None, ""),
    ("18", "How the experts were informed and invited", PARTLY, "table-1",
     "invitations, joins and consents are counted; describe the invitation"),
    ("19", "What the questionnaire was developed from", AUTHORS, None,
     "the initial statements are in the change log"),
    ("20", "Structure of the questionnaire: topics, item format, free-text option",
     ANSWERED, "table-2", "statements by domain; the scale in the protocol; comments "
     "allowed (methods)"),
    ("21", "Number of rounds held", ANSWERED, "flow", ""),
    ("22", "What each round was for (e.g. exploring, then rating)", PARTLY, "changes",
     "statements added, revised or dropped per round are logged; describe each round's "
     "purpose"),
    ("23", "Whether the number of rounds was fixed in advance", ANSWERED, "protocol",
     "maximum number of rounds"),
    ("24", "What feedback the experts received between rounds", ANSWERED, "methods", ""),
    ("25", "Which statistics the feedback reported", ANSWERED, "methods", ""),
    ("26", "Whether feedback was pooled or shown per expert group", ANSWERED, "protocol",
     "'Feedback by stakeholder group'"),
    ("27", "How items without (or with) consensus were handled in the next round",
     ANSWERED, "protocol", "stopping rule"),
    ("28", "How quantitative and open answers were analysed", PARTLY, "methods",
     "the statistics are fully described; describe any analysis of the comments"),
    ("29", "Definition of consensus", ANSWERED, "protocol", ""),
    ("30", "Whether and how expert groups were weighted in the analysis", AUTHORS, None,
     "response per group is in the flow"),
    ("31", "Flow chart of the study", ANSWERED, "flow", "Figure 1"),
    ("32", "Events during the study that may have influenced the answers", AUTHORS, None,
     ""),
    ("33", "Participants and response rate in each round", ANSWERED, "flow", ""),
    ("34", "Results of each round (e.g. agreement per round)", ANSWERED, "table-2", ""),
    ("35", "Summary of the central findings", AUTHORS, None, ""),
    ("36", "Transferability of the results to other settings", AUTHORS, None, ""),
    ("37", "Rigour of the analysis (e.g. independent review of free-text answers)",
     AUTHORS, None, "comments are reproduced verbatim per statement (appendix)"),
    ("38", "Critical reflection on limitations (e.g. panel composition)", PARTLY,
     "methods", "attrition-bias and careless-responding checks are reported; discuss the "
     "panel and other limitations"),
])

GUIDELINES = {"ACCORD": ACCORD, "CREDES": CREDES, "DELPHISTAR": DELPHISTAR}


def checklist() -> list[Item]:
    return [*ACCORD, *CREDES, *DELPHISTAR]
