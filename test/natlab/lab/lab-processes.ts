import type { ChildProcess } from 'node:child_process'
import { CLI_PATH } from '../../helpers/cli-process.js'
import type { Lab } from './netns-lab.js'

export type Line = Record<string, unknown> & { event: string }

export interface LineReader {
  /** Every line so far: JSON lines as objects, others as `{ event: 'text', text }`. */
  seen: Line[]
  /** Resolves with the first line matching `pred` (already seen or yet to come). */
  wait(pred: (l: Line) => boolean, ms?: number): Promise<Line>
}

/** Collects a child's JSON lines. */
export function lines(child: ChildProcess): LineReader {
  const seen: Line[] = []
  let buf = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString()
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const l = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (l.startsWith('{')) seen.push(JSON.parse(l) as Line)
      else seen.push({ event: 'text', text: l })
      for (const w of [...waiters]) w()
    }
  })
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString()
  })
  return {
    seen,
    wait(pred: (l: Line) => boolean, ms = 20_000): Promise<Line> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = seen.find(pred)
          if (hit) {
            waiters.delete(check)
            clearTimeout(t)
            resolve(hit)
          }
        }
        const t = setTimeout(() => {
          waiters.delete(check)
          reject(
            new Error(
              `no matching line in ${ms} ms; seen ${JSON.stringify(seen.filter((l) => l.event !== 'progress'))}; stderr ${err.slice(-400)}`,
            ),
          )
        }, ms)
        waiters.add(check)
        check()
      })
    },
  }
}

/**
 * The real `punchswarm tracker` in the lab's tracker namespace on port 6969, announce interval 5 s;
 * resolves once it listens, with its process (to kill it in fault tests).
 */
export async function startLabTracker(l: Lab): Promise<ChildProcess> {
  const child = l.spawn(l.trackerNs, [
    process.execPath,
    CLI_PATH,
    'tracker',
    '--host',
    '0.0.0.0',
    '--port',
    '6969',
    '--interval',
    '5',
    '--log-level',
    'warn',
  ])
  await lines(child).wait((x) => x.event === 'text' && String(x.text).startsWith('http://'))
  return child
}

/** `punchswarm <args>` in a lab namespace, with its lines and its exit. */
export function labCli(l: Lab, ns: string, args: string[]) {
  const child = l.spawn(ns, [process.execPath, CLI_PATH, ...args])
  return {
    child,
    out: lines(child),
    exit: new Promise<number | null>((r) => child.on('exit', (code) => r(code))),
  }
}

/** The tracker's /stats.json, read from inside its namespace. */
export function labStats<T>(l: Lab): T {
  return JSON.parse(
    l.exec(l.trackerNs, [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:6969/stats.json').then((r) => r.text()).then((t) => process.stdout.write(t))",
    ]),
  ) as T
}
