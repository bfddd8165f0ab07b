import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Cpu } from './messages.js'
import { cpuOf } from './proc.js'

/**
 * test/interop/libtorrent/lt-peer.py, spawned directly so the bench knows its PID (for CPU time and
 * for killing it). test/helpers/libtorrent-peer.ts resolves the driver next to itself, which from
 * dist/ is a path tsc does not copy to, so this wrapper points at the source tree.
 */
const DRIVER = fileURLToPath(new URL('../../../test/interop/libtorrent/lt-peer.py', import.meta.url))
const PYTHON = '/usr/bin/python3'

export interface LtOptions {
  torrent: string
  save: string
  seed?: boolean
  utp?: boolean
  tcp?: boolean
  buffers?: number
}

export type LtEvent = { event: string; [k: string]: unknown }

export class LtProcess {
  readonly events: LtEvent[] = []
  /** performance.now() when each event arrived, index for index. */
  readonly times: number[] = []
  private readonly waiters = new Set<() => void>()
  private stderr = ''

  private constructor(readonly child: ChildProcess) {
    let buf = ''
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        try {
          this.events.push(JSON.parse(line) as LtEvent)
          this.times.push(performance.now())
        } catch {
          continue
        }
        for (const w of [...this.waiters]) w()
      }
    })
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString()
    })
    child.on('exit', () => {
      for (const w of [...this.waiters]) w()
    })
  }

  static start(options: LtOptions): LtProcess {
    return new LtProcess(
      spawn(PYTHON, [DRIVER, JSON.stringify({ action: 'run', ...options })], {
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    )
  }

  /** Makes a .torrent of `path` with libtorrent itself (no trackers; peers are connected by hand). */
  static async createTorrent(path: string, out: string, pieceLength = 0): Promise<void> {
    const p = new LtProcess(
      spawn(PYTHON, [
        DRIVER,
        JSON.stringify({ action: 'create', path, out, trackers: [], piece_length: pieceLength }),
      ]),
    )
    try {
      await p.waitFor((e) => e.event === 'created', 120_000)
    } finally {
      await p.stop()
    }
  }

  get pid(): number {
    return this.child.pid!
  }

  /** CPU seconds the driver process (all of libtorrent's threads) used so far. */
  cpu(): Cpu {
    return cpuOf(this.pid)
  }

  /** When the first event matching `pred` arrived (performance.now()), if one did. */
  timeOf(pred: (e: LtEvent) => boolean): number | undefined {
    const i = this.events.findIndex(pred)
    return i < 0 ? undefined : this.times[i]
  }

  /** The latest event matching `pred`, if any. */
  last(pred: (e: LtEvent) => boolean): LtEvent | undefined {
    return this.events.findLast(pred)
  }

  /** Resolves with the first event (past or future) matching `pred`. */
  waitFor(pred: (e: LtEvent) => boolean, timeoutMs: number): Promise<LtEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.find(pred)
        if (hit) {
          done()
          resolve(hit)
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done()
          reject(new Error(`libtorrent driver exited: ${this.stderr.slice(-800)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(
          new Error(
            `libtorrent: no matching event in ${timeoutMs} ms; last ${JSON.stringify(this.events.at(-1))}`,
          ),
        )
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }

  async port(): Promise<number> {
    return (await this.waitFor((e) => e.event === 'listening', 30_000)).port as number
  }

  connect(ip: string, port: number): void {
    this.child.stdin!.write(`${JSON.stringify({ cmd: 'connect', ip, port })}\n`)
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((r) => this.child.once('exit', r))
    this.child.kill('SIGKILL')
    await exited
  }
}
