import type { ChildProcess } from 'node:child_process'

/** One line a lab child printed: its JSON object, or `{ event: 'text', text }` for anything else. */
export type Line = Record<string, unknown> & { event: string }

export interface ChildLines {
  /** Every line so far, in order. */
  seen: Line[]
  /** Resolves with the first line (seen or still to come) matching `pred`; rejects after `ms`. */
  wait(pred: (l: Line) => boolean, ms?: number): Promise<Line>
  /** The last 4,000 characters the child wrote to stderr. */
  stderr(): string
}

/** Collects a lab child's stdout lines (JSON or text) and keeps the tail of its stderr for errors. */
export function lines(child: ChildProcess): ChildLines {
  const seen: Line[] = []
  let buf = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString()
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const l = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      const line: Line = l.startsWith('{') ? (JSON.parse(l) as Line) : { event: 'text', text: l }
      seen.push(line)
      for (const w of [...waiters]) w()
    }
  })
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000)
  })
  return {
    seen,
    stderr: () => err,
    wait(pred, ms = 20_000) {
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
              `no matching line in ${ms} ms; seen ${JSON.stringify(seen).slice(-1500)}; stderr ${err.slice(-400)}`,
            ),
          )
        }, ms)
        waiters.add(check)
        check()
      })
    },
  }
}
