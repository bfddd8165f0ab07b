import { type Attempt, percentiles } from './punch-attempt.js'

const byClass = new Map<string, { ok: number; total: number; rtts: number[] }>()

/** Notes one attempt's outcome and punch time (in round trips of its path) under `label`. */
export function recordFigures(label: string, a: Attempt): void {
  const row = byClass.get(label) ?? { ok: 0, total: 0, rtts: [] }
  byClass.set(label, row)
  row.total++
  if (!a.ok) return
  row.ok++
  if (a.punchMs !== undefined) row.rtts.push(a.punchMs / a.sim.rttMs)
}

/**
 * With PUNCH_SIM_FIGURES=1, prints success rates and median / p95 punch times (from the push
 * reaching the target until both sides punched) per label: the figures in docs/punch-simulation.md.
 */
export function reportFigures(title: string): void {
  if (!process.env.PUNCH_SIM_FIGURES) return
  const lines = [
    title,
    '| pair | punched | median RTTs | p95 RTTs | max RTTs |',
    '| --- | --- | --- | --- | --- |',
  ]
  for (const [label, r] of byClass) {
    const p = r.rtts.length ? percentiles(r.rtts) : undefined
    const fmt = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(2))
    const max = r.rtts.length ? Math.max(...r.rtts) : undefined
    lines.push(`| ${label} | ${r.ok}/${r.total} | ${fmt(p?.median)} | ${fmt(p?.p95)} | ${fmt(max)} |`)
  }
  byClass.clear()
  console.log(lines.join('\n'))
}
