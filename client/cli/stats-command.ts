import type { Command } from 'commander'

/** Registers `punchswarm stats`. */
export function registerStatsCommand(_program: Command): void {}
