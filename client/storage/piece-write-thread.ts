import { Worker } from 'node:worker_threads'
import { StorageError } from '../../protocol/errors.js'

/** Where one part of a piece goes: `length` bytes from `at` in the piece, to `position` in `path`. */
export interface WriteTarget {
  path: string
  position: number
  at: number
  length: number
}

/** What the thread did with a piece: `ok` when its SHA-1 matched and every target was written. */
export interface CommitResult {
  ok: boolean
  /** The piece's bytes, handed back (the caller may reuse the buffer). */
  data: Uint8Array
}

interface Reply {
  id: number
  ok?: boolean
  data?: Uint8Array
  error?: { code: string | undefined; message: string; path: string }
}

/**
 * The thread's code, a CommonJS script run with `eval` so that it loads the same way from dist/ and
 * from the TypeScript sources under test. One job at a time: hash, compare, then positional writes
 * through file descriptors it opens once per path ('r+': the store has created and sized the file).
 */
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const { openSync, writeSync, closeSync } = require('node:fs')
const fds = new Map()
parentPort.on('message', (job) => {
  if (job.close) {
    for (const fd of fds.values()) closeSync(fd)
    fds.clear()
    parentPort.postMessage({ id: job.id, ok: true })
    return
  }
  const { id, data, hash, targets } = job
  let path = ''
  try {
    const digest = createHash('sha1').update(data).digest()
    if (!digest.equals(hash)) return parentPort.postMessage({ id, ok: false, data }, [data.buffer])
    for (const t of targets) {
      path = t.path
      let fd = fds.get(path)
      if (fd === undefined) fds.set(path, (fd = openSync(path, 'r+')))
      for (let done = 0; done < t.length; )
        done += writeSync(fd, data, t.at + done, t.length - done, t.position + done)
    }
    parentPort.postMessage({ id, ok: true, data }, [data.buffer])
  } catch (err) {
    parentPort.postMessage({ id, error: { code: err.code, message: String(err.message), path } })
  }
})
`

/**
 * A worker thread that checks a piece's SHA-1 and writes it to its files, so neither the hashing nor
 * the write system calls take the main thread's time. Jobs run in the order given. The piece's buffer
 * is transferred to the thread and back, never copied. Durability stays with the caller: a write done
 * here is in the page cache, and an fsync of the same file from any descriptor covers it.
 */
export class PieceWriteThread {
  private readonly worker: Worker
  private readonly pending = new Map<
    number,
    { resolve: (r: CommitResult) => void; reject: (e: StorageError) => void }
  >()
  private nextId = 0
  private failure: StorageError | undefined

  constructor() {
    this.worker = new Worker(THREAD_SOURCE, { eval: true })
    this.worker.unref()
    this.worker.on('message', (r: Reply) => this.onReply(r))
    this.worker.on('error', (err) =>
      this.fail(new StorageError('STORAGE_IO', `piece writer failed: ${err.message}`, { cause: err })),
    )
    this.worker.on('exit', () => this.fail(new StorageError('STORAGE_IO', 'piece writer exited')))
  }

  /**
   * Hashes `data` against `hash` and, if it matches, writes it to `targets`. `data` must own its
   * whole ArrayBuffer (it is transferred, and unusable here until the result hands it back).
   */
  commit(data: Uint8Array, hash: Uint8Array, targets: WriteTarget[]): Promise<CommitResult> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.worker.ref()
      this.worker.postMessage({ id, data, hash, targets }, [data.buffer as ArrayBuffer])
    })
  }

  /** Closes the thread's descriptors once the jobs before have run, then ends the thread. */
  async close(): Promise<void> {
    if (!this.failure) {
      const id = this.nextId++
      await new Promise<void>((resolve) => {
        this.pending.set(id, { resolve: () => resolve(), reject: () => resolve() })
        this.worker.ref()
        this.worker.postMessage({ id, close: true })
      })
    }
    this.failure ??= new StorageError('STORAGE_IO', 'piece store is closed')
    await this.worker.terminate()
  }

  private onReply(r: Reply): void {
    const p = this.pending.get(r.id)
    if (!p) return
    this.pending.delete(r.id)
    if (this.pending.size === 0) this.worker.unref()
    if (r.error) {
      const code = r.error.code ?? r.error.message
      p.reject(new StorageError('STORAGE_IO', `cannot write ${r.error.path}: ${code}`))
    } else p.resolve({ ok: r.ok === true, data: r.data ?? new Uint8Array() })
  }

  private fail(err: StorageError): void {
    this.failure ??= err
    for (const p of this.pending.values()) p.reject(this.failure)
    this.pending.clear()
  }
}
