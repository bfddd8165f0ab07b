import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DHT_NODE_CACHE_FILE } from '../../client/dht/dht-node-cache.js'
import { nativeUdpBatch } from '../../client/udp-batch/native-udp-batch.js'
import { type CliProcess, cliEvents, runCli, waitForCliEvent } from '../helpers/cli-process.js'
import { startPlainDhtNode } from '../helpers/dht-nodes.js'
import { xorshiftRandom } from '../helpers/xorshift-random.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const MiB = 1024 * 1024

function start(args: string[]): CliProcess {
  const p = runCli(args)
  cleanups.push(async () => {
    p.kill('SIGKILL')
    await p.exited
  })
  return p
}

function fixture(bytes: number) {
  const root = mkdtempSync(join(tmpdir(), 'punchswarm-cli-swarm-'))
  cleanups.push(() => rmSync(root, { recursive: true, force: true }))
  const src = join(root, 'src')
  mkdirSync(src)
  const content = randomBytes(bytes)
  writeFileSync(join(src, 'payload.bin'), content)
  return { root, src, content }
}

describe('punchswarm seed and get', () => {
  it('create --web-seed writes a url-list that get downloads from alone (BEP 19), exit 0', async () => {
    const f = fixture(2 * MiB + 5)
    const server = createServer((req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
      const bytes = m ? f.content.subarray(Number(m[1]), Number(m[2]) + 1) : f.content
      res.writeHead(m ? 206 : 200, { 'content-length': bytes.length }).end(bytes)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => server.close(resolve)))
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/payload.bin`
    const torrent = join(f.root, 'ws.torrent')
    expect(await start(['create', join(f.src, 'payload.bin'), '--web-seed', url, '-o', torrent]).exited).toBe(
      0,
    )
    const out = join(f.root, 'out')
    const get = start(['get', torrent, '-o', out, '-p', '0', '--timeout', '20', '--json'])
    expect(await get.exited).toBe(0)
    expect(readFileSync(join(out, 'payload.bin')).equals(f.content)).toBe(true)
    expect(cliEvents(get).some((e) => e.event === 'complete')).toBe(true)
  }, 60_000)

  it('seed prints a magnet link on its own line; get downloads it and exits 0', async () => {
    const f = fixture(3 * MiB + 99)
    const seeder = start(['seed', join(f.src, 'payload.bin'), '-p', '0'])
    const magnetLine = await seeder.waitForLine(/^magnet:\?/)
    const port = Number(/on port (\d+)/.exec(seeder.stdout())![1])
    const getter = start(['get', magnetLine.trim(), '-o', join(f.root, 'out'), '--peer', `127.0.0.1:${port}`])
    expect(await getter.exited).toBe(0)
    expect(readFileSync(join(f.root, 'out', 'payload.bin')).equals(f.content)).toBe(true)
    expect(getter.stdout()).toMatch(/complete and verified/)
  }, 60_000)

  it('get finds a seeder through the DHT alone (a magnet with no tracker, no --peer) and exits 0', async () => {
    const dhtNodes: (() => unknown)[] = []
    cleanups.push(async () => {
      for (const c of dhtNodes.reverse()) await c()
    })
    const first = await startPlainDhtNode([], dhtNodes)
    const entry = `127.0.0.1:${first.address().port}`
    for (let i = 0; i < 3; i++)
      await startPlainDhtNode([{ host: '127.0.0.1', port: first.address().port }], dhtNodes)
    const f = fixture(2 * MiB + 3)
    const seeder = start(['seed', join(f.src, 'payload.bin'), '-p', '0', '--json', '--dht-bootstrap', entry])
    const magnet = String((await waitForCliEvent(seeder, (e) => e.event === 'magnet')).uri)
    expect(magnet).not.toMatch(/[?&]tr=/)
    await waitForCliEvent(seeder, (e) => e.event === 'dht' && (e.nodes as number) > 0)
    const out = join(f.root, 'out')
    const get = start(['get', magnet, '-o', out, '--timeout', '20', '--json', '--dht-bootstrap', entry])
    expect(await get.exited).toBe(0)
    expect(readFileSync(join(out, 'payload.bin')).equals(f.content)).toBe(true)
    expect(cliEvents(get).some((e) => e.event === 'dht' && (e.nodes as number) > 0)).toBe(true)

    // It saved its DHT contacts beside the data; a seed there rejoins through them alone (the
    // bootstrap it is given answers nothing).
    const cached = JSON.parse(readFileSync(join(out, DHT_NODE_CACHE_FILE), 'utf8')) as { nodes: unknown[] }
    expect(cached.nodes.length).toBeGreaterThan(0)
    const again = start([
      'seed',
      join(out, 'payload.bin'),
      '-p',
      '0',
      '--json',
      '--dht-bootstrap',
      '127.0.0.1:1',
    ])
    await waitForCliEvent(again, (e) => e.event === 'dht' && (e.nodes as number) > 0)
  }, 60_000)

  it('a download killed with SIGKILL at several random moments resumes each time, never fetching verified pieces again', async () => {
    // The kill moments come from a seed (printed on failure): PUNCHSWARM_FAULT_SEED replays a run.
    const seed = Number(process.env.PUNCHSWARM_FAULT_SEED ?? Date.now() % 1_000_000)
    const random = xorshiftRandom(seed)
    const kills = [0, 1, 2].map((i) => 10 + i * 25 + random.int(20)).sort((a, b) => a - b)
    const why = `seed ${seed}, kills at ${kills.join(', ')} %`
    const f = fixture(8 * MiB)
    const torrent = join(f.root, 'payload.torrent')
    const created = start(['create', join(f.src, 'payload.bin'), '-o', torrent, '--piece-length', '64k'])
    expect(await created.exited).toBe(0)
    // A capped seeder (1 MiB/s) so the download is still under way when it is killed.
    const seeder = start(['seed', torrent, '--dir', f.src, '-p', '0', '--json', '--max-upload-rate', '1m'])
    const { port, udp } = (await waitForCliEvent(seeder, (e) => e.event === 'listening')) as {
      port: number
      udp: string
    }
    // The shared UDP socket runs on the batched addon wherever it is built.
    expect(udp).toBe(nativeUdpBatch() ? 'batched' : 'dgram')
    const out = join(f.root, 'out')
    const args = ['get', torrent, '-o', out, '--peer', `127.0.0.1:${port}`, '--json']
    let had = 0
    for (const percent of kills) {
      const run = start(args)
      // What was verified before the last kill is there from the start (read back from disk).
      const first = (await waitForCliEvent(run, (e) => e.event === 'progress')) as { have: number }
      expect(first.have, why).toBeGreaterThanOrEqual(had)
      const at = (await waitForCliEvent(
        run,
        (e) => e.event === 'progress' && (e.percent as number) >= percent,
      )) as {
        have: number
      }
      run.kill('SIGKILL')
      expect(await run.exited).toBe('SIGKILL')
      had = at.have
    }
    const last = start(args)
    expect(await last.exited, why).toBe(0)
    const done = (await waitForCliEvent(last, (e) => e.event === 'complete')) as {
      downloaded: number
      total: number
    }
    expect(readFileSync(join(out, 'payload.bin')).equals(f.content), why).toBe(true)
    // The last run fetched only what was missing at the last kill (give or take a piece in flight).
    expect(done.downloaded, why).toBeLessThanOrEqual(done.total - had + 64 * 1024)
  }, 120_000)

  it.each([
    [['get', '/nonexistent.torrent', '-o', '/tmp/x'], /cannot read|no such file/i],
    [['get', 'magnet:?xt=urn:btih:zz', '-o', '/tmp/x'], /magnet/i],
    [['seed', '/nonexistent/file'], /no such file/i],
    [
      [
        'get',
        'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567',
        '-o',
        '/tmp/x',
        '--encryption',
        'maybe',
      ],
      /--encryption must be prefer, allow or require/,
    ],
    [
      [
        'get',
        'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567',
        '-o',
        '/tmp/x',
        '--max-download-rate',
        'fast',
      ],
      /--max-download-rate must be bytes per second/,
    ],
    [
      [
        'get',
        'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567',
        '-o',
        '/tmp/x',
        '--timeout',
        '1',
      ],
      /no peer/i,
    ],
    [['seed', '/tmp', '--dht-bootstrap', 'router.example:port'], /--dht-bootstrap must be host:port/],
  ])(
    '%j fails with one line and a non-zero exit',
    async (args, message) => {
      const p = start(args as string[])
      const code = await p.exited
      expect(code).not.toBe(0)
      expect(p.stderr().trim().split('\n')).toHaveLength(1)
      expect(p.stderr()).toMatch(message as RegExp)
    },
    30_000,
  )
})
