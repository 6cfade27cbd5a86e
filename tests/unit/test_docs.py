"""docs/container-build.md and RUNBOOK.md: the source's sections, real tasks, links that work.

The task collection is read when the tests run, not listed here: a doc that names a task which
does not exist (or no longer exists) fails, and one that lands later makes it pass.
"""
import copy
import re
import shlex
from pathlib import Path

import pytest
from invoke import Collection, Program
from invoke.exceptions import ParseError
from invoke.parser import Parser, ParserContext

import tasks
from tests.support import FENCE, HEADING, INLINE_CODE, anchors, headings, prose_lines, slug
from tests.unit.unit_support import ROOT

DOC = ROOT / "docs" / "container-build.md"
RUNBOOK = ROOT / "RUNBOOK.md"
# The document this project automates, kept in the repository so every clone (the GitHub
# workflow's included) checks against it; where shared/ sits beside the repository, the
# copy must still equal the original.
SOURCE = ROOT / "docs" / "source" / "container-build.md"
ORIGINAL = ROOT.parent / "shared" / "reference" / "container-build.md"

# The source document's headings (levels 1-3), in order. Ours keeps every one, word for word,
# so the anchors are the same as the source's.
SOURCE_SECTIONS = [
    (1, "Container Build"),
    (2, "Dockerfile Overview"),
    (3, "Why Multi-Stage?"),
    (2, "Dockerfile Breakdown"),
    (3, "Stage 1: Build"),
    (3, "Stage 2: Release"),
    (2, "Security Features"),
    (3, "Non-Root User"),
    (3, "Health Check"),
    (3, "Minimal Base Image"),
    (2, "Building Locally"),
    (3, "Basic Build"),
    (3, "Build with Tag"),
    (3, "Build with Build Args"),
    (2, "Running Locally"),
    (3, "Basic Run"),
    (3, "With Environment Variables"),
    (3, "Development Mode (with volume mount)"),
    (2, "Verifying the Build"),
    (3, "Check wizexercise.txt"),
    (3, "Verify Non-Root User"),
    (3, "Test Health Check"),
    (2, "Image Scanning"),
    (3, "Trivy Scan"),
    (3, "Grype Scan"),
    (3, "CI/CD Scanning"),
    (2, "Pushing to ECR"),
    (3, "Manual Push"),
    (3, "Via CI/CD"),
    (2, "Layer Optimization"),
    (3, "Current Layer Structure"),
    (3, "Caching Strategy"),
    (2, "Troubleshooting"),
    (3, "Build Fails: go mod download"),
    (3, "Build Fails: Permission Denied"),
    (3, "Container Won't Start"),
    (3, "Health Check Failing"),
    (2, "Related Documentation"),
]

# Chapters whose sections are procedures: each names the `inv` task that automates it (in the
# section or in the chapter's introduction) and shows a command in a code block.
PROCEDURE_CHAPTERS = ["Building Locally", "Running Locally", "Verifying the Build",
                      "Image Scanning", "Pushing to ECR", "Layer Optimization", "Troubleshooting"]

# The procedures the doc must cover, each by its task.
PROCEDURE_TASKS = ["build", "run", "verify", "health", "layers", "scan", "lint", "login", "push",
                   "release", "doctor", "registry", "bases", "demo", "logs", "stop", "clean",
                   "setup"]

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
INV_NAME = re.compile(r"(?<![\w/.-])inv\s+([a-z][a-z0-9_-]*)")


# --- small Markdown helpers --------------------------------------------------------------

def code_lines(text):
    """Lines inside fenced code blocks."""
    prose = {number for number, _ in prose_lines(text)}
    for number, line in enumerate(text.splitlines(), start=1):
        if number not in prose and not FENCE.match(line):
            yield line




def links(path):
    """(line number, target) of every inline or reference link outside code."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        reference = REFERENCE_LINK.match(line)
        if reference:
            found.append((number, reference.group(1)))
            continue
        without_code = INLINE_CODE.sub("", line)
        found.extend((number, target) for target in LINK.findall(without_code))
    return found


def sections(text, level):
    """{title: body text} for the headings of one level (body runs to the next such heading)."""
    result, title, body = {}, None, []
    prose = {number for number, _ in prose_lines(text)}
    for number, line in enumerate(text.splitlines(), start=1):
        match = HEADING.match(line) if number in prose else None
        if match and len(match.group(1)) <= level:
            if title is not None:
                result[title] = "\n".join(body)
            title, body = (match.group(2), []) if len(match.group(1)) == level else (None, [])
            continue
        body.append(line)
    if title is not None:
        result[title] = "\n".join(body)
    return result


# --- the task collection, read at test time ----------------------------------------------

def task_names():
    return set(Collection.from_module(tasks).task_names)


def parse_inv(argv):
    """Parse argv (what follows `inv`) as `inv` would; raises ParseError for unknown tasks/flags.

    Works on a copy: building a task's arguments pops entries from its `help` dict, and the
    Task objects are shared with every other test that imports tasks.py.
    """
    collection = copy.deepcopy(Collection.from_module(tasks))
    parser = Parser(initial=ParserContext(args=Program().core_args()),
                    contexts=collection.to_contexts())
    return parser.parse_argv(argv)


def inv_commands(text):
    """`inv ...` command lines: code-block lines and inline code spans that start with `inv `."""
    commands = [line.strip() for line in code_lines(text) if line.strip().startswith("inv ")]
    for _, line in prose_lines(text):
        commands.extend(span.strip() for _, span in INLINE_CODE.findall(line)
                        if span.strip().startswith("inv "))
    return sorted(set(commands))


def _read(path):
    return path.read_text(encoding="utf-8") if path.exists() else ""


DOC_TEXT = _read(DOC)
MENTIONED = sorted(set(INV_NAME.findall(DOC_TEXT)))
COMMANDS = inv_commands(DOC_TEXT)
LINKS = [(path, number, target) for path in (DOC, RUNBOOK) if path.exists()
         for number, target in links(path) if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


# --- the helpers themselves --------------------------------------------------------------

@pytest.mark.parametrize("title, expected", [
    ("Why Multi-Stage?", "why-multi-stage"),
    ("Stage 1: Build", "stage-1-build"),
    ("Container Won't Start", "container-wont-start"),
    ("CI/CD Scanning", "cicd-scanning"),
    ("Check wizexercise.txt", "check-wizexercisetxt"),
    ("Development Mode (with volume mount)", "development-mode-with-volume-mount"),
    ("Build Fails: go mod download", "build-fails-go-mod-download"),
    ("The `inv` tasks", "the-inv-tasks"),
])
def test_slug_follows_githubs_rules(title, expected):
    assert slug(title) == expected


def test_repeated_headings_get_numbered_anchors():
    assert anchors("# A\n## A\n```\n# not a heading\n```\n### A\n") == {"a", "a-1", "a-2"}


def test_headings_and_links_inside_code_blocks_are_ignored(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Real\n```bash\n# comment\n[x](missing.md)\n```\n"
                    "`[y](nope.md)` [z](real.md)\n")
    assert headings(page.read_text()) == [(1, "Real")]
    assert links(page) == [(6, "real.md")]


def test_parsing_leaves_the_shared_tasks_untouched():
    before = {name: dict(task.help) for name, task in tasks_by_name().items()}
    parse_inv(["build", "--offline"])
    assert {name: dict(task.help) for name, task in tasks_by_name().items()} == before


def tasks_by_name():
    collection = Collection.from_module(tasks)
    return {name: collection[name] for name in collection.task_names}


# --- docs/container-build.md: the source's sections --------------------------------------

def test_source_document_still_has_the_sections_we_mirror():
    assert headings(SOURCE.read_text(encoding="utf-8"), max_level=3) == SOURCE_SECTIONS


@pytest.mark.skipif(not ORIGINAL.exists(), reason="shared/ is only beside the working copy")
def test_the_kept_copy_of_the_source_document_is_the_original():
    assert SOURCE.read_bytes() == ORIGINAL.read_bytes(), (
        f"{ORIGINAL} changed: copy it to {SOURCE} and review what docs/ mirrors")


def test_doc_has_the_source_sections_in_the_same_order():
    assert DOC.exists(), f"{DOC} is missing"
    ours = headings(DOC_TEXT, max_level=3)
    missing = [h for h in SOURCE_SECTIONS if h not in ours]
    extra = [h for h in ours if h not in SOURCE_SECTIONS]
    assert not missing and not extra, f"missing {missing}, not in the source {extra}"
    assert ours == SOURCE_SECTIONS


@pytest.mark.parametrize("chapter", PROCEDURE_CHAPTERS)
def test_each_procedure_names_its_task_and_shows_a_command(chapter):
    chapters = sections(DOC_TEXT, 2)
    assert chapter in chapters, f"no chapter {chapter!r}"
    intro = chapters[chapter].split("\n### ", 1)[0]
    for title, body in sections(chapters[chapter], 3).items():
        assert INV_NAME.search(intro) or INV_NAME.search(body), \
            f"{chapter} / {title}: names no inv task"
        assert any(FENCE.match(line) for line in body.splitlines()), \
            f"{chapter} / {title}: shows no command in a code block"


@pytest.mark.parametrize("name", PROCEDURE_TASKS)
def test_each_procedure_task_is_documented(name):
    assert name in MENTIONED, f"docs/container-build.md never mentions `inv {name}`"


# --- docs/container-build.md: every task and flag it shows is real -----------------------

def test_doc_mentions_tasks():
    assert MENTIONED, "no `inv NAME` found in docs/container-build.md"


@pytest.mark.parametrize("name", MENTIONED)
def test_every_task_the_doc_mentions_exists(name):
    assert name in task_names(), (f"docs/container-build.md mentions `inv {name}`, but tasks.py "
                                  f"has no such task (tasks: {', '.join(sorted(task_names()))})")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_inv_command_the_doc_shows_parses(command):
    argv = shlex.split(command, comments=True)[1:]
    try:
        parse_inv(argv)
    except ParseError as error:
        pytest.fail(f"`{command}` would not run: {error}")


# --- links in docs/container-build.md and RUNBOOK.md --------------------------------------

def test_links_were_found():
    assert any(path == DOC for path, _, _ in LINKS), "no relative links found in the doc"


def link_problem(path, target):
    """Why a relative link from path does not resolve, or None when it does."""
    file_part, _, fragment = target.partition("#")
    destination = (path.parent / file_part).resolve() if file_part else path
    if not destination.exists():
        return f"{destination} does not exist"
    if not fragment:
        return None
    if destination.suffix.lower() == ".md":
        if fragment not in anchors(destination.read_text(encoding="utf-8")):
            return f"no heading with anchor #{fragment} in {destination.name}"
    elif not re.fullmatch(r"L\d+(-L\d+)?", fragment):
        return f"{destination.name} is not Markdown: only line anchors (#L10) exist"
    return None


@pytest.mark.parametrize("path, line, target", LINKS,
                         ids=[f"{p.name}:{n}:{t}" for p, n, t in LINKS])
def test_relative_link_resolves(path, line, target):
    problem = link_problem(path, target)
    assert problem is None, f"{path.relative_to(ROOT)}:{line} links to {target}: {problem}"


def test_a_broken_link_is_caught(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "code.py").write_text("")
    page.write_text("# Page\n## Page\n[ok](#page) [ok](#page-1) [bad](#nothing) "
                    "[gone](other.md) [ok](code.py#L3) [bad](code.py#top)\n")
    broken = [target for _, target in links(page) if link_problem(page, target)]
    assert broken == ["#nothing", "other.md", "code.py#top"]


def test_source_mistakes_are_corrected_where_they_occur():
    """The corrections the runbook lists appear in the doc, each in its own section."""
    chapters = sections(DOC_TEXT, 3)
    expected = {
        "Check wizexercise.txt": "--entrypoint",
        "Verify Non-Root User": "--entrypoint whoami",
        "Test Health Check": "starting",
        "Stage 2: Release": "--chown",
        "Caching Strategy": "go.sum*",
        "Build with Build Args": "--always",
        "Build Fails: go mod download": "ARG GOFLAGS",
        "With Environment Variables": "--env-file",
        "CI/CD Scanning": "trivy-action@master",
        "Manual Push": "DOCKER_CONFIG",
        "Container Won't Start": "--name tasky",
        "Stage 1: Build": "GOARCH=arm64",
        "Current Layer Structure": "6.91 MB",
        "Basic Run": "127.0.0.1:8080:8080",
    }
    for title, needle in expected.items():
        assert needle in chapters.get(title, ""), f"section {title!r} lacks {needle!r}"


def fenced_blocks(text, language):
    """The bodies of the fenced code blocks tagged with language."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.parametrize("section", ["Stage 1: Build", "Stage 2: Release", "Non-Root User",
                                     "Health Check"])
def test_dockerfile_excerpts_are_the_dockerfiles_own_lines(section):
    """The doc quotes the Dockerfile: every instruction it shows is there, word for word
    once BuildKit's cache-mount flags (which the document's builder never had) are off."""
    from ops.image.dockerfile import classic_dockerfile

    original = (ROOT / "Dockerfile").read_text()
    dockerfile = {line.strip() for text in (original, classic_dockerfile(original))
                  for line in text.splitlines() if not line.lstrip().startswith("--mount")}
    blocks = fenced_blocks(sections(DOC_TEXT, 3).get(section, ""), "dockerfile")
    assert blocks, f"section {section!r} quotes no Dockerfile lines"
    for block in blocks:
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                assert line in dockerfile, f"{section}: `{line}` is not in the Dockerfile"


def test_actions_the_doc_quotes_are_the_workflows_pins():
    workflow = (ROOT / ".github" / "workflows" / "build-deploy-app.yml").read_text()
    quoted = re.findall(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", DOC_TEXT)
    assert quoted, "the doc quotes no pinned action"
    for pin in quoted:
        assert pin in workflow, f"the doc shows {pin}, the workflow does not use it"


def test_the_doc_is_utf8_text_with_a_final_newline():
    raw = Path(DOC).read_bytes()
    raw.decode("utf-8")
    assert raw.endswith(b"\n")
