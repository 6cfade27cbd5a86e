"""go.mod and vendor/modules.txt read as the go command reads them, and checked against each
other as it checks them before a vendored build (cmd/go modload/vendor.go:
readVendorList, checkVendorConsistency), so doctor's verdict is the build's.

modules.txt has module lines (`# path version`, `# path version => new [version]`, and, at
the end, `# path [version] => new [version]` records of go.mod's replacements, wildcard or
unused, that no vendored module line carries), `## explicit` / `## explicit; go 1.x`
markers and one package path a line.
"""
import dataclasses
import re

# semver.IsValid as Go's x/mod has it: vMAJOR[.MINOR[.PATCH[-pre][+build]]].
SEMVER = re.compile(r"v(0|[1-9]\d*)(\.(0|[1-9]\d*)(\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?"
                    r"(\+[0-9A-Za-z.-]+)?)?)?")
ARROW = "=>"


def semver(text):
    return SEMVER.fullmatch(text) is not None


@dataclasses.dataclass
class GoMod:
    go: str = ""          # the `go` line's version, "" when there is none
    require: list = dataclasses.field(default_factory=list)   # [(path, version)]
    replace: list = dataclasses.field(default_factory=list)   # [((path, ver|""), (new, ver|""))]

    def replacement(self, path, version):
        """go.mod's replacement of path@version: the exact one, else the wildcard one."""
        table = dict(self.replace)
        return table.get((path, version)) or table.get((path, ""))


def _tokens(line):
    """A go.mod line's tokens: comments dropped, quotes removed; `=>` and the parentheses
    of a block are tokens of their own (no module path or version holds them)."""
    line = line.split("//", 1)[0]
    for token in (ARROW, "(", ")"):
        line = line.replace(token, f" {token} ")
    return [token.strip('"`') for token in line.split()]


def parse_go_mod(text):
    """GoMod: the go version, requires and replaces, from one-line and block directives."""
    mod, block = GoMod(), None
    for raw in text.splitlines():
        tokens = _tokens(raw)
        if not tokens:
            continue
        if block:
            if tokens[0] == ")":
                block = None
                continue
            verb = block
        else:
            verb, tokens = tokens[0], tokens[1:]
            if tokens[:1] == ["("]:
                block, tokens = verb, tokens[1:]
                if not tokens:
                    continue
        if verb == "go" and tokens:
            mod.go = tokens[0]
        elif verb == "require" and len(tokens) >= 2:
            mod.require.append((tokens[0], tokens[1]))
        elif verb == "replace" and ARROW in tokens:
            at = tokens.index(ARROW)
            old, new = tokens[:at], tokens[at + 1:]
            if 1 <= len(old) <= 2 and 1 <= len(new) <= 2:
                mod.replace.append(((old[0], old[1] if len(old) == 2 else ""),
                                    (new[0], new[1] if len(new) == 2 else "")))
    return mod


@dataclasses.dataclass
class ModulesTxt:
    explicit: set = dataclasses.field(default_factory=set)        # {(path, version)}
    replaced: dict = dataclasses.field(default_factory=dict)      # {(path, ver|""): (new, v)}
    providing: dict = dataclasses.field(default_factory=dict)     # {path: version}: packages
    listed: dict = dataclasses.field(default_factory=dict)        # {path: version}: vendored

    @property
    def count(self):
        """The modules vendored: module lines a marker or package follows, not the
        replacement records after them, and not packages."""
        return len(self.listed)


def read_modules_txt(text):
    """ModulesTxt, as readVendorList reads vendor/modules.txt."""
    found, module = ModulesTxt(), None
    for line in text.splitlines():
        if line.startswith("# "):
            fields = line.split()
            if len(fields) < 3:
                continue
            if semver(fields[2]):
                module, rest = (fields[1], fields[2]), fields[3:]
            elif fields[2] == ARROW:
                module, rest = (fields[1], ""), fields[2:]
            else:
                module = None
                continue
            if len(rest) >= 2 and rest[0] == ARROW:
                if len(rest) == 2:
                    found.replaced[module] = (rest[1], "")
                elif len(rest) == 3 and semver(rest[2]):
                    found.replaced[module] = (rest[1], rest[2])
            continue
        if module is None or not module[1]:
            continue
        if line.startswith("## "):
            entries = [entry.strip() for entry in line[3:].split(";")]
            if "explicit" in entries:
                found.explicit.add(module)
            found.listed[module[0]] = module[1]
        elif len(line.split()) == 1 and not line.startswith("#"):
            found.providing[module[0]] = module[1]
            found.listed[module[0]] = module[1]
    return found


def go_version_at_least(version, major, minor):
    numbers = re.match(r"(\d+)\.(\d+)", version or "")
    return bool(numbers) and (int(numbers.group(1)), int(numbers.group(2))) >= (major, minor)


def _said(module):
    path, version = module
    return f"{path} {version}".strip()


def problems(go_mod_text, modules_txt_text):
    """Why Go would call this vendor/ inconsistent with go.mod, one phrase each; [] when it
    builds. Go's own rules: each require listed at its version and marked `## explicit`;
    each replace recorded with the same `=>`; nothing marked explicit or replaced that
    go.mod does not require or replace (relaxed, as Go relaxes them, before go 1.14)."""
    mod, txt = parse_go_mod(go_mod_text), read_modules_txt(modules_txt_text)
    pre114 = not go_version_at_least(mod.go, 1, 14)
    found = []
    for path, version in mod.require:
        if (path, version) in txt.explicit:
            continue
        has = txt.providing.get(path) if pre114 else txt.listed.get(path)
        if pre114 and (has is None or has == version):
            continue
        if has and has != version:
            found.append(f"go.mod requires {path} {version}, vendor/ has {has}")
        elif has:
            found.append(f"go.mod requires {path} {version}, which vendor/modules.txt does "
                         "not mark `## explicit`")
        else:
            found.append(f"go.mod requires {path} {version}, which vendor/ lacks")
    for old, new in mod.replace:
        recorded = txt.replaced.get(old)
        if recorded is None:
            if not (pre114 and (not old[1] or txt.providing.get(old[0]) != old[1])):
                found.append(f"go.mod replaces {_said(old)} => {_said(new)}, which "
                             "vendor/modules.txt does not record")
        elif recorded != new:
            found.append(f"go.mod replaces {_said(old)} => {_said(new)}, vendor/modules.txt "
                         f"by {_said(recorded)}")
    required = set(mod.require)
    for path, version in txt.providing.items():
        if (path, version) in txt.explicit and (path, version) not in required:
            found.append(f"vendor/modules.txt marks {path} {version} explicit, which go.mod "
                         "does not require")
    for old, recorded in txt.replaced.items():
        wanted = mod.replacement(*old)
        if wanted is None:
            found.append(f"vendor/modules.txt replaces {_said(old)}, which go.mod does not")
        elif wanted != recorded:
            found.append(f"vendor/modules.txt replaces {_said(old)} by {_said(recorded)}, "
                         f"go.mod by {_said(wanted)}")
    return list(dict.fromkeys(found))
