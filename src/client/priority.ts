/**
 * Realtime CPU priority for a load generator that shares the machine with the server it measures.
 *
 * Why: on a machine with few cores, a client that is idle most of the time still waits for a core
 * whenever it wakes to send (its timers fire late behind the server's busy threads). Measured on
 * this 2-core machine (docs/serving.md, overload bench): the probe client's p99 send lateness was
 * 14-69 ms at ordinary priority, and still 5-19 ms (every phase over the 5 ms rule, half capacity
 * before the burst included) with the server at nice 10 (CFS weights do not bound wake-up
 * latency); with SCHED_RR one phase of three runs was flagged. So the client can run SCHED_RR, and the server processes it starts are put back to
 * SCHED_OTHER (`chrt -o 0`), since children inherit the policy.
 *
 * Only for a client that is light: a realtime thread that keeps a core busy takes it from the
 * server entirely (the kernel leaves other tasks 5% of each second: sched_rt_runtime_us).
 */
import { execFileSync } from 'node:child_process';

let realtime = false;

/**
 * Puts every thread of this process (and the threads and children it starts later) on SCHED_RR at
 * `priority`. Returns false, changing nothing, where that is not allowed (not root, no `chrt`).
 */
export function raiseToRealtime(priority = 10): boolean {
  try {
    execFileSync('chrt', ['-a', '-r', '-p', String(priority), String(process.pid)], { stdio: 'ignore' });
    realtime = true;
    return true;
  } catch {
    return false;
  }
}

/** Whether raiseToRealtime succeeded in this process. */
export function isRealtime(): boolean {
  return realtime;
}

/** A child's [command, ...args] run at ordinary priority even when this process is realtime. */
export function ordinaryPriority(argv: readonly string[]): string[] {
  return realtime ? ['chrt', '-o', '0', ...argv] : [...argv];
}
