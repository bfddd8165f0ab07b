#!/usr/bin/env node
import { runCli } from './run-cli.js'

await runCli(process.argv)
// The command is over (its sockets closed, its one-line error printed): leave even if something
// still holds the event loop, such as a file operation stuck on a vanished directory.
process.exit()
