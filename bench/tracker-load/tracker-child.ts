import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { LoadJob } from './load-client.js'
import type { LoadReport, TrackerMemoryCommand, TrackerMemorySample } from './tracker-messages.js'

/** A built sibling script, whether this file runs from dist/ (the bench) or from the sources (a test). */
const built = (name: string) =>
  fileURLToPath(
    new URL(
      import.meta.url.includes('/dist/bench/') ? `./${name}` : `../../dist/bench/tracker-load/${name}`,
      import.meta.url,
    ),
  )
const TRACKER = built('tracker-process.js')
const LOAD = built('load-client.js')

/** The tracker in its own process (tracker-process.ts), driven over stdin. */
export interface TrackerChild {
  httpPort: number
  udpPort: number
  pid: number
  sample(): Promise<TrackerMemorySample>
  /** Two full collections, then a sample. */
  gcSample(): Promise<TrackerMemorySample>
  /** Moves the tracker's clock forward (only when started with `offsetClock`). */
  advance(ms: number): Promise<void>
  stop(): Promise<void>
}

/** JSON lines of a child's stdout, taken one at a time in order. */
function lineReader(child: ChildProcess) {
  const ready: string[] = []
  const waiting: { resolve: (l: string) => void; reject: (e: Error) => void }[] = []
  let buf = ''
  let exited: Error | undefined
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString()
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const l = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      const w = waiting.shift()
      if (w) w.resolve(l)
      else ready.push(l)
    }
  })
  child.once('exit', (code) => {
    exited = new Error(`tracker process exited with ${code}`)
    for (const w of waiting.splice(0)) w.reject(exited)
  })
  return (what: string, ms = 20_000): Promise<string> => {
    const l = ready.shift()
    if (l !== undefined) return Promise.resolve(l)
    if (exited) return Promise.reject(exited)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)
      waiting.push({
        resolve: (x) => {
          clearTimeout(t)
          resolve(x)
        },
        reject: (e) => {
          clearTimeout(t)
          reject(e)
        },
      })
    })
  }
}

export async function startTrackerChild(options: {
  intervalSeconds: number
  offsetClock?: boolean
}): Promise<TrackerChild> {
  const child = spawn(process.execPath, ['--expose-gc', TRACKER, JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const next = lineReader(child)
  const ask = async (c: TrackerMemoryCommand) => {
    child.stdin!.write(`${JSON.stringify(c)}\n`)
    return JSON.parse(await next(c.op)) as TrackerMemorySample
  }
  try {
    const hello = JSON.parse(await next('tracker start')) as { httpPort: number; udpPort: number }
    return {
      httpPort: hello.httpPort,
      udpPort: hello.udpPort,
      pid: child.pid!,
      sample: () => ask({ op: 'sample' }),
      gcSample: () => ask({ op: 'gc' }),
      advance: async (ms) => {
        await ask({ op: 'advance', ms })
      },
      stop: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve()
          const kill = setTimeout(() => child.kill('SIGKILL'), 5_000)
          child.once('exit', () => {
            clearTimeout(kill)
            resolve()
          })
          child.stdin!.end()
        }),
    }
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
}

/** Runs the load client (load-client.ts) in its own process to the end; resolves with its report. */
export function runLoad(job: LoadJob): Promise<LoadReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const limit = setTimeout(() => child.kill('SIGKILL'), job.seconds * 1000 + 30_000)
    child.on('exit', (code) => {
      clearTimeout(limit)
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').at(-1)!) as LoadReport)
      else reject(new Error(`load client exited with ${code}`))
    })
  })
}
