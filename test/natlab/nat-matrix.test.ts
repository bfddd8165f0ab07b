import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { isRoot, prerequisite } from '../helpers/require-tool.js'
import { runPair, startLabTracker, trackerStats } from './lab/lab-process.js'
import { type MatrixCell, renderMatrix } from './lab/nat-matrix-report.js'
import { createLab, type Lab, type SiteSpec } from './lab/netns-lab.js'

const gate = prerequisite('root (network namespaces and iptables)', isRoot())
const MATRIX_DOC = fileURLToPath(new URL('../../docs/nat-matrix.md', import.meta.url))
const BYTES = 256 * 1024
/** Pairs punched at once: enough to bound the run, few enough for a busy 2-core machine. */
const CONCURRENCY = 3

/** One lab for every pair. Requesters use a site's `1`, targets its `2`, so like meets like across two routers. */
const SITES: SiteSpec[] = [
  { name: 'public1', kind: 'public' },
  { name: 'public2', kind: 'public' },
  { name: 'cone1', kind: 'cone' },
  { name: 'cone2', kind: 'cone' },
  { name: 'symmetric1', kind: 'symmetric' },
  { name: 'symmetric2', kind: 'symmetric' },
  { name: 'firewall1', kind: 'firewall' },
  { name: 'firewall2', kind: 'firewall' },
  { name: 'lan1', kind: 'cone' },
  { name: 'lan2', behind: 'lan1' },
  { name: 'noudp', kind: 'cone', blockUdp: true },
  { name: 'lossy', kind: 'cone', loss: 0.05 },
  { name: 'slow', kind: 'cone', uplinkMbit: 8 },
]

/** What each site must classify itself as. */
const CLASS_OF: Record<string, string> = {
  public: 'public',
  cone: 'cone',
  symmetric: 'symmetric',
  firewall: 'firewalled',
  lan: 'cone',
  noudp: 'blocked',
  lossy: 'cone',
  slow: 'cone',
}
const LABEL: Record<string, string> = {
  public: 'public',
  cone: 'cone NAT',
  symmetric: 'symmetric NAT',
  firewall: 'firewall, no NAT',
  lan: 'same NAT',
  noudp: 'UDP blocked',
  lossy: 'cone, 5 % loss',
  slow: 'cone, 8 Mbit/s uplink',
}

interface Expectation {
  requester: string
  target: string
  /** The requester's strategy when it connects, or the error code it ends with. */
  expect: { connects: true; strategy: string } | { connects: false; code: string }
}

const connects = (strategy: string) => ({ connects: true as const, strategy })
const relay = (code: string) => ({ connects: false as const, code })

/** The expectations, written out (not derived from the code under test). */
const STRATEGY: Record<string, Record<string, string | null>> = {
  // requester → target: strategy, or null for "needs relay"
  public: { public: 'direct', cone: 'simultaneous', symmetric: 'direct', firewall: 'simultaneous' },
  cone: { public: 'direct', cone: 'simultaneous', symmetric: 'birthday-ports', firewall: 'simultaneous' },
  symmetric: { public: 'direct', cone: 'birthday-sockets', symmetric: null, firewall: 'birthday-sockets' },
  firewall: { public: 'direct', cone: 'simultaneous', symmetric: 'birthday-ports', firewall: 'simultaneous' },
}
const CORE = Object.keys(STRATEGY)
const PAIRS: Expectation[] = [
  ...CORE.flatMap((r) =>
    CORE.map((t) => {
      const s = STRATEGY[r]![t]!
      return { requester: `${r}1`, target: `${t}2`, expect: s ? connects(s) : relay('PUNCH_NEEDS_RELAY') }
    }),
  ),
  { requester: 'lan1', target: 'lan2', expect: connects('lan-first') },
  { requester: 'noudp', target: 'cone2', expect: relay('PUNCH_NEEDS_RELAY') },
  // A peer without UDP cannot register, so the tracker does not know it: the requester is told so.
  { requester: 'cone1', target: 'noudp', expect: relay('PUNCH_TARGET_UNKNOWN') },
  { requester: 'lossy', target: 'cone2', expect: connects('simultaneous') },
  { requester: 'cone1', target: 'lossy', expect: connects('simultaneous') },
  { requester: 'slow', target: 'cone2', expect: connects('simultaneous') },
  { requester: 'cone1', target: 'slow', expect: connects('simultaneous') },
]

/** `PUNCHSWARM_NAT_MATRIX_PAIRS=cone1>symmetric2,lossy>cone2` runs only those pairs (for debugging). */
const only = process.env.PUNCHSWARM_NAT_MATRIX_PAIRS?.split(',')
const RUN = only ? PAIRS.filter((p) => only.includes(`${p.requester}>${p.target}`)) : PAIRS

const scenarioOf = (site: string) => site.replace(/[12]$/, '')

let lab: Lab | undefined
const lossy = (name: string) => SITES.some((s) => s.name === name && 'loss' in s && s.loss !== undefined)
afterAll(() => lab?.destroy())

describe.skipIf(gate.skip)('NAT connectivity matrix (network namespaces)', () => {
  it('every pair with a cone, firewall or public peer connects over uTP; symmetric pairs and blocked UDP need a relay', async () => {
    const started = performance.now()
    lab = createLab(SITES)
    const announce = await startLabTracker(lab)
    const cells = new Map<Expectation, MatrixCell>()
    /** The requester's last lines per pair, for a failure message. */
    const tails = new Map<Expectation, string>()
    /** Where each requester's punch landed. */
    const paths = new Map<Expectation, string>()
    const queue = [...RUN]
    const worker = async () => {
      for (let p = queue.shift(); p; p = queue.shift()) {
        let run = await runPair(lab!, announce, p.requester, p.target, BYTES)
        // Through a lossy router a punch may, rarely, time out; a client then sends a new
        // connect-request (the swarm's reconnect does), so the matrix allows one, and says so.
        const timedOut = (r: typeof run) => r.done.code === 'PUNCH_TIMEOUT'
        const retried = timedOut(run) && (lossy(p.requester) || lossy(p.target))
        if (retried) run = await runPair(lab!, announce, p.requester, p.target, BYTES)
        const classified = (l: { seen: { event: string; natClass?: unknown }[] }) =>
          String(l.seen.find((e) => e.event === 'classified')?.natClass ?? 'unknown')
        const punched = run.requester.seen.find((e) => e.event === 'punched')
        const ok = run.done.event === 'done' && run.done.match === true
        const code = String(run.done.code ?? run.done.message ?? '')
        tails.set(
          p,
          `requester ${JSON.stringify(run.requester.seen.slice(-3))}, target ${JSON.stringify(run.target.seen.slice(-3))}`,
        )
        paths.set(p, String((punched?.address as { address?: string } | undefined)?.address))
        cells.set(p, {
          requester: LABEL[scenarioOf(p.requester)]!,
          target: LABEL[scenarioOf(p.target)]!,
          requesterClass: classified(run.requester),
          targetClass: classified(run.target),
          outcome: ok
            ? 'connected'
            : code === 'PUNCH_NEEDS_RELAY' || code === 'PUNCH_TARGET_UNKNOWN'
              ? 'needs relay'
              : 'failed',
          strategy: ok ? String(punched?.strategy) : code,
          punchMs: typeof punched?.ms === 'number' ? punched.ms : undefined,
          firstByteMs: typeof run.done.firstByteMs === 'number' ? run.done.firstByteMs : undefined,
          ...(p.target === 'noudp' ? { note: 'target cannot register' } : {}),
          ...(retried ? { note: 'second connect-request (the first timed out)' } : {}),
        })
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const seconds = Math.round((performance.now() - started) / 1000)
    const ordered = RUN.map((p) => cells.get(p)!)
    if (process.env.PUNCHSWARM_WRITE_NAT_MATRIX === '1' && !only) {
      writeFileSync(
        MATRIX_DOC,
        renderMatrix(ordered, { date: new Date().toISOString().slice(0, 10), seconds, bytes: BYTES }),
      )
    }
    console.log(`NAT matrix: ${RUN.length} pairs in ${seconds} s`)
    // Every peer classified itself right, and every pair ended as the issue expects.
    const failures: string[] = []
    RUN.forEach((p, i) => {
      const c = ordered[i]!
      const want = p.expect.connects
        ? { outcome: 'connected', strategy: p.expect.strategy }
        : { outcome: 'needs relay', strategy: p.expect.code }
      const classes = `${CLASS_OF[scenarioOf(p.requester)]} → ${CLASS_OF[scenarioOf(p.target)]}`
      const got = { outcome: c.outcome, strategy: c.strategy }
      if (
        `${c.requesterClass} → ${c.targetClass}` !== classes ||
        got.outcome !== want.outcome ||
        got.strategy !== want.strategy
      ) {
        failures.push(
          `${p.requester} → ${p.target}: want ${classes} ${JSON.stringify(want)}, got ${c.requesterClass} → ${c.targetClass} ${JSON.stringify(got)}; last lines ${tails.get(p)}`,
        )
      }
    })
    expect(failures).toEqual([])
    // Behind one NAT that does not hairpin, the path is the LAN: the other host's own address.
    const lanPair = RUN.find((p) => p.target === 'lan2')
    if (lanPair) expect(paths.get(lanPair)).toBe(lab.sites.get('lan2')!.hostIp)
    // The tracker counted a successful punch for every connected pair.
    const connected = ordered.filter((c) => c.outcome === 'connected').length
    const { punches } = trackerStats(lab)
    expect(punches.success).toBeGreaterThanOrEqual(connected)
    expect(punches.attempt).toBeGreaterThanOrEqual(punches.success)
  }, 290_000)
})
