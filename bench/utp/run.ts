import { type ChildProcess, fork } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
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
import { createLibtorrentTorrent, startLibtorrentPair, timeLibtorrentDownload } from './lt-process.js'
import type { Cpu, LinkStats, ParentMessage, Transport, WorkerConfig, WorkerMessage } from './messages.js'
import { type UdpCounters, udpCounters, udpDelta } from './proc.js'

/** The bench's scratch directory (deleted on the way out). */
let tmp: string | undefined

/**
 * uTP bulk throughput on loopback: punchswarm's uTP against Node's TCP and libtorrent's uTP, one
 * sender process and one receiver process each, the cases interleaved in every round.
 * Usage: node dist/bench/utp/run.js [rounds=3] [MiB=256]
 * BENCH_UTP_CPU_PROF=<dir> runs the punchswarm workers with --cpu-prof into <dir>.
 */
const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url))
const MiB = 1024 * 1024
const rounds = Number(process.argv[2] ?? 3)
const mib = Number(process.argv[3] ?? 256)
const BYTES = mib * MiB
const BIG_BUFFERS = 4 * MiB
/** No new bytes at the receiver for this long: the transfer stalled. */
const STALL_MS = 20_000
/** One transfer may take at most this long (1 MiB/s). */
const CAP_MS = Math.max(60_000, mib * 1000)
const PROFILE_DIR = process.env.BENCH_UTP_CPU_PROF

type CaseName = 'punchswarm uTP 4 MiB' | 'Node TCP' | 'libtorrent uTP 4 MiB' | 'punchswarm uTP default'

interface RunResult {
  seconds: number
  /** CPU seconds of the sending and the receiving process over the transfer. */
  sendCpu: number
  recvCpu: number
  /** The system-time part of sendCpu and recvCpu. */
  sendSys: number
  recvSys: number
  /** uTP packets the sender sent and the receiver received (punchswarm only). */
  packets?: { sent: number; received: number }
  retransmits?: number
  timeouts?: number
  udp: UdpCounters
  verified: string
}

interface Failure {
  failure: string
}

async function stopChild(child: ChildProcess, politely: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  if (politely && child.connected) {
    child.send({ type: 'exit' } satisfies ParentMessage)
    const timer = setTimeout(() => child.kill('SIGKILL'), PROFILE_DIR ? 15_000 : 2_000)
    await exited
    clearTimeout(timer)
    return
  }
  child.kill('SIGKILL')
  await exited
}

/** A forked worker.js and the messages it sent, with their arrival times. */
class WorkerHandle {
  readonly child: ChildProcess
  readonly messages: { m: WorkerMessage; at: number }[] = []

  constructor(readonly config: WorkerConfig) {
    this.child = fork(WORKER, [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
    })
    track(this.child)
    this.child.on('message', (m: WorkerMessage) => this.messages.push({ m, at: performance.now() }))
  }

  get gone(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null
  }

  first<T extends WorkerMessage['type']>(
    type: T,
  ): { m: Extract<WorkerMessage, { type: T }>; at: number } | undefined {
    return this.messages.find((x) => x.m.type === type) as
      | { m: Extract<WorkerMessage, { type: T }>; at: number }
      | undefined
  }

  last<T extends WorkerMessage['type']>(type: T): Extract<WorkerMessage, { type: T }> | undefined {
    return this.messages.findLast((x) => x.m.type === type)?.m as
      | Extract<WorkerMessage, { type: T }>
      | undefined
  }

  /** What went wrong, if anything: an error message from the worker or its early exit. */
  problem(): string | undefined {
    const err = this.last('error')
    if (err) return `${err.message}${err.stats ? ` stats ${JSON.stringify(err.stats)}` : ''}`
    if (this.gone)
      return `${this.config.role} worker exited (${this.child.exitCode ?? this.child.signalCode})`
    return undefined
  }

  stop(): Promise<void> {
    return stopChild(this.child, true)
  }
}

const granted = new Map<string, string>()

async function workerRun(
  name: CaseName,
  transport: Transport,
  buffers: number,
  file: string,
  sha256: string,
): Promise<RunResult> {
  const recv = new WorkerHandle({ role: 'recv', transport, bytes: BYTES, buffers })
  let send: WorkerHandle | undefined
  try {
    await until(
      () => recv.first('ready') !== undefined,
      () => recv.problem(),
      30_000,
    )
    const ready = recv.first('ready')!.m
    send = new WorkerHandle({ role: 'send', transport, file, port: ready.port!, buffers })
    const sender = send
    await until(
      () => sender.first('ready') !== undefined,
      () => sender.problem(),
      60_000,
    )
    const sendBuffers = sender.first('ready')!.m.buffers
    if (ready.buffers && sendBuffers)
      granted.set(
        name,
        `receiver SO_RCVBUF ${ready.buffers.recv}, sender SO_SNDBUF ${sendBuffers.send} (as the kernel reports them)`,
      )
    const udpBefore = udpCounters()
    const t0 = performance.now()
    sender.child.send({ type: 'go' } satisfies ParentMessage)
    const stalled = stallWatch(
      () => recv.last('progress')?.bytes ?? 0,
      () =>
        `receiver stats ${JSON.stringify(recv.last('progress')?.stats)}; sender stats ${JSON.stringify(sender.last('progress')?.stats)}`,
      STALL_MS,
      BYTES,
    )
    await until(
      () => recv.first('result') !== undefined && sender.first('sent') !== undefined,
      () => recv.problem() ?? sender.problem() ?? (recv.first('end') ? undefined : stalled()),
      CAP_MS,
    )
    const udp = udpDelta(udpBefore, udpCounters())
    const end = recv.first('end')!
    const sent = sender.first('sent')!.m
    const result = recv.first('result')!.m
    const ok = end.m.bytes === BYTES && end.m.overflow === 0 && result.sha256 === sha256
    const r: RunResult = {
      seconds: (end.at - t0) / 1000,
      sendCpu: sent.cpu.user + sent.cpu.system,
      recvCpu: end.m.cpu.user + end.m.cpu.system,
      sendSys: sent.cpu.system,
      recvSys: end.m.cpu.system,
      udp,
      verified: ok ? 'sha256 ok' : `MISMATCH: ${end.m.bytes} bytes, sha256 ${result.sha256.slice(0, 12)}`,
    }
    if (sent.stats) {
      r.retransmits = sent.stats.retransmits
      r.timeouts = sent.stats.timeouts
      r.packets = { sent: sent.stats.packetsSent, received: end.m.stats?.packetsReceived ?? Number.NaN }
      linkDetail.push({ name, sender: sent.stats, receiver: end.m.stats })
    }
    return r
  } finally {
    await Promise.all([recv.stop(), send?.stop()])
  }
}

const linkDetail: { name: string; sender: LinkStats; receiver: LinkStats | undefined }[] = []

async function libtorrentRun(torrent: string, seedDir: string, round: number): Promise<RunResult> {
  const leechDir = join(tmp!, `leech-${round}`)
  mkdirSync(leechDir)
  const { seeder, leecher, seedPort } = await startLibtorrentPair({
    torrent,
    transport: 'utp',
    buffers: BIG_BUFFERS,
    seedDir,
    leechDir,
    readyMs: 30_000,
  })
  try {
    const udpBefore = udpCounters()
    const t = await timeLibtorrentDownload(seeder, leecher, {
      seedPort,
      bytes: BYTES,
      stallMs: STALL_MS,
      capMs: CAP_MS,
    })
    return {
      seconds: t.seconds,
      sendCpu: total(t.seeder),
      recvCpu: total(t.leecher),
      sendSys: t.seeder.system,
      recvSys: t.leecher.system,
      udp: udpDelta(udpBefore, udpCounters()),
      verified: 'piece hashes',
    }
  } finally {
    await Promise.all([seeder.stop(), leecher.stop()])
    rmSync(leechDir, { recursive: true, force: true })
  }
}

const total = (c: Cpu) => c.user + c.system

const mbps = (r: RunResult) => BYTES / r.seconds / 1e6
const msPerMiB = (cpu: number) => (cpu / mib) * 1000
const pct = (cpu: number, r: RunResult) => `${Math.round((cpu / r.seconds) * 100)}%`

const HEADER =
  '| case | MB/s | seconds | sender CPU ms/MiB (busy) | receiver CPU ms/MiB (busy) | retransmits / timeouts | UDP RcvbufErrors | check |'
const RULE = '| --- | --- | --- | --- | --- | --- | --- | --- |'

function rowOf(name: string, r: RunResult | Failure): string {
  if ('failure' in r) return `| ${name} | FAILED | | | | | | ${r.failure.slice(0, 300)} |`
  const rt = r.retransmits === undefined ? '-' : `${r.retransmits} / ${r.timeouts}`
  return `| ${name} | ${mbps(r).toFixed(1)} | ${r.seconds.toFixed(2)} | ${msPerMiB(r.sendCpu).toFixed(2)} (${pct(r.sendCpu, r)}) | ${msPerMiB(r.recvCpu).toFixed(2)} (${pct(r.recvCpu, r)}) | ${rt} | ${r.udp.rcvbufErrors} | ${r.verified} |`
}

async function main(): Promise<void> {
  tmp = scratchDir('punchswarm-utp-bench-')
  const seedDir = join(tmp, 'seed')
  mkdirSync(seedDir)
  const file = join(seedDir, 'payload.bin')
  const sha256 = writePayload(file, mib)
  const withLibtorrent = libtorrentAvailable()
  const torrent = join(tmp, 'payload.torrent')
  if (withLibtorrent) await createLibtorrentTorrent(file, torrent)

  const cases: [CaseName, (round: number) => Promise<RunResult>][] = [
    ['punchswarm uTP 4 MiB', () => workerRun('punchswarm uTP 4 MiB', 'utp', BIG_BUFFERS, file, sha256)],
    ['Node TCP', () => workerRun('Node TCP', 'tcp', 0, file, sha256)],
  ]
  if (withLibtorrent) cases.push(['libtorrent uTP 4 MiB', (round) => libtorrentRun(torrent, seedDir, round)])
  cases.push(['punchswarm uTP default', () => workerRun('punchswarm uTP default', 'utp', 0, file, sha256)])

  console.log(
    `uTP bulk bench: ${mib} MiB over 127.0.0.1, ${rounds} rounds, cases interleaved; MB = 10^6 bytes; CPU = user + system of the whole process per MiB moved, (busy) = CPU / wall time`,
  )
  console.log(
    `code: ${codeVersion(fileURLToPath(new URL('../../../', import.meta.url)))}; load average before: ${loadOf()}`,
  )
  if (!withLibtorrent) console.log('python3-libtorrent not importable: the libtorrent case is skipped')
  const results = new Map<CaseName, (RunResult | Failure)[]>()
  for (let round = 1; round <= rounds; round++) {
    const lines: string[] = []
    for (const [name, run] of cases) {
      let r: RunResult | Failure
      try {
        r = await run(round)
      } catch (err) {
        r = { failure: (err as Error).message }
      }
      results.set(name, [...(results.get(name) ?? []), r])
      lines.push(rowOf(name, r))
      await sleep(500)
    }
    console.log(`\nround ${round}\n${HEADER}\n${RULE}\n${lines.join('\n')}`)
  }

  const ok = (name: CaseName) => (results.get(name) ?? []).filter((r): r is RunResult => !('failure' in r))
  console.log(`\nmedians of ${rounds} rounds\n${HEADER}\n${RULE}`)
  const med = new Map<CaseName, { mbps: number; sendCpu: number; recvCpu: number }>()
  for (const [name] of cases) {
    const rs = ok(name)
    const failed = (results.get(name)?.length ?? 0) - rs.length
    if (rs.length === 0) {
      console.log(`| ${name} | FAILED in every round | | | | | | |`)
      continue
    }
    const m = {
      mbps: median(rs.map(mbps)),
      sendCpu: median(rs.map((r) => msPerMiB(r.sendCpu))),
      recvCpu: median(rs.map((r) => msPerMiB(r.recvCpu))),
    }
    med.set(name, m)
    const rt = rs[0]!.retransmits === undefined
    console.log(
      `| ${name} | ${m.mbps.toFixed(1)} | ${median(rs.map((r) => r.seconds)).toFixed(2)} | ${m.sendCpu.toFixed(2)} (${Math.round(median(rs.map((r) => r.sendCpu / r.seconds)) * 100)}%) | ${m.recvCpu.toFixed(2)} (${Math.round(median(rs.map((r) => r.recvCpu / r.seconds)) * 100)}%) | ${rt ? '-' : `${median(rs.map((r) => r.retransmits!))} / ${median(rs.map((r) => r.timeouts!))}`} | ${median(rs.map((r) => r.udp.rcvbufErrors))} | ${rs.every((r) => !r.verified.startsWith('MISMATCH')) ? rs[0]!.verified : 'MISMATCH'}${failed ? `, ${failed} failed` : ''} |`,
    )
  }
  const ratio = (a: CaseName, b: CaseName) => {
    const x = med.get(a)
    const y = med.get(b)
    if (!x || !y) return
    console.log(
      `${a} / ${b}: throughput ${(x.mbps / y.mbps).toFixed(2)}x, sender CPU per MiB ${(x.sendCpu / y.sendCpu).toFixed(2)}x, receiver CPU per MiB ${(x.recvCpu / y.recvCpu).toFixed(2)}x`,
    )
  }
  console.log('')
  ratio('punchswarm uTP 4 MiB', 'Node TCP')
  ratio('punchswarm uTP 4 MiB', 'libtorrent uTP 4 MiB')
  ratio('punchswarm uTP 4 MiB', 'punchswarm uTP default')
  console.log('\nwhere the CPU goes (medians): system share of CPU time; CPU per uTP packet')
  for (const [name] of cases) {
    const rs = ok(name)
    if (rs.length === 0) continue
    const sys = `system ${Math.round(median(rs.map((r) => r.sendSys / r.sendCpu)) * 100)}% sender, ${Math.round(median(rs.map((r) => r.recvSys / r.recvCpu)) * 100)}% receiver`
    const perPacket = rs[0]!.packets
      ? `; ${median(rs.map((r) => (r.sendCpu / r.packets!.sent) * 1e6)).toFixed(1)} us per packet sent, ${median(rs.map((r) => (r.recvCpu / r.packets!.received) * 1e6)).toFixed(1)} us per packet received (${median(rs.map((r) => r.packets!.sent))} packets)`
      : ''
    console.log(`${name}: ${sys}${perPacket}`)
  }
  for (const [name, g] of granted) console.log(`${name}: ${g}`)
  const last = linkDetail.findLast((d) => d.name === 'punchswarm uTP 4 MiB')
  if (last)
    console.log(
      `last punchswarm uTP 4 MiB run, sender stats ${JSON.stringify(last.sender)}, receiver stats ${JSON.stringify(last.receiver)}`,
    )
  for (const d of linkDetail)
    if (d.sender.timeouts > 0)
      console.log(
        `${d.name} run with a retransmission timeout: sender stats ${JSON.stringify(d.sender)}, receiver stats ${JSON.stringify(d.receiver)}`,
      )
  console.log(`load average after: ${loadOf()}`)
  for (const [name, rs] of results)
    for (const r of rs) if ('failure' in r) console.log(`FAILED ${name}: ${r.failure}`)
}

try {
  await main()
} finally {
  finish()
}
