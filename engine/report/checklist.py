"""Reporting checklist: which guideline items this report answers, and where.

Guidelines: ACCORD (Gattrell et al., PLoS Med 2024; 35 items), CREDES (Jünger et al.,
Palliat Med 2017; 16 items on conducting and reporting Delphi studies) and DELPHISTAR
(Niederberger et al., PLoS One 2024; 38 items). Item topics are PARAPHRASED from the
published checklists, grouped by topic rather than quoted, and item numbers are left out
on purpose: check the wording and numbering against the official checklists before
submission. ``status``: ``report`` = answered by the generated report, ``partly`` = the
report gives the numbers, the authors must add context, ``authors`` = the software
cannot answer it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    guideline: str
    topic: str
    status: str  # report / partly / authors
    where: str | None  # anchor of the report section
    note: str = ""


def _items(guideline: str, rows: list[tuple[str, str, str | None, str]]) -> list[Item]:
    return [Item(guideline, topic, status, where, note) for topic, status, where, note in rows]


ACCORD = _items("ACCORD", [
    ("Title names the consensus method used (e.g. Delphi)", "authors", None, ""),
    ("Background and rationale for using a consensus method", "authors", None, ""),
    ("Aim / objectives of the consensus exercise", "partly", "summary",
     "the study description is reproduced; state the aim in your own words"),
    ("Registration and protocol; deviations from it", "partly", "protocol",
     "frozen protocol with SHA-256 hash, time, and any logged change; external registry "
     "entry: authors"),
    ("Steering committee / facilitators: who they were and their role", "authors", None, ""),
    ("Participants: eligibility criteria, how identified and recruited", "partly",
     "protocol", "screening questions are listed; recruitment: authors"),
    ("Number of participants invited and taking part", "report", "flow", ""),
    ("Characteristics / stakeholder groups of participants", "partly", "flow",
     "groups per pseudonym in participants.csv; demographics: authors"),
    ("Preparatory research: how the initial statements were developed", "authors",
     "changes", "the initial statement list is in the change log"),
    ("Consensus process: method, number and format of rounds", "report", "protocol", ""),
    ("Definition of consensus, set in advance", "report", "protocol", ""),
    ("Rating scale and response options (incl. unable to rate)", "report", "protocol", ""),
    ("Anonymity of participants and of their responses", "report", "methods", ""),
    ("Feedback given to participants between rounds", "report", "methods", ""),
    ("Changes to statements between rounds (added, revised, removed)", "report",
     "changes", ""),
    ("Stopping criteria / when the process ends", "report", "protocol", ""),
    ("Data analysis and statistical methods", "report", "methods", ""),
    ("Handling of non-response, attrition and reminders", "partly", "flow",
     "numbers per round are given; describe reminders and their effect"),
    ("Piloting of the survey", "authors", None, ""),
    ("Ethics approval and consent", "partly", "flow",
     "consent counts are reported; approval body and number: authors"),
    ("Results: participation and attrition in every round", "report", "flow", ""),
    ("Results: outcome of every round", "report", "rounds", ""),
    ("Results: final agreed statements / recommendations", "report", "recommendations",
     ""),
    ("Results: statements without consensus or rejected", "report", "uncertainty",
     "and the rejected and dropped sections"),
    ("Discussion: limitations and robustness of the findings", "partly", "sensitivity",
     "the sensitivity table shows which statements depend on the definition"),
    ("Funding, role of funders, conflicts of interest", "authors", None, ""),
    ("Availability of data", "report", "methods", "exports: ratings.csv, results.csv, ..."),
])

CREDES = _items("CREDES", [
    ("Rationale for choosing the Delphi technique", "authors", None, ""),
    ("Planning and design: the process, rounds and any modification", "report", "protocol",
     ""),
    ("Definition of consensus stated in advance", "report", "protocol", ""),
    ("Informational input given to experts", "partly", "methods",
     "between-round feedback is described; background material: authors"),
    ("Prevention of bias (anonymity, steering-committee influence)", "partly", "actions",
     "anonymous feedback, comment moderation and coordinator actions are logged"),
    ("Interpretation and processing of consensus and non-consensus between rounds",
     "report", "changes", ""),
    ("External validation of the results", "authors", None, ""),
    ("Purpose and rationale of the study", "authors", "summary", ""),
    ("Expert panel: criteria, recruitment and characteristics", "partly", "flow", ""),
    ("Description of the methods (survey, rounds, scale, analysis)", "report", "methods",
     ""),
    ("Procedure illustrated in a flow chart", "report", "flow", ""),
    ("Definition and attainment of consensus", "report", "recommendations",
     "round in which each statement reached consensus"),
    ("Results reported for each round separately", "report", "rounds", ""),
    ("Discussion of limitations", "partly", "sensitivity", ""),
    ("Adequacy of the conclusions", "authors", None, ""),
    ("Publication and dissemination plan", "authors", None, ""),
])

DELPHISTAR = _items("DELPHISTAR", [
    ("Title / abstract identify a Delphi study", "authors", None, ""),
    ("Context: research question and reason for a Delphi", "authors", None, ""),
    ("Type of Delphi and modifications to the classic design", "partly", "protocol",
     "online, chat-based, anonymous rating rounds; name the variant"),
    ("Definition of expertise and panel recruitment", "authors", "protocol",
     "screening questions are listed"),
    ("Panel size and response per round", "report", "flow", ""),
    ("Development and pre-test of the questionnaire", "authors", "changes",
     "initial statements are listed"),
    ("Rating scale and options", "report", "protocol", ""),
    ("Number of rounds and how the next round was built", "report", "changes", ""),
    ("Feedback between rounds", "report", "methods", ""),
    ("Consensus definition and analysis methods", "report", "protocol", ""),
    ("Stability / stopping criteria", "report", "protocol", ""),
    ("Handling of qualitative input (comments)", "partly", "uncertainty",
     "comments are shown verbatim, grouped by statement, with word counts; any thematic "
     "analysis is the authors'"),
    ("Results per round and final results", "report", "rounds", ""),
    ("Sensitivity of results to the consensus definition", "report", "sensitivity", ""),
    ("Limitations", "authors", None, ""),
    ("Ethics, funding and conflicts of interest", "authors", None, ""),
])


def checklist() -> list[Item]:
    return [*ACCORD, *CREDES, *DELPHISTAR]
