import bencode from 'bencode'
import { afterEach, describe, expect, it } from 'vitest'
import { percentEncodeBytes } from '../../protocol/tracker/query-bytes.js'
import { type CliProcess, runCli } from '../helpers/cli-process.js'
import { announceUrl } from '../helpers/tracker-fixture.js'

const procs: CliProcess[] = []
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill('SIGKILL')
    await p.exited
  }
})

describe('punchswarm tracker (real process, real sockets)', () => {
  it('serves announces over HTTP and exits cleanly on SIGTERM', async () => {
    const p = runCli(['tracker', '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'])
    procs.push(p)
    const announce = await p.waitForLine(/^http:\/\/.*\/announce$/)
    const base = announce.replace(/\/announce$/, '')
    const hash = new Uint8Array(20).fill(7)
    await fetch(base + announceUrl({ infoHash: hash, peerId: new Uint8Array(20).fill(1), left: 0 }))
    const res = await fetch(
      `${base + announceUrl({ infoHash: hash, peerId: new Uint8Array(20).fill(2) })}&punchswarm=1`,
    )
    const body = bencode.decode(new Uint8Array(await res.arrayBuffer())) as Record<string, unknown>
    expect(body).toMatchObject({ complete: 1, incomplete: 1 })
    expect((body.peers as Uint8Array).length).toBe(6)
    expect(body).toHaveProperty('punchswarm')
    p.kill('SIGTERM')
    expect(await p.exited).toBe(0)
  })

  it('keeps to --max-swarms and --max-rate', async () => {
    const p = runCli([
      'tracker',
      ...['--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'],
      ...['--max-swarms', '2', '--max-rate', '1'],
    ])
    procs.push(p)
    const base = (await p.waitForLine(/^http:\/\/.*\/announce$/)).replace(/\/announce$/, '')
    const ask = async (path: string) =>
      bencode.decode(new Uint8Array(await (await fetch(base + path)).arrayBuffer())) as Record<
        string,
        unknown
      >
    const hash = (n: number) => new Uint8Array(20).fill(n)
    for (const n of [1, 2, 3]) await ask(announceUrl({ infoHash: hash(n), peerId: hash(9) }))
    // The third swarm evicted the first, the least recently announced.
    const scrape = await ask(
      `/scrape?info_hash=${percentEncodeBytes(hash(1))}&info_hash=${percentEncodeBytes(hash(3))}`,
    )
    const files = scrape.files as Record<string, { incomplete: number }>
    expect(Object.values(files).map((f) => f.incomplete)).toEqual([0, 1])
    // A burst of ten requests a second at most from one address: the rest get a failure reason.
    let refused: unknown
    for (let i = 0; i < 12 && !refused; i++)
      refused = (await ask(announceUrl({ infoHash: hash(3), peerId: hash(9) })))['failure reason']
    expect(Buffer.from(refused as Uint8Array).toString()).toBe(
      'too many requests from this address: slow down',
    )
    p.kill('SIGTERM')
    expect(await p.exited).toBe(0)
  })

  it('refuses a bad port with one line and a non-zero exit', async () => {
    const p = runCli(['tracker', '--port', 'nope'])
    procs.push(p)
    expect(await p.exited).toBe(2)
    expect(p.stderr().trim().split('\n')).toEqual([
      "punchswarm: --port must be a number from 0 to 65535, got 'nope' (USAGE_BAD_ARGUMENT)",
    ])
  })
})
