import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseTorrentBytes } from '../../client/metainfo/torrent-loader.js'
import { startTracker } from '../../tracker/tracker-server.js'
import { CLI_PATH, type CliProcess, cliEvents, runCli } from '../helpers/cli-process.js'
import { LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { libtorrentAvailable, prerequisite } from '../helpers/require-tool.js'

const gate = prerequisite('python3-libtorrent (Debian package)', libtorrentAvailable())

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const MiB = 1024 * 1024

type Transport = 'tcp' | 'utp'
const TRANSPORTS: Transport[] = ['tcp', 'utp']

/** libtorrent settings and punchswarm flags that leave only `t` enabled on each side. */
const ltOnly = (t: Transport) => ({ tcp: t === 'tcp', utp: t === 'utp' })
const cliOnly = (t: Transport) => (t === 'tcp' ? ['--no-utp'] : ['--no-tcp'])

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-swarm-interop-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Starts `punchswarm ...args` and kills it (by its PID, through the helper) in teardown. */
function cli(args: string[], env?: NodeJS.ProcessEnv): CliProcess {
  const p = runCli(args, { env })
  cleanups.push(async () => {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.kill('SIGKILL')
      await p.exited
    }
  })
  return p
}

function lt(options: Parameters<typeof LibtorrentPeer.start>[0]): LibtorrentPeer {
  const peer = LibtorrentPeer.start(options)
  cleanups.push(() => peer.stop())
  return peer
}

async function exitCode(p: CliProcess, timeoutMs: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`still running after ${timeoutMs} ms`), timeoutMs)
  })
  try {
    const code = await Promise.race([p.exited, timeout])
    if (code !== 0) {
      console.error(
        `punchswarm ${code}\nstdout (tail): ${p.stdout().slice(-2000)}\nstderr: ${p.stderr().slice(-2000)}`,
      )
    }
    return code
  } finally {
    clearTimeout(timer)
  }
}

/** A libtorrent seeder of one ~3 MiB file (torrent made by libtorrent), listening on 127.0.0.1. */
async function libtorrentSeeder(t: Transport, encryption?: 'forced') {
  const dir = tempDir()
  const seedDir = join(dir, 'seed')
  const outDir = join(dir, 'out')
  mkdirSync(seedDir)
  mkdirSync(outDir)
  const content = randomBytes(3 * MiB + 54321)
  writeFileSync(join(seedDir, 'payload.bin'), content)
  const torrent = join(dir, 'payload.torrent')
  const infoHash = await LibtorrentPeer.create(join(seedDir, 'payload.bin'), torrent, [], 64 * 1024)
  const seeder = lt({
    torrent,
    save: seedDir,
    seed: true,
    ...ltOnly(t),
    ...(encryption ? { encryption } : {}),
  })
  const port = await seeder.port()
  // libtorrent turns peers away until the torrent is loaded and seeding.
  await seeder.waitFor((e) => e.event === 'status' && e.seeding)
  return { content, torrent, infoHash, port, outDir }
}

/** `punchswarm get` of a libtorrent seeder's torrent from it alone, over `t` only. */
function getFrom(
  s: { torrent: string; outDir: string; port: number },
  t: Transport,
  extra: string[] = [],
  env?: NodeJS.ProcessEnv,
) {
  const peer = `127.0.0.1:${s.port}`
  return cli(
    [
      'get',
      s.torrent,
      '-o',
      s.outDir,
      '-p',
      '0',
      '--peer',
      peer,
      ...cliOnly(t),
      ...extra,
      '--timeout',
      '45',
      '--json',
    ],
    env,
  )
}

/** A directory tree of a few files in nested directories, ~4 MiB in all. */
function multiFileTree(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>([
    ['readme.txt', Buffer.from('punchswarm multi-file interop\n')],
    ['a/one.bin', randomBytes(1 * MiB + 777)],
    ['a/b/two.bin', randomBytes(2 * MiB - 4099)],
    ['a/b/c/three.bin', randomBytes(700 * 1024 + 1)],
    ['d/four.bin', randomBytes(300 * 1024 + 12345)],
    ['d/empty-ish.bin', randomBytes(17)],
  ])
  for (const [rel, bytes] of files) {
    mkdirSync(dirname(join(root, rel)), { recursive: true })
    writeFileSync(join(root, rel), bytes)
  }
  return files
}

function expectSameFiles(files: Map<string, Buffer>, root: string): void {
  for (const [rel, bytes] of files) {
    expect(readFileSync(join(root, rel)).equals(bytes), rel).toBe(true)
  }
}

/** `punchswarm create path -o out ...args`; returns the info hash it printed. */
function punchswarmCreate(path: string, out: string, args: string[]): string {
  const text = execFileSync(process.execPath, [CLI_PATH, 'create', path, '-o', out, ...args]).toString()
  const m = /info hash: ([0-9a-f]{40})/.exec(text)
  if (!m?.[1]) throw new Error(`punchswarm create printed no info hash: ${text}`)
  return m[1]
}

/** The `listening` port a `--json` seed reported. */
async function listeningPort(p: CliProcess): Promise<number> {
  const line = await p.waitForLine(/"event":"listening"/, 20_000)
  return (JSON.parse(line) as { port: number }).port
}

describe.skipIf(gate.skip)('punchswarm seed/get with libtorrent', () => {
  for (const t of TRANSPORTS) {
    it(`get downloads a single file from a libtorrent seeder (${t} only)`, async () => {
      const s = await libtorrentSeeder(t)
      const get = getFrom(s, t)
      expect(await exitCode(get, 75_000)).toBe(0)
      expect(readFileSync(join(s.outDir, 'payload.bin')).equals(s.content)).toBe(true)
      const peers = cliEvents(get).filter((e) => e.event === 'peer')
      expect(peers.length).toBeGreaterThan(0)
      expect(peers.every((e) => e.transport === t)).toBe(true)
      expect(cliEvents(get).some((e) => e.event === 'complete')).toBe(true)
    }, 90_000)
  }

  it('get over node:dgram (the batched UDP addon switched off) downloads from a libtorrent seeder (uTP only)', async () => {
    const s = await libtorrentSeeder('utp')
    const get = getFrom(s, 'utp', [], { PUNCHSWARM_UDP_BATCH: '0' })
    expect(await exitCode(get, 75_000)).toBe(0)
    expect(cliEvents(get).find((e) => e.event === 'listening')).toMatchObject({ udp: 'dgram' })
    expect(readFileSync(join(s.outDir, 'payload.bin')).equals(s.content)).toBe(true)
    expect(
      cliEvents(get)
        .filter((e) => e.event === 'peer')
        .every((e) => e.transport === 'utp'),
    ).toBe(true)
  }, 90_000)

  // libtorrent's default encryption setting tries an MSE/PE handshake first (punchswarm answers it and
  // picks a plaintext payload); 'forced' refuses anything but RC4.
  for (const [t, encryption, expected] of [
    ['tcp', undefined, 'handshake'],
    ['utp', undefined, 'handshake'],
    ['tcp', 'forced', 'rc4'],
    ['utp', 'forced', 'rc4'],
  ] as const) {
    it(`libtorrent${encryption ? ` forcing RC4` : ''} downloads a multi-file torrent from a punchswarm seed (${t} only)`, async () => {
      const dir = tempDir()
      const dataDir = join(dir, 'data')
      const leechDir = join(dir, 'leech')
      mkdirSync(leechDir)
      const files = multiFileTree(join(dataDir, 'tree'))
      const torrent = join(dir, 'tree.torrent')
      // `punchswarm create` makes the torrent; `seed` serves it from --dir.
      const infoHash = punchswarmCreate(join(dataDir, 'tree'), torrent, ['--piece-length', '64k'])
      const seed = cli(['seed', torrent, '--dir', dataDir, '-p', '0', ...cliOnly(t), '--json'])
      const port = await listeningPort(seed)
      const magnet = JSON.parse(await seed.waitForLine(/"event":"magnet"/)) as { infoHash: string }
      expect(magnet.infoHash).toBe(infoHash)

      const leecher = lt({ torrent, save: leechDir, ...ltOnly(t), ...(encryption ? { encryption } : {}) })
      await leecher.port()
      leecher.connect('127.0.0.1', port)
      await leecher.waitFor((e) => e.event === 'finished', 75_000)
      expectSameFiles(files, join(leechDir, 'tree'))
      const peers = cliEvents(seed).filter((e) => e.event === 'peer')
      expect(peers.length).toBeGreaterThan(0)
      // Every connection opened with PE (a plaintext retry would say 'none'): libtorrent's first attempt.
      expect(peers.every((e) => e.encryption === expected && e.transport === t)).toBe(true)
    }, 90_000)
  }

  it('serves and fetches a multi-file torrent made by libtorrent, whose BEP 47 pad files never touch the disk', async () => {
    const dir = tempDir()
    const dataDir = join(dir, 'data')
    const files = multiFileTree(join(dataDir, 'tree'))
    const torrent = join(dir, 'tree.torrent')
    await LibtorrentPeer.create(join(dataDir, 'tree'), torrent, [], 64 * 1024)
    const seed = cli(['seed', torrent, '--dir', dataDir, '-p', '0', '--json'])
    const port = await listeningPort(seed)
    // libtorrent downloads it from punchswarm...
    const leechDir = join(dir, 'leech')
    mkdirSync(leechDir)
    const leecher = lt({ torrent, save: leechDir })
    await leecher.port()
    leecher.connect('127.0.0.1', port)
    await leecher.waitFor((e) => e.event === 'finished', 75_000)
    expectSameFiles(files, join(leechDir, 'tree'))
    // ...and punchswarm downloads it too, writing only the real files.
    const outDir = join(dir, 'out')
    const get = cli(['get', torrent, '-o', outDir, '-p', '0', '--peer', `127.0.0.1:${port}`, '--json'])
    expect(await exitCode(get, 75_000)).toBe(0)
    expectSameFiles(files, join(outDir, 'tree'))
    expect(existsSync(join(outDir, 'tree', '.pad'))).toBe(false)
  }, 120_000)

  it('get fetches the metadata of a magnet link from a libtorrent seeder (BEP 9) and completes (uTP only)', async () => {
    const s = await libtorrentSeeder('utp')
    const magnet = `magnet:?xt=urn:btih:${s.infoHash}&dn=payload.bin&x.pe=127.0.0.1:${s.port}`
    const get = cli(['get', magnet, '-o', s.outDir, '-p', '0', '--no-tcp', '--timeout', '45', '--json'])
    expect(await exitCode(get, 75_000)).toBe(0)
    expect(readFileSync(join(s.outDir, 'payload.bin')).equals(s.content)).toBe(true)
    const evs = cliEvents(get)
    expect(evs.some((e) => e.event === 'metadata')).toBe(true)
    expect(evs.filter((e) => e.event === 'peer').every((e) => e.transport === 'utp')).toBe(true)
  }, 90_000)

  it('libtorrent finds a punchswarm seed through the punchswarm tracker alone and downloads from it', async () => {
    const tracker = await startTracker({
      host: '127.0.0.1',
      port: 0,
      intervalSeconds: 5,
      minIntervalSeconds: 2,
    })
    cleanups.push(() => tracker.close())
    const dir = tempDir()
    const dataDir = join(dir, 'data')
    const leechDir = join(dir, 'leech')
    mkdirSync(leechDir)
    const files = multiFileTree(join(dataDir, 'tree'))
    // punchswarm seeds the directory itself; `punchswarm create` gives libtorrent the same torrent.
    const torrent = join(dir, 'tree.torrent')
    punchswarmCreate(join(dataDir, 'tree'), torrent, ['--tracker', tracker.announceUrl])
    const seed = cli(['seed', join(dataDir, 'tree'), '--tracker', tracker.announceUrl, '-p', '0', '--json'])
    await listeningPort(seed)
    const magnet = JSON.parse(await seed.waitForLine(/"event":"magnet"/)) as { infoHash: string }
    expect(parseTorrentBytes(readFileSync(torrent)).infoHashHex).toBe(magnet.infoHash)
    const hash = Buffer.from(magnet.infoHash, 'hex')
    await expect.poll(() => tracker.store.scrape(hash).complete, { timeout: 20_000, interval: 250 }).toBe(1)

    const leecher = lt({ torrent, save: leechDir })
    // Nobody connects them by hand: the leecher learns the seeder from the tracker.
    await leecher.waitFor((e) => e.event === 'tracker_reply' && e.num_peers >= 1, 30_000)
    await leecher.waitFor((e) => e.event === 'finished', 75_000)
    expectSameFiles(files, join(leechDir, 'tree'))
    // After its next announce the leecher is counted as a second seeder.
    await expect.poll(() => tracker.store.scrape(hash).complete, { timeout: 20_000, interval: 250 }).toBe(2)
  }, 90_000)

  // With the default (prefer) `get` opens with PE too, so a seeder that forces RC4 takes it.
  for (const [t, flags] of TRANSPORTS.flatMap((t) => [
    [t, ['--encryption', 'require']] as const,
    [t, []] as const,
  ])) {
    it(`get ${flags.join(' ') || '(default encryption)'} downloads from a libtorrent seeder that requires RC4 (${t} only)`, async () => {
      const s = await libtorrentSeeder(t, 'forced')
      const get = getFrom(s, t, [...flags])
      expect(await exitCode(get, 75_000)).toBe(0)
      expect(readFileSync(join(s.outDir, 'payload.bin')).equals(s.content)).toBe(true)
      const peers = cliEvents(get).filter((e) => e.event === 'peer')
      const seen = JSON.stringify(peers)
      expect(peers.every((e) => e.transport === t)).toBe(true)
      if (flags.length > 0) {
        expect(peers.length, seen).toBeGreaterThan(0)
        expect(
          peers.every((e) => e.encryption === 'rc4'),
          seen,
        ).toBe(true)
      } else {
        // The seeder serves nothing in plaintext, so the file came over RC4. Once, on a loaded CI
        // machine, a peer with encryption 'none' was reported here: a PE attempt the seeder dropped,
        // redialled in plaintext and refused. Peers are now reported only after their handshake,
        // which such a connection never gets to, but the cause of the drop is not known.
        expect(
          peers.some((e) => e.encryption === 'rc4'),
          seen,
        ).toBe(true)
      }
    }, 90_000)
  }
})
