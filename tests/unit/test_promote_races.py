"""Promote's compare-and-swap (ops.registry.promotion.move, history.swap) under seeded random
interleavings: several `promote` calls to one tag, each in its own thread, run against an
in-memory registry on a virtual clock. Every registry call takes a random time drawn from
the seed, and completes (takes effect) in virtual-time order, so any schedule a real
registry could produce is one seed away and each is replayed exactly.

What every schedule must show:
- truth: "moved" only when the read-back found our digest; the loser's one line names what
  the tag held at its read-back; "already there" only when the first read found it;
- the last PUT's owner says "moved", and the tag ends on its digest;
- when registry calls take less than the settle (normal latency), no two "moved" share the
  same old digest (no lost update confirmed), and calls started together: exactly one moves.
"""
import random
import threading
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from ops.core.errors import OpsError
from ops.registry import history, http_api, promotion, target
from ops.settings.config import Settings

INITIAL = "sha256:" + "0" * 64


def digest(n):
    return "sha256:" + f"{n:x}" * 64 if n < 16 else "sha256:" + f"{n:064x}"


class Registry:
    """Tags and manifests in memory; every call is an event on the virtual clock."""

    def __init__(self, seed, names, most, stall=0.0):
        self.tags, self.now, self.log = {"latest": INITIAL}, 0.0, []
        self.manifests = {digest(n): n for n in range(16)}
        self.cond = threading.Condition()
        self.pending, self.live = {}, set(names)
        self.order = {name: i for i, name in enumerate(names)}
        self.rng = {name: random.Random(f"{seed}-{name}") for name in names}
        self.most, self.stall = most, stall

    def _call(self, seconds, what, effect):
        me = threading.current_thread().name
        box = {}
        with self.cond:
            self.pending[me] = (self.now + seconds, what, effect, box)
            self.cond.notify_all()
            while "result" not in box:
                self.cond.wait()
        return box["result"]

    def _took(self):
        rng = self.rng[threading.current_thread().name]
        stalled = self.stall and rng.random() < 0.2
        return rng.uniform(0, self.stall if stalled else self.most)

    # http_api's calls, as history makes them
    def manifest_digest(self, host, repository, tag, auth=None):
        me = threading.current_thread().name

        def read():
            self.log.append((self.now, me, "read", tag, self.tags.get(tag)))
            return self.tags.get(tag)
        return self._call(self._took(), "read", read)

    def get_manifest(self, host, repository, reference, auth=None):
        def get():
            found = self.tags.get(reference, reference)
            return (found.encode(), "application/json", found) if found in self.manifests \
                else None
        return self._call(self._took(), "get", get)

    def put_manifest(self, host, repository, tag, body, media_type, auth=None):
        me = threading.current_thread().name

        def put():
            self.log.append((self.now, me, "put", tag, body.decode()))
            self.tags[tag] = body.decode()
        return self._call(self._took(), "put", put)

    def pause(self, seconds):
        self._call(seconds, "pause", lambda: None)

    def run(self, calls):
        """Run {name: call} each on its thread; completes the earliest pending event each
        time every live thread waits on one. Returns {name: what the call returned/raised}."""
        results = {}

        def body(name, call):
            try:
                results[name] = call()
            except OpsError as error:
                results[name] = error
            finally:
                with self.cond:
                    self.live.discard(name)
                    self.cond.notify_all()

        threads = [threading.Thread(target=body, args=item, name=item[0], daemon=True)
                   for item in calls.items()]
        for thread in threads:
            thread.start()
        while True:
            with self.cond:
                while len(self.pending) < len(self.live):
                    self.cond.wait()
                if not self.live:
                    break
                name = min(self.pending, key=lambda n: (self.pending[n][0], self.order[n]))
                when, _, effect, box = self.pending.pop(name)
                self.now = when
                box["result"] = effect()
                self.cond.notify_all()
        for thread in threads:
            thread.join(5)
        return results


def race(seed, wanted, most, stall=0.0, spread=0.0):
    names = [f"p{i}" for i in range(len(wanted))]
    registry = Registry(seed, names, most, stall)
    site = target.Target("registry.test", "tasky", None, "MUTABLE")
    starts = random.Random(seed)

    def promote(n):
        def call():
            registry.pause(starts.uniform(0, spread) if spread else 0.0)
            return promotion.promote(Settings(), wanted[n], "latest", progress=lambda line: None,
                                     site=site)
        return call

    with mock.patch.object(http_api, "manifest_digest", registry.manifest_digest), \
            mock.patch.object(http_api, "get_manifest", registry.get_manifest), \
            mock.patch.object(http_api, "put_manifest", registry.put_manifest), \
            mock.patch.object(history, "_clock", lambda: registry.now), \
            mock.patch.object(history, "_pause", registry.pause):
        results = registry.run({name: promote(n) for n, name in enumerate(names)})
    return registry, names, results


def events(registry, name, kind):
    return [e for e in registry.log if e[1] == name and e[2] == kind and e[3] == "latest"]


def check_truth(registry, names, wanted, results):
    for name, want in zip(names, wanted):
        result, reads = results[name], events(registry, name, "read")
        if isinstance(result, OpsError):
            assert result.anchor == "tag-moved-at-the-same-time", result.message
            assert f"now {history.short(reads[-1][4])}, not {history.short(want)}" in \
                result.message
            assert reads[-1][4] != want
        elif result["status"] == "already there":
            assert reads[0][4] == want and not events(registry, name, "put")
        else:
            assert result["status"] == "moved" and reads[-1][4] == want
            assert result["old"] == reads[0][4]
    puts = [e for e in registry.log if e[2] == "put" and e[3] == "latest"]
    if puts:
        last = puts[-1]
        assert registry.tags["latest"] == last[4]
        assert not isinstance(results[last[1]], OpsError)
        assert results[last[1]]["status"] == "moved"


pools = st.lists(st.integers(1, 3), min_size=2, max_size=4)   # digests 1-3; 0 is INITIAL


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**9), picks=pools, spread=st.sampled_from([0.0, 0.05, 0.5]))
def test_every_schedule_tells_the_truth(seed, picks, spread):
    wanted = [digest(n) for n in picks]
    registry, names, results = race(seed, wanted, most=0.05, stall=2.0, spread=spread)
    check_truth(registry, names, wanted, results)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**9), count=st.integers(2, 4),
       spread=st.sampled_from([0.0, 0.05, 0.5]))
def test_at_normal_latency_no_two_moves_share_an_old_digest(seed, count, spread):
    wanted = [digest(n) for n in range(1, count + 1)]   # distinct, none the initial
    registry, names, results = race(seed, wanted, most=history.SETTLE_MIN / 2.5, spread=spread)
    check_truth(registry, names, wanted, results)
    moved = [r for r in results.values() if not isinstance(r, OpsError)]
    assert all(r["status"] == "moved" for r in moved)
    olds = [r["old"] for r in moved]
    assert len(olds) == len(set(olds)), olds
    if spread == 0.0:   # started together: exactly one moves, every other one lost
        assert len(moved) == 1, results


def test_a_stalled_mover_is_the_limit_and_a_seed_shows_it():
    """Past the settle (a PUT stalled for seconds) two moves can both be confirmed from one
    old digest; each was true at its read-back. Found once by search, kept as a fixed seed."""
    for seed in range(400):
        wanted = [digest(1), digest(2)]
        registry, names, results = race(seed, wanted, most=0.05, stall=2.0)
        check_truth(registry, names, wanted, results)
        moved = [r for r in results.values() if not isinstance(r, OpsError)]
        if len(moved) == 2 and moved[0]["old"] == moved[1]["old"]:
            return
    raise AssertionError("no schedule with a stalled PUT confirmed two moves: the limit "
                         "the docstring states has moved; update it")
