import type { Command } from 'commander'

/** Registers `punchswarm create`. */
export function registerCreateCommand(_program: Command): void {}
