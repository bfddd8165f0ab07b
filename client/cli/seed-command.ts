import type { Command } from 'commander'

/** Registers `punchswarm seed`. */
export function registerSeedCommand(_program: Command): void {}
