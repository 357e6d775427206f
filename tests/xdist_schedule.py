"""How `make test` shares the suite among its pytest-xdist workers (docs/testing.md#parallel).

xdist's `loadscope` keeps each test module (or class) on one worker, so a module's gateway starts once.
Two changes to it:

- The few long tests (the fuzz properties, minutes each) are units of their own, so they run on
  several workers at once instead of one after another behind one module's gateway (each worker that
  gets one starts that module's gateway: seconds, against minutes saved).
- Those long units are handed out first: a long test handed out last would leave one worker running it
  alone at the end. Every other unit keeps the order pytest-randomly shuffled (`--no-loadscope-reorder`
  in the Makefile), so which modules share a worker, and in what order, changes with the seed.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

# Node-id prefixes of the tests that are each a unit of their own, handed out first.
OWN_UNITS = ("tests/test_fuzz.py::",)


class LongFirstScopeScheduling(LoadScopeScheduling):
    """`loadscope`, with OWN_UNITS's tests split into one unit each and handed out before the rest."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith(OWN_UNITS):
            return nodeid
        return super()._split_scope(nodeid)

    def _assign_work_unit(self, node) -> None:  # noqa: ANN001 - xdist's WorkerController
        """Hand out the first long unit, unless the node already has one pending (xdist gives each node
        a unit more than it runs, ahead): then the first short one, so two long tests never queue on
        one worker while another has none."""
        pending = self.assigned_work.get(node, {})
        has_long = any(
            scope.startswith(OWN_UNITS) and not all(done.values()) for scope, done in pending.items()
        )
        units = [scope for scope in self.workqueue if scope.startswith(OWN_UNITS) != has_long]
        if units:
            self.workqueue.move_to_end(units[0], last=False)
        super()._assign_work_unit(node)
