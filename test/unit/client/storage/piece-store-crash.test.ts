import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { afterEach, describe, expect, it } from 'vitest'
import { createTorrent } from '../../../../client/metainfo/torrent-creator.js'
import { loadTorrent } from '../../../../client/metainfo/torrent-loader.js'
import { PieceStore } from '../../../../client/storage/piece-store.js'
import { seededBytes } from '../../../helpers/seeded-bytes.js'

const ROOT = resolve(import.meta.dirname, '../../../..')
const CHILD_SOURCE = join(ROOT, 'test/helpers/storage-writer-child.ts')
const ROUNDS = 8

const dirs: string[] = []
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'punchswarm-crash-'))
  dirs.push(d)
  return d
}

/** Transpiles the child and every relative module it imports into `out`, keeping the tree's shape. */
async function transpileChild(out: string): Promise<string> {
  const pending = [CHILD_SOURCE]
  const done = new Set<string>()
  while (pending.length > 0) {
    const file = pending.pop()!
    if (done.has(file)) continue
    done.add(file)
    const source = await readFile(file, 'utf8')
    for (const m of source.matchAll(/from '(\.[^']+)\.js'/g))
      pending.push(resolve(dirname(file), `${m[1]}.ts`))
    const js = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    }).outputText
    const target = join(out, relative(ROOT, file)).replace(/\.ts$/, '.js')
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, js)
  }
  await writeFile(join(out, 'package.json'), '{"type":"module"}')
  return join(out, relative(ROOT, CHILD_SOURCE)).replace(/\.ts$/, '.js')
}

describe('PieceStore under kill -9', () => {
  it('never claims a piece that is not byte-exact on disk, and finishing gives byte-exact files', async () => {
    const seed = Date.now() >>> 0
    const work = await tempDir()
    // Child modules resolve node_modules from the repository root.
    const build = await mkdtemp(join(ROOT, 'node_modules', '.punchswarm-crash-'))
    dirs.push(build)
    const child = await transpileChild(build)

    const src = join(work, 'src')
    await mkdir(join(src, 'set'), { recursive: true })
    const sizes = [300_000, 17, 1_500_000, 123_457]
    for (const [i, n] of sizes.entries()) await writeFile(join(src, 'set', `f${i}`), seededBytes(n, i + seed))
    const torrentPath = join(work, 'set.torrent')
    await writeFile(torrentPath, await createTorrent(join(src, 'set'), { pieceLength: 16384 }))
    const m = await loadTorrent(torrentPath)
    const content = Buffer.concat(
      await Promise.all(m.layout.files.map((f) => readFile(join(src, 'set', ...f.path)))),
    )
    const dl = join(work, 'dl')
    await mkdir(dl)

    let rng = seed || 1
    const nextRandom = () => {
      rng = (rng * 1103515245 + 12345) >>> 0
      return rng / 2 ** 32
    }
    let claimedTotal = 0
    for (let round = 0; round < ROUNDS; round++) {
      const proc = spawn(process.execPath, [child, torrentPath, src, dl, String(seed + round)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.push(proc)
      let stderr = ''
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const exited = new Promise<void>((r) => proc.once('exit', () => r()))
      await new Promise<void>((r) => {
        proc.stdout.once('data', () => r())
        proc.once('exit', () => r())
      })
      // Let it write for a random moment, then kill it without warning.
      await new Promise((r) => setTimeout(r, 5 + nextRandom() * 120))
      proc.kill('SIGKILL')
      await exited
      expect(stderr, `seed ${seed} round ${round}`).toBe('')

      const store = await PieceStore.open(m.layout, dl, { infoHashHex: m.infoHashHex })
      for (let i = 0; i < m.layout.pieceCount; i++) {
        if (!store.has(i)) continue
        const got = await store.readBlock(i, 0, store.pieceSize(i))
        const want = content.subarray(i * 16384, i * 16384 + store.pieceSize(i))
        expect(Buffer.from(got).equals(want), `seed ${seed} round ${round} piece ${i}`).toBe(true)
      }
      claimedTotal = store.verifiedCount
      await store.close()
    }

    // Finish the download in-process and compare every file byte for byte.
    const store = await PieceStore.open(m.layout, dl, { infoHashHex: m.infoHashHex })
    for (let i = 0; i < m.layout.pieceCount; i++) {
      if (!store.has(i)) {
        const data = content.subarray(i * 16384, i * 16384 + store.pieceSize(i))
        expect(await store.writePiece(i, data)).toBe(true)
      }
    }
    expect(store.bytesLeft()).toBe(0)
    await store.close()
    for (const f of m.layout.files) {
      const onDisk = await readFile(join(dl, 'set', ...f.path))
      expect(onDisk.equals(content.subarray(f.offset, f.offset + f.length)), `seed ${seed}`).toBe(true)
    }
    // The kills landed mid-download, not all before the first write or after the last.
    expect(claimedTotal, `seed ${seed}`).toBeGreaterThan(0)
  }, 60_000)
})
