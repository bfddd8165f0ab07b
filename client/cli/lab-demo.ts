import type { ChildProcess } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StatsSnapshot } from '../../tracker/stats/stats-snapshot.js'
import { renderStatsTable } from '../stats/stats-table.js'

const say = (line: string) => process.stdout.write(`${line}\n`)
const CLI = fileURLToPath(new URL('./main.js', import.meta.url))

/** Whether the NAT lab can run here: root, with `ip` and `iptables`. */
export function labAvailable(): boolean {
  if (process.getuid?.() !== 0) return false
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' })
    execFileSync('iptables', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** The first stdout JSON line of `child` matching `pred` (or the first text line when `text`). */
function firstLine(child: ChildProcess, pred: (l: Record<string, unknown>) => boolean, ms: number) {
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error('the NAT-lab demo timed out')), ms)
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const raw = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const l = raw.startsWith('{') ? (JSON.parse(raw) as Record<string, unknown>) : { text: raw }
        if (pred(l)) {
          clearTimeout(timer)
          resolve(l)
        }
      }
    })
  })
}

/**
 * The main job in the NAT lab (docs/natlab.md): the tracker on the public side, `punchswarm seed`
 * behind one home router (Linux NAT), `punchswarm get` behind another, no port forwarding; then the
 * tracker's stats. Every namespace and process it made is removed at the end, also on failure.
 */
export async function runLabDemo(): Promise<void> {
  // The lab lives with the tests (test/natlab/lab) and is built with them.
  const { createLab } = await import('../../test/natlab/lab/netns-lab.js')
  const lab = createLab([
    { name: 'home-a', kind: 'cone' },
    { name: 'home-b', kind: 'cone' },
  ])
  const dir = await mkdtemp(join(tmpdir(), 'punchswarm-labdemo-'))
  try {
    const a = lab.sites.get('home-a')!
    const b = lab.sites.get('home-b')!
    const node = process.execPath
    const tracker = lab.spawn(lab.trackerNs, [
      node,
      CLI,
      'tracker',
      '--host',
      '0.0.0.0',
      '--port',
      '6969',
      '--interval',
      '5',
      '--log-level',
      'warn',
    ])
    await firstLine(tracker, (l) => String(l.text ?? '').startsWith('http://'), 15_000)
    const announce = `http://${lab.trackerIp}:6969/announce`
    say(
      `1. NAT lab: tracker at ${lab.trackerIp} (public side); two homes, each behind its own Linux NAT router`,
    )
    say(
      `   seeder ${a.hostIp} behind ${a.publicIp}, leecher ${b.hostIp} behind ${b.publicIp}; no port forwarding`,
    )
    const content = randomBytes(4 * 1024 * 1024)
    await writeFile(join(dir, 'payload.bin'), content)
    const seed = lab.spawn(a.hostNs, [
      node,
      CLI,
      'seed',
      join(dir, 'payload.bin'),
      '--tracker',
      announce,
      '-p',
      '0',
      '--json',
      // The lab has no route to the public DHT, and the demo shows peers meeting through the tracker.
      '--no-dht',
      '--no-lsd',
    ])
    const magnet = await firstLine(seed, (l) => l.event === 'magnet', 15_000)
    say(`2. seeder: punchswarm seed payload.bin (4 MiB) --tracker ${announce}`)
    say(`   ${String(magnet.uri)}`)
    // Give the seeder a moment to announce, classify its NAT and register with the tracker.
    await new Promise((r) => setTimeout(r, 1500))
    const started = performance.now()
    const get = lab.spawn(b.hostNs, [
      node,
      CLI,
      'get',
      String(magnet.uri),
      '-o',
      join(dir, 'out'),
      '--timeout',
      '40',
      '--json',
      '--no-dht',
      '--no-lsd',
    ])
    const punched = firstLine(get, (l) => l.event === 'punched', 45_000)
    const code = await new Promise<number | null>((r) => get.on('exit', (c) => r(c)))
    if (code !== 0) throw new Error(`the leecher failed (exit ${code})`)
    const p = await punched
    const got = await readFile(join(dir, 'out', 'payload.bin'))
    const same = createHash('sha256')
      .update(got)
      .digest()
      .equals(createHash('sha256').update(content).digest())
    say(`3. leecher: punchswarm get <magnet>: the tracker relayed its connect-request, both punched;`)
    say(
      `   path ${String(p.address)}:${String(p.port)}; downloaded 4 MiB over utp in ${((performance.now() - started) / 1000).toFixed(1)} s; sha256 ${same ? 'matches' : 'DIFFERS'}`,
    )
    if (!same) throw new Error('the download does not match what was shared')
    const json = lab.exec(lab.trackerNs, [
      node,
      '-e',
      "fetch('http://127.0.0.1:6969/stats.json').then((r) => r.text()).then((t) => process.stdout.write(t))",
    ])
    say("4. the tracker's swarm stats:\n")
    process.stdout.write(renderStatsTable(JSON.parse(json) as StatsSnapshot))
  } finally {
    lab.destroy()
    await rm(dir, { recursive: true, force: true })
  }
}
