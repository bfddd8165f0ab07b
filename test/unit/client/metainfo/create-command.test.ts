import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runCli } from '../../../../client/cli/run-cli.js'
import { parseMagnet } from '../../../../client/metainfo/magnet-link.js'
import { loadTorrent } from '../../../../client/metainfo/torrent-loader.js'

const dirs: string[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  process.exitCode = undefined
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** Runs `punchswarm create ...` in-process and captures what it prints. */
async function create(args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = ''
  let err = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s)
    return true
  })
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err += String(s)
    return true
  })
  process.exitCode = undefined
  await runCli(['node', 'punchswarm', 'create', ...args])
  const code = Number(process.exitCode ?? 0)
  vi.restoreAllMocks()
  return { out, err, code }
}

describe('punchswarm create', () => {
  it('writes the .torrent and prints its path, info hash and magnet link', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'punchswarm-create-'))
    dirs.push(dir)
    await writeFile(join(dir, 'song.ogg'), new Uint8Array(50_000).fill(3))
    const out = join(dir, 'x.torrent')
    const r = await create([
      join(dir, 'song.ogg'),
      '--tracker',
      'http://127.0.0.1:6969/announce',
      '--tracker',
      'udp://127.0.0.1:6969',
      '-o',
      out,
      '--private',
      '--piece-length',
      '32k',
      '--comment',
      'test',
    ])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    const m = await loadTorrent(await readFile(out))
    expect(m.private).toBe(true)
    expect(m.layout.pieceLength).toBe(32768)
    expect(m.announce).toEqual([['http://127.0.0.1:6969/announce'], ['udp://127.0.0.1:6969']])
    const lines = r.out.trim().split('\n')
    expect(lines[0]).toBe(out)
    expect(lines[1]).toBe(`info hash: ${m.infoHashHex}`)
    expect(parseMagnet(lines[2]!).infoHashHex).toBe(m.infoHashHex)
  })

  it('fails with one line and a non-zero exit for a missing path or a bad flag', async () => {
    const missing = await create(['/nonexistent/punchswarm-nothing'])
    expect(missing.code).not.toBe(0)
    expect(missing.err.trim().split('\n')).toHaveLength(1)
    expect(missing.err).toContain('USAGE_NOT_FOUND')
    const dir = await mkdtemp(join(tmpdir(), 'punchswarm-create-'))
    dirs.push(dir)
    await writeFile(join(dir, 'f'), 'data')
    const bad = await create([join(dir, 'f'), '--piece-length', 'lots', '-o', join(dir, 'f.torrent')])
    expect(bad.code).not.toBe(0)
    expect(bad.err).toMatch(/^punchswarm: .*piece-length.*\n$/)
  })
})
