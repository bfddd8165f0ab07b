import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The driver sits beside the tests; compiled code (dist/test/helpers, used by bench/) finds it in the source tree. */
const DRIVER = [
  fileURLToPath(new URL('../interop/libtorrent/lt-peer.py', import.meta.url)),
  fileURLToPath(new URL('../../../test/interop/libtorrent/lt-peer.py', import.meta.url)),
].find((p) => existsSync(p))!

export interface LtPeerStatus {
  event: 'status'
  progress: number
  state: string
  seeding: boolean
  downloaded: number
  uploaded: number
  /** `pe`: the connection opened with an MSE/PE handshake; `rc4`: its payload is RC4-encrypted. */
  peers: { ip: string; port: number; down: number; up: number; pe: boolean; rc4: boolean }[]
}

export type LtEvent =
  | { event: 'listening'; port: number }
  | { event: 'created'; info_hash: string; out: string }
  | { event: 'tracker_reply'; num_peers: number; url: string }
  | { event: 'tracker_error'; message: string; url: string }
  | { event: 'finished' | 'metadata' | 'stopped' }
  | { event: 'error'; message: string }
  | { event: 'alert'; type: string; message: string }
  | { event: 'peer_connect' | 'peer_disconnected'; ip: string; port: number }
  | { event: 'dht_reply'; num_peers: number }
  | { event: 'dht_bootstrap' }
  | LtPeerStatus

export interface LtRunOptions {
  torrent?: string
  magnet?: string
  save: string
  seed?: boolean
  port?: number
  utp?: boolean
  tcp?: boolean
  buffers?: number
  announce_interval?: number
  /** MSE/PE: libtorrent's default ('enabled') or RC4 required both ways ('forced'). */
  encryption?: 'enabled' | 'forced'
  /** Run libtorrent's DHT, joined through this `ip:port` only (loopback restrictions lifted). */
  dht_bootstrap?: string
  /** Report every other alert too, as `{ event: 'alert', type, message }`. */
  verbose?: boolean
}

/** One python3-libtorrent session driven over JSON lines; always `stop()` it in teardown. */
export class LibtorrentPeer {
  readonly events: LtEvent[] = []
  /** performance.now() when each event arrived, index for index with `events`. */
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

  static start(options: LtRunOptions): LibtorrentPeer {
    const child = spawn('/usr/bin/python3', [DRIVER, JSON.stringify({ action: 'run', ...options })], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    return new LibtorrentPeer(child)
  }

  /** Creates a .torrent with libtorrent itself. */
  static async create(path: string, out: string, trackers: string[], pieceLength = 0): Promise<string> {
    const child = spawn('/usr/bin/python3', [
      DRIVER,
      JSON.stringify({ action: 'create', path, out, trackers, piece_length: pieceLength }),
    ])
    const peer = new LibtorrentPeer(child)
    const ev = await peer.waitFor((e) => e.event === 'created', 30_000)
    return (ev as { info_hash: string }).info_hash
  }

  /** Resolves with the first event (past or future) matching `pred`. */
  waitFor(pred: (e: LtEvent) => boolean, timeoutMs = 30_000): Promise<LtEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.find(pred)
        if (hit) {
          done()
          resolve(hit)
        } else if (this.child.exitCode !== null) {
          done()
          reject(new Error(`libtorrent driver exited (${this.child.exitCode}): ${this.stderr.slice(-800)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(
          new Error(
            `libtorrent: no matching event within ${timeoutMs} ms; last: ${JSON.stringify(this.events.at(-1))}`,
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

  /** The driver's PID (for CPU accounting; `stop()` kills it). */
  get pid(): number {
    return this.child.pid!
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

  async port(): Promise<number> {
    return ((await this.waitFor((e) => e.event === 'listening')) as { port: number }).port
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
