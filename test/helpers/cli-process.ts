import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The built CLI entry point (`npm test` builds before running the tests). */
export const CLI_PATH = fileURLToPath(new URL('../../dist/client/cli/main.js', import.meta.url))

export interface CliProcess {
  child: ChildProcess
  /** Resolves with the first stdout line matching `re`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>
  stdout(): string
  stderr(): string
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>
  kill(signal?: NodeJS.Signals): void
}

/**
 * Spawns `punchswarm ...args`; the caller kills it in teardown. Tests keep their traffic on loopback,
 * so `seed` and `get` run without the public DHT (`--no-dht`) unless the test sets the DHT up itself,
 * and without multicast to the machine's network (`--no-lsd`).
 */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI_PATH, ...args, ...localOnlyFlags(args)], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1))
  })
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    },
    waitForLine(re, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = out.split('\n').find((l) => re.test(l))
          if (line !== undefined) {
            cleanup()
            resolve(line)
          }
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms; stderr: ${err.slice(-500)}`))
        }, timeoutMs)
        const onExit = () => {
          cleanup()
          reject(new Error(`process exited before printing ${re}; stderr: ${err.slice(-500)}`))
        }
        const cleanup = () => {
          clearTimeout(timer)
          child.stdout!.off('data', check)
          child.off('exit', onExit)
        }
        child.stdout!.on('data', check)
        child.on('exit', onExit)
        check()
      })
    },
  }
}

/** What `seed` and `get` need added to stay off the public DHT and the machine's LAN. */
function localOnlyFlags(args: string[]): string[] {
  if (args[0] !== 'seed' && args[0] !== 'get') return []
  const dhtChosen = args.some((a) => a === '--no-dht' || a === '--dht-bootstrap')
  return [...(dhtChosen ? [] : ['--no-dht']), ...(args.includes('--no-lsd') ? [] : ['--no-lsd'])]
}

/** The JSON events a `--json` process printed so far, one object per line. */
export function cliEvents(p: CliProcess): Record<string, unknown>[] {
  return p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** Resolves with the first JSON event matching `pred`; rejects if the process exits first or in time. */
export async function waitForCliEvent(
  p: CliProcess,
  pred: (e: Record<string, unknown>) => boolean,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const hit = cliEvents(p).find(pred)
    if (hit) return hit
    if (p.child.exitCode !== null) throw new Error(`process exited: ${p.stderr().slice(-400)}`)
    if (Date.now() > deadline) throw new Error(`no matching event; stdout tail: ${p.stdout().slice(-400)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
