"""RUNBOOK.md stays the on-call entry point: every task in it, every symptom diagnosable."""
import copy
import re

import pytest
from invoke import Collection

import tasks
from ops.settings.config import ROOT

RUNBOOK = (ROOT / "RUNBOOK.md").read_text()
TASKS = sorted(copy.deepcopy(Collection.from_module(tasks)).task_names)


def procedures_table():
    section = RUNBOOK.split("## Procedures", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def symptom_sections():
    body = RUNBOOK.split("## Procedures", 1)[1].split("## Where the document is wrong")[0]
    chunks = re.split(r"^## ", body, flags=re.M)[1:]
    return {chunk.splitlines()[0]: chunk for chunk in chunks}


@pytest.mark.parametrize("name", TASKS)
def test_every_task_is_a_procedure_row(name):
    commands = " ".join(row[1] for row in procedures_table())
    assert re.search(rf"`inv {re.escape(name)}\b", commands), f"inv {name} has no RUNBOOK row"


@pytest.mark.parametrize("row", procedures_table(), ids=lambda row: row[0])
def test_every_row_links_its_document_section_and_says_what_success_is(row):
    procedure, command, section, success = row
    assert command.startswith("`inv ")
    assert re.search(r"\]\(docs/container-build\.md#[a-z0-9-]+\)", section), section
    assert success


@pytest.mark.parametrize("title", [t for t in symptom_sections() if t != "Procedures"])
def test_each_symptom_starts_with_a_diagnosis_and_ends_with_a_verification(title):
    text = symptom_sections()[title].strip()
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    diagnosis = "\n".join(paragraphs[:2]).split("\nFix", 1)[0]
    assert "`inv " in diagnosis, f"{title}: the diagnosis names no inv command"
    assert paragraphs[-1].startswith("Verify:") and "`" in paragraphs[-1], title
