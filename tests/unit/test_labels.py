"""Labels mark what tasky-ops made, so clean-up never touches anything else."""
from ops.engine import labels


class Labelled:
    def __init__(self, value):
        self.labels = value


def test_container_labels_mark_it_started_by_us():
    mine = labels.for_container("app", "tasky")
    assert mine[labels.ROLE] == "app"
    assert mine[labels.IMAGE] == "tasky"
    assert labels.started_by_us(Labelled(mine))


def test_container_without_image_has_no_image_label():
    assert labels.IMAGE not in labels.for_container("verify")


def test_an_image_label_alone_does_not_make_a_container_ours():
    """A container of our image started by someone else inherits only the image's labels."""
    inherited = {labels.MANAGED: "true", labels.ROLE: "app", labels.IMAGE: "tasky"}
    assert not labels.started_by_us(Labelled(inherited))
    assert not labels.started_by_us(Labelled(None))
    assert not labels.started_by_us(Labelled({}))
