"""Labels describe what tasky-ops made; they never make anything ours (issue 17): only this
checkout's ownership record does (ops/engine/ownership.py)."""
from ops.engine import ownership


class Labelled:
    def __init__(self, value, engine_id="c" * 64):
        self.labels, self.id = value, engine_id


def test_container_labels_describe_it_and_the_record_makes_it_ours(tmp_path):
    mine = ownership.for_container("app", "tasky")
    assert mine[ownership.ROLE] == "app"
    assert mine[ownership.IMAGE] == "tasky"
    assert mine[ownership.STARTED] == "true"
    ledger = ownership.Ledger(tmp_path / "state", tmp_path / "checkout")
    container = Labelled(mine)
    assert not ledger.owns_container(container)     # every label of ours, no record
    ledger.record("container", [container.id], role="app", image="tasky")
    assert ledger.owns_container(container)


def test_container_without_image_has_no_image_label():
    assert ownership.IMAGE not in ownership.for_container("verify")


def test_an_image_label_alone_does_not_make_a_container_ours(tmp_path):
    """A container of our image started by someone else inherits only the image's labels;
    one of an image committed from ours inherits "started" too: neither is ours."""
    ledger = ownership.Ledger(tmp_path / "state", tmp_path / "checkout")
    inherited = {ownership.MANAGED: "true", ownership.ROLE: "app", ownership.IMAGE: "tasky"}
    committed = {**ownership.for_container("app", "tasky"), ownership.INVOCATION: "f" * 32}
    for labels in (inherited, committed, None, {}):
        assert not ledger.owns_container(Labelled(labels))
