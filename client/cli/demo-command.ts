import type { Command } from 'commander'

/** Registers `punchswarm demo`. */
export function registerDemoCommand(_program: Command): void {}
