/**
 * The lifecycle job: applies due steps of temporary memberships, removals, additional owners
 * and managers to the directory, and tells the people concerned. Each step is one SQLite
 * transaction around the LDAP modify: the snapshot follows the change (so the poll cycle,
 * which cannot run meanwhile, does not report it again), the lifecycle event is recorded, the
 * messages are queued, the schedule moves on. A failure (no write access, object gone) is
 * recorded on the schedule (state `failed`) and retried next run unless the object is gone;
 * the directory is read before each write, so a step whose change reached the directory before
 * a crash is completed at the next run without writing again.
 */
import { namingContextOf } from '../../core/dn.js';
import type { LifecycleType } from '../../core/events.js';
import { effectOf, nextStep, pendingState, stateAfter, type Step } from '../../core/lifecycle.js';
import type { Deps } from '../../deps.js';
import { DeposedError, errorMessage } from '../../errors.js';
import { applyOwnChange } from '../../store/ownChange.js';
import type { Schedule } from '../../store/ports.js';
import { attributeFor, LookupError } from './names.js';
import { holds, readScheduleObjects, whyNotPutBack } from './objects.js';
import { record } from './notices.js';

export { attributeFor, LookupError, resolveName } from './names.js';

export interface AppliedStep {
  schedule: Schedule;
  step: Step;
  event: LifecycleType;
  /** Set when the step could not be applied. */
  error?: string;
  /** With `error`: nothing is left to apply (the group or member is gone), so it is not retried. */
  final?: boolean;
  /** What else happened (the member was not put back, the start was never applied). */
  note?: string;
}

/** The group or the member is gone: nothing is left to apply, and retrying cannot help. */
export class GoneError extends LookupError {}

/** The schedule changed between the read a step was planned on and its commit. */
class ScheduleChangedError extends Error {}

/** True when `current` is still the schedule `read` was: same state, not updated since. */
function unchanged(current: Schedule | undefined, read: Schedule): boolean {
  return current !== undefined && current.state === read.state && current.updatedAt === read.updatedAt;
}

/** Moves a schedule on from the state it was read in, or rolls the step back. */
function moved(changed: boolean, id: number): void {
  if (!changed)
    throw new ScheduleChangedError(`schedule #${id} changed while its step was applied; rolled back`);
}

/**
 * Runs every due step. With `dryRun`, only says what would be done. Each step commits on its
 * own: a step that fails is recorded on its schedule (state `failed`, with the reason) and
 * never holds up another schedule. Returns the steps, each with an error when it could not
 * be applied.
 */
export async function lifecycleJob(deps: Deps, options: { dryRun: boolean }): Promise<AppliedStep[]> {
  const { config, store, clock, log } = deps;
  const identity = await deps.directory.identity();
  const base = namingContextOf(config.directory.baseDN, identity.namingContexts);
  const done: AppliedStep[] = [];
  // The cycle row the run's events belong to. It commits on its own, before the first step:
  // a step that fails rolls back its own writes, never the row the next steps refer to.
  let cycleId: number | null = null;
  for (const original of await store.schedules.pending()) {
    let schedule = original;
    for (let guard = 0; guard < 3; guard++) {
      const now = clock.now();
      const step = nextStep(schedule, now, config.lifecycle);
      const from = pendingState(schedule);
      if (!step || from === null) break;
      const { event } = effectOf(schedule.kind, step);
      if (options.dryRun) {
        done.push({ schedule, step, event });
        const after = stateAfter(step, from);
        schedule = {
          ...schedule,
          state: after,
          resumeFrom: null,
          warnedAt: step === 'warn' ? now.toISOString() : schedule.warnedAt,
        };
        if (after === 'done') break;
        continue;
      }
      try {
        // In a transaction of its own, so that the fence of a leader's lease applies to it too.
        cycleId ??= await store.transaction(() => store.cycles.begin('lifecycle', now.toISOString()));
        const run = cycleId;
        const read = schedule;
        const applied = await store.transaction(async () => {
          // The list was read when the run began: `temp cancel` may have changed the schedule
          // since. Read it again inside the step's transaction and apply only what was read.
          if (!unchanged(await store.schedules.get(read.id), read)) return null;
          return applyStep(deps, base, read, from, step, run, now);
        });
        if (applied === null) {
          log.info('lifecycle schedule changed since the run began; left as it is', { schedule: read.id });
          break;
        }
        done.push({ schedule, step, event: applied.event, ...(applied.note ? { note: applied.note } : {}) });
        schedule = (await store.schedules.get(schedule.id)) ?? schedule;
      } catch (err: unknown) {
        const message = errorMessage(err);
        const final = err instanceof GoneError;
        if (err instanceof DeposedError) throw err; // the new leader goes on; record nothing
        if (
          !(await store.transaction(() =>
            store.schedules.setFailed(
              schedule.id,
              schedule.state,
              message,
              final ? null : from,
              now.toISOString(),
            ),
          ))
        ) {
          log.info('lifecycle schedule changed since the run began; left as it is', {
            schedule: schedule.id,
          });
          break;
        }
        log.error(
          final
            ? 'lifecycle step failed; nothing is left to apply'
            : 'lifecycle step failed; it is retried next run',
          {
            schedule: schedule.id,
            step,
            error: message,
          },
        );
        done.push({ schedule, step, event, error: message, final });
        break;
      }
    }
  }
  if (cycleId !== null) {
    const failed = done.filter((d) => d.error !== undefined).length;
    const id = cycleId;
    await store.transaction(() =>
      store.cycles.finish(id, {
        finishedAt: clock.now().toISOString(),
        durationMs: 0,
        outcome: failed > 0 ? 'failed' : 'ok',
        objects: 0,
        groups: 0,
        memberships: 0,
        events: done.length - failed,
        error: failed > 0 ? `${failed} lifecycle step(s) failed` : null,
      }),
    );
  }
  return done;
}

/**
 * Applies one step inside the caller's transaction. The directory is read first, so a step
 * whose change is already there (applied before a crash, or by hand) is completed without
 * writing again. Throws {@link GoneError} when the group or the member no longer exists.
 */
async function applyStep(
  deps: Deps,
  base: string,
  s: Schedule,
  from: 'scheduled' | 'active',
  step: Step,
  cycleId: number,
  now: Date,
): Promise<{ event: LifecycleType; note?: string }> {
  const { config, store, log } = deps;
  const at = now.toISOString();
  const { operation, event } = effectOf(s.kind, step);
  const seen = await readScheduleObjects(deps, base, s);
  if ('deleted' in seen.target) {
    throw new GoneError(
      `schedule #${s.id}: ${s.targetDn} no longer exists (deleted); nothing is left to apply`,
    );
  }
  if ('unreadable' in seen.target) {
    throw new LookupError(
      `schedule #${s.id}: ${s.targetDn} cannot be read by the bind account (no entry and no tombstone: check its read access); retried next run`,
    );
  }
  const target = seen.target.entry;
  const subject = 'entry' in seen.subject ? seen.subject.entry : undefined;
  // The end of a temporary removal puts the member back, unless the account was disabled or
  // deleted meanwhile, or was already out of the group when the removal started: rejoining it
  // would undo what its administrator did. The owners decide.
  const reason = s.kind === 'removal' && step === 'end' ? whyNotPutBack(s, seen.subject) : null;
  if (reason !== null) {
    if (from === 'scheduled') {
      // The removal never took effect as far as the state knows: nobody to tell of a rejoin.
      const note = `the start was never applied before the end; not put back: ${reason}`;
      moved(await store.schedules.setState(s.id, s.state, 'done', at, note), s.id);
      return { event: 'lifecycle.not-rejoined', note };
    }
    log.warn('temporary removal ended; the member is not put back', {
      schedule: s.id,
      group: target.dn,
      member: s.subjectDn,
      reason,
    });
    await record(
      deps,
      base,
      s,
      'end',
      'lifecycle.not-rejoined',
      target,
      subject ?? null,
      cycleId,
      now,
      reason,
    );
    moved(await store.schedules.setState(s.id, s.state, 'done', at, `not put back: ${reason}`), s.id);
    return { event: 'lifecycle.not-rejoined', note: `not put back: ${reason}` };
  }
  if (operation !== null) {
    // Taking a grant away needs only the subject's GUID, which the group's values carry: a
    // member deleted or unreadable is removed by <GUID=...>. Adding needs the object itself.
    if (operation === 'add' && 'deleted' in seen.subject) {
      throw new GoneError(
        `schedule #${s.id}: ${s.subjectDn} no longer exists (deleted); nothing is left to apply`,
      );
    }
    if (operation === 'add' && 'unreadable' in seen.subject) {
      throw new LookupError(
        `schedule #${s.id}: ${s.subjectDn} cannot be read by the bind account (no entry and no tombstone: check its read access); retried next run`,
      );
    }
    const ref = { guid: s.subjectGuid, dn: subject?.dn ?? s.subjectDn };
    const attribute = attributeFor(s.kind, config);
    const inPlace = holds(target, attribute, ref) === (operation === 'add');
    const value = subject ? subject.dn : `<GUID=${s.subjectGuid}>`;
    if (!inPlace) {
      // A leader paused past its lease changes the directory no more: checked just before.
      await store.assertLeader();
      await deps.directory.modify(target.dn, operation, attribute, [value]);
    }
    if (step === 'start') await store.schedules.recordStart(s.id, !inPlace);
    await applyOwnChange(store.snapshot, target.guid, attribute, operation, ref);
    log.info(inPlace ? 'lifecycle change already in place' : 'lifecycle change applied', {
      schedule: s.id,
      step,
      operation,
      attribute,
      target: target.dn,
      subject: value,
    });
  } else if ('deleted' in seen.subject) {
    throw new GoneError(
      `schedule #${s.id}: ${s.subjectDn} no longer exists (deleted); nothing is left to apply`,
    );
  }
  if (step === 'end' && from === 'scheduled') {
    // The end came before a start was ever recorded (it kept failing, or the process died
    // between the directory write and the commit). The end's change is made all the same, so
    // no temporary grant outlives its schedule; nobody is told of a start that never was.
    const note = 'the start was never applied before the end; the end was applied and nobody was told';
    log.warn('lifecycle schedule ended before its start was applied', { schedule: s.id });
    moved(await store.schedules.setState(s.id, s.state, 'done', at, note), s.id);
    return { event, note };
  }
  await record(deps, base, s, step, event, target, subject ?? null, cycleId, now);
  moved(
    step === 'warn'
      ? await store.schedules.setWarned(s.id, s.state, at)
      : await store.schedules.setState(s.id, s.state, stateAfter(step, from), at),
    s.id,
  );
  return { event };
}
