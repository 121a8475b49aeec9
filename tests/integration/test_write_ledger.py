"""The write ledger marks a batch's next writes pending ahead of them (write_ledger.py); a mark must only go to a
write that will be sent. A file Jira refused earlier in the same run is not sent again when the batch is retried,
so a mark ahead on it stayed pending for good: the chaos run (seed 209454, a worker killed in attachments) ended
with `attachment records still pending after the run`, and the refusal's reason was gone from the record."""

from __future__ import annotations

from migrayt.activities.execution.write_ledger import WriteLedger
from migrayt.contracts.record_kinds import ATTACHMENT
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.store import item_records
from migrayt.store.item_records import DONE, FAILED, PENDING
from tests.integration.harness import create_sandbox_migration

TENANT = "ledger-co"
RUN = "run-ledger-1"
REASON = "Jira refused ado-7.zip: 413 larger than the site's upload limit"


async def test_a_retried_batch_leaves_a_file_refused_earlier_in_the_run_failed_with_its_reason(stack) -> None:
    with running_sandbox(ProjectSpec(seed=3, items=2, ugly=False, timetracker=False)) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
    sessions = stack.service.sessions
    async with sessions() as session:
        # The batch's first attempt: one file refused (413), one landed; then the worker was killed.
        await item_records.mark_failed(session, migration_id, ATTACHMENT, "refused", REASON, RUN)
        await item_records.mark_done(session, migration_id, ATTACHMENT, "landed", "10001", RUN)
        await session.commit()

    # The retry expects every file not done (the refused one too: `put` decides, and returns at once for it).
    ledger = WriteLedger(sessions, migration_id, RUN)
    ledger.expect([(ATTACHMENT, "next"), (ATTACHMENT, "refused"), (ATTACHMENT, "landed"), (ATTACHMENT, "later")])
    await ledger.pending(ATTACHMENT, "next")
    await ledger.done(ATTACHMENT, "next", "10002")
    await ledger.pending(ATTACHMENT, "later")  # marked ahead already: nothing more to commit
    await ledger.done(ATTACHMENT, "later", "10003")
    await ledger.flush()

    async with sessions() as session:
        records = await item_records.load(session, migration_id, ATTACHMENT, ["next", "refused", "landed", "later"])
    states = {key: (r.state, r.error) for key, r in records.items()}
    assert states["refused"] == (FAILED, REASON)
    assert states["landed"][0] == DONE and states["next"][0] == DONE and states["later"][0] == DONE
    assert not [key for key, (state, _) in states.items() if state == PENDING]
    assert ledger.statements == 2  # one mark for the window, one for the results: the saving is kept


async def test_a_file_refused_in_an_earlier_run_is_marked_pending_before_it_is_sent_again(stack) -> None:
    """A new run may send a refused file again (the cause may be fixed): its own mark goes before the write."""
    with running_sandbox(ProjectSpec(seed=3, items=2, ugly=False, timetracker=False)) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)
    sessions = stack.service.sessions
    async with sessions() as session:
        await item_records.mark_failed(session, migration_id, ATTACHMENT, "refused", REASON, "an-earlier-run")
        await session.commit()

    ledger = WriteLedger(sessions, migration_id, RUN)
    ledger.expect([(ATTACHMENT, "first"), (ATTACHMENT, "refused")])
    await ledger.pending(ATTACHMENT, "first")
    async with sessions() as session:
        before = (await item_records.load(session, migration_id, ATTACHMENT, ["refused"]))["refused"]
    assert before.state == FAILED  # not marked ahead: it may not be sent
    await ledger.pending(ATTACHMENT, "refused")  # ... but it is: its mark is committed first
    async with sessions() as session:
        now = (await item_records.load(session, migration_id, ATTACHMENT, ["refused"]))["refused"]
    assert (now.state, now.run_id) == (PENDING, RUN)
