import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isRoot, prerequisite } from '../helpers/require-tool.js'
import { type Line, labCli, labStats, startLabTracker } from './lab/lab-processes.js'
import { createLab, type Lab } from './lab/netns-lab.js'

const gate = prerequisite('root (network namespaces, iptables and conntrack)', isRoot())

let lab: Lab | undefined
const dirs: string[] = []
afterEach(() => {
  lab?.destroy()
  lab = undefined
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A lab of cone-NATed sites and its tracker, a payload to seed, and the seeder behind site `s`. */
async function seededLab(sites: string[], bytes: number, seedArgs: string[] = []) {
  const l = createLab(sites.map((name) => ({ name, kind: 'cone' as const })))
  lab = l
  const tracker = await startLabTracker(l)
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-faults-'))
  dirs.push(dir)
  mkdirSync(join(dir, 'data'))
  const content = randomBytes(bytes)
  writeFileSync(join(dir, 'data', 'payload.bin'), content)
  const announce = `http://${l.trackerIp}:6969/announce`
  const seed = labCli(l, l.sites.get('s')!.hostNs, [
    'seed',
    join(dir, 'data', 'payload.bin'),
    '--tracker',
    announce,
    '-p',
    '0',
    '--json',
    ...seedArgs,
  ])
  const magnet = (await seed.out.wait((e) => e.event === 'magnet')) as unknown as { uri: string }
  // Let the seeder announce, classify and register before a leecher asks for it.
  await new Promise((r) => setTimeout(r, 1500))
  const get = (site: string, timeoutS = 60) =>
    labCli(l, l.sites.get(site)!.hostNs, [
      'get',
      magnet.uri,
      '-o',
      join(dir, site),
      '--timeout',
      String(timeoutS),
      '--json',
    ])
  return { lab: l, tracker, dir, content, seed, get, sites: l.sites }
}

const notProgress = (seen: Line[]) => JSON.stringify(seen.filter((e) => e.event !== 'progress')).slice(-1500)
const progressAt = (pct: number) => (e: Line) => e.event === 'progress' && (e.percent as number) >= pct

describe.skipIf(gate.skip)('faults in the NAT lab', () => {
  it('both routers lose their mappings mid-transfer and one comes back on a new port: the peers re-punch and the download completes', async () => {
    const f = await seededLab(['s', 'g'], 4 * 1024 * 1024, ['--max-upload-rate', '256k'])
    const seedSite = f.sites.get('s')!
    const get = f.get('g')
    await get.out.wait(progressAt(15), 60_000)
    const before = get.out.seen.filter((e) => e.event === 'punched')
    expect(before.length).toBeGreaterThan(0)
    // A router restart: every mapping is gone, and the seeder's router now maps its UDP socket to
    // another public port (40001), so nothing either peer knew about the other is true any more.
    f.lab.exec(seedSite.routerNs!, [
      'iptables',
      '-t',
      'nat',
      '-I',
      'POSTROUTING',
      '1',
      '-p',
      'udp',
      '-s',
      seedSite.hostIp,
      '-j',
      'MASQUERADE',
      '--to-ports',
      '40001',
    ])
    f.lab.exec(seedSite.routerNs!, ['conntrack', '-F'])
    f.lab.exec(f.sites.get('g')!.routerNs!, ['conntrack', '-F'])
    // The leecher punches again, to the seeder's new public endpoint, well before the 60 s after which
    // it would ask for the seeder again only because the tracker still lists it.
    const newEndpoint = (e: Line) =>
      e.event === 'punched' && e.port === 40001 && e.address === seedSite.publicIp
    await get.out.wait(newEndpoint, 40_000)
    const code = await get.exit
    expect(code, notProgress(get.out.seen)).toBe(0)
    expect(readFileSync(join(f.dir, 'g', 'payload.bin')).equals(f.content)).toBe(true)
  }, 150_000)

  it('the tracker dies mid-swarm: the transfer completes without it; restarted, the peers re-register and a new peer joins and completes', async () => {
    const f = await seededLab(['s', 'g1', 'g2'], 3 * 1024 * 1024, ['--max-upload-rate', '512k'])
    const first = f.get('g1')
    await first.out.wait(progressAt(20), 60_000)
    f.tracker.kill('SIGKILL')
    expect(await first.exit, notProgress(first.out.seen)).toBe(0)
    expect(readFileSync(join(f.dir, 'g1', 'payload.bin')).equals(f.content)).toBe(true)
    // Same port, new process: no swarm, no registrations, a new token secret.
    await startLabTracker(f.lab)
    const second = f.get('g2', 90)
    expect(await second.exit, notProgress(second.out.seen)).toBe(0)
    expect(readFileSync(join(f.dir, 'g2', 'payload.bin')).equals(f.content)).toBe(true)
    // The newcomer reached the seeder behind its NAT, so the seeder had registered with the new tracker.
    expect(
      second.out.seen.some((e) => e.event === 'punched' && e.address === f.sites.get('s')!.publicIp),
    ).toBe(true)
    const stats = labStats<{ punches: { success: number }; swarms: { completed: number }[] }>(f.lab)
    expect(stats.punches.success).toBeGreaterThanOrEqual(1)
    // The newcomer's completion reached the tracker before its `stopped`.
    expect(stats.swarms[0]?.completed).toBe(1)
  }, 180_000)

  it('10% random loss on a NAT router, both directions: the download over the punched uTP path completes', async () => {
    const f = await seededLab(['s', 'g'], 2 * 1024 * 1024)
    // Every packet the leecher's router forwards, either way, is dropped with probability 0.1.
    f.lab.exec(f.sites.get('g')!.routerNs!, [
      'iptables',
      '-I',
      'FORWARD',
      '1',
      '-m',
      'statistic',
      '--mode',
      'random',
      '--probability',
      '0.1',
      '-j',
      'DROP',
    ])
    const get = f.get('g', 90)
    expect(await get.exit, notProgress(get.out.seen)).toBe(0)
    expect(readFileSync(join(f.dir, 'g', 'payload.bin')).equals(f.content)).toBe(true)
    // The rule did drop packets (its counter), so the transfer really crossed a lossy link.
    const rule = f.lab.exec(f.sites.get('g')!.routerNs!, ['iptables', '-L', 'FORWARD', '1', '-v', '-n', '-x'])
    expect(Number(rule.trim().split(/\s+/)[0])).toBeGreaterThan(50)
    const peers = get.out.seen.filter((e) => e.event === 'peer')
    expect(peers.length).toBeGreaterThan(0)
    expect(peers.every((e) => e.transport === 'utp')).toBe(true)
  }, 150_000)
})
