"""go.mod and vendor/modules.txt read as Go reads them (ops.image.modules_txt), doctor's
vendor verdict built on it, and the count `inv vendor` reports. The integration test
tests/integration/test_gomod.py holds the same rules against Go itself."""
import pytest

from ops.image import gomod, modules_txt

GO_MOD = """module example.com/tasky-fixture/thirdparty

go 1.19

require (
	github.com/gorilla/handlers v1.5.1
	github.com/gorilla/mux v1.8.0
	github.com/joho/godotenv v1.5.1
)

require github.com/felixge/httpsnoop v1.0.1 // indirect

replace (
	github.com/felixge/httpsnoop => github.com/felixge/httpsnoop v1.0.1
	github.com/gorilla/handlers v1.5.1 => github.com/gorilla/handlers v1.5.1
	github.com/gorilla/mux => github.com/gorilla/mux v1.8.0 // a wildcard replace
	"github.com/joho/godotenv" v1.5.1 => ../godotenv
)
"""
# What Go 1.19's `go mod vendor` writes for it (the format captured from the builder image).
MODULES_TXT = """# github.com/felixge/httpsnoop v1.0.1 => github.com/felixge/httpsnoop v1.0.1
## explicit; go 1.13
github.com/felixge/httpsnoop
# github.com/gorilla/handlers v1.5.1 => github.com/gorilla/handlers v1.5.1
## explicit; go 1.14
github.com/gorilla/handlers
# github.com/gorilla/mux v1.8.0 => github.com/gorilla/mux v1.8.0
## explicit; go 1.12
github.com/gorilla/mux
# github.com/joho/godotenv v1.5.1 => ../godotenv
## explicit; go 1.12
github.com/joho/godotenv
github.com/joho/godotenv/autoload
# github.com/felixge/httpsnoop => github.com/felixge/httpsnoop v1.0.1
# github.com/gorilla/mux => github.com/gorilla/mux v1.8.0
"""


def test_go_mod_requires_and_replaces_in_every_form():
    mod = modules_txt.parse_go_mod(GO_MOD)
    assert mod.go == "1.19"
    assert mod.require == [("github.com/gorilla/handlers", "v1.5.1"),
                           ("github.com/gorilla/mux", "v1.8.0"),
                           ("github.com/joho/godotenv", "v1.5.1"),
                           ("github.com/felixge/httpsnoop", "v1.0.1")]
    assert mod.replace[0] == (("github.com/felixge/httpsnoop", ""),
                              ("github.com/felixge/httpsnoop", "v1.0.1"))
    assert mod.replace[3] == (("github.com/joho/godotenv", "v1.5.1"), ("../godotenv", ""))
    assert mod.replacement("github.com/gorilla/mux", "v1.8.0") == ("github.com/gorilla/mux",
                                                                    "v1.8.0")
    one_line = modules_txt.parse_go_mod("replace a v1.0.0 => b v1.1.0\nreplace c => ./c\n")
    assert one_line.replace == [(("a", "v1.0.0"), ("b", "v1.1.0")), (("c", ""), ("./c", ""))]
    assert gomod.parse_go_mod(GO_MOD) == mod.require   # doctor and vendor read the same


def test_module_lines_markers_packages_and_replacement_records():
    txt = modules_txt.read_modules_txt(MODULES_TXT)
    assert txt.listed == {"github.com/felixge/httpsnoop": "v1.0.1",
                          "github.com/gorilla/handlers": "v1.5.1",
                          "github.com/gorilla/mux": "v1.8.0", "github.com/joho/godotenv": "v1.5.1"}
    assert ("github.com/gorilla/mux", "v1.8.0") in txt.explicit
    assert txt.replaced[("github.com/gorilla/mux", "")] == ("github.com/gorilla/mux", "v1.8.0")
    assert txt.replaced[("github.com/joho/godotenv", "v1.5.1")] == ("../godotenv", "")
    # Four modules: the `# M => M v` records are not modules, nor are the packages.
    assert txt.count == 4 == len(gomod.vendored_versions(MODULES_TXT))


def test_the_issues_modules_txt_is_consistent_and_counted_by_its_modules():
    """The report: `# M => M v` lines read as versions made doctor say `lacks ... jwt-go
    v3.2.0+incompatible` for a tree Go builds, and `inv vendor` count them as modules."""
    go_mod = ("module x\n\ngo 1.19\n\nrequire github.com/dgrijalva/jwt-go "
              "v3.2.0+incompatible\nrequire github.com/google/uuid v1.3.0\n\n"
              "replace github.com/dgrijalva/jwt-go => github.com/dgrijalva/jwt-go "
              "v3.2.0+incompatible\nreplace github.com/unused/mod => github.com/unused/mod "
              "v1.0.0\n")
    txt = ("# github.com/dgrijalva/jwt-go v3.2.0+incompatible => github.com/dgrijalva/jwt-go "
           "v3.2.0+incompatible\n## explicit\ngithub.com/dgrijalva/jwt-go\n"
           "# github.com/google/uuid v1.3.0\n## explicit; go 1.19\ngithub.com/google/uuid\n"
           "# github.com/dgrijalva/jwt-go => github.com/dgrijalva/jwt-go v3.2.0+incompatible\n"
           "# github.com/unused/mod => github.com/unused/mod v1.0.0\n")
    assert modules_txt.problems(go_mod, txt) == []
    assert modules_txt.read_modules_txt(txt).count == 2


BUMPED = GO_MOD.replace("godotenv v1.5.1\n)", "godotenv v1.6.0\n)")


@pytest.mark.parametrize("go_mod, txt, said", [
    (GO_MOD, MODULES_TXT, []),
    (BUMPED, MODULES_TXT,
     ["go.mod requires github.com/joho/godotenv v1.6.0, vendor/ has v1.5.1",
      "vendor/modules.txt marks github.com/joho/godotenv v1.5.1 explicit, which go.mod does "
      "not require"]),
    (GO_MOD, MODULES_TXT.replace("## explicit; go 1.14\n", "## go 1.14\n"),
     ["go.mod requires github.com/gorilla/handlers v1.5.1, which vendor/modules.txt does not "
      "mark `## explicit`"]),
    (GO_MOD, MODULES_TXT.replace("# github.com/gorilla/mux => github.com/gorilla/mux v1.8.0\n",
                                 ""),
     ["go.mod replaces github.com/gorilla/mux => github.com/gorilla/mux v1.8.0, which "
      "vendor/modules.txt does not record"]),
    (GO_MOD.replace("=> ../godotenv", "=> ../other"), MODULES_TXT,
     ["go.mod replaces github.com/joho/godotenv v1.5.1 => ../other, vendor/modules.txt by "
      "../godotenv",
      "vendor/modules.txt replaces github.com/joho/godotenv v1.5.1 by ../godotenv, go.mod by "
      "../other"]),
    (GO_MOD, MODULES_TXT + "# example.com/gone => example.com/gone v1.0.0\n",
     ["vendor/modules.txt replaces example.com/gone, which go.mod does not"]),
    (GO_MOD.replace("\tgithub.com/gorilla/mux v1.8.0\n", ""), MODULES_TXT,
     ["vendor/modules.txt marks github.com/gorilla/mux v1.8.0 explicit, which go.mod does not "
      "require"]),
    (GO_MOD + "require example.com/new v1.0.0\n", MODULES_TXT,
     ["go.mod requires example.com/new v1.0.0, which vendor/ lacks"]),
])
def test_problems_follow_gos_consistency_rules(go_mod, txt, said):
    assert modules_txt.problems(go_mod, txt) == said


def test_before_go_1_14_markers_are_not_needed_but_versions_must_match():
    old = GO_MOD.replace("go 1.19", "go 1.13")
    bare = "".join(line + "\n" for line in MODULES_TXT.splitlines()
                   if not line.startswith("## "))
    assert modules_txt.problems(old, bare) == []
    assert modules_txt.problems(GO_MOD.replace("go 1.19\n", ""), bare) == []   # no go line
    assert modules_txt.problems(GO_MOD, bare)   # from 1.14 on, every require needs its marker
    assert modules_txt.problems(BUMPED.replace("go 1.19", "go 1.13"), bare) == [
        "go.mod requires github.com/joho/godotenv v1.6.0, vendor/ has v1.5.1"]


def test_vendor_state_says_what_differs_and_counts_modules(tmp_path):
    (tmp_path / "vendor").mkdir()
    (tmp_path / "go.mod").write_text(GO_MOD)
    (tmp_path / "vendor" / "modules.txt").write_text(MODULES_TXT)
    assert gomod.vendor_state(tmp_path) == (
        True, "4 modules vendored (vendor/modules.txt matches go.mod)")
    (tmp_path / "go.mod").write_text(BUMPED)
    consistent, detail = gomod.vendor_state(tmp_path)
    assert consistent is False
    assert detail.startswith("vendor/ is out of date with go.mod (go.mod requires "
                             "github.com/joho/godotenv v1.6.0, vendor/ has v1.5.1; ")
    assert "=>" not in detail


@pytest.mark.parametrize("text, valid", [
    ("v1.2.3", True), ("v3.2.0+incompatible", True), ("v0.0.0-20210101000000-abcdef123456",
                                                       True),
    ("v1", True), ("v1.2", True), ("=>", False), ("1.2.3", False), ("v1.2-pre", False)])
def test_semver_as_go_checks_it(text, valid):
    assert modules_txt.semver(text) is valid
