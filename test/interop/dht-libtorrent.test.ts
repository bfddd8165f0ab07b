import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type CliProcess, cliEvents, runCli, waitForCliEvent } from '../helpers/cli-process.js'
import { startPlainDhtNode } from '../helpers/dht-nodes.js'
import { LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { libtorrentAvailable, prerequisite } from '../helpers/require-tool.js'

/**
 * punchswarm and libtorrent find each other through the mainline DHT alone: magnet links without a
 * tracker, no peer given by hand. "The DHT" is four stock bittorrent-dht nodes on 127.0.0.1; both
 * clients join it through the first.
 */

const gate = prerequisite('python3-libtorrent (Debian package)', libtorrentAvailable())

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'punchswarm-dht-interop-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function cli(args: string[]): CliProcess {
  const p = runCli(args)
  cleanups.push(async () => {
    p.kill('SIGKILL')
    await p.exited
  })
  return p
}

function lt(options: Parameters<typeof LibtorrentPeer.start>[0]): LibtorrentPeer {
  const peer = LibtorrentPeer.start(options)
  cleanups.push(() => peer.stop())
  return peer
}

async function smallDht(): Promise<string> {
  const first = await startPlainDhtNode([], cleanups)
  const entry = [{ host: '127.0.0.1', port: first.address().port }]
  for (let i = 0; i < 3; i++) await startPlainDhtNode(entry, cleanups)
  return `127.0.0.1:${first.address().port}`
}

describe.skipIf(gate.skip)('the DHT with libtorrent', () => {
  it('libtorrent finds a punchswarm seeder through the DHT and downloads its magnet link', async () => {
    const entry = await smallDht()
    const dir = tempDir()
    mkdirSync(join(dir, 'src'))
    const content = randomBytes(2 * 1024 * 1024 + 11)
    writeFileSync(join(dir, 'src', 'payload.bin'), content)
    const seed = cli(['seed', join(dir, 'src', 'payload.bin'), '-p', '0', '--json', '--dht-bootstrap', entry])
    const magnet = String((await waitForCliEvent(seed, (e) => e.event === 'magnet', 15_000)).uri)
    await waitForCliEvent(seed, (e) => e.event === 'dht' && (e.nodes as number) > 0, 20_000)

    const leecher = lt({ magnet, save: join(dir, 'out'), dht_bootstrap: entry })
    await leecher.waitFor((e) => e.event === 'finished', 60_000)
    expect(readFileSync(join(dir, 'out', 'payload.bin')).equals(content)).toBe(true)
  }, 90_000)

  it('punchswarm get finds a libtorrent seeder through the DHT and exits 0', async () => {
    const entry = await smallDht()
    const dir = tempDir()
    mkdirSync(join(dir, 'seed'))
    const content = randomBytes(2 * 1024 * 1024 + 77)
    writeFileSync(join(dir, 'seed', 'payload.bin'), content)
    const torrent = join(dir, 'payload.torrent')
    const infoHash = await LibtorrentPeer.create(join(dir, 'seed', 'payload.bin'), torrent, [], 64 * 1024)
    const seeder = lt({ torrent, save: join(dir, 'seed'), seed: true, dht_bootstrap: entry })
    const ltPort = await seeder.port()
    // Its announce round: a get_peers lookup answered by the DHT, then announce_peer to the closest.
    await seeder.waitFor((e) => e.event === 'dht_reply', 60_000)

    const get = cli([
      'get',
      `magnet:?xt=urn:btih:${infoHash}`,
      '-o',
      join(dir, 'out'),
      '--timeout',
      '45',
      '--json',
      '--dht-bootstrap',
      entry,
    ])
    expect(await get.exited).toBe(0)
    expect(readFileSync(join(dir, 'out', 'payload.bin')).equals(content)).toBe(true)
    expect(cliEvents(get).some((e) => e.event === 'peer' && e.address === `127.0.0.1:${ltPort}`)).toBe(true)
  }, 90_000)
})
