import { Command, CommanderError } from 'commander'
import { PunchswarmError } from '../../protocol/errors.js'

/**
 * The `punchswarm` command line. Each subcommand lives in its own file and registers itself here.
 * Errors become one line on stderr and a non-zero exit.
 */
export async function runCli(argv: string[]): Promise<void> {
  const program = new Command()
    .name('punchswarm')
    .description('BitTorrent swarm in which peers behind NAT join like any other peer')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })

  const registrations = await import('./commands.js')
  registrations.registerCommands(program)

  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode
      return
    }
    const msg =
      err instanceof PunchswarmError ? `${err.message} (${err.code})` : String((err as Error)?.message ?? err)
    process.stderr.write(`punchswarm: ${msg}\n`)
    process.exitCode = err instanceof PunchswarmError && err.code.startsWith('USAGE_') ? 2 : 1
  }
}
