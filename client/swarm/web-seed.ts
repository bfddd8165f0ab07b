import type { Logger } from 'pino'
import type { Clock } from '../../protocol/clock.js'
import { TransportError } from '../../protocol/errors.js'
import type { BlockRequest } from '../../protocol/swarm/piece-picker.js'
import type { TorrentLayout } from '../metainfo/metainfo-types.js'

/** What a web seed needs from its torrent's session. */
export interface WebSeedHost {
  layout: TorrentLayout
  /** Claims up to `maxBlocks` blocks for `id` in the picker; none when nothing is left to fetch. */
  claim(id: string, maxBlocks: number): BlockRequest[]
  deliver(id: string, req: BlockRequest, block: Uint8Array): void
  /** Gives back blocks a fetch did not bring. */
  release(id: string, reqs: BlockRequest[]): void
  /** The download is over (complete or stopped). */
  done(): boolean
}

/** Blocks per fetch: 16 KiB each, so up to 1 MiB per HTTP request. */
const BLOCKS_PER_FETCH = 64
/** A web seed that failed this many fetches in a row is given up. */
const MAX_FAILURES = 5
const FETCH_TIMEOUT_MS = 30_000
/** A server that answers a range with the whole file is used only for files up to this size. */
const MAX_WHOLE_FILE_BYTES = 16 * 1024 * 1024

/**
 * BEP 19 (GetRight-style) web seed: an HTTP(S) server with the torrent's files, read by byte ranges.
 * One fetch at a time: it claims blocks in the session's picker like a peer, asks for their byte
 * ranges (a range that crosses files becomes one request per file) and hands the blocks over; the
 * session hashes the pieces as from any peer, and a server proven to send bad data is dropped.
 */
export class WebSeed {
  readonly id: string
  private readonly abort = new AbortController()
  private failures = 0

  constructor(
    readonly url: string,
    private readonly host: WebSeedHost,
    private readonly deps: { clock: Clock; logger?: Logger },
  ) {
    this.id = `web:${url}`
  }

  /** Fetches until the download is over, this seed is stopped, or it failed too often. */
  async run(): Promise<void> {
    while (!this.abort.signal.aborted && !this.host.done()) {
      const reqs = this.host.claim(this.id, BLOCKS_PER_FETCH)
      if (reqs.length === 0) {
        await this.sleep(500)
        continue
      }
      try {
        await this.fetchBlocks(reqs)
        this.failures = 0
      } catch (err) {
        if (this.abort.signal.aborted) return
        this.deps.logger?.debug({ webSeed: this.url, err: (err as Error).message }, 'web seed fetch failed')
        if (++this.failures >= MAX_FAILURES) {
          this.deps.logger?.info({ webSeed: this.url }, 'web seed given up')
          return
        }
        await this.sleep(1000 * 2 ** this.failures)
      }
    }
  }

  stop(): void {
    this.abort.abort()
  }

  private async fetchBlocks(reqs: BlockRequest[]): Promise<void> {
    const { pieceLength } = this.host.layout
    const sorted = [...reqs].sort((a, b) => a.index - b.index || a.begin - b.begin)
    let pending = sorted
    try {
      while (pending.length > 0) {
        // The run of blocks that follow each other in the torrent's bytes.
        let n = 1
        const start = pending[0]!.index * pieceLength + pending[0]!.begin
        let end = start + pending[0]!.length
        while (n < pending.length && pending[n]!.index * pieceLength + pending[n]!.begin === end) {
          end += pending[n]!.length
          n++
        }
        const bytes = await this.readRange(start, end)
        for (const req of pending.slice(0, n)) {
          const at = req.index * pieceLength + req.begin - start
          this.host.deliver(this.id, req, bytes.subarray(at, at + req.length))
        }
        pending = pending.slice(n)
      }
    } catch (err) {
      this.host.release(this.id, pending)
      throw err
    }
  }

  /** The torrent's bytes [start, end), from each file the range touches (pad files are zeros). */
  private async readRange(start: number, end: number): Promise<Uint8Array> {
    const out = new Uint8Array(end - start)
    for (const f of this.host.layout.files) {
      const from = Math.max(start, f.offset)
      const to = Math.min(end, f.offset + f.length)
      if (from >= to || f.pad) continue
      const part = await this.get(this.fileUrl(f.path), from - f.offset, to - f.offset)
      out.set(part, from - start)
    }
    return out
  }

  /**
   * BEP 19: a single-file torrent's URL names the file (or a directory, when it ends in '/'); a
   * multi-file torrent's is the directory holding the torrent's own directory.
   */
  private fileUrl(path: string[]): string {
    const { multiFile, name } = this.host.layout
    if (!multiFile) return this.url.endsWith('/') ? `${this.url}${encodeURIComponent(name)}` : this.url
    const base = this.url.endsWith('/') ? this.url : `${this.url}/`
    return `${base}${[name, ...path].map(encodeURIComponent).join('/')}`
  }

  private async get(url: string, from: number, to: number): Promise<Uint8Array> {
    const ctl = new AbortController()
    const onAbort = () => ctl.abort()
    this.abort.signal.addEventListener('abort', onAbort, { once: true })
    const timer = this.deps.clock.setTimer(FETCH_TIMEOUT_MS, () => ctl.abort())
    try {
      const res = await fetch(url, { headers: { range: `bytes=${from}-${to - 1}` }, signal: ctl.signal })
      if (res.status !== 206 && res.status !== 200) {
        await res.body?.cancel()
        throw new TransportError('TRANSPORT_REFUSED', `${url}: HTTP ${res.status}`)
      }
      // A server that ignores ranges sends the whole file: taken (and cut) only when it is small.
      const whole = res.status === 200
      const body = await readAtMost(res, whole ? MAX_WHOLE_FILE_BYTES : to - from, url)
      const bytes = whole ? body.subarray(from, to) : body
      if (bytes.length !== to - from) {
        throw new TransportError(
          'TRANSPORT_CLOSED',
          `${url}: ${bytes.length} bytes for a range of ${to - from}`,
        )
      }
      return bytes
    } finally {
      this.deps.clock.clearTimer(timer)
      this.abort.signal.removeEventListener('abort', onAbort)
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.deps.clock.setTimer(ms, () => {
        this.abort.signal.removeEventListener('abort', onAbort)
        resolve()
      })
      const onAbort = () => {
        this.deps.clock.clearTimer(timer)
        resolve()
      }
      this.abort.signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}

/** A response's body, refused (and the transfer cut) past `max` bytes: a server cannot make us hold more. */
async function readAtMost(res: Response, max: number, url: string): Promise<Uint8Array> {
  const declared = res.headers.get('content-length')
  if (declared !== null && Number(declared) > max) {
    await res.body?.cancel()
    throw new TransportError(
      'TRANSPORT_REFUSED',
      `${url}: ${declared} bytes where at most ${max} were asked for`,
    )
  }
  const chunks: Uint8Array[] = []
  let length = 0
  // Leaving the loop by the throw cancels the body.
  for await (const chunk of res.body ?? []) {
    length += chunk.length
    if (length > max)
      throw new TransportError('TRANSPORT_REFUSED', `${url}: more than the ${max} bytes asked for`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, length)
}
