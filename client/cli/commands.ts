import type { Command } from 'commander'
import { registerCreateCommand } from './create-command.js'
import { registerDemoCommand } from './demo-command.js'
import { registerGetCommand } from './get-command.js'
import { registerSeedCommand } from './seed-command.js'
import { registerStatsCommand } from './stats-command.js'
import { registerTrackerCommand } from './tracker-command.js'

/** Registers every subcommand; each lives in its own `*-command.ts`. */
export function registerCommands(program: Command): void {
  registerTrackerCommand(program)
  registerStatsCommand(program)
  registerCreateCommand(program)
  registerSeedCommand(program)
  registerGetCommand(program)
  registerDemoCommand(program)
}
