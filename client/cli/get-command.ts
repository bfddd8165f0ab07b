import type { Command } from 'commander'

/** Registers `punchswarm get`. */
export function registerGetCommand(_program: Command): void {}
