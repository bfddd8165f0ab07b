import { writeFile } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../protocol/errors.js'
import { toMagnetUri } from '../metainfo/magnet-link.js'
import { createTorrent } from '../metainfo/torrent-creator.js'
import { parseTorrentBytes } from '../metainfo/torrent-loader.js'

interface CreateFlags {
  tracker?: string[]
  output?: string
  private?: boolean
  pieceLength?: string
  comment?: string
  webSeed?: string[]
}

/** Registers `punchswarm create`. */
export function registerCreateCommand(program: Command): void {
  program
    .command('create')
    .description('make a .torrent from a file or directory; prints its info hash and magnet link')
    .argument('<path>', 'file or directory to share')
    .option(
      '--tracker <url>',
      'tracker announce URL; repeat for more (each becomes its own tier)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('-o, --output <file>', 'where to write the .torrent (default: <name>.torrent here)')
    .option('--private', 'set the private flag (BEP 27): peers come only from these trackers')
    .option('--piece-length <bytes>', 'bytes per piece, a power of two (default: automatic)')
    .option('--comment <text>', 'comment stored in the torrent')
    .option(
      '--web-seed <url>',
      'http(s) URL of a server holding the files (BEP 19 url-list); repeat for more',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(async (path: string, flags: CreateFlags) => {
      const pieceLength = flags.pieceLength === undefined ? undefined : parseBytes(flags.pieceLength)
      const bytes = await createTorrent(path, {
        trackers: (flags.tracker ?? []).map((url) => [url]),
        private: flags.private === true,
        ...(pieceLength !== undefined ? { pieceLength } : {}),
        ...(flags.comment !== undefined ? { comment: flags.comment } : {}),
        ...(flags.webSeed ? { webSeeds: flags.webSeed } : {}),
      })
      const m = parseTorrentBytes(bytes)
      const out = resolve(flags.output ?? `${basename(m.name)}.torrent`)
      try {
        await writeFile(out, bytes)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
        throw new UsageError('USAGE_BAD_ARGUMENT', `cannot write ${out}: ${code}`, { cause: err })
      }
      process.stdout.write(`${out}\ninfo hash: ${m.infoHashHex}\n${toMagnetUri(m)}\n`)
    })
}

/** `262144`, `256k`, `4m`, `4MiB`. */
function parseBytes(text: string): number {
  const m = /^(\d+)\s*(k|m|kib|mib)?$/i.exec(text.trim())
  if (!m?.[1]) throw new UsageError('USAGE_BAD_ARGUMENT', `--piece-length "${text}" is not a byte count`)
  const unit = (m[2] ?? '').toLowerCase()
  return Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1)
}
