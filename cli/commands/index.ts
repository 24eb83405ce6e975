// One file per command group; add the group's register function here.
import type { Command } from 'commander';
import { addGlobalOptions } from '../context.ts';
import { registerAgentCommand } from './agent.ts';
import { registerApplyCommand } from './apply.ts';
import { registerBootCommands } from './boot.ts';
import { registerDemoCommand } from './demo.ts';
import { registerMachineCommands } from './machine.ts';
import { attachMachineLogs } from './machine-logs.ts';
import { registerProfileCommands } from './profile.ts';
import { registerSeedCommand } from './seed.ts';
import { registerWatchCommand } from './watch.ts';

export function registerCommands(program: Command): void {
  addGlobalOptions(program);
  registerSeedCommand(program);
  registerDemoCommand(program);
  registerAgentCommand(program);
  registerApplyCommand(program);
  registerProfileCommands(program);
  registerMachineCommands(program);
  attachMachineLogs(program);
  registerWatchCommand(program);
  registerBootCommands(program);
}
