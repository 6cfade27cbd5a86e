"""Issue 17: ownership that is not inherited. ops/engine/ownership.py's one rule, as a property
over any engine (ours, derived from ours by FROM or commit, containers of those, others',
others' carrying copies of our labels, another checkout's), then through the tasks that ask
it: `inv clean` lists and removes exactly ours, `inv stop` refuses everything else."""
import dataclasses
import json
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.core.errors import OpsError
from ops.engine import ownership
from ops.image import build_cache, dockerfile
from ops.run import clean as cleanup
from ops.run import containers
from ops.settings.config import Settings
from tests.unit.fake_world import World
from tests.unit.unit_support import ROOT

ORIGINS = ("ours", "from-ours", "commit-of-ours", "run-of-commit", "other", "copy-of-labels",
           "other-checkout")
NAMES = ("tasky", "tasky-b")
RUN_TEXT = 'mount / from exec /bin/sh -c case " ${GOFLAGS} " in *) go mod download ;; esac'


def image_labels(name):
    return {ownership.MANAGED: "true", ownership.ROLE: "app", ownership.IMAGE: name}


def project(state, root, name):
    base = Settings()
    return dataclasses.replace(base, root=root, image=name, container=f"{name}-app",
                               bases=dataclasses.replace(base.bases, cache_dir=str(state)))


class Maker:
    """Makes objects in `world` the way each origin makes them; `ours` collects what this
    checkout made (through the code paths that record it), by kind."""

    def __init__(self, world, ledger, elsewhere):
        self.world, self.ledger, self.elsewhere = world, ledger, elsewhere
        self.ours = {"image": set(), "container": set(), "cache": set()}
        self.made = {name: {"image": [], "container": []} for name in NAMES}
        self.name_of = {}

    def our_image(self, name):
        if not self.made[name]["image"]:
            self.make("ours", name, "image")
        return self.made[name]["image"][-1]

    def our_container(self, name):
        if not self.made[name]["container"]:
            self.make("ours", name, "container")
        return self.made[name]["container"][-1]

    def made_by(self, ledger, name, kind):
        world = self.world
        if kind == "image":
            image = world.image(image_labels(name), tags=[f"{name}:latest"])
            ledger.record("image", [image.id], role="app", image=name)
            return image
        if kind == "container":
            base = self.made_by(ledger, name, "image")
            if ledger is self.ledger:
                self.ours["image"].add(base.id)
                self.made[name]["image"].append(base)
            with ownership.Owned(world, "app", name, progress=[].append, ledger=ledger) as own:
                made = own.keep(world.run(base, labels=own.labels))
                own.release()
            return made
        scope = ledger.cache_scope(name)
        layer = world.record(f'{RUN_TEXT} && : "Go caches of {scope}"', size=5)
        world.record("fileop target", size=2, parent=layer["ID"])   # built on it
        build_cache.record_made(world, ledger, scope, name)
        return layer

    def make(self, origin, name, kind):
        world = self.world
        if origin == "ours":
            made = self.made_by(self.ledger, name, kind)
            key = made["ID"] if kind == "cache" else made.id
            self.ours[kind].add(key)
            if kind == "cache":
                self.ours["cache"] |= {r["ID"] for r in world.records.values()
                                       if r["Parent"] == key}
            else:
                self.made[name][kind].append(made)
                self.name_of[made.id] = name
            return
        if origin == "from-ours":
            world.image({"org.example.derived": "yes"}, parent=self.our_image(name))
        elif origin == "commit-of-ours":
            world.commit(self.our_container(name), tags=["someone/else:1"])
        elif origin == "run-of-commit":
            world.run(world.commit(self.our_container(name)))
        elif origin == "other":
            world.run(world.image({"maintainer": "someone"}), name=f"{name}-other")
            world.record(RUN_TEXT)   # the same RUN text, without our scope
        elif origin == "copy-of-labels":
            world.image(dict(self.our_image(name).labels), tags=[f"{name}:copy"])
            world.run(world.image({}), labels=dict(self.our_container(name).labels))
        else:   # another checkout of the project, with the same image name
            self.made_by(self.elsewhere, name, kind)


plans = st.lists(st.tuples(st.sampled_from(ORIGINS), st.sampled_from(NAMES),
                           st.sampled_from(("image", "container", "cache"))),
                 min_size=1, max_size=14)


@settings(max_examples=60, deadline=None, database=None)
@given(plans)
def test_the_rule_says_ours_exactly_for_what_this_checkout_made(plan):
    with tempfile.TemporaryDirectory() as tmp:
        state, world = Path(tmp) / "state", World()
        ledger = ownership.Ledger(state, Path(tmp) / "checkout")
        maker = Maker(world, ledger, ownership.Ledger(state, Path(tmp) / "other-checkout"))
        for origin, name, kind in plan:
            maker.make(origin, name, kind)

        # The rule itself, over everything the engine holds.
        for image in world.images_by_id.values():
            assert ledger.owns_image(image.id) == (image.id in maker.ours["image"])
        for container in world.containers_by_id.values():
            assert ledger.owns_container(container) == (container.id in maker.ours["container"])
        for record in world.records.values():
            assert ledger.owns("cache", record["ID"]) == (record["ID"] in maker.ours["cache"])

        # inv stop refuses every container that is not ours, whatever its labels.
        for container in list(world.containers_by_id.values()):
            if container.id not in maker.ours["container"]:
                with pytest.raises(OpsError, match="not started by tasky-ops"):
                    containers.stop(world, project(state, ledger.root, "tasky"), container.name)

        # inv clean --dry-run lists exactly this image name's; inv clean --all removes ours.
        for name in NAMES:
            rows = cleanup.clean(world, project(state, ledger.root, name), cache=True,
                                 include_bases=True, dry_run=True, progress=[].append)
            listed = {row["id"] for row in rows if row["kind"] != "BuildKit cache"}
            expected = {c.short_id for c in maker.made[name]["container"]} | {
                i.short_id.split(":")[-1] for i in maker.made[name]["image"]}
            assert listed == expected
        said = []
        cleanup.clean(world, project(state, ledger.root, "tasky"), everything=True, cache=True,
                      include_bases=True, progress=said.append)
        ours = set().union(*maker.ours.values())
        assert world.gone <= ours
        kept = {i.id for i in world.images_by_id.values() if i.children}   # FROM ours: 409
        assert world.gone == ours - kept
        labelled = [o for o in [*world.images_by_id.values(), *world.containers_by_id.values()]
                    if o.labels.get(ownership.MANAGED) == "true" and o.id not in ours]
        assert bool(said) == bool(labelled)
        if said:
            assert "docker rm -f" in said[0] and "docker rmi" in said[0]


def test_a_container_carrying_this_invocations_label_from_its_image_is_not_removed():
    """Owned's proof for a create that never returned: the nonce on the container's own
    labels. A container of an image committed from ours carries it inherited: left alone."""
    world = World()
    base = world.image(image_labels("tasky"))
    with ownership.Owned(world, "verify", progress=[].append) as ours:
        mine = world.run(base, labels=ours.labels)        # the create that never returned
        derived = world.run(world.commit(mine))           # someone's commit of it, run
    assert mine.id in world.gone and derived.id in world.containers_by_id


def test_the_record_is_one_file_per_checkout_under_the_cache_folder(tmp_path):
    one = ownership.Ledger(tmp_path / "state", tmp_path / "a")
    other = ownership.Ledger(tmp_path / "state", tmp_path / "b")
    one.record("image", ["sha256:1"], role="app", image="tasky")
    assert one.path.parent == tmp_path / "state" / "ownership" and one.path != other.path
    assert not other.owns_image("sha256:1")
    assert one.cache_scope("tasky") != other.cache_scope("tasky")
    assert one.cache_scope("tasky") != one.cache_scope("tasky-b")
    assert one.cache_scope("tasky") == ownership.Ledger(tmp_path / "state",
                                                       tmp_path / "a").cache_scope("tasky")
    assert json.loads(one.path.read_text())["root"] == str((tmp_path / "a").resolve())
    one.forget("image", ["sha256:1"])
    assert not one.owns_image("sha256:1")


def test_writers_in_parallel_lose_no_entry(tmp_path):
    def write(worker):
        ledger = ownership.Ledger(tmp_path, tmp_path / "checkout")
        for number in range(15):
            ledger.record("container", [f"{worker}-{number}"], role="app")

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ownership.Ledger(tmp_path, tmp_path / "checkout").entries("container")) == 60


def test_a_write_that_fails_leaves_the_old_record_whole(tmp_path, monkeypatch):
    ledger = ownership.Ledger(tmp_path, tmp_path / "checkout")
    ledger.record("image", ["sha256:1"], role="app")
    before = ledger.path.read_text()

    def broken(source, target):
        raise OSError(28, "No space left on device")

    from ops.core import files

    monkeypatch.setattr(files.os, "replace", broken)   # the one writer's last step
    with pytest.raises(OpsError, match="No space left") as caught:
        ledger.record("image", ["sha256:2"], role="app")
    assert caught.value.anchor == ownership.ANCHOR
    assert ledger.path.read_text() == before
    left = sorted(p.name for p in ledger.path.parent.iterdir())
    assert left == sorted([ledger.path.name, ledger.path.stem + ".lock"])   # no temp file


def test_a_damaged_record_is_one_line_naming_the_file(tmp_path):
    ledger = ownership.Ledger(tmp_path, tmp_path / "checkout")
    ledger.path.parent.mkdir(parents=True)
    ledger.path.write_text("{not json")
    with pytest.raises(OpsError) as caught:
        ledger.owns_image("sha256:1")
    assert str(ledger.path) in caught.value.message and caught.value.anchor == ownership.ANCHOR


def test_the_record_keeps_the_newest_entries_only(tmp_path, monkeypatch):
    monkeypatch.setattr(ownership, "KEEP", 5)
    ledger = ownership.Ledger(tmp_path, tmp_path / "checkout")
    for number in range(8):
        ledger.record("image", [f"sha256:{number}"], role="app")
    assert sorted(ledger.entries("image")) == [f"sha256:{n}" for n in range(3, 8)]


def test_the_dockerfile_sent_to_buildkit_names_the_scope_in_its_cache_ids_and_run_line():
    text = (ROOT / "Dockerfile").read_text()
    scoped = dockerfile.with_cache_scope(text, "0123456789abcdef0123")
    assert "id=tasky-ops-gomod-0123456789abcdef0123," in scoped
    assert "id=tasky-ops-gobuild-0123456789abcdef0123," in scoped
    download = next(c for c in dockerfile.run_commands(scoped) if "go mod download" in c)
    assert download.endswith('esac && : "Go caches of 0123456789abcdef0123"')
    assert "${TASKY_CACHE}" not in scoped.split("ARG TASKY_CACHE")[1]
    with pytest.raises(ValueError):
        dockerfile.with_cache_scope(text, "x; rm -rf /")


def test_scoped_records_are_those_naming_the_scope_and_those_built_on_them():
    world = World()
    mine = world.record(f'{RUN_TEXT} && : "Go caches of {"a" * 20}"')
    child = world.record("fileop target", parent=mine["ID"])
    grandchild = world.record("mount / from exec /bin/sh -c go build", parent=child["ID"])
    world.record(f'{RUN_TEXT} && : "Go caches of {"b" * 20}"')   # another scope
    world.record(RUN_TEXT)
    found = [r["ID"] for r in build_cache.scoped_records(world, "a" * 20)]
    assert found == [grandchild["ID"], child["ID"], mine["ID"]]   # children first


def test_a_classic_build_records_only_the_step_images_it_made():
    """Not a FROM's base, not a cached step's image (an earlier build made it, maybe another
    checkout's): those are not this build's to claim."""
    from ops.image import docker_build

    stream = [{"stream": "Step 1/4 : FROM tasky-ops/golang:1.19-debian AS build\n"},
              {"stream": " ---> 3a3b3dadb6da\n"},
              {"stream": "Step 2/4 : WORKDIR /go/src/tasky\n ---> Using cache\n"},
              {"stream": " ---> 111111111111\n"},
              {"stream": "Step 3/4 : COPY . .\n ---> 222222222222\n"},
              {"stream": "Step 4/4 : RUN go build\n ---> Running in 0123456789ab\n"},
              {"stream": "Removing intermediate container 0123456789ab\n ---> 333333333333\n"},
              {"aux": {"ID": "sha256:" + "3" * 64}}]
    image_id, steps = docker_build._follow(iter(stream), verbose=False, progress=print)
    assert image_id == "sha256:" + "3" * 64
    assert steps["layers"] == ["222222222222", "333333333333"]
