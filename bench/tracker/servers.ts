import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { infoHashOf, SWARMS } from './workload.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const DEPS = join(ROOT, 'bench', '.deps')
const BT_VERSION = '11.2.3'

export interface BenchServer {
  name: string
  port: number
  pid: number
  /** Whether it answers HTTP over kept-alive connections. */
  keepAlive: boolean
  stop(): Promise<void>
}

/** Resident memory of a process, bytes. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}

function waitForLine(child: ChildProcess, re: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out.slice(-300)}`)), 15_000)
    const on = (d: Buffer) => {
      out += d.toString()
      if (re.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', on)
    child.stderr?.on('data', on)
    child.on('exit', (code) => reject(new Error(`${what} exited with ${code}: ${out.slice(-300)}`)))
  })
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })
}

export async function startPunchswarm(port: number): Promise<BenchServer> {
  return startPunchswarmWith(port, 'punchswarm', {})
}

/** The same tracker with its UDP port on node:dgram rather than the batched addon. */
export async function startPunchswarmOnDgram(port: number): Promise<BenchServer> {
  return startPunchswarmWith(port, 'punchswarm on node:dgram', { PUNCHSWARM_UDP_BATCH: '0' })
}

async function startPunchswarmWith(port: number, name: string, env: NodeJS.ProcessEnv): Promise<BenchServer> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'dist/client/cli/main.js'),
      'tracker',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--log-level',
      'error',
      // The load generator sends from four addresses: the per-address limit would measure itself.
      '--max-rate',
      '0',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    },
  )
  await waitForLine(child, /\/announce/, 'punchswarm tracker')
  return { name, port, pid: child.pid!, keepAlive: true, stop: stopper(child) }
}

/** Installs bittorrent-tracker into bench/.deps (once), without its native build scripts. */
export function ensureBittorrentTracker(): string {
  // server.js, not index.js: the package index also loads the WebRTC client, which needs a native build.
  const entry = join(DEPS, 'node_modules', 'bittorrent-tracker', 'server.js')
  if (!existsSync(entry)) {
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        DEPS,
        '--ignore-scripts',
        '--no-save',
        '--no-audit',
        '--no-fund',
        `bittorrent-tracker@${BT_VERSION}`,
      ],
      {
        stdio: 'inherit',
      },
    )
  }
  return entry
}

export async function startBittorrentTracker(port: number): Promise<BenchServer> {
  const entry = ensureBittorrentTracker()
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist/bench/tracker/bittorrent-tracker-server.js'), entry, String(port)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  await waitForLine(child, /listening/, 'bittorrent-tracker')
  return { name: 'bittorrent-tracker', port, pid: child.pid!, keepAlive: true, stop: stopper(child) }
}

/** opentracker from Debian: its build answers only whitelisted info hashes, so list the bench's. */
export async function startOpentracker(port: number): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-opentracker-'))
  const list = Array.from({ length: SWARMS }, (_, s) => Buffer.from(infoHashOf(s)).toString('hex')).join('\n')
  writeFileSync(join(dir, 'whitelist.txt'), `${list}\n`)
  // It chroots into `dir` and drops to user nobody (it refuses to run as root), who must read the list.
  chmodSync(dir, 0o755)
  chmodSync(join(dir, 'whitelist.txt'), 0o644)
  const child = spawn(
    '/usr/bin/opentracker',
    ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-d', dir, '-w', 'whitelist.txt'],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  // opentracker prints nothing when ready: wait until it answers.
  for (let i = 0; i < 50; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/stats`)
      break
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  return { name: 'opentracker', port, pid: child.pid!, keepAlive: false, stop: stopper(child) }
}

/** A trivial HTTP server answering a fixed body: the load generator's own ceiling. */
export async function startTrivialServer(port: number): Promise<BenchServer> {
  const body = Buffer.from('d8:completei0e10:incompletei0e8:intervali1800e5:peers0:e')
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'text/plain' })
    res.end(body)
  })
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  return {
    name: 'trivial',
    port,
    pid: process.pid,
    keepAlive: true,
    stop: () => new Promise((r) => server.close(() => r())),
  }
}
