"""An engine in memory holding images, containers and BuildKit cache records with labels, as much
of docker-py's client (its models and its low-level api) as `inv clean`, `inv stop` and
ownership's rule use. Objects are made as
Docker makes them: an image built FROM another or committed from a container, and a container
run from an image, inherit every label of what they came from, and get an id of their own."""
import itertools
import secrets

import docker

_numbers = itertools.count(1)


def new_id():
    return f"sha256:{secrets.token_hex(32)}"


class Response:
    status_code, reason, url = 404, "fake", "http+docker://fake"


def matches(labels, filters):
    wanted = (filters or {}).get("label") or []
    wanted = [wanted] if isinstance(wanted, str) else wanted
    for condition in wanted:
        key, _, value = condition.partition("=")
        if labels.get(key) != value:
            return False
    return True


class Image:
    def __init__(self, world, labels, tags=()):
        self.world, self.id = world, new_id()
        self.labels, self.tags = dict(labels), list(tags)
        self.short_id = self.id[:19]
        self.children = 0


class Container:
    def __init__(self, world, image, labels, name):
        self.world, self.image = world, image
        self.id = secrets.token_hex(32)
        self.short_id, self.name, self.status = self.id[:12], name, "running"
        self.labels = {**image.labels, **labels}   # Docker merges the image's labels in
        self.attrs = {"Image": image.id}

    def remove(self, force=False):
        self.world.gone.add(self.id)
        self.world.containers_by_id.pop(self.id, None)


class Images:
    def __init__(self, world):
        self.world = world

    def list(self, filters=None):
        dangling = (filters or {}).get("dangling")
        return [i for i in self.world.images_by_id.values() if matches(i.labels, filters)
                and (not dangling or (not i.tags and not i.children))]

    def remove(self, image_id, force=False):
        image = self.world.images_by_id.get(image_id)
        if image is None:
            raise docker.errors.ImageNotFound("gone", response=Response())
        if image.children:
            raise docker.errors.APIError("409 conflict", explanation="image has dependent "
                                         "child images")
        self.world.gone.add(image_id)
        del self.world.images_by_id[image_id]


class Containers:
    def __init__(self, world):
        self.world = world

    def list(self, all=False, filters=None):
        return [c for c in self.world.containers_by_id.values() if matches(c.labels, filters)]

    def get(self, name):
        for container in self.world.containers_by_id.values():
            if name in (container.name, container.id):
                return container
        raise docker.errors.NotFound("no such container", response=Response())


class Api:
    def __init__(self, world):
        self.world = world

    def df(self):
        return {"BuildCache": list(self.world.records.values())}

    def prune_builds(self, filters=None, keep_storage=None):
        record = self.world.records.pop(filters["id"], None)
        if record is None:
            return {"CachesDeleted": None, "SpaceReclaimed": 0}
        self.world.gone.add(record["ID"])
        return {"CachesDeleted": [record["ID"]], "SpaceReclaimed": record["Size"]}

    def containers(self, all=False, filters=None):
        return [{"Id": c.id, "Names": [f"/{c.name}"], "State": c.status,
                 "Labels": dict(c.labels), "ImageID": c.image.id}
                for c in self.world.containers.list(all=all, filters=filters)]

    def images(self, filters=None):
        return [{"Id": i.id, "RepoTags": i.tags or ["<none>:<none>"], "Labels": dict(i.labels)}
                for i in self.world.images.list(filters=filters)]

    def remove_image(self, image_id, force=False):
        self.world.images.remove(image_id, force=force)

    def remove_container(self, container_id, force=False):
        self.world.containers.get(container_id).remove(force=force)

    def inspect_image(self, image_id):
        image = self.world.images_by_id.get(image_id)
        if image is None:
            raise docker.errors.ImageNotFound("gone", response=Response())
        return {"Id": image.id, "Config": {"Labels": dict(image.labels)}}


class World:
    def __init__(self):
        self.images_by_id, self.containers_by_id, self.records = {}, {}, {}
        self.gone = set()
        self.images, self.containers, self.api = Images(self), Containers(self), Api(self)

    def image(self, labels, tags=(), parent=None):
        """An image; with `parent`, built FROM it (or committed from it): its labels first."""
        made = Image(self, {**(parent.labels if parent else {}), **labels}, tags)
        if parent is not None and parent.id in self.images_by_id:
            parent.children += 1
        self.images_by_id[made.id] = made
        return made

    def commit(self, container, tags=()):
        """`docker commit`: an image whose labels are the container's, all of them."""
        made = Image(self, container.labels, tags)
        self.images_by_id[made.id] = made
        return made

    def run(self, image, labels=None, name=None):
        made = Container(self, image, labels or {}, name or f"c{next(_numbers)}")
        self.containers_by_id[made.id] = made
        return made

    def record(self, description, size=1, parent=""):
        made = {"ID": secrets.token_hex(12), "Parent": parent, "Type": "regular",
                "Description": description, "Size": size}
        self.records[made["ID"]] = made
        return made
