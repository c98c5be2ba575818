/**
 * A load generator at realtime priority (src/client/priority.ts): the process and the threads it
 * starts later run SCHED_RR, and the servers it starts run SCHED_OTHER again. Checked in a child
 * process (a realtime test runner would take the cores from everything else) against what the
 * kernel reports (`chrt -p`). Needs root and util-linux `chrt`; skipped, saying so, without them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const canChrt = ((): boolean => {
  try {
    execFileSync('chrt', ['-r', '1', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!canChrt) console.warn('client-priority test skipped: `chrt -r` is not allowed here (needs root and util-linux chrt)');

const policyOf = (out: string, who: string): string => new RegExp(`${who}: .*scheduling policy: (SCHED_[A-Z]+)`).exec(out)?.[1] ?? `no line for ${who} in:\n${out}`;

describe.skipIf(!canChrt)('client priority', () => {
  it('raises the process and its later threads to SCHED_RR and starts children at SCHED_OTHER', () => {
    const script = `
      import { spawnSync } from 'node:child_process';
      import { Worker } from 'node:worker_threads';
      import { isRealtime, ordinaryPriority, raiseToRealtime } from './dist/client/priority.js';
      const policy = (args) => spawnSync(args[0], args.slice(1), { encoding: 'utf8' }).stdout.trim();
      console.log('before: ' + policy(['chrt', '-p', String(process.pid)]));
      console.log('raised ' + raiseToRealtime(5) + ' ' + isRealtime());
      console.log('self: ' + policy(['chrt', '-p', String(process.pid)]));
      // a thread started after the raise (as the replay's sender threads are)
      const w = new Worker('Promise.all([import("node:worker_threads"), import("node:fs")]).then(([t, fs]) => t.parentPort.postMessage(fs.readFileSync("/proc/thread-self/sched", "utf8")));', { eval: true });
      w.once('message', (sched) => {
        console.log('thread: scheduling policy: ' + (/^policy\\s*:\\s*(\\d+)/m.exec(sched)?.[1] === '2' ? 'SCHED_RR' : 'SCHED_OTHER'));
        // a child started as the servers are: its own policy, seen from inside it
        console.log('child: ' + policy(ordinaryPriority(['sh', '-c', 'chrt -p $$'])));
        console.log('plain: ' + policy(['sh', '-c', 'chrt -p $$']));
        void w.terminate();
      });
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(policyOf(r.stdout, 'before')).toBe('SCHED_OTHER');
    expect(r.stdout).toContain('raised true true');
    expect(policyOf(r.stdout, 'self')).toBe('SCHED_RR');
    expect(policyOf(r.stdout, 'thread')).toBe('SCHED_RR');
    expect(policyOf(r.stdout, 'child')).toBe('SCHED_OTHER');
    // without ordinaryPriority a child inherits the realtime policy: what the prefix is for
    expect(policyOf(r.stdout, 'plain')).toBe('SCHED_RR');
  });
});
