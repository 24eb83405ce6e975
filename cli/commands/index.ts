// One file per command group; add the group's register function here.
import type { Command } from 'commander';

export function registerCommands(program: Command): void {
  void program;
}
