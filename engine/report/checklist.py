"""Reporting checklists by official item id: what this report answers, and where.

Guidelines (cite them with the checklist):

- ACCORD: Gattrell WT, Logullo P, van Zuuren EJ, et al. ACCORD (ACcurate COnsensus
  Reporting Document): a reporting guideline for consensus methods in biomedicine
  developed via a modified Delphi. PLoS Med 2024;21(1):e1004326. 35 items: T1, I1-I3,
  M1-M21, R1-R5, D1-D2, O1-O3.
- CREDES: Jünger S, Payne SA, Brine J, Radbruch L, Brearley SG. Guidance on Conducting
  and REporting DElphi Studies (CREDES) in palliative care. Palliat Med
  2017;31(8):684-706. 16 items.
- DELPHISTAR: Niederberger M, Schifano J, Deckert S, et al. Delphi studies in social and
  health sciences: recommendations for an interdisciplinary standardized reporting
  (DELPHISTAR). PLoS One 2024;19(8):e0304651. 38 items: title and abstract (1-3),
  context (4-10), method (11-30), results (31-34), discussion (35-38).

Item content is PARAPHRASED briefly, never quoted. The sections and item counts above are
confirmed from the publications; the topic given for each id is a paraphrase that has not
been checked line by line against the official checklist text, so the authors verify each
id against the official checklist when they complete it (the report says so).
``status``: ``answered`` (the report answers it; ``where`` links the section),
``partly`` (the report gives part; ``note`` says what is missing) or ``authors`` (for the
authors to complete).
"""

from __future__ import annotations

from dataclasses import dataclass

ANSWERED, PARTLY, AUTHORS = "answered", "partly", "authors"
CITATIONS = {
    "ACCORD": "Gattrell WT et al. ACCORD (ACcurate COnsensus Reporting Document). "
              "PLoS Med 2024;21(1):e1004326",
    "CREDES": "Jünger S et al. Guidance on Conducting and REporting DElphi Studies "
              "(CREDES). Palliat Med 2017;31(8):684-706",
    "DELPHISTAR": "Niederberger M et al. Delphi studies in social and health sciences "
                  "(DELPHISTAR). PLoS One 2024;19(8):e0304651",
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
    ("T1", "Title names the work as a consensus study and the method used", AUTHORS, None,
     ""),
    ("I1", "Why a consensus method rather than another approach", AUTHORS, None, ""),
    ("I2", "Aim of the exercise, its audience and scope", PARTLY, "summary",
     "the study description shown to experts is reproduced; state the aim"),
    ("I3", "The questions or topics the exercise set out to settle", PARTLY, "table-2",
     "every statement rated is listed; explain how the topics were framed"),
    ("M1", "Registration of the exercise (registry, number)", AUTHORS, "protocol",
     "the frozen protocol and its hash can be deposited; give the registry entry"),
    ("M2", "Protocol: where it can be read and any deviation from it", ANSWERED, "protocol",
     "frozen protocol with SHA-256 hash, time and every logged change"),
    ("M3", "Steering committee: role in the process", PARTLY, "actions",
     "every coordinator action is logged; describe the committee"),
    ("M4", "Steering committee: who and how chosen", AUTHORS, None, ""),
    ("M5", "Panel eligibility criteria", ANSWERED, "protocol",
     "screening questions with the eligible answers"),
    ("M6", "How panel members were identified and recruited", PARTLY, "table-1",
     "invitations, joins and consents are counted; describe the sampling frame"),
    ("M7", "Panel size and composition (stakeholder groups)", ANSWERED, "table-1", ""),
    ("M8", "Preparatory work: evidence review, how the first statements were drafted",
     PARTLY, "changes", "the initial statement list is in the change log; describe how "
     "it was drafted"),
    ("M9", "The consensus method and any modification", PARTLY, "methods",
     "online, anonymous, chat-based rating rounds are described; name the variant"),
    ("M10", "Number of rounds, their timing and format", ANSWERED, "flow",
     "opening and closing dates of every round"),
    ("M11", "Rating scale and response options", ANSWERED, "protocol", ""),
    ("M12", "Definition of consensus, set in advance", ANSWERED, "protocol", ""),
    ("M13", "Anonymity of panel members and answers", ANSWERED, "methods", ""),
    ("M14", "Feedback given to the panel between rounds", ANSWERED, "conduct",
     "an example card as sent is reproduced"),
    ("M15", "How statements were added, revised or removed between rounds", ANSWERED,
     "changes", ""),
    ("M16", "When and why the process stopped", ANSWERED, "conduct", ""),
    ("M17", "Reminders and other steps to limit non-response", ANSWERED, "conduct",
     "reminders per round, their schedule and deadline extensions"),
    ("M18", "Piloting of the questionnaire", AUTHORS, None, ""),
    ("M19", "Analysis of ratings and of free-text comments", PARTLY, "methods",
     "statistics are fully described; describe any qualitative analysis of comments"),
    ("M20", "Software and tools used", ANSWERED, "conduct",
     "software name, version and protocol hash"),
    ("M21", "Ethics approval and informed consent", PARTLY, "table-1",
     "consent is counted; name the approving body and reference"),
    ("R1", "Participation and response in each round", ANSWERED, "flow", ""),
    ("R2", "Characteristics of the panel", ANSWERED, "table-1", ""),
    ("R3", "Results of each round", ANSWERED, "table-2", ""),
    ("R4", "Final agreed output (statements or recommendations)", ANSWERED, "table-2", ""),
    ("R5", "Changes to the plan while the study ran", ANSWERED, "protocol",
     "logged protocol changes, revisions and drops"),
    ("D1", "Interpretation of the findings in context", AUTHORS, None, ""),
    ("D2", "Strengths and limitations", PARTLY, "sensitivity",
     "the sensitivity table shows which results depend on the consensus definition"),
    ("O1", "Funding and the funder's role", AUTHORS, None, ""),
    ("O2", "Conflicts of interest of organisers and panel", PARTLY, "table-1",
     "panel declarations from screening are counted; add the organisers'"),
    ("O3", "Availability of data, protocol and materials", ANSWERED, "methods",
     "pseudonymous exports and the frozen protocol"),
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
    ("1", "Title identifies a Delphi study", AUTHORS, None, ""),
    ("2", "Abstract states the Delphi variant and the aim", AUTHORS, None, ""),
    ("3", "Abstract reports panel size and main results", PARTLY, "summary",
     "the counts are in the summary; write the abstract"),
    ("4", "Research question and background", AUTHORS, None, ""),
    ("5", "Why a Delphi design suits the question", AUTHORS, None, ""),
    ("6", "Aim of the Delphi: consensus, judgement or forecast", PARTLY, "summary",
     "the study description is reproduced; state the aim"),
    ("7", "Existing evidence the study builds on", AUTHORS, None, ""),
    ("8", "Role of the Delphi within a larger project", AUTHORS, None, ""),
    ("9", "Who organised the study (steering group)", AUTHORS, None, ""),
    ("10", "Funding and conflicts of interest of the organisers", AUTHORS, None, ""),
    ("11", "Delphi variant and deviations from the classic design", PARTLY, "methods",
     "name the variant (online, anonymous rating rounds)"),
    ("12", "Definition of expertise and eligibility", ANSWERED, "protocol", ""),
    ("13", "Recruitment of the experts", PARTLY, "table-1",
     "invitations and joins are counted; describe the sampling"),
    ("14", "Panel size and composition", ANSWERED, "table-1", ""),
    ("15", "How the first questionnaire was developed", PARTLY, "changes",
     "initial statements are listed; describe their origin"),
    ("16", "Pre-test of the questionnaire", AUTHORS, None, ""),
    ("17", "Content and format of the questions", ANSWERED, "table-2", ""),
    ("18", "Rating scale and response options", ANSWERED, "protocol", ""),
    ("19", "Survey mode and software", ANSWERED, "conduct", ""),
    ("20", "Number of rounds and their dates", ANSWERED, "flow", ""),
    ("21", "How each round was built from the previous one", ANSWERED, "changes", ""),
    ("22", "Feedback given between rounds", ANSWERED, "conduct", ""),
    ("23", "Anonymity", ANSWERED, "methods", ""),
    ("24", "Reminders and handling of non-response", ANSWERED, "conduct", ""),
    ("25", "Definition of consensus set in advance", ANSWERED, "protocol", ""),
    ("26", "Stopping criteria", ANSWERED, "protocol", ""),
    ("27", "Statistical analysis", ANSWERED, "methods", ""),
    ("28", "Analysis of qualitative answers (comments)", PARTLY, "appendix",
     "comments are shown verbatim per statement; any thematic analysis is the authors'"),
    ("29", "Ethics approval and consent", PARTLY, "table-1",
     "consent is counted; name the approval"),
    ("30", "Data protection", PARTLY, "methods",
     "pseudonymisation is described; add the legal basis"),
    ("31", "Response and drop-out per round", ANSWERED, "flow", ""),
    ("32", "Results of every round", ANSWERED, "table-2", ""),
    ("33", "Final results, consensus and dissent", ANSWERED, "table-2", ""),
    ("34", "Results of the qualitative answers", PARTLY, "appendix",
     "comments verbatim with word counts; summarise their themes"),
    ("35", "Interpretation of the results", AUTHORS, None, ""),
    ("36", "Robustness of the results", PARTLY, "sensitivity",
     "sensitivity to the consensus definition is shown"),
    ("37", "Limitations of the study", AUTHORS, None, ""),
    ("38", "Implications and next steps", AUTHORS, None, ""),
])

GUIDELINES = {"ACCORD": ACCORD, "CREDES": CREDES, "DELPHISTAR": DELPHISTAR}


def checklist() -> list[Item]:
    return [*ACCORD, *CREDES, *DELPHISTAR]
