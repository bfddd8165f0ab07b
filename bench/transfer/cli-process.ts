import { type ChildProcess, spawn } from 'node:child_process'
import type { Cpu } from '../utp/messages.js'
import { cpuOf } from '../utp/proc.js'

/** What `punchswarm seed|get --json` prints, one object per line. */
export type CliEvent =
  | { event: 'listening'; port: number }
  | { event: 'magnet'; uri: string }
  | {
      event: 'progress'
      percent: number
      downloaded: number
      uploaded: number
      downRate: number
      upRate: number
      peers: number
    }
  | { event: 'peer'; address: string; transport: 'tcp' | 'utp' }
  | { event: 'complete'; seconds: number }
  | { event: 'error'; code: string; message: string }

export interface Timed<E> {
  e: E
  /** performance.now() when the line arrived. */
  at: number
  /** The process's CPU time when the line arrived (read from /proc at once, while it is alive). */
  cpu: Cpu | undefined
  /** The same for the process's main thread alone (Node's event loop, where the JavaScript runs). */
  mainCpu: Cpu | undefined
}

/**
 * One `node dist/client/cli/main.js ...` child speaking `--json`: its events with arrival times and
 * CPU readings, its stderr, and how it ended. `stop()` sends SIGTERM, then SIGKILL after a grace.
 */
export class CliProcess {
  readonly child: ChildProcess
  readonly events: Timed<CliEvent>[] = []
  /** stdout lines that were not JSON (kept for error reports). */
  readonly otherLines: string[] = []
  readonly startedAt = performance.now()
  exitedAt: number | undefined
  /** The first and the latest stderr output (an error's message comes first, its stack after). */
  private stderrHead = ''
  private stderrTail = ''
  private stderrLength = 0
  private lastCpu: Cpu | undefined

  constructor(
    cli: string,
    args: string[],
    cwd: string,
    private readonly onEvent?: (ev: Timed<CliEvent>) => void,
  ) {
    const prof = process.env.BENCH_TRANSFER_CPU_PROF
    const node = prof
      ? ['--cpu-prof', `--cpu-prof-dir=${prof}`, `--cpu-prof-name=${args[0]}-${Date.now()}.cpuprofile`]
      : []
    this.child = spawn(process.execPath, [...node, cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let buf = ''
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim()
        buf = buf.slice(nl + 1)
        if (!line) continue
        let e: CliEvent
        try {
          e = JSON.parse(line) as CliEvent
        } catch {
          if (this.otherLines.length < 20) this.otherLines.push(line)
          continue
        }
        const ev = { e, at: performance.now(), cpu: this.sampleCpu(), mainCpu: this.sampleMainCpu() }
        this.events.push(ev)
        this.onEvent?.(ev)
      }
    })
    this.child.stderr!.on('data', (d: Buffer) => {
      const s = d.toString()
      this.stderrLength += s.length
      if (this.stderrHead.length < 600) this.stderrHead += s.slice(0, 600 - this.stderrHead.length)
      this.stderrTail = (this.stderrTail + s).slice(-600)
    })
    this.child.once('exit', () => {
      this.exitedAt = performance.now()
    })
  }

  get pid(): number {
    return this.child.pid!
  }

  get gone(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null
  }

  /** stderr as written, or its first and last 600 characters when it is longer than 1,200. */
  get stderr(): string {
    const n = this.stderrLength
    if (n <= 600) return this.stderrHead
    if (n <= 1200) return this.stderrHead + this.stderrTail.slice(1200 - n)
    return `${this.stderrHead} ... ${this.stderrTail}`
  }

  /** CPU used so far; once the process is gone, the last reading taken. */
  sampleCpu(): Cpu | undefined {
    try {
      this.lastCpu = cpuOf(this.pid)
    } catch {}
    return this.lastCpu
  }

  /** CPU used so far by the main thread; undefined once the process is gone. */
  sampleMainCpu(): Cpu | undefined {
    try {
      return cpuOf(this.pid, this.pid)
    } catch {
      return undefined
    }
  }

  first<T extends CliEvent['event']>(type: T): Timed<Extract<CliEvent, { event: T }>> | undefined {
    return this.events.find((x) => x.e.event === type) as Timed<Extract<CliEvent, { event: T }>> | undefined
  }

  last<T extends CliEvent['event']>(type: T): Extract<CliEvent, { event: T }> | undefined {
    return this.events.findLast((x) => x.e.event === type)?.e as Extract<CliEvent, { event: T }> | undefined
  }

  all<T extends CliEvent['event']>(type: T): Extract<CliEvent, { event: T }>[] {
    return this.events.filter((x) => x.e.event === type).map((x) => x.e) as Extract<CliEvent, { event: T }>[]
  }

  /** An error event, or an exit before `okExit` allowed it; with the stderr tail. */
  problem(name: string, okExit = false): string | undefined {
    const err = this.last('error')
    if (err) return `${name}: error event ${JSON.stringify(err)}; stderr: ${this.stderr.trim()}`
    if (this.gone && !(okExit && this.child.exitCode === 0))
      return `${name} exited (${this.child.exitCode ?? this.child.signalCode}); stderr: ${this.stderr.trim() || '(none)'}${this.otherLines.length ? `; stdout: ${this.otherLines.join(' | ').slice(0, 400)}` : ''}`
    return undefined
  }

  /** Resolves once the process has exited (or after `ms`, with false). */
  exited(ms: number): Promise<boolean> {
    if (this.gone) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms)
      this.child.once('exit', () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  /** SIGTERM (the CLI's orderly stop), SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.gone) return
    const exited = new Promise((r) => this.child.once('exit', r))
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
}
