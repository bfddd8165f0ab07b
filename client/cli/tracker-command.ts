import type { Command } from 'commander'

/** Registers `punchswarm tracker`. */
export function registerTrackerCommand(_program: Command): void {}
