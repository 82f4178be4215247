/**
 * A generated "stress" Go execution trace (Go 1.22 format) made with the test
 * writer: 8 Ms, ~50 goroutines, generations 3 to 5 (a snapshot: the trace
 * starts while a GC is active), sweeps, mark assists, tasks, regions and logs
 * begun, ended, left open, or ended without a begin in the trace. It returns
 * how many of each event type it wrote, so tests count spans by the rules.
 * @module
 */
import { Ev } from "../../lib/sources/gotrace/event_types.ts";
import { type BatchWriter, type GenerationWriter, GoTraceWriter } from "./gotrace_writer.ts";

/** The stress trace and how many events of each type it holds. */
export interface StressTrace {
  /** The trace bytes. */
  bytes: Uint8Array;
  /** Events of type `ev` (an {@linkcode Ev} value) written. */
  count(ev: number): number;
}

/** A tiny deterministic PRNG (xorshift32) so the trace is the same every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

interface GState {
  regions: { task: number; name: string }[];
  assisting: boolean;
}

/** Builds the stress trace (deterministic). */
export function stressTrace(): StressTrace {
  const rand = rng(2024);
  const counts = new Map<number, number>();
  const e = (b: BatchWriter, type: number, dt: number, ...args: (number | bigint)[]) => {
    counts.set(type, (counts.get(type) ?? 0) + 1);
    b.ev(type, dt, ...args);
  };
  const M = 8;
  const gs = new Map<number, GState>();
  const running = new Map<number, number>(); // M -> goroutine
  const pool = (m: number) => Array.from({ length: 6 }, (_, k) => m * 100 + k);
  const sweeping = new Set<number>(); // P ids
  const openTasks = new Map<number, number[]>(); // M -> task ids
  let nextTask = 1;
  let nextG = 10_000;
  const names = ["load", "parse", "render", "flush", "wait", "encode"];
  const w = new GoTraceWriter(22);
  for (let m = 1; m <= M; m++) {
    running.set(m, pool(m)[0]);
    openTasks.set(m, []);
    for (const g of pool(m)) gs.set(g, { regions: [], assisting: false });
  }
  for (let gen = 3; gen <= 5; gen++) {
    const syncTime = BigInt(gen) * 10_000_000n;
    const G: GenerationWriter = w.generation(gen, 1_000_000_000n, syncTime);
    const stack = (k: number) => G.stack([{ func: `main.work${k}`, file: "/src/stress/main.go", line: 10 + k }]);
    for (let m = 1; m <= M; m++) {
      const b = G.batch(BigInt(m), syncTime + BigInt(m));
      const p = m - 1;
      let g = running.get(m)!;
      e(b, Ev.ProcStatus, 0, p, 1);
      e(b, Ev.GoStatus, 1, g, m, 2);
      if (gen === 3) {
        // the snapshot starts inside a GC, with two goroutines assisting and two Ps sweeping
        if (m === 1) e(b, Ev.GCActive, 1, 7);
        if (m === 2 || m === 3) {
          e(b, Ev.GCMarkAssistActive, 1, g);
          gs.get(g)!.assisting = true;
        }
        if (m === 4 || m === 5) {
          e(b, Ev.GCSweepActive, 1, p);
          sweeping.add(p);
        }
        // regions and tasks begun before the snapshot, ended in it
        e(b, Ev.UserRegionEnd, 2, 0, G.str("began before the snapshot"), 0);
        e(b, Ev.UserTaskEnd, 2, 900_000 + m, 0);
      }
      // the GC active at the start ends early in generation 4 on another M; the next one begins on M2 later
      // and ends early in generation 5 on M7; the last one (M4, generation 5) is still running at the end
      if (gen === 4 && m === 5) {
        e(b, Ev.STWBegin, 2, G.str("GC mark termination"), stack(1));
        e(b, Ev.STWEnd, 3);
        e(b, Ev.GCEnd, 1, 8);
      }
      if (gen === 5 && m === 7) e(b, Ev.GCEnd, 2, 10);
      for (let step = 0; step < 150; step++) {
        const dt = 1 + Math.floor(rand() * 40);
        const st = gs.get(g)!;
        const tasks = openTasks.get(m)!;
        const r = rand();
        if (r < 0.2) {
          const task = tasks.length && rand() < 0.5 ? tasks[Math.floor(rand() * tasks.length)] : 0;
          const name = names[Math.floor(rand() * names.length)];
          st.regions.push({ task, name });
          e(b, Ev.UserRegionBegin, dt, task, G.str(name), rand() < 0.5 ? stack(2) : 0);
        } else if (r < 0.36) {
          if (!st.regions.length) continue;
          // now and then end an outer region: those opened inside it end with it
          const at = st.regions.length > 1 && rand() < 0.2 ? 0 : st.regions.length - 1;
          const { task, name } = st.regions[at];
          st.regions.length = at;
          e(b, Ev.UserRegionEnd, dt, task, G.str(name), 0);
        } else if (r < 0.44) {
          const id = nextTask++;
          tasks.push(id);
          e(b, Ev.UserTaskBegin, dt, id, tasks.length > 1 ? tasks[0] : 0, G.str(`task-${id % 7}`), stack(3));
        } else if (r < 0.5) {
          if (!tasks.length) continue;
          const id = tasks.splice(Math.floor(rand() * tasks.length), 1)[0];
          e(b, Ev.UserTaskEnd, dt, id, 0);
        } else if (r < 0.6) {
          const task = tasks.length && rand() < 0.5 ? tasks[tasks.length - 1] : 0;
          e(b, Ev.UserLog, dt, task, G.str("stress"), G.str(`message ${step}`), 0);
        } else if (r < 0.68) {
          if (sweeping.has(p)) {
            sweeping.delete(p);
            e(b, Ev.GCSweepEnd, dt, 8192 * (1 + step), 4096 * step);
          } else {
            sweeping.add(p);
            e(b, Ev.GCSweepBegin, dt, stack(4));
          }
        } else if (r < 0.76) {
          if (st.assisting) {
            st.assisting = false;
            e(b, Ev.GCMarkAssistEnd, dt);
          } else {
            st.assisting = true;
            e(b, Ev.GCMarkAssistBegin, dt, stack(5));
          }
        } else if (r < 0.86) {
          // switch to another goroutine of this M
          const next = pool(m)[Math.floor(rand() * 6)];
          if (next === g) continue;
          e(b, Ev.GoStop, dt, G.str("preempted"), 0);
          e(b, Ev.GoStart, 1, next, 1);
          g = next;
        } else if (r < 0.9) {
          e(b, Ev.GoCreate, dt, nextG++, stack(6), stack(7));
        } else {
          e(b, Ev.HeapAlloc, dt, 1 << 20);
        }
      }
      if (gen === 4 && m === 2) e(b, Ev.GCBegin, 5, 9, stack(8));
      if (gen === 5 && m === 4) e(b, Ev.GCBegin, 5, 11, stack(8));
      running.set(m, g);
    }
    G.end();
  }
  return {
    bytes: w.bytes(),
    count: (ev) => counts.get(ev) ?? 0,
  };
}
