import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { PunchOptions } from '../../protocol/punch/punch-plan.js'
import { isRoot } from '../../test/helpers/require-tool.js'
import { type ChildLines, type Line, lines } from '../../test/natlab/lab/child-lines.js'
import { startLabTracker } from '../../test/natlab/lab/lab-tracker.js'
import { createLab, type Lab, type SiteKind } from '../../test/natlab/lab/netns-lab.js'
import { onExit } from '../on-exit.js'
import { fmt, quantile } from '../quantile.js'
import type { AgentCommand } from './agent-messages.js'

/**
 * Hole punching through real Linux NAT (the NAT lab: network namespaces, iptables), per pair of NAT
 * classes: success rate, time from the connect-request to the first uTP byte over the punched path,
 * and the punch time after the push arrives, in milliseconds and in round trips of the path.
 * Every attempt is a fresh peer on a fresh UDP socket at both ends, so a fresh punch through both NATs.
 * Usage (root): node dist/bench/punch/run.js [attempts=50] [seconds per pair=90] [pair filter]
 * BENCH_PUNCH_OPTIONS='{"lowTtlRounds":1}' runs every peer with those PunchOptions instead of the defaults.
 */
const AGENT = fileURLToPath(new URL('./punch-agent.js', import.meta.url))
const attemptsWanted = Number(process.argv[2] ?? 50)
const pairBudgetMs = Number(process.argv[3] ?? 90) * 1000
const filter = process.argv[4]
const punch = process.env.BENCH_PUNCH_OPTIONS
  ? (JSON.parse(process.env.BENCH_PUNCH_OPTIONS) as PunchOptions)
  : undefined
/** Peers prepared (announced, classified, registered) ahead of the punch being measured. */
const PREPARE_AHEAD = 4
/** The tracker allows 5 connect-requests a second from one address: stay under it. */
const CONNECT_SPACING_MS = 250
/** One attempt's longest wait: the connect-request's 15 s, uTP's 10 s, and some. */
const ATTEMPT_TIMEOUT_MS = 30_000

interface Pair {
  requester: SiteKind
  target: SiteKind
  /** What the attempts should end in. */
  expect: 'punch' | 'needs-relay'
}

const PAIRS: Pair[] = [
  { requester: 'cone', target: 'cone', expect: 'punch' },
  { requester: 'cone', target: 'public', expect: 'punch' },
  { requester: 'public', target: 'cone', expect: 'punch' },
  { requester: 'cone', target: 'symmetric', expect: 'punch' },
  { requester: 'symmetric', target: 'cone', expect: 'punch' },
  { requester: 'symmetric', target: 'symmetric', expect: 'needs-relay' },
]
const pairName = (p: Pair) => `${p.requester} -> ${p.target}`

interface Outcome {
  ok: boolean
  code?: string
  /** connect-request sent -> first uTP byte received (requester clock), ms. */
  firstByteMs?: number
  /** push arrived at the target -> both sides settled, ms. */
  afterPushMs?: number
  /** the path's round trip, from the uTP handshake (SYN -> STATE) on the punched path, ms. */
  rttMs?: number
  trackerRttMs?: number
}

interface PairResult {
  pair: Pair
  natClasses: string
  attempts: Outcome[]
  seconds: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// The lab in use is destroyed on every way out, Ctrl-C included: no namespace is left behind.
let current: Lab | undefined
const cleanup = () => {
  current?.destroy()
  current = undefined
}
onExit(cleanup)

/** One agent process in a site's namespace, driven over stdin. */
function agent(lab: Lab, ns: string): { child: ChildProcess; out: ChildLines; send(c: AgentCommand): void } {
  const child = lab.spawn(ns, [process.execPath, AGENT], { stdin: true })
  return { child, out: lines(child), send: (c) => child.stdin!.write(`${JSON.stringify(c)}\n`) }
}

const forId = (id: number, event: string) => (l: Line) => l.id === id && l.event === event

async function runPair(pair: Pair): Promise<PairResult> {
  const started = performance.now()
  const lab = createLab([
    { name: 'r', kind: pair.requester },
    { name: 't', kind: pair.target },
  ])
  current = lab
  try {
    const tracker = await startLabTracker(lab)
    const requester = agent(lab, lab.sites.get('r')!.hostNs)
    const target = agent(lab, lab.sites.get('t')!.hostNs)
    const infoHash = randomBytes(20).toString('hex')
    const peerIds = new Map<number, string>()
    const prepare = (id: number) => {
      const targetId = randomBytes(20).toString('hex')
      peerIds.set(id, targetId)
      target.send({ op: 'prepare', id, role: 'target', tracker, infoHash, peerId: targetId, punch })
      requester.send({
        op: 'prepare',
        id,
        role: 'requester',
        tracker,
        infoHash,
        peerId: randomBytes(20).toString('hex'),
        punch,
      })
    }
    // An agent that does not answer in time fails that attempt, not the run.
    const ready = (who: typeof target, id: number) =>
      who.out
        .wait((l) => l.id === id && (l.event === 'ready' || l.event === 'prepareFailed'), 20_000)
        .catch((err: Error) => ({ event: 'prepareFailed', id, message: err.message.slice(0, 80) }) as Line)
    const outcomes: Outcome[] = []
    const classes = new Set<string>()
    let lastConnect = 0
    for (let id = 0; id < Math.min(PREPARE_AHEAD, attemptsWanted); id++) prepare(id)
    for (let id = 0; id < attemptsWanted && performance.now() - started < pairBudgetMs; id++) {
      const [r, t] = await Promise.all([ready(requester, id), ready(target, id)])
      if (id + PREPARE_AHEAD < attemptsWanted) prepare(id + PREPARE_AHEAD)
      if (r.event !== 'ready' || t.event !== 'ready') {
        outcomes.push({ ok: false, code: `PREPARE: ${String(r.message ?? t.message)}` })
        continue
      }
      classes.add(`${r.natClass} -> ${t.natClass}`)
      await sleep(Math.max(0, lastConnect + CONNECT_SPACING_MS - performance.now()))
      lastConnect = performance.now()
      requester.send({ op: 'connect', id, infoHash, targetPeerId: peerIds.get(id)! })
      const res = await requester.out
        .wait(forId(id, 'result'), ATTEMPT_TIMEOUT_MS)
        .catch(() => ({ event: 'result', id, ok: false, code: 'NO_RESULT' }) as Line)
      // The target settles before the requester hears its answer; give its line a moment to arrive.
      const targetPunched =
        res.tPunched === undefined
          ? undefined
          : await target.out
              .wait((l) => l.id === id && (l.event === 'punched' || l.event === 'punchFailed'), 2_000)
              .catch(() => undefined)
      const push = target.out.seen.find(forId(id, 'push'))
      const o: Outcome = { ok: res.ok === true, code: res.code as string | undefined }
      if (o.ok) {
        o.firstByteMs = (res.tFirstByte as number) - (res.t0 as number)
        o.rttMs = res.utpRttMs as number
        o.trackerRttMs = res.trackerRttMs as number
        if (push && targetPunched?.event === 'punched') {
          o.afterPushMs = Math.max(res.tPunched as number, targetPunched.t as number) - (push.t as number)
        }
      }
      outcomes.push(o)
      requester.send({ op: 'close', id })
      target.send({ op: 'close', id })
    }
    requester.child.stdin!.end()
    target.child.stdin!.end()
    return {
      pair,
      natClasses: [...classes].join(', '),
      attempts: outcomes,
      seconds: (performance.now() - started) / 1000,
    }
  } finally {
    lab.destroy()
    current = undefined
  }
}

function summarize(r: PairResult) {
  const ok = r.attempts.filter((a) => a.ok)
  const relay = r.attempts.filter((a) => a.code === 'PUNCH_NEEDS_RELAY')
  const firstByte = ok.map((a) => a.firstByteMs!)
  const afterPush = ok.filter((a) => a.afterPushMs !== undefined).map((a) => a.afterPushMs!)
  const rtts = ok.map((a) => a.rttMs!)
  const inRtts = ok
    .filter((a) => a.afterPushMs !== undefined && a.rttMs! > 0)
    .map((a) => a.afterPushMs! / a.rttMs!)
  const failures = new Map<string, number>()
  for (const a of r.attempts)
    if (!a.ok) failures.set(a.code ?? 'unknown', (failures.get(a.code ?? 'unknown') ?? 0) + 1)
  return {
    n: r.attempts.length,
    ok: ok.length,
    relay: relay.length,
    within10s: firstByte.filter((x) => x <= 10_000).length,
    firstByte,
    afterPush,
    rtts,
    inRtts,
    trackerRtt: ok.map((a) => a.trackerRttMs!),
    failures,
  }
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.error('bench/punch needs root (network namespaces and iptables); run it as root')
    process.exit(2)
  }
  const pairs = PAIRS.filter((p) => !filter || pairName(p).replace(/ /g, '').includes(filter))
  console.log(
    `punch bench: NAT lab (Linux MASQUERADE = cone, --random-fully = symmetric), ${attemptsWanted} attempts per pair, at most ${pairBudgetMs / 1000} s per pair; fresh peers and sockets per attempt; punch options ${punch ? JSON.stringify(punch) : 'default'}; node ${process.version}; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  )
  const results: PairResult[] = []
  for (const pair of pairs) {
    const r = await runPair(pair)
    results.push(r)
    const s = summarize(r)
    console.log(
      `${pairName(pair)}: ${s.n} attempts in ${r.seconds.toFixed(0)} s, ${s.ok} punched, ${s.relay} needs-relay; failures ${JSON.stringify(Object.fromEntries(s.failures))}`,
    )
  }
  console.log(
    '\n| pair (requester -> target) | classes seen | attempts | success | connect-request -> first uTP byte p50 / p95 ms | punch after push p50 / p95 ms | path RTT p50 ms | punch after push p50 RTTs | tracker RTT p50 ms |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  const targets: string[] = []
  for (const r of results) {
    const s = summarize(r)
    const rate = r.pair.expect === 'punch' ? s.ok / s.n : s.relay / s.n
    const success =
      r.pair.expect === 'punch' ? `${fmt(100 * rate)}%` : `${fmt(100 * rate)}% reported needs-relay`
    console.log(
      `| ${pairName(r.pair)} | ${r.natClasses} | ${s.n} | ${success} | ${fmt(quantile(s.firstByte, 0.5))} / ${fmt(quantile(s.firstByte, 0.95))} | ${fmt(quantile(s.afterPush, 0.5))} / ${fmt(quantile(s.afterPush, 0.95))} | ${fmt(quantile(s.rtts, 0.5), 2)} | ${fmt(quantile(s.inRtts, 0.5))} | ${fmt(quantile(s.trackerRtt, 0.5), 1)} |`,
    )
    const met = (b: boolean) => (b ? 'met' : 'NOT met')
    if (r.pair.expect === 'needs-relay') {
      targets.push(
        `${pairName(r.pair)}: reported as needing a relay: ${met(rate === 1)} (${fmt(100 * rate)}%)`,
      )
    } else if (r.pair.requester === 'symmetric' || r.pair.target === 'symmetric') {
      targets.push(
        `${pairName(r.pair)}: >= 95% within 10 s: ${met(s.within10s / s.n >= 0.95)} (${fmt((100 * s.within10s) / s.n)}%)`,
      )
    } else {
      targets.push(`${pairName(r.pair)}: 100%: ${met(rate === 1)} (${fmt(100 * rate)}%)`)
    }
    if (r.pair.expect === 'punch') {
      const rtts = quantile(s.inRtts, 0.5)
      targets.push(
        `${pairName(r.pair)}: median punch under 2 round trips after the push: ${met(rtts < 2)} (${fmt(rtts)})`,
      )
    }
  }
  console.log('\ntargets')
  for (const t of targets) console.log(t)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    cleanup()
    process.exit(1)
  },
)
