import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import bencode from 'bencode'
import {
  codeVersion,
  finish,
  libtorrentAvailable,
  loadOf,
  median,
  scratchDir,
  sleep,
  track,
  writePayload,
} from '../bench-run.js'
import { stallWatch, until } from '../bench-wait.js'
import {
  createLibtorrentTorrent,
  type LateSpan,
  minusCpu,
  startLibtorrentPair,
  timeLibtorrentDownload,
} from '../utp/lt-process.js'
import type { Cpu } from '../utp/messages.js'
import { cpuOf, type UdpCounters, udpCounters, udpDelta } from '../utp/proc.js'
import { CliProcess } from './cli-process.js'

/** The bench's scratch directory (deleted on the way out). */
let tmp: string | undefined

/**
 * Whole-torrent transfer on loopback, one seeder and one leecher process per case: punchswarm's
 * `seed`/`get` against libtorrent, each over TCP and over uTP, the four cases interleaved in every
 * round, the same libtorrent-made .torrent for all of them.
 * Usage: node dist/bench/transfer/run.js [rounds=3] [MiB=256]
 * BENCH_TRANSFER_CLI=<path> runs another punchswarm CLI entry point (default dist/client/cli/main.js).
 * BENCH_TRANSFER_CPU_PROF=<dir> runs the punchswarm seed and get processes with --cpu-prof into <dir>.
 * BENCH_TRANSFER_CASES=tcp (or utp, or "punchswarm tcp,libtorrent", ...) runs only the cases whose
 * names contain one of the comma-separated words.
 */
const CLI =
  process.env.BENCH_TRANSFER_CLI ?? fileURLToPath(new URL('../../client/cli/main.js', import.meta.url))
const MiB = 1024 * 1024
const rounds = Number(process.argv[2] ?? 3)
const mib = Number(process.argv[3] ?? 256)
const BYTES = mib * MiB
const LT_BUFFERS = 4 * MiB
/** No new bytes at the leecher for this long: the transfer stalled. */
const STALL_MS = 20_000
/** One transfer may take at most this long (1 MiB/s). */
const CAP_MS = Math.max(60_000, mib * 1000)
const FILE_NAME = 'payload.bin'

type Transport = 'tcp' | 'utp'
type CaseName = 'punchswarm TCP' | 'punchswarm uTP' | 'libtorrent TCP' | 'libtorrent uTP'

interface RunResult {
  seconds: number
  /** CPU seconds of the seeding and the leeching process over the transfer. */
  seedCpu: number
  leechCpu: number
  /** CPU seconds of the punchswarm leecher's main thread, its whole life up to `complete`. */
  leechMainCpu?: number
  udp: UdpCounters
  verified: string
  /** punchswarm leecher: spawn to its `listening` event (Node start, torrent load, listen), wall and CPU. */
  startup?: { seconds: number; cpu: number }
  /** The leecher's own `complete.seconds` (punchswarm). */
  selfReported?: number
  /** After the first quarter of the bytes (start-up, slow start and most JIT compilation behind). */
  late?: LateSpan
}

interface Failure {
  failure: string
}

const total = (c: Cpu) => c.user + c.system

/**
 * Waits until process `pid` is idle (under 10% of a core over 250 ms), so a seeder that checks its
 * data after it starts listening has finished before the clock starts. Gives up after `capMs`.
 */
async function settle(pids: number[], capMs = 120_000): Promise<void> {
  const start = performance.now()
  let before = pids.map((p) => total(cpuOf(p)))
  while (performance.now() - start < capMs) {
    await sleep(250)
    const now = pids.map((p) => total(cpuOf(p)))
    if (now.every((c, i) => c - before[i]! < 0.025)) return
    before = now
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function check(path: string, sha256: string): Promise<string> {
  if (!existsSync(path)) return `MISMATCH: ${path} missing`
  const got = await sha256Of(path)
  return got === sha256 ? 'sha256 ok' : `MISMATCH: sha256 ${got.slice(0, 12)}`
}

const transportFlag = (t: Transport) => (t === 'tcp' ? '--no-utp' : '--no-tcp')

async function punchswarmRun(
  transport: Transport,
  torrent: string,
  seedDir: string,
  sha256: string,
  label: string,
): Promise<RunResult> {
  const leechDir = join(tmp!, `leech-${label}`)
  mkdirSync(leechDir)
  const seeder = new CliProcess(
    CLI,
    [
      'seed',
      torrent,
      '--dir',
      seedDir,
      '-p',
      '0',
      '--json',
      '--no-dht',
      '--no-lsd',
      transportFlag(transport),
    ],
    tmp!,
  )
  track(seeder.child)
  let leecher: CliProcess | undefined
  try {
    await until(
      () => seeder.first('listening') !== undefined,
      () => seeder.problem('seed'),
      60_000,
    )
    const port = seeder.first('listening')!.e.port
    await settle([seeder.pid])
    if (seeder.problem('seed')) throw new Error(seeder.problem('seed'))

    const udpBefore = udpCounters()
    const seedCpu0 = cpuOf(seeder.pid)
    let seedCpu1: Cpu | undefined
    let mark: { at: number; bytes: number; seeder: Cpu; leecher: Cpu } | undefined
    const t0 = performance.now()
    const l = new CliProcess(
      CLI,
      [
        'get',
        torrent,
        '-o',
        leechDir,
        '-p',
        '0',
        '--peer',
        `127.0.0.1:${port}`,
        '--json',
        '--no-dht',
        '--no-lsd',
        transportFlag(transport),
        '--timeout',
        String(Math.ceil(CAP_MS / 1000)),
      ],
      tmp!,
      (ev) => {
        if (ev.e.event === 'complete') seedCpu1 ??= seeder.sampleCpu()
        else if (!mark && ev.e.event === 'progress' && ev.e.downloaded >= BYTES / 4 && ev.cpu) {
          const seedCpu = seeder.sampleCpu()
          if (seedCpu) mark = { at: ev.at, bytes: ev.e.downloaded, seeder: seedCpu, leecher: ev.cpu }
        }
      },
    )
    leecher = l
    track(l.child)
    l.child.once('exit', () => {
      seedCpu1 ??= seeder.sampleCpu()
    })
    const anyProgress = () => l.first('progress') !== undefined
    const stalled = stallWatch(
      () => l.last('progress')?.downloaded ?? 0,
      () => `leecher progress ${JSON.stringify(l.last('progress'))}; stderr ${l.stderr.trim().slice(-400)}`,
      STALL_MS,
      BYTES,
    )
    const stalledEarly = stallWatch(
      () => 0,
      () => 'the leecher printed no progress event',
      60_000,
      BYTES,
    )
    const done = () => l.first('complete') !== undefined || (l.gone && l.child.exitCode === 0)
    await until(
      done,
      () => seeder.problem('seed') ?? l.problem('get', true) ?? (anyProgress() ? stalled() : stalledEarly()),
      CAP_MS,
    )
    const complete = l.first('complete')
    const end = complete?.at ?? l.exitedAt!
    const leechCpu = complete?.cpu ?? l.sampleCpu()
    const udp = udpDelta(udpBefore, udpCounters())
    // Exit status after `complete`: the CLI must still exit 0 on its own.
    const exited = await l.exited(15_000)
    let verified = await check(join(leechDir, FILE_NAME), sha256)
    if (!exited) verified += '; get did not exit within 15 s of complete'
    else if (l.child.exitCode !== 0) verified += `; get exited ${l.child.exitCode ?? l.child.signalCode}`
    const seen = new Set([...l.all('peer'), ...seeder.all('peer')].map((p) => p.transport))
    if (seen.size && (seen.size > 1 || !seen.has(transport)))
      verified += `; peer transports seen: ${[...seen].join(', ')}`
    const first = l.first('listening')
    const seedEnd = seedCpu1 ?? seeder.sampleCpu()!
    return {
      seconds: (end - t0) / 1000,
      seedCpu: total(seedEnd) - total(seedCpu0),
      leechCpu: leechCpu ? total(leechCpu) : Number.NaN,
      udp,
      verified,
      ...(first?.cpu ? { startup: { seconds: (first.at - t0) / 1000, cpu: total(first.cpu) } } : {}),
      ...(complete ? { selfReported: complete.e.seconds } : {}),
      ...(complete?.mainCpu ? { leechMainCpu: total(complete.mainCpu) } : {}),
      ...(mark && complete?.cpu
        ? {
            late: {
              seconds: (complete.at - mark.at) / 1000,
              bytes: BYTES - Math.min(mark.bytes, BYTES),
              seeder: minusCpu(seedEnd, mark.seeder),
              leecher: minusCpu(complete.cpu, mark.leecher),
            },
          }
        : {}),
    }
  } finally {
    await Promise.all([seeder.stop(), leecher?.stop()])
    rmSync(leechDir, { recursive: true, force: true })
  }
}

async function libtorrentRun(
  transport: Transport,
  torrent: string,
  seedDir: string,
  sha256: string,
  label: string,
): Promise<RunResult> {
  const leechDir = join(tmp!, `leech-${label}`)
  mkdirSync(leechDir)
  const { seeder, leecher, seedPort } = await startLibtorrentPair({
    torrent,
    transport,
    buffers: LT_BUFFERS,
    seedDir,
    leechDir,
    readyMs: 60_000,
  })
  try {
    await settle([seeder.pid, leecher.pid])
    const udpBefore = udpCounters()
    const t = await timeLibtorrentDownload(seeder, leecher, {
      seedPort,
      bytes: BYTES,
      stallMs: STALL_MS,
      capMs: CAP_MS,
    })
    const udp = udpDelta(udpBefore, udpCounters())
    // libtorrent may still hold the file open with writes pending: stop it before hashing.
    await Promise.all([seeder.stop(), leecher.stop()])
    return {
      seconds: t.seconds,
      seedCpu: total(t.seeder),
      leechCpu: total(t.leecher),
      udp,
      verified: await check(join(leechDir, FILE_NAME), sha256),
      ...(t.late ? { late: t.late } : {}),
    }
  } finally {
    await Promise.all([seeder.stop(), leecher.stop()])
    rmSync(leechDir, { recursive: true, force: true })
  }
}

/** Whether the CLI has `seed` and `get` (their help names them); otherwise why not. */
function punchswarmCliProblem(): string | undefined {
  for (const sub of ['seed', 'get']) {
    let out: string
    try {
      out = execFileSync(process.execPath, [CLI, sub, '--help'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    } catch (err) {
      const e = err as { status?: number; stderr?: string; stdout?: string }
      out = `${e.stdout ?? ''}${e.stderr ?? ''}`
      if (!out.includes(`punchswarm ${sub}`))
        return `\`node ${CLI} ${sub} --help\` failed (exit ${e.status}): ${out.trim().split('\n')[0]}`
    }
    if (!out.includes(`Usage: punchswarm ${sub}`))
      return `\`node ${CLI} ${sub} --help\` does not describe \`${sub}\` (the command is not there yet)`
  }
  return undefined
}

function pieceLength(torrent: string): number {
  const t = bencode.decode(readFileSync(torrent)) as { info: { 'piece length': number } }
  return t.info['piece length']
}

const mbps = (r: RunResult) => BYTES / r.seconds / 1e6
/**
 * Like for like: libtorrent's clock starts with both sessions up and idle, so punchswarm's leaves out
 * its leecher's process start-up (spawn to `listening`: Node, module loading, binding the sockets).
 * Opening the torrent's files and connecting stay inside, as they do not for libtorrent.
 */
const transferMbps = (r: RunResult) => BYTES / (r.seconds - (r.startup?.seconds ?? 0)) / 1e6
const msPerMiB = (cpu: number) => (cpu / mib) * 1000
const pct = (cpu: number, seconds: number) => `${Math.round((cpu / seconds) * 100)}%`

const HEADER =
  '| case | transfer MB/s | MB/s with start-up | seconds | seeder CPU ms/MiB (busy) | leecher CPU ms/MiB (busy) | UDP RcvbufErrors | check |'
const RULE = '| --- | --- | --- | --- | --- | --- | --- | --- |'

function rowOf(name: string, r: RunResult | Failure): string {
  if ('failure' in r)
    return `| ${name} | FAILED | | | | | | ${r.failure.replace(/\s+/g, ' ').slice(0, 300)} |`
  return `| ${name} | ${transferMbps(r).toFixed(1)} | ${mbps(r).toFixed(1)} | ${r.seconds.toFixed(2)} | ${msPerMiB(r.seedCpu).toFixed(2)} (${pct(r.seedCpu, r.seconds)}) | ${msPerMiB(r.leechCpu).toFixed(2)} (${pct(r.leechCpu, r.seconds)}) | ${r.udp.rcvbufErrors} | ${r.verified} |`
}

async function main(): Promise<void> {
  tmp = scratchDir('punchswarm-transfer-bench-')
  const seedDir = join(tmp, 'seed')
  mkdirSync(seedDir)
  const file = join(seedDir, FILE_NAME)
  const sha256 = writePayload(file, mib)
  if (!libtorrentAvailable()) {
    console.log('python3-libtorrent is not importable: the bench needs it to make the torrent; stopping')
    process.exitCode = 1
    return
  }
  const torrent = join(tmp, 'payload.torrent')
  await createLibtorrentTorrent(file, torrent)
  const cliProblem = punchswarmCliProblem()

  type Run = (label: string) => Promise<RunResult>
  const cases: [CaseName, Run][] = []
  if (!cliProblem)
    cases.push(
      ['punchswarm TCP', (l) => punchswarmRun('tcp', torrent, seedDir, sha256, l)],
      ['punchswarm uTP', (l) => punchswarmRun('utp', torrent, seedDir, sha256, l)],
    )
  cases.push(
    ['libtorrent TCP', (l) => libtorrentRun('tcp', torrent, seedDir, sha256, l)],
    ['libtorrent uTP', (l) => libtorrentRun('utp', torrent, seedDir, sha256, l)],
  )

  // BENCH_TRANSFER_CASES keeps the cases whose names contain one of its comma-separated words.
  const only = process.env.BENCH_TRANSFER_CASES?.toLowerCase().split(',')
  if (only) {
    const keep = cases.filter(([name]) => only.some((w) => name.toLowerCase().includes(w.trim())))
    cases.splice(0, cases.length, ...keep)
  }

  console.log(
    `transfer bench: one ${mib} MiB file (random bytes), one seeder and one leecher over 127.0.0.1, ${rounds} rounds, cases interleaved; ` +
      `torrent made by libtorrent, piece length ${pieceLength(torrent) / 1024} KiB; MB = 10^6 bytes; CPU = user + system of the whole process per MiB moved, (busy) = CPU / wall time`,
  )
  console.log(
    `punchswarm: ${CLI} at ${codeVersion(join(dirname(CLI), '..', '..', '..'))}; node ${process.version}; load average before: ${loadOf()}`,
  )
  if (cliProblem) console.log(`punchswarm cases skipped: ${cliProblem}`)
  const results = new Map<CaseName, (RunResult | Failure)[]>()
  for (let round = 1; round <= rounds; round++) {
    const lines: string[] = []
    for (const [name, run] of cases) {
      let r: RunResult | Failure
      try {
        r = await run(`${round}-${name.replace(/\W+/g, '-')}`)
      } catch (err) {
        r = { failure: (err as Error).message }
      }
      results.set(name, [...(results.get(name) ?? []), r])
      lines.push(rowOf(name, r))
      await sleep(500)
    }
    console.log(`\nround ${round} (load average ${loadOf()})\n${HEADER}\n${RULE}\n${lines.join('\n')}`)
  }

  const ok = (name: CaseName) => (results.get(name) ?? []).filter((r): r is RunResult => !('failure' in r))
  console.log(`\nmedians of ${rounds} rounds\n${HEADER}\n${RULE}`)
  const med = new Map<CaseName, { mbps: number; transferMbps: number; seedCpu: number; leechCpu: number }>()
  for (const [name] of cases) {
    const rs = ok(name)
    const failed = (results.get(name)?.length ?? 0) - rs.length
    if (rs.length === 0) {
      console.log(`| ${name} | FAILED in every round | | | | | | |`)
      continue
    }
    const m = {
      mbps: median(rs.map(mbps)),
      transferMbps: median(rs.map(transferMbps)),
      seedCpu: median(rs.map((r) => msPerMiB(r.seedCpu))),
      leechCpu: median(rs.map((r) => msPerMiB(r.leechCpu))),
    }
    med.set(name, m)
    const busy = (f: (r: RunResult) => number) =>
      `${Math.round(median(rs.map((r) => f(r) / r.seconds)) * 100)}%`
    const bad = rs.filter((r) => r.verified !== 'sha256 ok')
    console.log(
      `| ${name} | ${m.transferMbps.toFixed(1)} | ${m.mbps.toFixed(1)} | ${median(rs.map((r) => r.seconds)).toFixed(2)} | ${m.seedCpu.toFixed(2)} (${busy((r) => r.seedCpu)}) | ${m.leechCpu.toFixed(2)} (${busy((r) => r.leechCpu)}) | ${median(rs.map((r) => r.udp.rcvbufErrors))} | ${bad.length ? bad.map((r) => r.verified).join('; ') : 'sha256 ok'}${failed ? `, ${failed} of ${rounds} failed` : ''} |`,
    )
  }

  console.log('\npunchswarm / libtorrent (medians)')
  const targets: string[] = []
  for (const [t, label, need] of [
    ['TCP', 'within 20% of libtorrent', 0.8],
    ['uTP', 'at least libtorrent', 1.0],
  ] as const) {
    const x = med.get(`punchswarm ${t}`)
    const y = med.get(`libtorrent ${t}`)
    if (!x || !y) {
      console.log(`${t}: no ratio (a case has no successful run)`)
      continue
    }
    const r = x.transferMbps / y.transferMbps
    console.log(
      `${t}: transfer throughput ${r.toFixed(2)}x (${(x.mbps / y.mbps).toFixed(2)}x with punchswarm's start-up), seeder CPU per MiB ${(x.seedCpu / y.seedCpu).toFixed(2)}x, leecher CPU per MiB ${(x.leechCpu / y.leechCpu).toFixed(2)}x`,
    )
    // Each round runs the cases back to back, so its ratio is the one least touched by load changes.
    const perRound = (results.get(`punchswarm ${t}`) ?? []).map((p, i) => {
      const q = results.get(`libtorrent ${t}`)?.[i]
      return !q || 'failure' in p || 'failure' in q
        ? '-'
        : `${(transferMbps(p) / transferMbps(q)).toFixed(2)}x`
    })
    console.log(`${t}: per round ${perRound.join(', ')}`)
    targets.push(
      `${t} transfer throughput ${label} (>= ${need.toFixed(2)}x): ${r >= need ? 'met' : 'not met'} (${r.toFixed(2)}x)`,
    )
  }
  for (const t of targets) console.log(`target: ${t}`)

  // Not a target: where the whole-transfer figure goes, fixed costs (start, slow start, JIT) or per byte.
  console.log(
    `\nafter the first quarter (from the first progress report at or past 25% of the bytes to the end), medians`,
  )
  console.log('| case | MB/s | seeder CPU ms/MiB | leecher CPU ms/MiB |\n| --- | --- | --- | --- |')
  const lateMedian = new Map<CaseName, number>()
  for (const [name] of cases) {
    const ls = ok(name).flatMap((r) => (r.late && r.late.seconds > 0 ? [r.late] : []))
    if (ls.length === 0) continue
    const perMiB = (c: Cpu, l: LateSpan) => (total(c) / (l.bytes / MiB)) * 1000
    const m = median(ls.map((l) => l.bytes / l.seconds / 1e6))
    lateMedian.set(name, m)
    console.log(
      `| ${name} | ${m.toFixed(1)} | ${median(ls.map((l) => perMiB(l.seeder, l))).toFixed(2)} | ${median(ls.map((l) => perMiB(l.leecher, l))).toFixed(2)} |`,
    )
  }
  for (const t of ['TCP', 'uTP'] as const) {
    const x = lateMedian.get(`punchswarm ${t}`)
    const y = lateMedian.get(`libtorrent ${t}`)
    if (x && y) console.log(`${t} after the first quarter: ${(x / y).toFixed(2)}x`)
  }

  for (const name of ['punchswarm TCP', 'punchswarm uTP'] as const) {
    const rs = ok(name)
    const st = rs.filter((r) => r.startup).map((r) => r.startup!)
    if (st.length)
      console.log(
        `${name} leecher start-up (spawn to its listening event; inside the timed span): median ${median(st.map((s) => s.seconds)).toFixed(2)} s, ${(median(st.map((s) => s.cpu)) * 1000).toFixed(0)} ms CPU; from listening to complete: ${median(rs.filter((r) => r.startup).map((r) => BYTES / (r.seconds - r.startup!.seconds) / 1e6)).toFixed(1)} MB/s`,
      )
    const main = rs.filter((r) => r.leechMainCpu !== undefined)
    if (main.length)
      console.log(
        `${name} leecher's main thread: median ${median(main.map((r) => msPerMiB(r.leechMainCpu!))).toFixed(2)} ms/MiB of CPU (of ${median(main.map((r) => msPerMiB(r.leechCpu))).toFixed(2)} for the whole process)`,
      )
    const self = rs.filter((r) => r.selfReported !== undefined).map((r) => r.selfReported!)
    if (self.length)
      console.log(`${name} leecher's own complete.seconds: median ${median(self).toFixed(2)} s`)
  }
  console.log(`load average after: ${loadOf()}`)
  for (const [name, rs] of results)
    for (const r of rs) if ('failure' in r) console.log(`FAILED ${name}: ${r.failure}`)
}

try {
  await main()
} finally {
  finish()
}
