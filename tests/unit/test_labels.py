"""Labels mark what tasky-ops made, so clean-up never touches anything else."""
from ops.engine import ownership


class Labelled:
    def __init__(self, value):
        self.labels = value


def test_container_labels_mark_it_started_by_us():
    mine = ownership.for_container("app", "tasky")
    assert mine[ownership.ROLE] == "app"
    assert mine[ownership.IMAGE] == "tasky"
    assert ownership.started_by_us(Labelled(mine))


def test_container_without_image_has_no_image_label():
    assert ownership.IMAGE not in ownership.for_container("verify")


def test_an_image_label_alone_does_not_make_a_container_ours():
    """A container of our image started by someone else inherits only the image's labels."""
    inherited = {ownership.MANAGED: "true", ownership.ROLE: "app", ownership.IMAGE: "tasky"}
    assert not ownership.started_by_us(Labelled(inherited))
    assert not ownership.started_by_us(Labelled(None))
    assert not ownership.started_by_us(Labelled({}))
